"""`concierge eval fit`: fit the hybrid ranker's weights on training dialogues and store it with the catalog.

Honest by construction: the fit dialogues are cut into folds (sha1 of "fold:" + conversation id);
each fold is scored with collaborative/popularity counts built from the other folds only, so a
conversation never votes for itself. The weights maximise the sum of deduplicated recall at the
reported cut-offs and around them (`OBJECTIVE_KS`; R@1 breaks ties) over all folds, by coordinate
ascent over `GRID` (each weight in turn, the others fixed, up to three rounds); the stored counts then
come from every fit dialogue. Wanted genres are fitted as a boost (`HybridWeights.genre`, never 0,
starting from a boost so large it acts as the old hard filter), so a strongly co-mentioned movie
outside the genres the linker read can still rank. The interest adapter (retrieval/adapter.py) is fitted the
same way: each fold's content scores come through the adapter fitted on the other folds' turns, and the stored
one is fitted on every turn. The weights are fitted both through it and on the plain interest vector, and the
adapter is kept only when it raises the cross-validated objective: fitted on few pairs it can lower recall.

The counts come from one replay of every fit conversation (`dialogue_links`): the movies it names
(co-occurrence, two-hop co-occurrence, popularity, year prior) and, at each recommender turn, the genres
the seeker wanted then with the movies recommended (genre -> item counts). People the seeker asked for by
name ("anything with Tom Hanks?") are read by the linker, as in live chat. How much a movie is like the
conversation's movies in genres, year and series (`ContextLikeness`) needs no counts. Ranks count ties at mid-rank,
so a feature that scores every item alike wins nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from tqdm import tqdm

from chat.catalog import Catalog, ranker_for
from chat.reading import Taught
from chat.recommend import Recommender, context_items
from chat.titles import TitleIndex
from common.errors import ConciergeError
from evaluation.dialogues import Dialogue, MentionResolver
from evaluation.redial import CachingEmbedder
from evaluation.replay import Replayer
from retrieval.adapter import adapt, fit_adapter, to_bytes
from retrieval.index import VectorIndex
from retrieval.ranking import CONTENT_FEATURES, COUNT_FEATURES, HybridWeights, LinkCounts, RankContext, zscore
from retrieval.threads import all_cores
from storage.ranker_store import RankerRepository, model_name

log = logging.getLogger(__name__)

FOLDS = 4
_STEPS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0)
_WIDE = (*_STEPS, 2048.0, 4096.0)  # two-hop shares are products of two shares: small numbers, large weights
GENRE_HARD = 1e4  # a genre boost larger than any other score difference: the hard filter, as a weight
YEAR_HARD = 1e4  # the same for year bounds read from an era word ("older ones"): where the fit starts
GRID = {"liked": _STEPS, "shown": _STEPS, "popularity": _STEPS, "recency": _STEPS, "items": _STEPS,
        "genre": (*_STEPS[1:], GENRE_HARD), "people": _STEPS, "liked2": _WIDE, "shown2": _WIDE,
        "named_people": _STEPS, "genre_items": _STEPS, "context_genres": _STEPS, "context_era": _STEPS,
        "year": (*_STEPS[1:], YEAR_HARD), "series": _STEPS}
ROUNDS = 3
# R@5 .. R@75, not only R@10 + R@50: more pairs decide each step, so the weights follow the noise of a few
# pairs that cross rank 10 or 50 less. `eval redial --split kfold` over the 1,000 shared dialogues
# (e5-small) gave 0.207 / 0.399 against 0.208 / 0.394 (R@10 / R@50) for R@10 + R@50 alone: a larger
# sum R@10 + R@50 on unseen folds.
OBJECTIVE_KS = (5, 10, 20, 30, 50, 75)
# At most this many conversations' turns fit the weights; the counts still come from every training
# conversation. Each turn holds about 20 catalog-wide float arrays during the fit (~0.5 MB with 6,581 movies),
# so all of ReDial's 10,000 training conversations (~28,000 turns) would need ~14 GB and their replay half an
# hour on 2 cores. 1,500 conversations (~4,000 turns) are more than the 812 the shipped weights were fitted
# on: the cap bounds memory (~2 GB) and time without changing any fit of the shared 1,000.
WEIGHT_CONVERSATIONS = 1500
# Bumped when the fit learns something it did not before (2: the interest adapter; 3: the adapter kept only when it
# raises the cross-validated recall; 4: year bounds from an era word as a fitted boost; 5: the series feature), so
# that evaluation runs refit a ranker an older fit stored instead of scoring without what is new.
FIT_VERSION = 5
QUERY_BATCH = 32  # query texts embedded per call before the features are scored
_LEVEL_GAP = 1e4  # larger than any score difference: a stricter filter level always ranks first


def reader_name(taught: Taught | None) -> str:
    """Which reader replayed the dialogues a fit learnt from: its features follow what was read."""
    return "rules" if taught is None or not taught.fields else "taught:" + ",".join(sorted(taught.fields))


def fold_of(conversation_id: str, folds: int = FOLDS) -> int:
    return int(hashlib.sha1(f"fold:{conversation_id}".encode()).hexdigest()[:8], 16) % folds


@dataclass(frozen=True)
class DialogueLinks:
    """What one training conversation adds to the counts."""

    items: tuple[str, ...]  # catalog items it names, in order of first mention
    genre_targets: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (genres wanted, new movies) per rec. turn


def dialogue_links(dialogues: list[Dialogue], titles: TitleIndex, resolver: MentionResolver,
                   show_progress: bool = False, taught: Taught | None = None) -> dict[str, DialogueLinks]:
    """Replay each conversation once: the items it names, and which movies were recommended for which genres."""
    replayer = Replayer(titles, resolver, taught=taught)
    out = {}
    for d in tqdm(dialogues, desc="counting", unit="conv", disable=not show_progress):
        pairs = []
        for turn in replayer.turns(d):
            new = tuple(t for t in turn.targets if t not in turn.context_ids)
            if turn.state.genres_wanted and new:
                pairs.append((tuple(turn.state.genres_wanted), new))
        items = tuple(i for i in (resolver.item_id(raw) for raw in d.mentioned_ids()) if i is not None)
        out[d.conversation_id] = DialogueLinks(items, tuple(pairs))
    return out


def link_counts(links: Iterable[DialogueLinks]) -> LinkCounts:
    counts = LinkCounts()
    for link in links:
        counts.add_dialogue(link.items)
        for genres, targets in link.genre_targets:
            counts.add_genre_targets(genres, targets)
    return counts


@dataclass
class TurnFeatures:
    """Per prediction point, everything the weights act on (n = catalog size)."""

    conversation: list[str] = field(default_factory=list)  # the conversation each prediction point is from
    z: list[np.ndarray] = field(default_factory=list)  # z-scored content score (n,)
    vec: list[np.ndarray | None] = field(default_factory=list)  # the interest vector (dim,) before any adapter
    base: list[np.ndarray] = field(default_factory=list)  # filter level offset, -inf where excluded (n,)
    # per feature of CONTENT_FEATURES, what its weight multiplies at each prediction point (n,)
    content: dict[str, list[np.ndarray]] = field(default_factory=lambda: {f: [] for f in CONTENT_FEATURES})
    genres: list[list[str]] = field(default_factory=list)  # the wanted genres
    liked: list[list[str]] = field(default_factory=list)
    others: list[list[str]] = field(default_factory=list)
    targets: list[list[int]] = field(default_factory=list)  # index positions of new (dedup) targets

    def subset(self, conversations: Container[str]) -> TurnFeatures:
        """The prediction points of the given conversations only (same order)."""
        keep = [t for t, c in enumerate(self.conversation) if c in conversations]
        pick = lambda values: [values[t] for t in keep]  # noqa: E731
        return TurnFeatures(**{f.name: pick(getattr(self, f.name)) for f in fields(self) if f.name != "content"},
                            content={name: pick(values) for name, values in self.content.items()})


def features(dialogues: list[Dialogue], catalog: Catalog, recommender: Recommender, resolver: MentionResolver,
             show_progress: bool = True, taught: Taught | None = None) -> TurnFeatures:
    """Replay `dialogues` once, embed every query text the prediction points need in batches, then score them.

    Embedding the one or two query texts of each turn one call at a time was most of the work; batches of
    `QUERY_BATCH` on every core embed the same texts about three times faster (the vectors are the same up to
    float rounding). The features that need no counts come from `HybridRanker.feature`, as in live ranking.
    """
    index = catalog.index
    replayer = Replayer(catalog.titles, resolver, taught=taught)
    turns = []
    for d in tqdm(dialogues, desc="replaying", unit="conv", disable=not show_progress):
        for turn in replayer.turns(d):
            new = [index.position[t] for t in turn.targets if t not in turn.context_ids and t in index.position]
            if new:
                turns.append((d.conversation_id, turn.state, turn.context_ids, new))
    saved_embedder = recommender.embedder
    cached = saved_embedder if isinstance(saved_embedder, CachingEmbedder) else CachingEmbedder(saved_embedder)
    texts = list(dict.fromkeys(t for _c, state, _x, _n in turns for t in recommender.query_texts(state)))
    with all_cores():
        for start in tqdm(range(0, len(texts), QUERY_BATCH), desc="embedding queries", unit="batch",
                          disable=not show_progress):
            cached.embed_queries(texts[start:start + QUERY_BATCH])
    content = ranker_for(HybridWeights(), LinkCounts(), index)  # no counts: what the content features read
    zeros = np.zeros(len(index), dtype=np.float32)
    out = TurnFeatures()
    saved, catalog.ranker = catalog.ranker, None  # content features only; the boost is what we fit
    recommender.embedder = cached
    try:
        for conversation, state, context_ids, new in tqdm(turns, desc="features", unit="turn",
                                                            disable=not show_progress):
            vec = recommender.raw_interest(state)
            z = zscore(index.scores(vec)) if vec is not None else np.zeros(len(index), dtype=np.float32)
            liked, others = context_items(state)
            vecs = [v for v in (index.vector(i) for i in [*liked, *others]) if v is not None]
            ctx = RankContext(liked, others, index.scores(np.mean(vecs, axis=0)) if vecs else None,
                              recommender.genre_share(state), state.people_wanted, state.genres_wanted,
                              recommender.in_era(state))
            out.conversation.append(conversation)
            out.z.append(z)
            out.vec.append(vec)
            out.base.append(_levels(recommender, state, context_ids, z))
            for name in CONTENT_FEATURES:
                value = content.feature(name, ctx)
                out.content[name].append(value if value is not None else zeros)
            out.genres.append(list(state.genres_wanted))
            out.liked.append(liked)
            out.others.append(others)
            out.targets.append(new)
    finally:
        catalog.ranker = saved
        recommender.embedder = saved_embedder
    return out


def _levels(recommender: Recommender, state: Any, context: tuple[str, ...], z: np.ndarray) -> np.ndarray:
    """The same relaxation levels as `Recommender.ranking` (exclude=True) with soft genres and soft year bounds from
    an era word (what `in_era` then scores), as an additive offset."""
    index = recommender.catalog.index
    filters = recommender.filters(state)
    filters = replace(filters, genres_any=frozenset(), exclude_ids=filters.exclude_ids | frozenset(context))
    if state.year_vague:
        filters = replace(filters, year_min=None, year_max=None)
    level = index.relaxation_levels(index.with_best_domain(filters, z))
    return np.where(level < len(filters.relaxations()), -_LEVEL_GAP * level, -np.inf).astype(np.float32)


@dataclass
class FitResult:
    weights: HybridWeights
    scores: dict[str, float]  # cross-validated dedup recall of the chosen weights
    content_only: dict[str, float]
    turns: int
    pairs: int
    weight_conversations: int = 0  # conversations whose turns fitted the weights (`fit_and_store`)
    eligible_conversations: int = 0  # those the embedder never saw; above WEIGHT_CONVERSATIONS a sample of them fits
    adapter: np.ndarray | None = None  # the interest adapter fitted on every turn (None: too few pairs, or no gain)
    adapter_pairs: int = 0  # the (interest vector, new target) pairs there were to fit it on
    without_adapter: dict[str, float] = field(default_factory=dict)  # cross-validated dedup recall of the weights
    # fitted on the plain interest vector: the adapter is kept only when `scores` beat these


def fit_weights(feats: TurnFeatures, dialogues: list[Dialogue], links: dict[str, DialogueLinks], index: VectorIndex,
                ks: tuple[int, ...] = (1, 10, 50), show_progress: bool = True,
                group_of: Callable[[str], int] = fold_of) -> FitResult:
    """Coordinate ascent over `GRID`, each group of conversations scored with counts from the other groups.

    `group_of` maps a conversation id to its cross-validation group (by default its fold of `FOLDS`). The
    interest adapter (retrieval/adapter.py) is fitted too: each group's content scores come through the adapter
    fitted on the other groups' turns, and the returned one on all of them. It is returned (with the weights
    fitted through it) only when those weights' objective beats that of the weights fitted without it.
    """
    if not feats.z:
        raise ConciergeError("No recommender turn with a new catalog movie in the fit dialogues: nothing to fit on.")
    folds = np.array([group_of(c) for c in feats.conversation])
    plain = np.stack(feats.z)  # (T, n)
    through = plain.copy()  # each group's content scores through the adapter fitted on the other groups
    groups = sorted(set(folds.tolist()))
    adapter_bar = tqdm(total=len(groups) + 1, desc="interest adapter", unit="fit", disable=not show_progress)
    for f in groups:
        turns = np.flatnonzero(folds == f)
        adapted = _adapter_z(fit_adapter(*_adapter_pairs(feats, np.flatnonzero(folds != f)), index.matrix),
                             feats, turns, index)
        if adapted is not None:
            through[turns] = adapted
        adapter_bar.update(1)
    queries, targets = _adapter_pairs(feats, np.arange(len(feats.z)))
    adapter = fit_adapter(queries, targets, index.matrix)
    adapter_bar.update(1)
    adapter_bar.close()
    B = np.stack(feats.base)  # (T, n)
    # (T, n) each: what each weight multiplies; the count features from counts of the other groups only
    X = {name: np.stack(values) for name, values in feats.content.items()}
    for name in COUNT_FEATURES:
        X[name] = np.zeros_like(plain)
    for f in groups:
        train = [links[d.conversation_id] for d in dialogues if group_of(d.conversation_id) != f]
        ranker = ranker_for(HybridWeights(), link_counts(train), index)
        for t in np.flatnonzero(folds == f):
            ctx = RankContext(feats.liked[t], feats.others[t], genres=feats.genres[t])
            for name in COUNT_FEATURES:
                value = ranker.feature(name, ctx)
                if value is not None:
                    X[name][t] = value
    pair_turn = np.array([t for t, ts in enumerate(feats.targets) for _ in ts])
    pair_item = np.array([p for ts in feats.targets for p in ts])

    def recall(S: np.ndarray) -> dict[str, float]:
        target = S[pair_turn, pair_item]
        ranks = np.empty(len(pair_turn), dtype=np.float64)
        for start in range(0, len(pair_turn), 256):  # (256, n) comparisons at a time
            sl = slice(start, start + 256)
            rows = S[pair_turn[sl]]
            # mid-rank: a tie with other items is no win (all-equal scores would otherwise put every target first)
            ranks[sl] = (rows > target[sl, None]).sum(axis=1) + ((rows == target[sl, None]).sum(axis=1) - 1) / 2
        ranks[~np.isfinite(target)] = len(index)
        return {f"R@{k}": float((ranks < k).mean()) for k in sorted({1, *ks, *OBJECTIVE_KS})}

    bar = tqdm(total=(2 if adapter is not None else 1) * ROUNDS * sum(len(v) for v in GRID.values()),
               desc="fitting weights", disable=not show_progress)
    best, best_rec, content_only = _ascend(plain + B, X, recall, bar)
    without = best_rec
    if adapter is not None:  # kept only when the weights fitted through it do better on the groups it never saw
        fitted = _ascend(through + B, X, recall, bar)
        if _objective(fitted[1]) > _objective(best_rec):
            best, best_rec, content_only = fitted
        else:
            adapter = None
    bar.close()
    reported = [f"R@{k}" for k in ks]
    return FitResult(best, {k: best_rec[k] for k in reported}, {k: content_only[k] for k in reported}, len(feats.z),
                     len(pair_turn), adapter=adapter, adapter_pairs=len(targets),
                     without_adapter={k: without[k] for k in reported})


def _objective(rec: dict[str, float]) -> float:
    return sum(rec[f"R@{k}"] for k in OBJECTIVE_KS) + 0.01 * rec["R@1"]  # R@1 breaks ties


def _ascend(base: np.ndarray, X: dict[str, np.ndarray], recall: Callable[[np.ndarray], dict[str, float]],
            bar: tqdm) -> tuple[HybridWeights, dict[str, float], dict[str, float]]:
    """Coordinate ascent over `GRID` from content only: (weights, their recall, content-only recall).

    `base` (T, n) is the content score plus the filter levels; each weight multiplies its `X` term.
    """
    def scores(w: HybridWeights, leave_out: str = "") -> np.ndarray:
        """The hybrid scores (T, n) of weights `w`, without the term of `leave_out`."""
        S = base
        for name, value in w.to_json().items():
            if value and name != leave_out:
                S = S + value * X[name]
        return S

    best = HybridWeights(genre=GENRE_HARD, year=YEAR_HARD)  # content only, wanted genres and eras as filters
    best_rec = recall(scores(best))
    content_only = best_rec
    for _round in range(ROUNDS):
        before = best
        for name, values in GRID.items():
            rest = scores(best, leave_out=name)  # each value of this weight then costs one multiply-add
            for value in values:
                bar.update(1)
                w = replace(best, **{name: value})
                if w == best:
                    continue
                rec = recall(rest + value * X[name] if value else rest)
                if _objective(rec) > _objective(best_rec):
                    best, best_rec = w, rec
        if best == before:
            bar.update((ROUNDS - 1 - _round) * sum(len(v) for v in GRID.values()))
            break
    return best, best_rec, content_only


def _adapter_pairs(feats: TurnFeatures, turns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (interest vectors (m, dim), new targets' index rows (m,)) of `turns`, what the adapter is fitted on."""
    pairs = [(feats.vec[t], p) for t in turns.tolist() if feats.vec[t] is not None for p in feats.targets[t]]
    if not pairs:
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.stack([v for v, _ in pairs]), np.array([p for _, p in pairs], dtype=np.int64)


