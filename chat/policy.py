"""The dialogue policy: explicit rules for when to ask and when to recommend."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from chat.languages import merged, phrase
from chat.languages.names import genre_label, wish_labels
from chat.lexicon import HAN
from chat.reading import Parse, Reading
from chat.state import DialogueState
from chat.text import content_words
from chat.tracking import track
from storage.attributes import AttributeSpec
from storage.records import CatalogItem

MAX_QUESTIONS = 2  # clarifying questions per conversation before recommending regardless
SPREAD_POOL = 20  # candidates looked at to decide whether a vague request is too spread out
DOMINANT_SHARE = 0.6  # a genre on this share of the pool means the pool is not spread
ERA_SPREAD_YEARS = 30  # a pool spanning more years than this can be split by era
_GENERIC = frozenset(merged("words")["generic"])  # a request too vague to act on alone


class Action(Enum):
    ASK = "ask"
    RECOMMEND = "recommend"
    ANSWER = "answer"
    CLOSE = "close"  # "thanks!" after picks: a goodbye, not three more picks


@dataclass(frozen=True)
class Question:
    """A clarifying question and the attribute it splits the candidates on."""

    kind: str  # "open" | "genre" | "era"
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What a turn does: its action, the notices said first, and for ASK the question."""

    action: Action
    notices: list[str] = field(default_factory=list)  # titles, people or studios the catalog lacks
    question: Question | None = None


def plan(state: DialogueState, reading: Reading, items: Mapping[str, CatalogItem],
         pool: Callable[[], Sequence[CatalogItem]]) -> Plan:
    """Decide the turn from what the message says, folding it into `state`: an answer to a question about an item,
    a goodbye ("thanks!" after picks), a question (nothing to go on, or a vague request whose candidates `pool`
    finds spread out), or recommendations. A question or a goodbye leaves the preferences as they were."""
    if reading.question is not None or (reading.parse.closing and state.shown):
        state.language = reading.language
        state.turns += 1
        return Plan(Action.ANSWER if reading.question is not None else Action.CLOSE)
    action = Action.RECOMMEND if reading.attributes.any else decide(state, reading.parse)
    track(reading, state, items)
    state.turns += 1
    notices = not_found(reading.parse, reading.language)  # said whether the bot then asks or recommends
    ask = Question("open") if action is Action.ASK else None
    if ask is None and state.questions_asked < MAX_QUESTIONS and is_vague(state, reading.parse):
        ask = clarify(state, reading.parse, pool())
    if ask is None:
        return Plan(Action.RECOMMEND, notices)
    state.questions_asked += 1
    state.asked.append(ask.kind)
    return Plan(Action.ASK, notices, ask)


def caveats(state: DialogueState, reading: Reading, shown: Sequence[CatalogItem], has_runtimes: bool,
            has_languages: bool, soft_genres: bool, soft_years: bool) -> list[str]:
    """Notices, in the reading's language, for what the list could not honour: a length or an original language
    the catalog does not record, hard constraints the recommender had to drop (`loosened`)."""
    notes = [] if has_runtimes or not reading.critique.max_minutes else ["no_runtimes"]
    if (reading.parse.languages_wanted or reading.parse.languages_avoided) and not has_languages:
        notes.append("no_languages")
    notes += loosened(state, shown, soft_genres, soft_years)
    return [reply(note, reading.language) for note in notes]


def decide(state: DialogueState, p: Parse) -> Action:
    """Recommend when there is anything to go on; otherwise ask one short question (once)."""
    if state.has_preferences or p.has_signal or p.wants_another and state.shown:
        return Action.RECOMMEND
    if state.questions_asked < 1:
        return Action.ASK
    return Action.RECOMMEND


def is_vague(state: DialogueState, p: Parse) -> bool:
    """Nothing specific to rank by: no titles, genres, critiques or years, and only generic words."""
    if state.liked or state.genres_wanted or state.directions or state.year_min or state.year_max or state.attributes:
        return False
    if p.wants_another and state.shown:
        return False
    words = [w for s in state.statements for w in content_words(s)]
    return all(w in _GENERIC for w in words)


