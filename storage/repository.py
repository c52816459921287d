"""Narrow repositories over the schema: the catalog and the conversations."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from common.errors import BusyError, UnknownSessionError
from storage.attributes import AttributeSpec, Constraint, specs_from_json
from storage.records import CatalogItem, SessionInfo, ShownItem, TurnRecord
from storage.schema import (
    AttributeDeclaration,
    Conversation,
    Feedback,
    Item,
    ItemAttribute,
    ItemEmbedding,
    ShownRecommendation,
    Turn,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def _racing(write: Callable[[], T]) -> T:
    """Run an idempotent write transaction; when another process inserted the same keys first (IntegrityError),
    run it again, up to three times: the second run finds their rows and updates them."""
    for attempt in range(3):
        try:
            return write()
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("Another process stored some of the same rows at the same time; writing again")
    raise AssertionError("unreachable")


def _to_record(row: Item) -> CatalogItem:
    return CatalogItem(
        id=row.id, domain=row.domain, title=row.title, original_title=row.original_title, year=row.year,
        creators=tuple(row.creators or ()), genres=tuple(row.genres or ()), description=row.description or "",
        language=row.language, extra=dict(row.extra or {}), attributes=dict(row.attributes or {}),
    )


def _attribute_rows(item: CatalogItem) -> list[ItemAttribute]:
    """The rows SQL filters run on: one per number or boolean, one per category value."""
    rows = []
    for name, value in item.attributes.items():
        if isinstance(value, bool | int | float):
            rows.append(ItemAttribute(item_id=item.id, name=name, number=float(value)))
        elif isinstance(value, list):
            rows += [ItemAttribute(item_id=item.id, name=name, text=str(v)[:200]) for v in value]
        elif isinstance(value, str):
            rows.append(ItemAttribute(item_id=item.id, name=name, text=value[:200]))
    return rows


def constraint_clause(c: Constraint) -> Any:
    """A whitelisted SQL condition on `Item.id` for one constraint (values bound as parameters, never SQL text)."""
    def having(*conditions: Any) -> Any:
        return exists().where(ItemAttribute.item_id == Item.id, ItemAttribute.name == c.name, *conditions)

    parts = []
    if c.low is not None:
        parts.append(having(ItemAttribute.number > c.low if c.low_strict else ItemAttribute.number >= c.low))
    if c.high is not None:
        parts.append(having(ItemAttribute.number < c.high if c.high_strict else ItemAttribute.number <= c.high))
    if c.any_of:
        parts.append(having(ItemAttribute.text.in_(sorted(c.any_of))))
    if c.none_of:
        parts.append(~having(ItemAttribute.text.in_(sorted(c.none_of))))
    if c.value is not None:
        parts.append(having(ItemAttribute.number == float(c.value)))
    return parts


@dataclass(frozen=True)
class UpsertReport:
    """What an import changed."""

    added: int
    updated: int
    unchanged: int

    def __add__(self, other: UpsertReport) -> UpsertReport:
        return UpsertReport(self.added + other.added, self.updated + other.updated, self.unchanged + other.unchanged)


class CatalogRepository:
    """Items and their embeddings."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory, for repositories of data stored with the catalog (storage/ranker_store.py)."""
        return self._sessions

    def upsert(self, items: Sequence[CatalogItem],
               declarations: Mapping[str, AttributeSpec] | None = None) -> UpsertReport:
        """Insert new items and update changed ones, with the attributes the catalog declares, all in one
        transaction (idempotent). Processes importing the same items at once (several servers starting on an empty
        database) do not fail: the one that loses the race stores its batch again and finds the other's rows."""
        return _racing(lambda: self._upsert(items, declarations))

    def _upsert(self, items: Sequence[CatalogItem], declarations: Mapping[str, AttributeSpec] | None) -> UpsertReport:
        added = updated = unchanged = 0
        with self._sessions.begin() as s:
            for spec in (declarations or {}).values():
                s.merge(AttributeDeclaration(name=spec.name, spec=spec.to_json()))
            existing = {
                row.id: row
                for chunk in _chunks([i.id for i in items], 500)
                for row in s.scalars(select(Item).where(Item.id.in_(chunk)))
            }
            for item in items:
                digest = item.content_hash()
                row = existing.get(item.id)
                fresh = row is None
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
                row.attributes = dict(item.attributes)
                row.content_hash = digest
                if not fresh:
                    s.execute(delete(ItemAttribute).where(ItemAttribute.item_id == item.id))
                s.add_all(_attribute_rows(item))
        return UpsertReport(added, updated, unchanged)

    def declarations(self) -> dict[str, AttributeSpec]:
        """The attributes the catalog declares (none for a catalog without a schema)."""
        with self._sessions() as s:
            return specs_from_json((r.name, r.spec) for r in s.scalars(select(AttributeDeclaration)))

    def matching_ids(self, constraints: Sequence[Constraint], domain: str | None = None) -> set[str]:
        """The ids of the items that satisfy every constraint, filtered in the database."""
        stmt = select(Item.id).where(*(p for c in constraints for p in constraint_clause(c)))
        if domain is not None:
            stmt = stmt.where(Item.domain == domain)
        with self._sessions() as s:
            return set(s.scalars(stmt))

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

    def needing_embedding(self, embedder: str, limit: int | None = None, after: str | None = None
                          ) -> list[CatalogItem]:
        """Items with no vector for `embedder`, or whose content changed since it was computed, in id order: at most
        `limit` of them, with ids after `after` (one page of a long catalog)."""
        stmt = self._needing(embedder).order_by(Item.id).limit(limit)
        if after is not None:
            stmt = stmt.where(Item.id > after)
        with self._sessions() as s:
            return [_to_record(r) for r in s.scalars(stmt)]

    def count_needing_embedding(self, embedder: str) -> int:
        with self._sessions() as s:
            return int(s.scalar(select(func.count()).select_from(self._needing(embedder).subquery())) or 0)

    @staticmethod
    def _needing(embedder: str) -> Any:
        return (select(Item)
                .outerjoin(ItemEmbedding, (ItemEmbedding.item_id == Item.id) & (ItemEmbedding.embedder == embedder))
                .where((ItemEmbedding.id.is_(None)) | (ItemEmbedding.content_hash != Item.content_hash)))

    def save_embeddings(self, embedder: str, items: Sequence[CatalogItem], vectors: np.ndarray) -> None:
        """Store one float32 vector per item for `embedder`, replacing stale ones (another process storing the same
        ones at once: stored again over theirs)."""
        _racing(lambda: self._save_embeddings(embedder, items, np.ascontiguousarray(vectors, dtype="<f4")))

    def _save_embeddings(self, embedder: str, items: Sequence[CatalogItem], vectors: np.ndarray) -> None:
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

    def ping(self) -> None:
        """Raise when the database does not answer (readiness)."""
        with self._sessions() as s:
            s.execute(select(1))

    def create(self, user_id: str | None = None, state: dict[str, Any] | None = None,
               token_hash: str | None = None) -> str:
        """A new conversation with an unguessable id (128 random bits)."""
        conv_id = secrets.token_urlsafe(16)
        with self._sessions.begin() as s:
            s.add(Conversation(id=conv_id, user_id=user_id, state=state or {}, token_hash=token_hash))
        return conv_id

    def info(self, conv_id: str) -> SessionInfo:
        """Owner, token hash and last activity of a conversation; UnknownSessionError for an unknown id."""
        with self._sessions() as s:
            row = s.get(Conversation, conv_id)
            if row is None:
                raise UnknownSessionError(conv_id)
            return SessionInfo(row.id, row.user_id, row.token_hash, _unix(row.updated_at))

    def load_state(self, conv_id: str) -> dict[str, Any]:
        """The stored dialogue state; raises UnknownSessionError for an unknown id."""
        with self._sessions() as s:
            return _read_state(s, conv_id)[0]

    def save_state(self, conv_id: str, state: dict[str, Any]) -> None:
        """Replace the state, whatever was stored (use `update_state` to change it)."""
        self.update_state(conv_id, lambda _: state)

    def update_state(self, conv_id: str, change: StateChange) -> dict[str, Any]:
        """Store change(stored state) as one atomic step and return it.

        If another writer (a card click, a turn in another process) stored a state between our read and our
        write, the write is refused by the version check and the change is applied again to the new state, so
        no concurrent update is lost.
        """
        for _ in range(_WRITE_ATTEMPTS):
            with self._sessions.begin() as s:
                stored, version = _read_state(s, conv_id)
                new = change(stored)
                if _write_state(s, conv_id, version, new):
                    return new
        raise BusyError("This conversation is being changed by many requests at once. Try again in a moment.")

    def record_turn(self, conv_id: str, user_text: str, reply_text: str, language: str, reply_source: str,
                    shown: Iterable[ShownItem], state: dict[str, Any] | StateChange, action: str = "recommend",
                    request_key: str | None = None) -> int:
        """Store a turn, what it showed and the new state in one transaction; returns the turn index.

        `state` may be a function of the stored state: it is applied under the same version check as
        `update_state`, so a card clicked while the reply was written is kept.
        """
        change = state if callable(state) else (lambda _stored: state)
        for _ in range(_WRITE_ATTEMPTS):
            with self._sessions.begin() as s:
                stored, version = _read_state(s, conv_id)
                if not _write_state(s, conv_id, version, change(stored)):
                    continue
                # counted after the write: the conversation's row is ours until commit, so no other turn
                # can take the same index
                index = int(s.scalar(select(func.count()).select_from(Turn).where(Turn.conversation_id == conv_id))
                            or 0)
                turn = Turn(conversation_id=conv_id, index=index, user_text=user_text, reply_text=reply_text,
                            language=language, reply_source=reply_source, action=action, request_key=request_key)
                turn.recommendations = [
                    ShownRecommendation(item_id=x.item_id, rank=x.rank, score=x.score, reason=x.reason) for x in shown
                ]
                s.add(turn)
                return index
        raise BusyError("This conversation is being changed by many requests at once. Try again in a moment.")

    def begin_turn(self, conv_id: str, owner: str, now: float, lease_s: float) -> float | None:
        """Take the conversation's turn lease for `lease_s` seconds.

        Returns None when taken, or the seconds until the running turn's lease ends. One conditional UPDATE,
        so two processes can never both take it; a lease left by a killed process ends on its own.
        """
        with self._sessions.begin() as s:
            free = Conversation.turn_until.is_(None) | (Conversation.turn_until <= now)
            done = s.execute(update(Conversation).where(Conversation.id == conv_id, free)
                             .values(turn_owner=owner, turn_until=now + lease_s)
                             .execution_options(synchronize_session=False))
            if done.rowcount:  # type: ignore[attr-defined]
                return None
            row = s.get(Conversation, conv_id)
            if row is None:
                raise UnknownSessionError(conv_id)
            return max(0.0, float(row.turn_until or now) - now)

    def end_turn(self, conv_id: str, owner: str) -> None:
        """Give the lease back (only if it is still ours)."""
        with self._sessions.begin() as s:
            s.execute(update(Conversation).where(Conversation.id == conv_id, Conversation.turn_owner == owner)
                      .values(turn_owner=None, turn_until=None).execution_options(synchronize_session=False))

    def ids_of_user(self, user_id: str) -> list[str]:
        with self._sessions() as s:
            return list(s.scalars(select(Conversation.id).where(Conversation.user_id == user_id)))

    def exists(self, conv_id: str) -> bool:
        with self._sessions() as s:
            return s.get(Conversation, conv_id) is not None

    def turns(self, conv_id: str) -> list[TurnRecord]:
        with self._sessions() as s:
            if s.get(Conversation, conv_id) is None:
                raise UnknownSessionError(conv_id)
            rows = s.scalars(select(Turn).where(Turn.conversation_id == conv_id).order_by(Turn.index)).all()
            return [_turn_record(t) for t in rows]

    def turn_for_request(self, conv_id: str, request_key: str) -> TurnRecord | None:
        """The turn stored for a client's Idempotency-Key, if any."""
        with self._sessions() as s:
            row = s.scalars(select(Turn).where(Turn.conversation_id == conv_id, Turn.request_key == request_key)
                            ).first()
            return _turn_record(row) if row else None

    def expire(self, idle_before: datetime, empty_before: datetime) -> int:
        """Delete conversations untouched since `idle_before`, and those with no turn untouched since
        `empty_before`, with their turns and feedback; returns how many."""
        has_turns = exists().where(Turn.conversation_id == Conversation.id)
        with self._sessions.begin() as s:
            ids = list(s.scalars(select(Conversation.id).where(
                (Conversation.updated_at < idle_before) | ((Conversation.updated_at < empty_before) & ~has_turns))))
            for chunk in _chunks(ids, 500):
                delete_conversations(s, list(chunk))
        return len(ids)


