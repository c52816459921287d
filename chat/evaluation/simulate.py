"""`concierge eval simulate`: a rule-based seeker with a hidden target talks to the live engine.

The target is the first movie the recommender suggested in a ReDial conversation that the seeker
had not named. The seeker never names it: it opens with a movie it named before the target (if
any) and the target's first genre, answers the bot's question from the target's attributes, and
rejects shown items with a reason drawn from how they differ from the target (genre, decade,
director, then words from the plot). Success@n: the target is shown within n bot turns.
Every choice comes from the catalog and a seeded random generator, so a run is reproducible.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from chat.engine import Engine
from chat.evaluation.dialogues import Dialogue, MentionResolver
from chat.lexicon import GENRES, STOPWORDS
from storage.records import CatalogItem

log = logging.getLogger(__name__)


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

    def success_at(self, n: int) -> float:
        return sum(1 for t in self.turns_to_success if t <= n) / self.episodes if self.episodes else 0.0

    def to_json(self) -> dict[str, object]:
        mean = sum(self.turns_to_success) / len(self.turns_to_success) if self.turns_to_success else None
        return {"episodes": self.episodes, "success@3": round(self.success_at(3), 4),
                "success@5": round(self.success_at(5), 4), "mean_turns_to_success": mean and round(mean, 2),
                "max_turns": self.max_turns}


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


def simulate(engine: Engine, eps: Sequence[Episode], seed: int = 0, max_turns: int = 5,
             show_progress: bool = True) -> SimulationReport:
    from tqdm import tqdm

    report = SimulationReport(max_turns=max_turns)
    items = engine.catalog.items
    for ep in tqdm(eps, desc="simulating", unit="episode", disable=not show_progress):
        rng = random.Random(f"{seed}:{ep.conversation_id}")
        seeker = RuleSeeker(items[ep.target], [items[i] for i in ep.liked if i in items], rng)
        session = engine.new_session()
        message = seeker.opening()
        transcript: list[str] = []
        report.episodes += 1
        for turn in range(1, max_turns + 1):
            result = engine.ask(session, message)
            shown = [r.item_id for r in result.recommendations]
            transcript += [f"seeker: {message}", f"bot: {', '.join(shown) or result.action}"]
            if ep.target in shown:
                report.turns_to_success.append(turn)
                break
            if result.action == "ask" or not shown:
                message = seeker.answer()
            else:
                message = seeker.reject([items[i] for i in shown if i in items])
        if len(report.transcripts) < 5:
            report.transcripts.append({"conversation": ep.conversation_id, "target": ep.target, "turns": transcript})
    return report
