"""The engine: one shared set of models and indexes, one `turn` per user message, state in the database."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Generator as Generator_
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial

from chat import policy
from chat.access import TURN_LEASE_S, SessionGate, clean_text, leased, new_token
from chat.answers import answer, nothing_to_ask_about, which_one, why
from chat.catalog import Catalog, load_ranker, sync_embeddings
from chat.identity import Identities, anonymous_user_id
from chat.lm.base import Generator
from chat.metrics import Metrics
from chat.profiles import FeedbackKind, Profiles, merge_concurrent
from chat.reading import LM_FIELDS, ItemQuestion, Reading, Taught, detect_language, read, target_of
from chat.recommend import Recommender
from chat.reply import write_reply
from chat.settings import Settings
from chat.state import DialogueState
from common.errors import RequestKeyError, TurnInProgressError
from retrieval.embedders.base import Embedder
from retrieval.index import Hit
from storage.attributes import AttributeSpec, shown_values
from storage.limits import RateWindows, ServerSecrets
from storage.ranker_store import RankerRepository
from storage.records import CatalogItem, ShownItem, TurnRecord
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
    claim: str = ""  # the generated (or template) part of the reason, as the ExplanationChecker saw it
    facts: tuple[str, ...] = ()  # the attributes the catalog shows, from the record: "$79", "rated 4.4", "in stock"

    @classmethod
    def of(cls, item: CatalogItem, reason: str, claim: str = "", specs: Mapping[str, AttributeSpec] | None = None,
           language: str = "en") -> Recommendation:
        """An item of the catalog with the reason given for it."""
        facts = tuple(text for _name, text in shown_values(specs or {}, item.attributes, language))
        return cls(item.id, item.title, item.year, reason, item.original_title, item.creators, item.genres,
                   item.domain, claim, facts)

    def to_json(self) -> dict[str, object]:
        return {"item_id": self.item_id, "title": self.title, "year": self.year, "reason": self.reason,
                "original_title": self.original_title, "creators": list(self.creators),
                "genres": list(self.genres), "domain": self.domain, "facts": list(self.facts)}


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
    explanations: dict[str, int] = field(default_factory=dict)  # first_pass / regenerated / template counts
    # what befell the reasons asked of the model: refused, cut off, repeated, lm error, over budget (`write_reply`)
    explanation_events: dict[str, int] = field(default_factory=dict)
    replayed: bool = False  # a turn stored before, given back for a retried request (same Idempotency-Key)

    def to_json(self) -> dict[str, object]:
        return {"session_id": self.session_id, "reply": self.reply,
                "recommendations": [r.to_json() for r in self.recommendations]}


Event = Delta | TurnResult


class Engine:
    """Serves turns for any number of sessions; everything here is shared and read-only after start."""

    def __init__(self, settings: Settings, catalog: Catalog, embedder: Embedder,
                 conversations: ConversationRepository, generator: Generator | None = None,
                 catalog_repo: CatalogRepository | None = None,
                 profiles: ProfileRepository | None = None, feedback: FeedbackRepository | None = None,
                 taught: Taught | None = None) -> None:
        self.settings, self.catalog, self.embedder = settings, catalog, embedder
        self.taught = taught  # the taught reader, for the fields it reads
        # reader=model: the generative LM reads every field it can (the rules stand where it fails)
        self.lm_fields = frozenset(LM_FIELDS) if settings.reader == "model" and generator is not None else frozenset()
        self.conversations = conversations
        self.generator = generator
        self.recommender = Recommender(catalog, embedder, diversity=settings.diversity)
        self.catalog_repo = catalog_repo  # given: newly imported items are picked up between turns
        self._catalog_version = catalog_repo.version() if catalog_repo else None
        self._refresh_lock = threading.Lock()
        sessions = conversations.sessions
        self.profiles = Profiles(conversations, profiles or ProfileRepository(sessions),
                                 feedback or FeedbackRepository(sessions), catalog.items)
        self.gate = SessionGate(conversations, RateWindows(sessions), settings)
        self.identities = Identities(settings, ServerSecrets(sessions))
        self._likes = self.profiles.feedback_repo.like_count()
        self.metrics = Metrics()  # what /metrics serves: counts and times, never what users wrote

    def new_session(self, user_id: str | None = None) -> str:
        """A session without a token (CLI, scripted dialogues); a known user starts from their profile."""
        return self.conversations.create(user_id, self.profiles.initial_state(user_id).to_json())

    def open_session(self, user_id: str | None = None) -> tuple[str, str]:
        """(session id, bearer token) for the web doors; no user id means a fresh anonymous one."""
        user_id = user_id or anonymous_user_id()
        token, digest = new_token()
        state = self.profiles.initial_state(user_id)
        return self.conversations.create(user_id, state.to_json(), digest), token

    def prune(self) -> dict[str, int]:
        """Delete expired sessions, orphaned anonymous profiles and ended rate windows (`concierge prune`)."""
        return self.gate.prune(self.profiles.profiles)

    def feedback(self, session_id: str, item_id: str, kind: FeedbackKind) -> DialogueState:
        """Like, dislike or seen on an item: stored, added to the profile, and used by the very next turn."""
        return self.profiles.give_feedback(session_id, item_id, kind)

    def item(self, item_id: str) -> CatalogItem | None:
        """A catalog record, from the database when there is one (so an item just imported is found)."""
        return self.catalog_repo.get(item_id) if self.catalog_repo else self.catalog.items.get(item_id)

    def ask(self, session_id: str, text: str, request_key: str | None = None) -> TurnResult:
        """Run a turn to completion."""
        result = None
        for event in self.turn(session_id, text, request_key):
            if isinstance(event, TurnResult):
                result = event
        assert result is not None  # turn() always ends with a TurnResult
        return result

    def refresh_catalog(self) -> bool:
        """Pick up items another process imported (`concierge ingest`) since the catalog was loaded, and
        likes given since (any process): they feed the ranker's collaborative counts."""
        if self.catalog_repo is None:
            return False
        likes = self.profiles.feedback_repo.like_count()
        if likes != self._likes and self.settings.learn_from_likes:  # new likes: rebuild the collaborative counts
            self._likes = likes
            self.catalog.ranker = load_ranker(RankerRepository(self.catalog_repo.sessions), self.catalog.index,
                                              self.embedder.name, self.profiles.feedback_repo)
        version = self.catalog_repo.version()
        if version == self._catalog_version:
            return False
        with self._refresh_lock:
            if version != self._catalog_version:
                sync_embeddings(self.catalog_repo, self.embedder, show_progress=False)
                self.catalog = Catalog.load(self.catalog_repo, self.embedder, with_likes=self.settings.learn_from_likes)
                self.recommender.catalog = self.catalog
                self.profiles.items = self.catalog.items
                self._catalog_version = version
                log.info("Catalog reloaded: %d items", len(self.catalog.items))
        return True

    def turn(self, session_id: str, text: str, request_key: str | None = None) -> Iterator[Event]:
        """Stream one turn: checked reply pieces, then the TurnResult (stored before it is yielded).

        One turn at a time per session, whichever process serves it: TurnInProgressError while another turn
        of the session runs. A `request_key` (the client's Idempotency-Key) that is already stored gives that
        turn back instead of running it again.

        Raises:
            TurnInProgressError: another turn of this session is running. RequestKeyError: `request_key` was
            used for another message.
        """
        message = clean_text(text)
        if request_key:
            done = self._replay(session_id, request_key, message)
            if done is not None:
                return done
        owner = secrets.token_hex(8)
        wait = self.conversations.begin_turn(session_id, owner, time.time(), TURN_LEASE_S)
        if wait is not None:
            raise TurnInProgressError(wait)
        release = partial(self.conversations.end_turn, session_id, owner)
        if request_key:  # stored by the request that held the session just before us?
            done = self._replay(session_id, request_key, message)
            if done is not None:
                release()
                return done
        return leased(self._turn(session_id, message, request_key), release)

    def _replay(self, session_id: str, request_key: str, message: str) -> Iterator[Event] | None:
        stored = self.conversations.turn_for_request(session_id, request_key)
        if stored is None:
            return None
        if stored.user_text != message[:self.settings.max_message_chars]:
            raise RequestKeyError("This Idempotency-Key was already used for another message: send a new key "
                                  "with each new message, and the same key only to retry the same message.")
        result = TurnResult(session_id, stored.reply_text, self.stored_recommendations(stored), stored.language,
                            stored.action, stored.reply_source, replayed=True)
        events: list[Event] = [Delta(stored.reply_text), result]
        return iter(events)

    def stored_recommendations(self, turn: TurnRecord) -> list[Recommendation]:
        """What a stored turn showed, as front ends show it (items since removed from the catalog are left out)."""
        out = []
        for shown in turn.shown:
            it = self.catalog.items.get(shown.item_id)
            if it is not None:
                out.append(Recommendation.of(it, shown.reason, specs=self.catalog.attributes, language=turn.language))
        return out

    def _turn(self, session_id: str, message: str, request_key: str | None) -> Iterator[Event]:
        t0 = time.perf_counter()
        state = DialogueState.from_json(self.conversations.load_state(session_id))
        before = state.model_copy(deep=True)
        if not message:
            reply = policy.reply("empty", state.language)
            yield Delta(reply)
            yield TurnResult(session_id, reply, language=state.language, action="empty", stored=False)
            return
        self.refresh_catalog()
        catalog = self.catalog
        notices: list[str] = []  # said before the reply, streamed first and stored with it

        def say(notice: str) -> Delta:
            notices.append(notice)
            return Delta(notice + "\n")

        limit = self.settings.max_message_chars
        if len(message) > limit:
            message = message[:limit]
            yield say(policy.reply("cut_notice", detect_language(message), limit=limit))
        # 1. read: after "Which one do you mean?", "2" or "the second" or a title alone answers that question
        use_lm = self.generator if self.settings.lm_extraction != "never" else None
        u = read(message, state, catalog.titles, use_lm, self.settings.lm_extraction, self.taught, catalog.items,
                 self.lm_fields, catalog.attribute_reader)
        state.pending_question = None
        question = u.question
        t_understood = time.perf_counter()
        t_retrieved: float | None = None
        lang = u.language
        shown: list[Recommendation] = []
        hits: list[Hit] = []
        source = "template"
        paths: dict[str, int] = {}
        events: Counter[str] = Counter()
        # 2. decide, folding the reading into the state
        recommender = self.recommender
        plan = policy.plan(state, u, catalog.items,
                           lambda: [h.item for h in recommender.recommend(state, policy.SPREAD_POOL, diversify=False)])
        action = plan.action
        for notice in plan.notices:
            yield say(notice)
        if action is policy.Action.ANSWER:
            assert question is not None
            reply = self._answer(question, u, state, message)
            yield Delta(reply)
        elif action is policy.Action.CLOSE:
            reply = policy.reply("closing", lang)
            yield Delta(reply)
        elif action is policy.Action.ASK:
            assert plan.question is not None
            reply = policy.question_text(plan.question, state, lang)
            yield Delta(reply)
        else:
            # 3. retrieve
            hits = recommender.recommend(state, u.parse.picks or self.settings.recommendations)
            t_retrieved = time.perf_counter()
            for note in policy.caveats(state, u, [h.item for h in hits], catalog.index.has_runtimes,
                                       catalog.index.has_languages, recommender.soft_genres,
                                       recommender.soft_years(state)):
                yield say(note)
            if not hits and state.attributes:  # "under $1": say so, and offer the nearest, marked as such
                hits = recommender.nearest(state, u.parse.picks or self.settings.recommendations)
                t_retrieved = time.perf_counter()
                if hits:
                    yield say(policy.no_match(state, catalog.attributes, lang))
            if not hits:
                reply = policy.reply("nothing_left", lang)
                yield Delta(reply)
            else:
                # 4. write
                reply, shown, paths = yield from self._recommend(state, hits, lang, events)
                source = ("model" if paths.get("template", 0) == 0 else
                          "mixed" if paths.get("template", 0) < len(hits) else "template")
                state.last_shown = [r.item_id for r in shown]
                state.last_reply = reply[:2000]
                state.shown += [r.item_id for r in shown if r.item_id not in state.shown]
                state.focus = None
        full_reply = "\n".join([*notices, reply])
        scores = {h.item.id: h.score for h in hits}
        # 5. store
        # a card clicked while the reply was written is kept: the turn's changes go onto what is stored now
        self.conversations.record_turn(
            session_id, message, full_reply, lang, source,
            [ShownItem(r.item_id, rank, float(scores.get(r.item_id, 0.0)), r.reason) for rank, r in enumerate(shown)],
            lambda stored: merge_concurrent(state, before, stored), action.value, request_key,
        )
        self.profiles.record(session_id, before, state, "chat")
        if paths:
            log.info("explanations: %s; %s", paths, dict(events))
        t_end = time.perf_counter()
        timings = {"understand_s": t_understood - t0, "total_s": t_end - t0}
        if t_retrieved is not None:
            timings |= {"retrieve_s": t_retrieved - t_understood, "write_s": t_end - t_retrieved}
        self.metrics.turn(action.value, timings, paths, dict(events),
                          reading_fell_back=bool(use_lm and self.lm_fields) and u.question is None and not u.lm_used)
        yield TurnResult(session_id, full_reply, shown, lang, action.value, source, True, u.lm_used, timings, paths,
                         explanation_events=dict(events))

    def _answer(self, question: ItemQuestion, u: Reading, state: DialogueState, message: str) -> str:
        """A question about an item, answered from its catalog record."""
        missing = policy.unfound_titles(u.parse)
        if missing and not u.parse.mentions:  # not the item discussed before: the one named is not in the catalog
            return policy.no_such_title(missing, u.language)
        target = target_of(u.parse, state, message, u.chosen)
        items = self.catalog.items
        if isinstance(target, list):
            state.pending_question = question.key()
            return which_one([items[i] for i in target if i in items], u.language)
        if target is None or target not in items:
            return nothing_to_ask_about(u.language)
        state.focus = target
        if question.kind == "why":
            return why(items[target], state, items, u.language, self.catalog.attributes)
        return answer(question, items[target], u.language, self.catalog.attributes)

    def _recommend(self, state: DialogueState, hits: list[Hit], lang: str, events: Counter[str]
                   ) -> Generator_[Delta, None, tuple[str, list[Recommendation], dict[str, int]]]:
        generator = self.generator if self.settings.lm_replies else None
        parts: list[str] = []
        reasons: dict[int, str] = {}
        claims: dict[int, str] = {}
        paths: dict[str, int] = {}
        for piece in write_reply(generator, state, [h.item for h in hits], self.catalog.items,
                                 self.catalog.titles, lang, self.settings.max_reason_tokens, self.catalog.people,
                                 self.settings.reason_grounding, self.settings.reason_budget_s, events,
                                 self.settings.reason_attempts, self.catalog.attributes):
            parts.append(piece.text)
            if piece.item_index is not None:
                reasons[piece.item_index] = piece.reason or ""
                claims[piece.item_index] = piece.claim or ""
                paths[piece.path or "template"] = paths.get(piece.path or "template", 0) + 1
            yield Delta(piece.text)
        shown = [Recommendation.of(h.item, reasons.get(i, ""), claims.get(i, ""), self.catalog.attributes, lang)
                 for i, h in enumerate(hits)]
        return "".join(parts).strip(), shown, paths