def _adapter_z(adapter: np.ndarray | None, feats: TurnFeatures, turns: np.ndarray,
               index: VectorIndex) -> np.ndarray | None:
    """The z-scored content scores (len(turns), n) of `turns` through `adapter` (None without one)."""
    if adapter is None:
        return None
    out = np.stack([feats.z[t] for t in turns.tolist()])
    for row, t in enumerate(turns.tolist()):
        vec = feats.vec[t]
        if vec is not None:
            out[row] = zscore(index.scores(adapt(adapter, vec)))
    return out


def weight_sample(dialogues: list[Dialogue], size: int) -> list[Dialogue]:
    """`size` of the dialogues, picked by a hash of their id (the same pick on every run), in file order."""
    def key(d: Dialogue) -> str:
        return hashlib.sha1(f"weights:{d.conversation_id}".encode()).hexdigest()

    keep = {id(d) for d in sorted(dialogues, key=key)[:size]}
    return [d for d in dialogues if id(d) in keep]


def fit_and_store(dialogues: list[Dialogue], catalog: Catalog, recommender: Recommender, rankers: RankerRepository,
                  source: str, show_progress: bool = True, embedder_saw: frozenset[str] = frozenset(),
                  taught: Taught | None = None) -> FitResult:
    """Fit on `dialogues`, store weights + counts from all of them, and bind the ranker to `catalog`.

    `embedder_saw`: ids of conversations the embedder was fine-tuned on. Its content scores are too good
    on those, so the weights are fitted on the other conversations' turns only (their counts still come
    from every other fold): the same conditions as on unseen dialogues.
    """
    resolver = MentionResolver(catalog.items)
    scored = [d for d in dialogues if d.conversation_id not in embedder_saw]
    if not scored:
        raise ConciergeError("The embedder was fine-tuned on every one of these dialogues, so no turn can fit the "
                             "weights honestly: train it with a reserved part (the default of `concierge train`).")
    eligible = len(scored)
    if eligible > WEIGHT_CONVERSATIONS:
        log.info("fitting the weights on %d of %d conversations (the counts use all of them)",
                 WEIGHT_CONVERSATIONS, eligible)
        scored = weight_sample(scored, WEIGHT_CONVERSATIONS)
    links = dialogue_links(dialogues, catalog.titles, resolver, show_progress, taught)
    feats = features(scored, catalog, recommender, resolver, show_progress, taught)
    result = replace(fit_weights(feats, dialogues, links, catalog.index, show_progress=show_progress),
                     weight_conversations=len(scored), eligible_conversations=eligible)
    counts = link_counts(links.values())
    meta = {"source": source, "embedder": recommender.embedder.name, "conversations": len(dialogues),
            "weight_conversations": len(scored), "turns": result.turns, "pairs": result.pairs,
            "cv_dedup": result.scores, "cv_dedup_content_only": result.content_only, "folds": FOLDS,
            "fit_version": FIT_VERSION, "adapter_pairs": result.adapter_pairs, "reader": reader_name(taught),
            "adapter_kept": result.adapter is not None, "cv_dedup_without_adapter": result.without_adapter,
            "conversation_ids": [d.conversation_id for d in dialogues]}
    rankers.save(result.weights.to_json(), meta, counts.rows(), model_name(recommender.embedder.name),
                 to_bytes(result.adapter) if result.adapter is not None else None)
    catalog.ranker = ranker_for(result.weights, counts, catalog.index, adapter=result.adapter)
    return result
