"""Who a visitor is: user ids the host site signed, and anonymous visitor ids this server signed.

A user id is a key to that user's profile (read it, change it, delete it), so the server takes one only
when it can check where it came from:

- a host site that names its users signs each id with a secret it shares with this server
  (`identity_secret`): `signature = hex(HMAC-SHA256(secret, f"{user_id}:{expires}"))`, `expires` a unix time.
  This is how chat widgets verify identity; the id is valid until `expires`.
- a visitor the host did not name gets a random id from the server, in a cookie signed with a key the
  server made (kept in the database, so every process and restart accepts it). A cookie the client made up
  is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from chat.settings import Settings
from common.errors import IdentityError
from storage.limits import ServerSecrets

log = logging.getLogger(__name__)

ANONYMOUS_PREFIX = "anon-"
VISITOR_COOKIE = "concierge_uid"
_COOKIE_KEY = "visitor-cookie"
_ANON_ID = re.compile(r"anon-[A-Za-z0-9_-]{16}")
# a signature is a 64-character hex digest; user ids are at most 200 characters of a safe alphabet
_USER_ID = re.compile(r"[\w.@:+-]{1,200}")


def sign_user_id(secret: str, user_id: str, expires: int) -> str:
    """The signature a host site sends with `user_id`: hex HMAC-SHA256 of 'user_id:expires' under `secret`."""
    return hmac.new(secret.encode(), f"{user_id}:{int(expires)}".encode(), hashlib.sha256).hexdigest()


def anonymous_user_id() -> str:
    """An unguessable user id (96 random bits) for a visitor the host site did not name."""
    return ANONYMOUS_PREFIX + secrets.token_urlsafe(12)


@dataclass(frozen=True)
class Identity:
    """The user a new session belongs to, and how the server knows it."""

    user_id: str
    source: Literal["signed", "unsigned", "visitor", "anonymous"]


class Identities:
    """Turns what a client says about who it is into a user id the server can vouch for."""

    def __init__(self, settings: Settings, keys: ServerSecrets) -> None:
        self.settings, self._keys = settings, keys
        self._cookie_key: bytes | None = None

    def resolve(self, user_id: str | None, expires: int | None, signature: str | None, cookie: str | None,
                now: float | None = None) -> Identity:
        """The identity of a new session: the host's user id if its signature holds, else the visitor cookie's
        id if this server signed it, else a fresh anonymous id.

        Raises:
            IdentityError: a secret is configured and `user_id` comes with no, a wrong or an expired signature.
        """
        if user_id:
            host = self.host_user(user_id, expires, signature, now)
            if host is not None:
                return host
        visitor = self.visitor(cookie)
        if visitor is not None:
            return Identity(visitor, "visitor")
        return Identity(anonymous_user_id(), "anonymous")

    def host_user(self, user_id: str, expires: int | None, signature: str | None,
                  now: float | None = None) -> Identity | None:
        """`user_id` if the host signed it (or unsigned ids are trusted); None when it is to be ignored."""
        secret = self.settings.identity_secret
        if secret is None:
            if self.settings.trust_unsigned_user_ids:
                return Identity(user_id, "unsigned")
            log.warning("A client sent a user id, but no identity_secret is set: the session is anonymous. "
                        "Set CONCIERGE_IDENTITY_SECRET and sign user ids (see the README).")
            return None
        if not _USER_ID.fullmatch(user_id):
            raise IdentityError("user_id may hold only letters, digits and . @ : + - _ (at most 200).")
        if expires is None or not signature:
            raise IdentityError("This server takes only signed user ids: send user_expires (a unix time) and "
                                "user_signature, the hex HMAC-SHA256 of 'user_id:user_expires' under the site's "
                                "identity secret (see the README).")
        if expires < (time.time() if now is None else now):
            raise IdentityError("The user id's signature has expired (user_expires is in the past): sign it again "
                                "on your server and start a new session.")
        expected = sign_user_id(secret.get_secret_value(), user_id, expires)
        if not hmac.compare_digest(expected, signature.strip().lower()):
            raise IdentityError("The user id's signature does not match: sign 'user_id:user_expires' with "
                                "HMAC-SHA256 under the same secret as CONCIERGE_IDENTITY_SECRET.")
        return Identity(user_id, "signed")

    def visitor_cookie(self, user_id: str) -> str:
        """The cookie value that proves this server gave `user_id` to the visitor."""
        return f"{user_id}.{self._mac(user_id)}"

    def visitor(self, cookie: str | None) -> str | None:
        """The anonymous user id in a cookie this server signed; None for a missing or made-up cookie."""
        if not cookie or "." not in cookie:
            return None
        user_id, _, mac = cookie.rpartition(".")
        if not _ANON_ID.fullmatch(user_id) or not hmac.compare_digest(mac, self._mac(user_id)):
            return None
        return user_id

    def _mac(self, user_id: str) -> str:
        if self._cookie_key is None:
            self._cookie_key = self._keys.get(_COOKIE_KEY).encode()
        digest = hmac.new(self._cookie_key, user_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode()
