"""SQLAlchemy 2.0 typed schema: catalog items, embeddings, conversations, turns, feedback and user profiles."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Item(Base):
    """One catalog entry: a movie, a book, a product."""

    __tablename__ = "items"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    domain: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(500))
    original_title: Mapped[str | None] = mapped_column(String(500))
    year: Mapped[int | None] = mapped_column(Integer, index=True)
    creators: Mapped[list[str]] = mapped_column(JSON, default=list)
    genres: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(16))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # typed values of the catalog's declared attributes (storage/attributes.py); filtered through ItemAttribute
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    # sha1 of the fields that go into the embedded text: a change re-embeds the item.
    content_hash: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class ItemAttribute(Base):
    """One value of an item's declared attribute, one row per category value: what filters run on in SQL
    ("price < 100", "color in ('blue')"), indexed per attribute."""

    __tablename__ = "item_attributes"
    __table_args__ = (Index("ix_item_attributes_number", "name", "number"),
                      Index("ix_item_attributes_text", "name", "text"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    number: Mapped[float | None] = mapped_column(Float)  # numbers, and booleans as 0 / 1
    text: Mapped[str | None] = mapped_column(String(200))  # category values


class AttributeDeclaration(Base):
    """An attribute the catalog declares (storage/attributes.py), as its schema file gave it."""

    __tablename__ = "attribute_declarations"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ItemEmbedding(Base):
    """An item's vector under one embedder; switching embedders re-embeds only what is missing."""

    __tablename__ = "item_embeddings"
    __table_args__ = (UniqueConstraint("item_id", "embedder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    embedder: Mapped[str] = mapped_column(String(200), index=True)
    content_hash: Mapped[str] = mapped_column(String(40))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, L2-normalised


class Conversation(Base):
    """A chat session; its dialogue state is kept here so any process can continue it."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(200), index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # sha256 of the bearer token that every API call on this session must carry (never the token itself)
    token_hash: Mapped[str | None] = mapped_column(String(64))
    # bumped by every write of `state`: a write that read an older version is redone (no lost updates)
    state_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the turn running on this conversation (one at a time, across processes) and when its lease ends
    turn_owner: Mapped[str | None] = mapped_column(String(32))
    turn_until: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)

    turns: Mapped[list[Turn]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Turn.index"
    )


class Turn(Base):
    """One exchange: what the user said and what the assistant answered."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("conversation_id", "index"), UniqueConstraint("conversation_id", "request_key"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    user_text: Mapped[str] = mapped_column(Text)
    reply_text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="en")
    reply_source: Mapped[str] = mapped_column(String(20), default="template")  # "model" or "template"
    action: Mapped[str] = mapped_column(String(16), default="recommend", server_default="recommend")
    # the client's Idempotency-Key: a retried request with it gets this turn back instead of a second turn
    request_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    conversation: Mapped[Conversation] = relationship(back_populates="turns")
    recommendations: Mapped[list[ShownRecommendation]] = relationship(
        back_populates="turn", cascade="all, delete-orphan", order_by="ShownRecommendation.rank"
    )


class ShownRecommendation(Base):
    """An item shown in a turn, with its rank, score and the reason given."""

    __tablename__ = "shown_recommendations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)

    turn: Mapped[Turn] = relationship(back_populates="recommendations")


class Feedback(Base):
    """A like, dislike or seen mark on an item, from a card button or read from a chat message."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(200), index=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # like, dislike, seen
    source: Mapped[str] = mapped_column(String(16))  # button or chat
    # the item had been recommended in this conversation: a like on it is an accepted recommendation
    was_shown: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class UserProfile(Base):
    """A user's preferences, carried from one conversation to the next."""

    __tablename__ = "user_profiles"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    preferences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # as Conversation.state_version
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class RankerModel(Base):
    """Fitted weights of the hybrid ranker (retrieval/ranking.py), stored with the catalog they were fitted on."""

    __tablename__ = "ranker_models"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what it was fitted on, and its scores
    adapter: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # retrieval/adapter.py, float32
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class ItemLink(Base):
    """Collaborative counts: items named together (source -> target); the empty source is the item's own count."""

    __tablename__ = "item_links"
    __table_args__ = (UniqueConstraint("model", "source_id", "target_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(ForeignKey("ranker_models.name", ondelete="CASCADE"), index=True)
    source_id: Mapped[str] = mapped_column(String(200))  # no foreign key: counts may outlive a catalog edit
    target_id: Mapped[str] = mapped_column(String(200))
    count: Mapped[float] = mapped_column(Float)


class RateWindow(Base):
    """A fixed-window request counter (per session, per client address), shared by every server process."""

    __tablename__ = "rate_windows"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)


class ServerSecret(Base):
    """A random key this server made once (e.g. the one that signs anonymous visitor cookies)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
