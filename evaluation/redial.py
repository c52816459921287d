"""`concierge eval redial`: replay ReDial conversations and score concierge against the baselines."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from chat.recommend import Recommender
from evaluation.baselines import PopularityBaseline, RepeatBaseline
from evaluation.dialogues import Dialogue, MentionResolver
from evaluation.metrics import DEFAULT_KS, MethodScore, without
from evaluation.replay import Replayer, ReplayTurn
from retrieval.embedders.base import Embedder

log = logging.getLogger(__name__)


class CachingEmbedder(Embedder):
    """Remembers query vectors within a run: a replay re-embeds the same earlier statements many times."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.query_prefix, self.document_prefix = inner.name, inner.query_prefix, inner.document_prefix
        self._cache: dict[str, np.ndarray] = {}

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            for t, v in zip(todo, self.inner.embed_batch(todo), strict=True):
                self._cache[t] = v
            if len(self._cache) > 50_000:
                self._cache.clear()
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)


@dataclass
class EvalReport:
    """Scores per method, plus what the input contained."""

    ks: tuple[int, ...]
    methods: dict[str, MethodScore]
    conversations: int = 0
    turns: int = 0
    unknown_ids: set[str] = field(default_factory=set)
    unknown_mentions: int = 0
    seconds: float = 0.0

    def merge(self, other: EvalReport) -> None:
        """Pool another replay's scores (other conversations, same k values) into this report."""
        for name, score in other.methods.items():
            self.methods.setdefault(name, MethodScore(self.ks)).merge(score)
        self.conversations += other.conversations
        self.turns += other.turns
        self.unknown_ids |= other.unknown_ids
        self.unknown_mentions += other.unknown_mentions
        self.seconds += other.seconds

    def to_json(self) -> dict[str, object]:
        return {"methods": {name: m.to_json() for name, m in self.methods.items()},
                "conversations": self.conversations, "turns": self.turns,
                "unknown_movie_ids": len(self.unknown_ids), "unknown_mentions": self.unknown_mentions,
                "seconds": round(self.seconds, 1)}


def evaluate(dialogues: Sequence[Dialogue], recommender: Recommender, resolver: MentionResolver,
             train_counts: Counter[str] | None, ks: Sequence[int] = DEFAULT_KS, replayer: Replayer | None = None,
             show_progress: bool = True) -> EvalReport:
    """Rank at every recommender turn that names catalog movies, for concierge and the baselines.

    Args:
        dialogues: the conversations to replay (the split being reported).
        recommender: the live ranking (its catalog's fitted hybrid ranker, if any, is used).
        resolver: maps `@id` mentions to catalog ids and counts unknown ones.
        train_counts: mention counts from the training dialogues (the popularity baseline); None leaves
            the baseline out.
    """
    ks = tuple(sorted(set(ks)))
    kmax = max(ks)
    replayer = replayer or Replayer(recommender.catalog.titles, resolver)
    methods = {"concierge": MethodScore(ks), "repeat": MethodScore(ks)}
    popularity = PopularityBaseline(train_counts) if train_counts is not None else None
    if popularity is not None:
        methods["popularity"] = MethodScore(ks)
    repeat = RepeatBaseline()
    report = EvalReport(ks, methods)
    t0 = time.perf_counter()
    bar = tqdm(dialogues, desc="replaying", unit="conv", disable=not show_progress)
    for dialogue in bar:
        report.conversations += 1
        for turn in replayer.turns(dialogue):
            report.turns += 1
            score_turn(turn, recommender, kmax, methods, popularity, repeat)
        raw = methods["concierge"].raw
        bar.set_postfix({f"R@{k}": f"{raw.recall(k):.3f}" for k in ks[-2:]})
    report.unknown_ids = set(resolver.unknown)
    report.unknown_mentions = resolver.unknown_mentions
    report.seconds = time.perf_counter() - t0
    return report


def score_turn(turn: ReplayTurn, recommender: Recommender, kmax: int, methods: dict[str, MethodScore],
               popularity: PopularityBaseline | None, repeat: RepeatBaseline) -> None:
    ctx = turn.context_ids
    t = time.perf_counter()
    scores = recommender.scores(turn.state)
    dedup = without(recommender.rank_scores(turn.state, scores, kmax + len(ctx), True), ctx)[:kmax]
    seconds = turn.fold_seconds + time.perf_counter() - t  # what a live turn costs: reading + ranking
    raw = recommender.rank_scores(turn.state, scores, kmax, False)
    methods["concierge"].add(raw, dedup, turn.targets, ctx, seconds, turn.dialogue_id)
    for name, baseline in (("popularity", popularity), ("repeat", repeat)):
        if baseline is None:
            continue
        t = time.perf_counter()
        ranked_raw = baseline.rank(ctx, kmax, exclude_context=False)
        ranked_dedup = baseline.rank(ctx, kmax, exclude_context=True)
        methods[name].add(ranked_raw, ranked_dedup, turn.targets, ctx, time.perf_counter() - t, turn.dialogue_id)


def plot(report: EvalReport, path: str) -> bool:
    """Recall@k curves per method (raw solid, deduplicated dashed); False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, m in report.methods.items():
        line = ax.plot(report.ks, [m.raw.recall(k) for k in report.ks], marker="o", label=f"{name} raw")[0]
        ax.plot(report.ks, [m.dedup.recall(k) for k in report.ks], marker="x", linestyle="--",
                color=line.get_color(), label=f"{name} dedup")
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_title(f"ReDial recall@k ({report.conversations} conversations, {report.turns} turns)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