def clarify(state: DialogueState, p: Parse, pool: Sequence[CatalogItem]) -> Question | None:
    """The question that best splits a vague request's candidates, or None to recommend now.

    Asked at most MAX_QUESTIONS times in a conversation; a second one only when the answer to
    the first added something (a bare "I don't know" gets recommendations, not another question).
    """
    if state.questions_asked >= MAX_QUESTIONS or not is_vague(state, p) or len(pool) < 2:
        return None
    if state.questions_asked and not (p.has_signal or p.domain):
        return None
    asked = set(state.asked)
    if "genre" not in asked:
        counts = Counter(g for it in pool for g in it.genres)
        options = tuple(g for g, n in counts.most_common() if n / len(pool) < DOMINANT_SHARE)[:3]
        if len(options) >= 2 and counts.most_common(1)[0][1] / len(pool) < DOMINANT_SHARE:
            return Question("genre", options)
    years = [it.year for it in pool if it.year]
    if "era" not in asked and years and max(years) - min(years) > ERA_SPREAD_YEARS:
        return Question("era")
    return None


def loosened(state: DialogueState, shown: Sequence[CatalogItem], soft_genres: bool,
             soft_years: bool = False) -> list[str]:
    """The notices (keys of the fixed replies) for the hard constraints the recommender had to drop to find
    anything: wanted genres (unless a fitted ranker makes them a boost), then the year range (unless it came from an
    era word and a fitted ranker makes it a boost). Empty when a shown item keeps them."""
    if not shown:
        return []
    out = []
    wanted = set(state.genres_wanted)
    if wanted and not soft_genres and not any(wanted & set(it.genres) for it in shown):
        out.append(LOOSER_GENRES)
    lo, hi = state.year_min or -9999, state.year_max or 9999
    if (state.year_min or state.year_max) and not soft_years \
            and not any(it.year and lo <= it.year <= hi for it in shown):
        out.append(LOOSER_YEARS)
    return out


def no_match(state: DialogueState, specs: Mapping[str, AttributeSpec], language: str) -> str:
    """The notice before the nearest items when nothing satisfies what was asked of the attributes."""
    wishes = [label for _name, label in wish_labels(state, specs, language)]
    return reply("no_match", language, wishes=phrase("templates", "summary_join", language).join(wishes))


def unfound_titles(parse: Parse) -> list[str]:
    """Quoted spans that no title matched and that look like a title (a capital, a digit or a Han character)."""
    return [t for t in parse.unresolved if t[:1].isupper() or t[:1].isdigit() or HAN.match(t)]


def _either(names: list[str], language: str) -> str:
    """Names as the notices list them: "A or B", 「A、B」."""
    return reply("either_join", language).join(names)


def _titled(titles: list[str], language: str) -> str:
    """Titles quoted as the language quotes them: "A" or "B", 《A》、《B》."""
    return _either([reply("quoted", language, title=t) for t in titles], language)


def reply(key: str, language: str, /, **values: object) -> str:
    """A fixed reply in `language` (chat/languages/*.toml, [replies]) with `values` filled in."""
    return phrase("replies", key, language, **values)


def no_such_title(titles: list[str], language: str) -> str:
    """The answer to a question about titles the catalog lacks ("who directed "Paddington 3"?")."""
    return reply("not_in_catalog", language, titles=_titled(titles, language))


def not_found(parse: Parse, language: str) -> list[str]:
    """Notices, in `language`, for what the message named that the catalog lacks: quoted titles no item matched
    ("I loved "Paddington 3"", 《流浪地球3》) and people asked for by name who are none of its directors, authors
    and stars ("anything with Tom Hanks" over a catalog without him), or studios, which no record names. Quoted
    ordinary words ("something "fun"") are no title."""
    titles = unfound_titles(parse)
    out = []
    if titles:
        it = reply("it_many" if len(titles) > 1 else "it_one", language)
        out.append(reply("no_title", language, titles=_titled(titles, language), it=it))
    if parse.unknown_people:
        names = parse.unknown_people
        that = reply("that_many" if len(names) > 1 else "that_one", language)
        out.append(reply("no_person", language, names=_either(names, language), that=that))
    if parse.unknown_studios:
        out.append(reply("no_studio", language, names=_either(parse.unknown_studios, language)))
    return out


def question_text(q: Question, state: DialogueState, language: str) -> str:
    if q.kind == "genre":
        labels = [genre_label(g, language) for g in q.options]
        kind = reply(f"kind_{state.domain}" if state.domain in ("movie", "book") else "kind_any", language)
        return reply("ask_genre", language, kind=kind, options=reply("options_join", language).join(labels[:-1]),
                      last=labels[-1])
    if q.kind == "era":
        return reply("ask_era", language)
    return reply("question", language)


# the notices `loosened` returns: keys of the fixed replies
LOOSER_GENRES, LOOSER_YEARS = "looser_genres", "looser_years"
