"""`concierge eval simulate`: a rule-based seeker with a hidden target talks to the live engine.

The target is the first movie the recommender suggested in a ReDial conversation that the seeker
had not named. The seeker never names it: it opens with a movie it named before the target (if
any) and the target's first genre, answers the bot's question from the target's attributes, and
rejects shown items with a reason drawn from how they differ from the target (genre, decade,
director, then words from the plot). Success@n: the target (or another record of its work: a list shows one)
is shown within n bot turns.
Every choice comes from the catalog and a seeded random generator, so a run is reproducible.

`LMSeeker` (`--with-llm`) has the generative model reword each of those messages, so the bot meets
the wording of a person rather than of a template. The model decides no fact: a rewording is used
only when the rules read it exactly as they read the original (same movies and how they are meant,
genres, people, years, critiques), it keeps the original's story words and its "not", and it does not
name the target; otherwise the original is sent.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from chat.engine import Engine
from chat.lexicon import GENRES, STOPWORDS
from chat.lm.base import Generator, Message, complete
from chat.reading.critique import parse_critique
from chat.reading.parse import parse
from chat.titles import TitleIndex
from evaluation import prompts
from evaluation.dialogues import Dialogue, MentionResolver
from storage.records import CatalogItem

log = logging.getLogger(__name__)

SEEKER_PROMPT = "seeker_system.txt"
SEEKER_EXAMPLES = "seeker_examples.json"  # (rule message, rewording) pairs shown to the model first
MAX_REWORDING_CHARS = 300  # longer model output is a ramble, not a chat message
REWORDING_TOKENS = 80


@dataclass(frozen=True)
class Episode:
    conversation_id: str
    target: str
    liked: tuple[str, ...]  # movies the seeker named before the target


@dataclass
class SimulationReport:
    episodes: int = 0
    turns_to_success: list[int] = field(default_factory=list)
    max_turns: int = 5
    transcripts: list[dict[str, object]] = field(default_factory=list)
    with_llm: bool = False  # the seekers were `LMSeeker`s
    reworded: int = 0  # seeker messages the model was asked to reword
    rewordings_kept: int = 0  # of those, rewordings the rules read as the original and sent

    def success_at(self, n: int) -> float:
        return sum(1 for t in self.turns_to_success if t <= n) / self.episodes if self.episodes else 0.0

    def to_json(self) -> dict[str, object]:
        mean = sum(self.turns_to_success) / len(self.turns_to_success) if self.turns_to_success else None
        return {"episodes": self.episodes, "success@3": round(self.success_at(3), 4),
                "success@5": round(self.success_at(5), 4), "mean_turns_to_success": mean and round(mean, 2),
                "max_turns": self.max_turns,
                **({"lm_rewordings": self.reworded, "lm_rewordings_kept": self.rewordings_kept}
                   if self.with_llm else {})}


def episodes(dialogues: Sequence[Dialogue], resolver: MentionResolver, n: int, seed: int) -> list[Episode]:
    """One target per conversation (the recommender's first new suggestion), `n` conversations drawn with `seed`."""
    out = []
    for d in dialogues:
        named: list[str] = []
        for m in d.messages:
            ids = resolver.ids_in(m.text)
            new = [i for i in ids if i not in named]
            if m.from_recommender and new:
                out.append(Episode(d.conversation_id, new[0], tuple(named)))
                break
            if not m.from_recommender:
                named += new
    rng = random.Random(seed)
    rng.shuffle(out)
    return sorted(out[:n], key=lambda e: e.conversation_id)


class RuleSeeker:
    """Answers and rejects from the target's catalog attributes, never with its title."""

    def __init__(self, target: CatalogItem, liked: Sequence[CatalogItem], rng: random.Random) -> None:
        self.target, self.liked, self.rng = target, list(liked), rng
        self.revealed: list[str] = []
        plot = re.findall(r"[A-Za-z]{4,}", target.description)
        title_words = {w.lower() for w in re.findall(r"[A-Za-z]+", target.title)}
        self.plot_words = [w for w in plot if w.lower() not in STOPWORDS and w.lower() not in title_words][:8]

    def genre_phrase(self, i: int = 0) -> str | None:
        genres = list(self.target.genres)
        if i >= len(genres):
            return None
        g = genres[i]
        return GENRES[g][0] if g in GENRES else g

    def opening(self) -> str:
        genre = self.genre_phrase(0)
        parts = ["Hi!"]
        if self.liked:
            parts.append(f"I really liked {self.rng.choice(self.liked).title}.")
        parts.append(f"Can you recommend a {genre} movie?" if genre else "Can you recommend a movie?")
        return " ".join(parts)

    def answer(self) -> str:
        """The bot asked what we want: the target's genres and decade."""
        genres = [p for p in (self.genre_phrase(0), self.genre_phrase(1)) if p]
        decade = f" from the {self.target.year // 10 * 10}s" if self.target.year else ""
        return f"I'd like a {' '.join(genres) or 'good'} movie{decade}."

    def reject(self, shown: Sequence[CatalogItem]) -> str:
        """Reject the shown items with the first attribute difference not yet used."""
        t = self.target
        reasons = []
        other_genres = {g for it in shown for g in it.genres}
        missing = [g for g in t.genres if g not in other_genres]
        if missing and "genre" not in self.revealed:
            self.revealed.append("genre")
            g = GENRES[missing[0]][0] if missing[0] in GENRES else missing[0]
            reasons.append(f"Those are not really {g}.")
        elif t.year and "decade" not in self.revealed and any(
                it.year is None or it.year // 10 != t.year // 10 for it in shown):
            self.revealed.append("decade")
            reasons.append(f"Something from the {t.year // 10 * 10}s would be better.")
        elif t.creators and "director" not in self.revealed:
            self.revealed.append("director")
            reasons.append(f"I like films by {t.creators[0]}.")
        else:
            start = 4 * sum(1 for r in self.revealed if r.startswith("plot"))
            words = self.plot_words[start : start + 4]
            self.revealed.append(f"plot{start}")
            if words:
                reasons.append(f"I want a story with {' '.join(words).lower()}.")
            else:
                reasons.append("I want something different.")
        return "Not those. " + " ".join(reasons)


class LMSeeker(RuleSeeker):
    """The rule seeker's messages reworded by the generative model, each kept only when `keeps_the_facts`."""

    def __init__(self, target: CatalogItem, liked: Sequence[CatalogItem], rng: random.Random,
                 generator: Generator, titles: TitleIndex) -> None:
        super().__init__(target, liked, rng)
        self.generator, self.titles = generator, titles
        self.reworded = self.kept = 0
        self.prompt: list[Message] = [{"role": "system", "content": prompts.load(SEEKER_PROMPT)}]
        for original, reworded in prompts.load_json(SEEKER_EXAMPLES):
            self.prompt += [{"role": "user", "content": original}, {"role": "assistant", "content": reworded}]

    def opening(self) -> str:
        return self.reword(super().opening())

    def answer(self) -> str:
        return self.reword(super().answer())

    def reject(self, shown: Sequence[CatalogItem]) -> str:
        return self.reword(super().reject(shown))

    def reword(self, text: str) -> str:
        messages: list[Message] = [*self.prompt, {"role": "user", "content": text}]
        out = complete(self.generator, messages, REWORDING_TOKENS, stop=("\n",)).strip().strip('"').strip()
        self.reworded += 1
        if not out or len(out) > MAX_REWORDING_CHARS or self.target.title.lower() in out.lower() \
                or not keeps_the_facts(text, out, self.titles):
            log.debug("rewording %r of %r not kept", out, text)
            return text
        self.kept += 1
        return out


# Parse fields a rewording may change: the free text, and the domain ("a crime movie" vs "a crime one")
_FREE_FIELDS = ("mentions", "positive_text", "greeting_only", "unresolved", "domain", "targets")  # targets: offsets


def reading(text: str, titles: TitleIndex) -> dict[str, object]:
    """What the rules take from a message, less its free words: what a rewording must keep. Every other
    field of the linker's `Parse` (a new one included) and of the critique counts; the order of a list does not."""
    p, c = parse(text, titles), parse_critique(text)
    out = {f.name: getattr(p, f.name) for f in fields(p) if f.name not in _FREE_FIELDS}
    out |= {f"critique.{f.name}": getattr(c, f.name) for f in fields(c)}
    out = {k: sorted(v) if isinstance(v, list) and k != "ordinal_refs" else v for k, v in out.items()}
    return out | {"mentions": {m.item_id: m.polarity for m in p.mentions}}


def same_reading(original: str, reworded: str, titles: TitleIndex) -> bool:
    return reading(original, titles) == reading(reworded, titles)


# words of RuleSeeker's templates: a rewording may drop or change them ("Can you recommend" -> "any")
_TEMPLATE_WORDS = {"really", "liked", "recommend", "movie", "like", "from", "those", "something", "would",
                   "better", "films", "want", "story", "with", "different"}
_NEGATION = re.compile(r"\b(?:no|not|nope|nah|never|none|neither|nothing)\b|n't\b")


def fact_words(text: str) -> list[str]:
    """The words of a rule message that carry a fact (plot words, genres, names), lowercased."""
    words = (w.lower() for w in re.findall(r"[A-Za-z]{4,}", text))
    return [w for w in words if w not in STOPWORDS and w not in _TEMPLATE_WORDS]


def keeps_the_facts(original: str, reworded: str, titles: TitleIndex) -> bool:
    """Whether a rewording says what the rule message says: the same reading by the rules, every fact word
    (a word counts as kept when one in the rewording starts like it: "detective" / "detectives"), and a
    "not" where the original has one."""
    if not same_reading(original, reworded, titles):
        return False
    if bool(_NEGATION.search(original.lower())) != bool(_NEGATION.search(reworded.lower())):
        return False
    have = [w.lower() for w in re.findall(r"[A-Za-z]+", reworded)]
    return all(any(h.startswith(w[:max(4, len(w) - 2)]) for h in have) for w in fact_words(original))


def found(target: str, shown: Sequence[str], twins: Mapping[str, Sequence[str]]) -> bool:
    """Whether `shown` has the target or another record of its work (a list shows one record of a work)."""
    return target in shown or any(t in shown for t in twins.get(target, ()))


def simulate(engine: Engine, eps: Sequence[Episode], seed: int = 0, max_turns: int = 5,
             show_progress: bool = True, generator: Generator | None = None) -> SimulationReport:
    """Run each episode against `engine`; with `generator`, the seeker's messages are reworded (`LMSeeker`)."""
    from tqdm import tqdm

    report = SimulationReport(max_turns=max_turns, with_llm=generator is not None)
    items = engine.catalog.items
    for ep in tqdm(eps, desc="simulating", unit="episode", disable=not show_progress):
        rng = random.Random(f"{seed}:{ep.conversation_id}")
        liked = [items[i] for i in ep.liked if i in items]
        seeker = (LMSeeker(items[ep.target], liked, rng, generator, engine.catalog.titles) if generator
                  else RuleSeeker(items[ep.target], liked, rng))
        session = engine.new_session()
        message = seeker.opening()
        transcript: list[str] = []
        report.episodes += 1
        for turn in range(1, max_turns + 1):
            result = engine.ask(session, message)
            shown = [r.item_id for r in result.recommendations]
            transcript += [f"seeker: {message}", f"bot: {', '.join(shown) or result.action}"]
            if found(ep.target, shown, engine.catalog.twins):
                report.turns_to_success.append(turn)
                break
            if result.action == "ask" or not shown:
                message = seeker.answer()
            else:
                message = seeker.reject([items[i] for i in shown if i in items])
        if isinstance(seeker, LMSeeker):
            report.reworded += seeker.reworded
            report.rewordings_kept += seeker.kept
        if len(report.transcripts) < 5:
            report.transcripts.append({"conversation": ep.conversation_id, "target": ep.target, "turns": transcript})
    return report
