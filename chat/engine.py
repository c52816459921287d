"""The engine: one shared set of models and indexes, one `turn` per user message, state in the database."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from chat import policy
from chat.access import SessionGate, new_token
from chat.catalog import Catalog, import_default_catalog, sync_embeddings
from chat.lm.base import Generator
from chat.profiles import FeedbackKind, Profiles
from chat.recommend import Recommender
from chat.reply import write_reply
from chat.settings import Settings
from chat.state import DialogueState
from chat.understand import apply, detect_language, understand
from retrieval.embedders.base import Embedder
from retrieval.index import Hit
from storage.engine import make_engine, migrate, session_factory
from storage.records import ShownItem
from storage.repository import CatalogRepository, ConversationRepository
from storage.users import FeedbackRepository, ProfileRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recommendation:
    """A recommended item as every front end shows it."""

    item_id: str
    title: str
    year: int | None
    reason: str
    original_title: str | None = None
    creators: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    domain: str = "movie"

    def to_json(self) -> dict[str, object]:
        return {"item_id": self.item_id, "title": self.title, "year": self.year, "reason": self.reason,
                "original_title": self.original_title, "creators": list(self.creators),
                "genres": list(self.genres), "domain": self.domain}


@dataclass(frozen=True)
class Delta:
    """A piece of the reply text, streamed as soon as it is checked."""

    text: str


@dataclass
class TurnResult:
    """The finished turn."""

    session_id: str
    reply: str
    recommendations: list[Recommendation] = field(default_factory=list)
    language: str = "en"
    action: str = "recommend"
    reply_source: str = "template"
    stored: bool = True
    lm_extraction: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"session_id": self.session_id, "reply": self.reply,
                "recommendations": [r.to_json() for r in self.recommendations]}


Event = Delta | TurnResult


class Engine:
    """Serves turns for any number of sessions; everything here is shared and read-only after start."""

    def __init__(self, settings: Settings, catalog: Catalog, embedder: Embedder,
                 conversations: ConversationRepository, generator: Generator | None = None,
                 profiles: ProfileRepository | None = None, feedback: FeedbackRepository | None = None) -> None:
        self.settings, self.catalog, self.embedder = settings, catalog, embedder
        self.conversations = conversations
        self.generator = generator
        self.recommender = Recommender(catalog, embedder)
        sessions = conversations._sessions
        self.profiles = Profiles(conversations, profiles or ProfileRepository(sessions),
                                 feedback or FeedbackRepository(sessions), catalog.items)
        self.gate = SessionGate(conversations, settings)

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder | None = None,
                      generator: Generator | None = None, load_lm: bool = True) -> Engine:
        """Open the database (migrating it), import the default catalog if empty, sync embeddings, load models."""
        engine = make_engine(settings.db_url)
        migrate(engine)
        sessions = session_factory(engine)
        catalog_repo = CatalogRepository(sessions)
        if catalog_repo.count() == 0:
            report = import_default_catalog(catalog_repo)
            log.info("Imported the default catalog: %d items", report.added)
        if embedder is None:
            from retrieval.embedders.presets import load_embedder

            embedder = load_embedder(settings.embedder, settings.cache_dir, settings.resolved_device())
        sync_embeddings(catalog_repo, embedder)
        catalog = Catalog.load(catalog_repo, embedder)
        if generator is None and load_lm and (settings.lm_replies or settings.lm_extraction != "never"):
            from chat.lm.presets import load_generator

            generator = load_generator(settings.lm, settings.cache_dir, settings.resolved_device())
        return cls(settings, catalog, embedder, ConversationRepository(sessions), generator,
                   ProfileRepository(sessions), FeedbackRepository(sessions))

    def new_session(self, user_id: str | None = None) -> str:
        """A session without a token (CLI, scripted dialogues); a known user starts from their profile."""
        return self.conversations.create(user_id, self.profiles.initial_state(user_id).to_json())

    def open_session(self, user_id: str | None = None) -> tuple[str, str]:
        """(session id, bearer token) for the web doors; no user id means a fresh anonymous one."""
        user_id = user_id or anonymous_user_id()
        token, digest = new_token()
        state = self.profiles.initial_state(user_id)
        return self.conversations.create(user_id, state.to_json(), digest), token

    def feedback(self, session_id: str, item_id: str, kind: FeedbackKind) -> DialogueState:
        """Like, dislike or seen on an item: stored, added to the profile, and used by the very next turn."""
        return self.profiles.give_feedback(session_id, item_id, kind)

    def ask(self, session_id: str, text: str) -> TurnResult:
        """Run a turn to completion."""
        result = None
        for event in self.turn(session_id, text):
            if isinstance(event, TurnResult):
                result = event
        assert result is not None  # turn() always ends with a TurnResult
        return result

    def turn(self, session_id: str, text: str) -> Iterator[Event]:
        """Stream one turn: checked reply pieces, then the TurnResult (stored before it is yielded)."""
        t0 = time.perf_counter()
        state = DialogueState.from_json(self.conversations.load_state(session_id))
        before = state.model_copy(deep=True)
        message = (text or "").strip()
        if not message:
            reply = policy.EMPTY[state.language]
            yield Delta(reply)
            yield TurnResult(session_id, reply, language=state.language, action="empty", stored=False)
            return
        notice = ""
        limit = self.settings.max_message_chars
        if len(message) > limit:
            message = message[:limit]
            notice = policy.CUT_NOTICE[detect_language(message)].format(limit=limit)
            yield Delta(notice + "\n")
        use_lm = self.generator if self.settings.lm_extraction != "never" else None
        u = understand(message, self.catalog.titles, use_lm, self.settings.lm_extraction)
        t_understood = time.perf_counter()
        action = policy.decide(state, u.parse)
        apply(u, state)
        state.turns += 1
        lang = u.language
        shown: list[Recommendation] = []
        hits: list[Hit] = []
        source = "template"
        if action is policy.Action.ASK:
            state.questions_asked += 1
            reply = policy.QUESTION[lang]
            yield Delta(reply)
        else:
            hits = self.recommender.recommend(state, self.settings.recommendations)
            if not hits:
                reply = policy.NOTHING_LEFT[lang]
                yield Delta(reply)
            else:
                generator = self.generator if self.settings.lm_replies else None
                parts, reasons, from_model = [], {}, 0
                for piece in write_reply(generator, message, state, [h.item for h in hits], self.catalog.items,
                                         self.catalog.titles, lang, self.settings.max_reason_tokens):
                    parts.append(piece.text)
                    if piece.item_index is not None:
                        reasons[piece.item_index] = piece.reason or ""
                        from_model += piece.from_model
                    yield Delta(piece.text)
                reply = "".join(parts).strip()
                source = "model" if from_model == len(hits) else "mixed" if from_model else "template"
                for i, hit in enumerate(hits):
                    it = hit.item
                    shown.append(Recommendation(it.id, it.title, it.year, reasons.get(i, ""), it.original_title,
                                                it.creators, it.genres, it.domain))
                state.last_shown = [r.item_id for r in shown]
                state.shown += [r.item_id for r in shown if r.item_id not in state.shown]
        full_reply = (notice + "\n" + reply) if notice else reply
        scores = {h.item.id: h.score for h in hits}
        self.profiles.keep_concurrent_changes(session_id, before, state)
        self.conversations.record_turn(
            session_id, message, full_reply, lang, source,
            [ShownItem(r.item_id, rank, float(scores.get(r.item_id, 0.0)), r.reason) for rank, r in enumerate(shown)],
            state.to_json(),
        )
        self.profiles.record(session_id, before, state, "chat")
        t_end = time.perf_counter()
        yield TurnResult(session_id, full_reply, shown, lang, action.value, source, True, u.lm_used,
                         {"understand_s": t_understood - t0, "total_s": t_end - t0})


def anonymous_user_id() -> str:
    """An unguessable user id for a visitor the host site did not name."""
    return "anon-" + secrets.token_urlsafe(12)


_shared: dict[str, Engine] = {}
_shared_lock = threading.Lock()


def shared_engine(settings: Settings) -> Engine:
    """One engine per process and settings: models load once and are shared by every session."""
    key = settings.model_dump_json()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Engine.from_settings(settings)
        return _shared[key]
