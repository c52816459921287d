"""Narrow repositories over the schema: the catalog and the conversations."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import UnknownSessionError
from storage.records import CatalogItem, SessionInfo, ShownItem, TurnRecord
from storage.schema import Conversation, Item, ItemEmbedding, ShownRecommendation, Turn


def _to_record(row: Item) -> CatalogItem:
    return CatalogItem(
        id=row.id, domain=row.domain, title=row.title, original_title=row.original_title, year=row.year,
        creators=tuple(row.creators or ()), genres=tuple(row.genres or ()), description=row.description or "",
        language=row.language, extra=dict(row.extra or {}),
    )


@dataclass(frozen=True)
class UpsertReport:
    """What an import changed."""

    added: int
    updated: int
    unchanged: int


class CatalogRepository:
    """Items and their embeddings."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory, for repositories of data stored with the catalog (storage/ranker_store.py)."""
        return self._sessions

    def upsert(self, items: Sequence[CatalogItem]) -> UpsertReport:
        """Insert new items and update changed ones, all in one transaction (idempotent)."""
        added = updated = unchanged = 0
        with self._sessions.begin() as s:
            existing = {
                row.id: row
                for chunk in _chunks([i.id for i in items], 500)
                for row in s.scalars(select(Item).where(Item.id.in_(chunk)))
            }
            for item in items:
                digest = item.content_hash()
                row = existing.get(item.id)
                if row is None:
                    row = Item(id=item.id)
                    s.add(row)
                    existing[item.id] = row
                    added += 1
                elif row.content_hash == digest:
                    unchanged += 1
                    continue
                else:
                    updated += 1
                row.domain, row.title, row.original_title = item.domain, item.title, item.original_title
                row.year, row.creators, row.genres = item.year, list(item.creators), list(item.genres)
                row.description, row.language, row.extra = item.description, item.language, dict(item.extra)
                row.content_hash = digest
        return UpsertReport(added, updated, unchanged)

    def version(self) -> tuple[int, str]:
        """(item count, newest update time): changes whenever an import adds or edits items."""
        with self._sessions() as s:
            count, newest = s.execute(select(func.count(Item.id), func.max(Item.updated_at))).one()
        return int(count), str(newest)

    def without_description(self) -> list[CatalogItem]:
        with self._sessions() as s:
            return [_to_record(r) for r in s.scalars(select(Item).where(Item.description == "").order_by(Item.id))]

    def set_generated_description(self, item_id: str, text: str) -> bool:
        """Store a generated description, marked as such, only if the item still has none (a human one,
        even one written meanwhile, is never overwritten). Returns whether it was stored."""
        with self._sessions.begin() as s:
            row = s.get(Item, item_id, with_for_update=True)
            if row is None or row.description:
                return False
            row.description = text
            row.extra = {**(row.extra or {}), "description_source": "generated"}
            row.content_hash = _to_record(row).content_hash()
            return True

    def count(self) -> int:
        with self._sessions() as s:
            return int(s.scalar(select(func.count()).select_from(Item)) or 0)

    def all_items(self) -> list[CatalogItem]:
        """Every item, ordered by id (the index row order)."""
        with self._sessions() as s:
            return [_to_record(r) for r in s.scalars(select(Item).order_by(Item.id))]

    def get(self, item_id: str) -> CatalogItem | None:
        with self._sessions() as s:
            row = s.get(Item, item_id)
            return _to_record(row) if row else None

    def needing_embedding(self, embedder: str) -> list[CatalogItem]:
        """Items with no vector for `embedder`, or whose content changed since it was computed."""
        with self._sessions() as s:
            stmt = (
                select(Item)
                .outerjoin(ItemEmbedding, (ItemEmbedding.item_id == Item.id) & (ItemEmbedding.embedder == embedder))
                .where((ItemEmbedding.id.is_(None)) | (ItemEmbedding.content_hash != Item.content_hash))
                .order_by(Item.id)
            )
            return [_to_record(r) for r in s.scalars(stmt)]

    def save_embeddings(self, embedder: str, items: Sequence[CatalogItem], vectors: np.ndarray) -> None:
        """Store one float32 vector per item for `embedder`, replacing stale ones."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        with self._sessions.begin() as s:
            stale = {
                e.item_id: e
                for chunk in _chunks([i.id for i in items], 500)
                for e in s.scalars(select(ItemEmbedding).where(
                    ItemEmbedding.embedder == embedder, ItemEmbedding.item_id.in_(chunk)))
            }
            for item, vec in zip(items, vectors, strict=True):
                row = stale.get(item.id) or ItemEmbedding(item_id=item.id, embedder=embedder)
                row.content_hash, row.dim, row.vector = item.content_hash(), int(vec.shape[0]), vec.tobytes()
                s.add(row)

    def load_embeddings(self, embedder: str) -> tuple[list[str], np.ndarray]:
        """(item ids, matrix of shape (n, dim)) for `embedder`, ordered by item id."""
        with self._sessions() as s:
            rows = s.execute(
                select(ItemEmbedding.item_id, ItemEmbedding.dim, ItemEmbedding.vector)
                .where(ItemEmbedding.embedder == embedder).order_by(ItemEmbedding.item_id)
            ).all()
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        dim = rows[0][1]
        matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), dim)
        return [r[0] for r in rows], matrix.astype(np.float32)


class ConversationRepository:
    """Conversations, their state and their turns."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory, for repositories of data kept with conversations (storage/users.py)."""
        return self._sessions

    def create(self, user_id: str | None = None, state: dict[str, Any] | None = None,
               token_hash: str | None = None) -> str:
        """A new conversation with an unguessable id (128 random bits)."""
        conv_id = secrets.token_urlsafe(16)
        with self._sessions.begin() as s:
            s.add(Conversation(id=conv_id, user_id=user_id, state=state or {}, token_hash=token_hash))
        return conv_id

    def info(self, conv_id: str) -> SessionInfo:
        """Owner and token hash of a conversation; raises UnknownSessionError for an unknown id."""
        with self._sessions() as s:
            row = s.get(Conversation, conv_id)
            if row is None:
                raise UnknownSessionError(conv_id)
            return SessionInfo(row.id, row.user_id, row.token_hash)

    def save_state(self, conv_id: str, state: dict[str, Any]) -> None:
        with self._sessions.begin() as s:
            row = s.get(Conversation, conv_id)
            if row is None:
                raise UnknownSessionError(conv_id)
            row.state = state

    def ids_of_user(self, user_id: str) -> list[str]:
        with self._sessions() as s:
            return list(s.scalars(select(Conversation.id).where(Conversation.user_id == user_id)))

    def count_request(self, conv_id: str, now: float, window_s: float) -> tuple[int, float]:
        """Count one request in the conversation's fixed window; returns (requests in window, window start).

        One UPDATE statement, so concurrent requests from several processes are all counted.
        """
        fresh = (Conversation.rate_window_start.is_(None)) | (Conversation.rate_window_start <= now - window_s)
        with self._sessions.begin() as s:
            done = s.execute(
                update(Conversation).where(Conversation.id == conv_id).values(
                    rate_count=case((fresh, 1), else_=Conversation.rate_count + 1),
                    rate_window_start=case((fresh, now), else_=Conversation.rate_window_start),
                ).execution_options(synchronize_session=False))
            if not done.rowcount:  # type: ignore[attr-defined]
                raise UnknownSessionError(conv_id)
            count, start = s.execute(select(Conversation.rate_count, Conversation.rate_window_start)
                                     .where(Conversation.id == conv_id)).one()
        return int(count), float(start if start is not None else now)

    def exists(self, conv_id: str) -> bool:
        with self._sessions() as s:
            return s.get(Conversation, conv_id) is not None

    def load_state(self, conv_id: str) -> dict[str, Any]:
        """The stored dialogue state; raises UnknownSessionError for an unknown id."""
        with self._sessions() as s:
            row = s.get(Conversation, conv_id)
            if row is None:
                raise UnknownSessionError(conv_id)
            return dict(row.state or {})

    def record_turn(self, conv_id: str, user_text: str, reply_text: str, language: str, reply_source: str,
                    shown: Iterable[ShownItem], state: dict[str, Any]) -> int:
        """Store a turn, what it showed and the new state in one transaction; returns the turn index."""
        with self._sessions.begin() as s:
            conv = s.get(Conversation, conv_id)
            if conv is None:
                raise UnknownSessionError(conv_id)
            index = int(s.scalar(select(func.count()).select_from(Turn).where(Turn.conversation_id == conv_id)) or 0)
            turn = Turn(conversation_id=conv_id, index=index, user_text=user_text, reply_text=reply_text,
                        language=language, reply_source=reply_source)
            turn.recommendations = [
                ShownRecommendation(item_id=x.item_id, rank=x.rank, score=x.score, reason=x.reason) for x in shown
            ]
            s.add(turn)
            conv.state = state
        return index

    def turns(self, conv_id: str) -> list[TurnRecord]:
        with self._sessions() as s:
            if s.get(Conversation, conv_id) is None:
                raise UnknownSessionError(conv_id)
            rows = s.scalars(select(Turn).where(Turn.conversation_id == conv_id).order_by(Turn.index)).all()
            return [
                TurnRecord(
                    index=t.index, user_text=t.user_text, reply_text=t.reply_text, language=t.language,
                    reply_source=t.reply_source,
                    shown=tuple(ShownItem(r.item_id, r.rank, r.score, r.reason) for r in t.recommendations),
                )
                for t in rows
            ]


def _chunks(seq: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]