def delete_conversations(s: Session, conv_ids: list[str]) -> None:
    """Delete conversations with their turns, shown items and feedback, child tables first (this does not rely
    on the database enforcing ON DELETE CASCADE)."""
    turn_ids = select(Turn.id).where(Turn.conversation_id.in_(conv_ids))
    s.execute(delete(ShownRecommendation).where(ShownRecommendation.turn_id.in_(turn_ids)))
    s.execute(delete(Turn).where(Turn.conversation_id.in_(conv_ids)))
    s.execute(delete(Feedback).where(Feedback.conversation_id.in_(conv_ids)))
    s.execute(delete(Conversation).where(Conversation.id.in_(conv_ids)))


StateChange = Callable[[dict[str, Any]], dict[str, Any]]
# Each conflicting write means another writer succeeded; a conversation never has this many at once.
_WRITE_ATTEMPTS = 50


def _read_state(s: Session, conv_id: str) -> tuple[dict[str, Any], int]:
    row = s.execute(select(Conversation.state, Conversation.state_version).where(Conversation.id == conv_id)).first()
    if row is None:
        raise UnknownSessionError(conv_id)
    return dict(row[0] or {}), int(row[1] or 0)


def _write_state(s: Session, conv_id: str, version: int, state: dict[str, Any]) -> bool:
    """Write `state` if the stored version is still `version` (compare-and-set in one UPDATE)."""
    done = s.execute(update(Conversation).where(Conversation.id == conv_id, Conversation.state_version == version)
                     .values(state=state, state_version=version + 1).execution_options(synchronize_session=False))
    return bool(done.rowcount)  # type: ignore[attr-defined]


def _turn_record(t: Turn) -> TurnRecord:
    return TurnRecord(index=t.index, user_text=t.user_text, reply_text=t.reply_text, language=t.language,
                      reply_source=t.reply_source, action=t.action or "recommend",
                      shown=tuple(ShownItem(r.item_id, r.rank, r.score, r.reason) for r in t.recommendations))


def _unix(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _chunks(seq: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]
