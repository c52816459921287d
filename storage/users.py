"""User data beyond single conversations: feedback, profiles, and forgetting a user."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import combinations
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from common.errors import BusyError
from storage.records import FeedbackRecord
from storage.repository import delete_conversations
from storage.schema import Conversation, Feedback, UserProfile

FEEDBACK_KINDS = ("like", "dislike", "seen")


class FeedbackRepository:
    """Likes, dislikes and seen marks; the data a collaborative ranking signal is built from."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, records: Iterable[FeedbackRecord]) -> int:
        rows = [Feedback(conversation_id=r.session_id, user_id=r.user_id, item_id=r.item_id, kind=r.kind,
                         source=r.source, was_shown=r.was_shown) for r in records]
        if rows:
            with self._sessions.begin() as s:
                s.add_all(rows)
        return len(rows)

    def for_session(self, session_id: str) -> list[FeedbackRecord]:
        with self._sessions() as s:
            rows = s.scalars(select(Feedback).where(Feedback.conversation_id == session_id).order_by(Feedback.id))
            return [FeedbackRecord(r.conversation_id, r.user_id, r.item_id, r.kind, r.source, r.was_shown)
                    for r in rows]

    def counts(self) -> dict[tuple[str, str], int]:
        """(item id, kind) -> how many distinct users (or anonymous sessions) gave it; kind 'accept' counts
        likes of items that had been recommended in the same conversation."""
        who = func.coalesce(Feedback.user_id, Feedback.conversation_id)
        out: dict[tuple[str, str], int] = {}
        with self._sessions() as s:
            for item_id, kind, n in s.execute(select(Feedback.item_id, Feedback.kind, func.count(func.distinct(who)))
                                              .group_by(Feedback.item_id, Feedback.kind)):
                out[(item_id, kind)] = int(n)
            accepted = s.execute(select(Feedback.item_id, func.count(func.distinct(who)))
                                 .where(Feedback.kind == "like", Feedback.was_shown.is_(True))
                                 .group_by(Feedback.item_id))
            for item_id, n in accepted:
                out[(item_id, "accept")] = int(n)
        return out

    def like_count(self) -> int:
        """How many likes are stored: changes whenever the collaborative counts would."""
        with self._sessions() as s:
            return int(s.scalar(select(func.count(Feedback.id)).where(Feedback.kind == "like")) or 0)

    def co_liked_pairs(self) -> Counter[tuple[str, str]]:
        """(item a, item b), a < b -> number of users who liked both: the item-item co-occurrence signal."""
        who = func.coalesce(Feedback.user_id, Feedback.conversation_id)
        liked: dict[str, set[str]] = {}
        with self._sessions() as s:
            for user, item_id in s.execute(select(who, Feedback.item_id).where(Feedback.kind == "like").distinct()):
                liked.setdefault(user, set()).add(item_id)
        pairs: Counter[tuple[str, str]] = Counter()
        for items in liked.values():
            pairs.update(combinations(sorted(items), 2))
        return pairs


class ProfileRepository:
    """One JSON preferences document per user id."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, user_id: str) -> dict[str, Any] | None:
        with self._sessions() as s:
            row = s.get(UserProfile, user_id)
            return dict(row.preferences or {}) if row else None

    def save(self, user_id: str, preferences: dict[str, Any]) -> None:
        """Replace the user's preferences, whatever was stored (use `update` to change them)."""
        self.update(user_id, lambda _: preferences)

    def update(self, user_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Store change(stored preferences) atomically: a write that lost a race with another is redone on the
        newer preferences (two conversations of one user at once lose nothing)."""
        for _ in range(50):
            with self._sessions.begin() as s:
                row = s.execute(select(UserProfile.preferences, UserProfile.version)
                                .where(UserProfile.user_id == user_id)).first()
                new = change(dict(row[0] or {}) if row else {})
                if row is not None:
                    done = s.execute(update(UserProfile).where(UserProfile.user_id == user_id,
                                                               UserProfile.version == row[1])
                                     .values(preferences=new, version=row[1] + 1)
                                     .execution_options(synchronize_session=False))
                    if done.rowcount:  # type: ignore[attr-defined]
                        return new
                    continue
            try:
                with self._sessions.begin() as s:
                    s.add(UserProfile(user_id=user_id, preferences=new))
                return new
            except IntegrityError:
                continue  # another process created it first: change theirs
        raise BusyError("This profile is being changed by many requests at once. Try again in a moment.")

    def forget(self, user_id: str) -> int:
        """Delete the user's profile, conversations, turns, shown items and feedback; returns conversations gone."""
        with self._sessions.begin() as s:
            conv_ids = list(s.scalars(select(Conversation.id).where(Conversation.user_id == user_id)))
            s.execute(delete(Feedback).where(Feedback.user_id == user_id))
            delete_conversations(s, conv_ids)
            s.execute(delete(UserProfile).where(UserProfile.user_id == user_id))
        return len(conv_ids)

    def forget_idle_anonymous(self, before: datetime, prefix: str) -> int:
        """Delete profiles of anonymous visitors (ids starting with `prefix`) untouched since `before` whose
        conversations are all gone; returns how many."""
        has_conversations = exists().where(Conversation.user_id == UserProfile.user_id)
        with self._sessions.begin() as s:
            done = s.execute(delete(UserProfile).where(UserProfile.user_id.startswith(prefix, autoescape=True),
                                                       UserProfile.updated_at < before, ~has_conversations)
                             .execution_options(synchronize_session=False))
            return int(done.rowcount or 0)  # type: ignore[attr-defined]

    def forget_conversation(self, conv_id: str) -> int:
        """Delete one conversation of no known user, with its turns and feedback."""
        with self._sessions.begin() as s:
            delete_conversations(s, [conv_id])
        return 1
