"""Who may use a session: bearer tokens (stored only as hashes) and a per-session request rate limit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from chat.settings import Settings
from storage.errors import RateLimitedError, SessionAuthError
from storage.records import SessionInfo
from storage.repository import ConversationRepository


def new_token() -> tuple[str, str]:
    """(token for the client, sha256 hex to store): 256 random bits, never stored in clear."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionGate:
    """Checks tokens and counts requests; all its state is in the database, shared by every process."""

    def __init__(self, conversations: ConversationRepository, settings: Settings) -> None:
        self.conversations, self.settings = conversations, settings

    def check(self, session_id: str, token: str | None) -> SessionInfo:
        """The session, if `token` is its token; UnknownSessionError (404) or SessionAuthError (401/403)."""
        info = self.conversations.info(session_id)
        if not token:
            raise SessionAuthError(missing=True)
        if info.token_hash is None or not hmac.compare_digest(info.token_hash, hash_token(token)):
            raise SessionAuthError(missing=False)
        return info

    def throttle(self, session_id: str, now: float | None = None) -> None:
        """Count one request; RateLimitedError with the seconds to wait when over the per-minute limit."""
        now = time.time() if now is None else now
        window = 60.0
        count, start = self.conversations.count_request(session_id, now, window)
        if count > self.settings.rate_limit_per_minute:
            raise RateLimitedError(max(1.0, start + window - now))
