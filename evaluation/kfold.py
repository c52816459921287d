"""`concierge eval redial --split kfold`: every conversation scored by a ranker that never saw it (nested k-fold).

The five outer folds are the split's own parts: the held-out part, and the fit part's four folds (`fold_of`).
For each outer fold, the hybrid ranker is fitted on the other four exactly as `concierge eval fit` does
(weights by cross-validation over those four groups, counts from all of them), then the outer fold is
replayed through live state tracking and ranking (`evaluate`), with the popularity baseline counted on the
same four. The held-out fold therefore gets the same ranker as `eval fit` on the fit part, and its figures
are those of `eval redial --split heldout`; the pooled figures rest on five times as many conversations.

The stored ranker is never replaced: the fold rankers live in memory only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tqdm import tqdm

from chat.catalog import ranker_for
from chat.recommend import Recommender
from evaluation.baselines import mention_counts
from evaluation.dialogues import Dialogue, MentionResolver, split_of
from evaluation.fit import FOLDS, dialogue_links, features, fit_weights, fold_of, link_counts
from evaluation.redial import EvalReport, evaluate
from evaluation.replay import Replayer

if TYPE_CHECKING:
    from chat.catalog import Catalog
    from retrieval.embedders.base import Embedder

HELDOUT_FOLD = FOLDS  # the held-out part is the last outer fold


def outer_fold(conversation_id: str) -> int:
    """0..FOLDS-1: the fit part's folds; FOLDS: the held-out part."""
    return HELDOUT_FOLD if split_of(conversation_id) == "heldout" else fold_of(conversation_id)


def fold_name(fold: int) -> str:
    return "held-out part" if fold == HELDOUT_FOLD else f"fit fold {fold}"


@dataclass
class FoldResult:
    """One outer fold: what it was scored with, and how it scored."""

    fold: int
    conversations: int
    training_conversations: int
    weights: dict[str, float]
    cv_dedup: dict[str, float]  # the inner cross-validated recall the weights were chosen by
    report: EvalReport

    def to_json(self) -> dict[str, object]:
        concierge = self.report.methods["concierge"]
        return {"fold": fold_name(self.fold), "conversations": self.conversations,
                "training_conversations": self.training_conversations, "weights": self.weights,
                "inner_cv_dedup": {k: round(v, 4) for k, v in self.cv_dedup.items()},
                "dedup": concierge.dedup.to_json(), "raw": concierge.raw.to_json()}


@dataclass
class KFoldReport:
    pooled: EvalReport
    folds: list[FoldResult] = field(default_factory=list)


def run_folds(dialogues: Sequence[Dialogue], catalog: Catalog, embedder: Embedder, ks: tuple[int, ...],
              replayer: Replayer | None = None, show_progress: bool = True) -> KFoldReport:
    """Fit on four outer folds, replay the fifth, for each fold that has conversations; pool the scores."""
    replayer = replayer or Replayer(catalog.titles, MentionResolver(catalog.items))
    resolver = replayer.resolver
    links = dialogue_links(list(dialogues), catalog.titles, resolver, show_progress, replayer.taught)
    recommender = Recommender(catalog, embedder)
    feats = features(list(dialogues), catalog, recommender, resolver, show_progress, replayer.taught)
    named = {d.conversation_id: mention_counts([d], resolver) for d in dialogues}  # the popularity baseline's
    resolver.unknown.clear()  # count unknown mentions once, in the replays below
    resolver.unknown_mentions = 0
    by_fold: dict[int, list[Dialogue]] = {}
    for d in dialogues:
        by_fold.setdefault(outer_fold(d.conversation_id), []).append(d)
    pooled = EvalReport(tuple(sorted(set(ks))), {})
    out = KFoldReport(pooled)
    saved = catalog.ranker
    try:
        for fold in tqdm(sorted(by_fold), desc="outer folds", unit="fold", disable=not show_progress):
            train = [d for d in dialogues if outer_fold(d.conversation_id) != fold]
            if not train:
                continue
            fitted = fit_weights(feats.subset({d.conversation_id for d in train}), train, links, catalog.index,
                                 show_progress=False, group_of=outer_fold)
            catalog.ranker = ranker_for(fitted.weights, link_counts(links[d.conversation_id] for d in train),
                                        catalog.index, adapter=fitted.adapter)
            popularity: Counter[str] = Counter()
            for d in train:
                popularity.update(named[d.conversation_id])
            report = evaluate(by_fold[fold], recommender, resolver, popularity, ks, replayer, show_progress=False)
            out.folds.append(FoldResult(fold, len(by_fold[fold]), len(train), fitted.weights.to_json(),
                                        fitted.scores, report))
            pooled.merge(report)
    finally:
        catalog.ranker = saved
    # each fold's report carries the shared resolver's running totals, so the merged sums count early folds
    # again: the totals are the resolver's own
    pooled.unknown_ids = set(resolver.unknown)
    pooled.unknown_mentions = resolver.unknown_mentions
    return out
