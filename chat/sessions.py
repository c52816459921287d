"""The session service: everything the doors (API, chat page, widget) do with a session, in one place.

The doors call this and nothing deeper: open a session for a visitor the server can vouch for, check a
token and the rate, run a turn, give feedback, read and edit the profile, read the conversation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from chat.engine import Engine, Event, Recommendation, TurnResult
from chat.identity import Identity
from chat.languages.names import wish_labels
from chat.profiles import FeedbackKind, PrefField, Profile
from chat.state import DialogueState
from common.errors import ConciergeError
from storage.records import CatalogItem, SessionInfo, TurnRecord


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    token: str
    identity: Identity


class SessionService:
    """Sessions over one engine; stateless itself (everything lives in the database), shared by every request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def max_message_chars(self) -> int:
        return self.engine.settings.max_message_chars

    def open(self, client: str | None, user_id: str | None = None, expires: int | None = None,
             signature: str | None = None, cookie: str | None = None) -> OpenedSession:
        """A new session for a visitor: counted against the client address's limit, owned by the host's signed
        user id, else this browser's signed visitor cookie, else a fresh anonymous id.

        Raises:
            RateLimitedError: too many new sessions from `client`. IdentityError: a wrong or expired signature.
        """
        self.engine.gate.admit(client)
        who = self.engine.identities.resolve(user_id, expires, signature, cookie)
        session_id, token = self.engine.open_session(who.user_id)
        return OpenedSession(session_id, token, who)

    def check(self, session_id: str, token: str | None) -> SessionInfo:
        """The session if `token` is its own and it has not expired; the request is counted against its rate."""
        info = self.engine.gate.check(session_id, token)
        self.engine.gate.throttle(session_id)
        return info

    def is_open(self, session_id: str, token: str) -> bool:
        """Whether a session a browser kept still opens with its token (not deleted, expired or tampered)."""
        try:
            self.engine.gate.check(session_id, token)
        except ConciergeError:
            return False
        return True

    def turn(self, session_id: str, text: str, request_key: str | None = None) -> Iterator[Event]:
        return self.engine.turn(session_id, text, request_key)

    def ask(self, session_id: str, text: str, request_key: str | None = None) -> TurnResult:
        return self.engine.ask(session_id, text, request_key)

    def state(self, session_id: str) -> DialogueState:
        return DialogueState.from_json(self.engine.conversations.load_state(session_id))

    def turns(self, session_id: str) -> list[tuple[TurnRecord, list[Recommendation]]]:
        """The conversation so far, oldest first, each turn with what it showed."""
        return [(t, self.engine.stored_recommendations(t)) for t in self.engine.conversations.turns(session_id)]

    def feedback(self, session_id: str, item_id: str, kind: FeedbackKind) -> DialogueState:
        return self.engine.feedback(session_id, item_id, kind)

    def profile(self, session_id: str) -> tuple[str | None, Profile]:
        """(user id, profile); an anonymous session without a user id has its conversation's preferences."""
        return self.engine.profiles.profile_of(session_id)

    def wishes(self, session_id: str) -> list[tuple[str, str]]:
        """What this conversation asks of the catalog's attributes: (attribute, as replies say it: "under $100")."""
        state = self.state(session_id)
        return wish_labels(state, self.engine.catalog.attributes, state.language)

    def drop_wish(self, session_id: str, name: str) -> None:
        """Forget what the conversation asked of one attribute (the page's × on "under $100")."""
        def without(stored: dict[str, object]) -> dict[str, object]:
            wishes = stored.get("attributes")
            kept = {k: v for k, v in wishes.items() if k != name} if isinstance(wishes, dict) else {}
            return {**stored, "attributes": kept}

        self.engine.conversations.update_state(session_id, without)

    def edit_profile(self, session_id: str, remove: Mapping[PrefField, list[str]],
                     add: Mapping[PrefField, list[str]]) -> Profile:
        return self.engine.profiles.edit(session_id, remove, add)

    def forget(self, session_id: str) -> int:
        return self.engine.profiles.forget(session_id)

    def item(self, item_id: str) -> CatalogItem | None:
        """A catalog record, read from the database (an item imported a moment ago is there)."""
        return self.engine.item(item_id)

    def items(self, item_ids: list[str]) -> list[CatalogItem]:
        """The catalog records of `item_ids` that exist, in order."""
        found = (self.engine.catalog.items.get(i) for i in item_ids)
        return [it for it in found if it is not None]
