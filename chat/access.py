"""Who may use a session, and when: bearer tokens (stored only as hashes), rate limits on every door, idle expiry,
and one turn at a time (the lease a turn holds); and the text a turn reads."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from chat.identity import ANONYMOUS_PREFIX
from chat.settings import Settings
from common.errors import RateLimitedError, SessionAuthError, SessionExpiredError, UnknownSessionError
from storage.limits import RateWindows
from storage.records import SessionInfo
from storage.repository import ConversationRepository
from storage.users import ProfileRepository

WINDOW_S = 60.0
# a conversation created and never used is deleted sooner than an idle one
EMPTY_SESSION_HOURS = 1.0
# session ids are secrets.token_urlsafe(16); anything else is refused before it reaches the database
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_token() -> tuple[str, str]:
    """(token for the client, sha256 hex to store): 256 random bits, never stored in clear."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionGate:
    """Checks tokens, idle time and request rates; all its state is in the database, shared by every process."""

    def __init__(self, conversations: ConversationRepository, windows: RateWindows, settings: Settings) -> None:
        self.conversations, self.windows, self.settings = conversations, windows, settings

    def check(self, session_id: str, token: str | None, now: float | None = None) -> SessionInfo:
        """The session, if `token` is its token and it has not expired.

        Raises:
            UnknownSessionError: no such session (404). SessionAuthError: no token or another one (401/403).
            SessionExpiredError: unused for longer than `session_idle_hours` (410).
        """
        if not _SESSION_ID.fullmatch(session_id):
            raise UnknownSessionError(session_id[:64])
        info = self.conversations.info(session_id)
        if not token:
            raise SessionAuthError(missing=True)
        if info.token_hash is None or not hmac.compare_digest(info.token_hash, hash_token(token)):
            raise SessionAuthError(missing=False)
        now = time.time() if now is None else now
        if now - info.last_active > self.settings.session_idle_hours * 3600:
            raise SessionExpiredError(session_id)
        return info

    def throttle(self, session_id: str, now: float | None = None) -> None:
        """Count one request on a session; RateLimitedError with the seconds to wait when over the limit."""
        self._count(f"session:{session_id}", self.settings.rate_limit_per_minute, now)

    def admit(self, client: str | None, now: float | None = None) -> None:
        """Count one new session from a client address; RateLimitedError when it opened too many this minute."""
        self._count(f"new-session:{client or 'unknown'}"[:200], self.settings.new_sessions_per_minute, now)

    def _count(self, key: str, limit: int, now: float | None) -> None:
        now = time.time() if now is None else now
        count, start = self.windows.hit(key, now, WINDOW_S)
        if count > limit:
            raise RateLimitedError(max(1.0, start + WINDOW_S - now))

    def prune(self, profiles: ProfileRepository, now: float | None = None) -> dict[str, int]:
        """Delete expired sessions (with their turns and feedback), anonymous profiles left with no session,
        and rate windows that have ended. Returns what was deleted, by kind."""
        now = time.time() if now is None else now
        moment = datetime.fromtimestamp(now, UTC)
        idle = timedelta(hours=self.settings.session_idle_hours)
        empty = min(idle, timedelta(hours=EMPTY_SESSION_HOURS))
        sessions = self.conversations.expire(moment - idle, moment - empty)
        return {"sessions": sessions,
                "anonymous_profiles": profiles.forget_idle_anonymous(moment - idle, ANONYMOUS_PREFIX),
                "rate_windows": self.windows.forget_before(now - WINDOW_S)}


T = TypeVar("T")
# How long a turn may hold its session before another may start: longer than any turn takes; a process killed
# in the middle of a turn frees the session after this.
TURN_LEASE_S = 300.0

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(text: str | None) -> str:
    """A message as it is read and stored: line breaks kept, other control characters (which some databases
    refuse, such as NUL) removed, surrounding whitespace stripped."""
    return _CONTROL.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n")).strip()


def leased(events: Iterator[T], release: Callable[[], None]) -> Iterator[T]:
    """`events`, with `release` called however the iteration ends: finished, failed, closed, or dropped unread."""

    def run() -> Iterator[T | None]:
        try:
            yield None  # started here, so that closing or collecting it before the first event still releases
            yield from events
        finally:
            release()

    started = run()
    next(started)
    return started  # type: ignore[return-value]  # the None was consumed above
