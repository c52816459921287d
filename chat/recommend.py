"""Candidate selection: the interest vector from the state, hard filters, and relaxation when too strict.

Scores are the cosine to the interest vector plus, when a hybrid ranker was fitted for the catalog
(retrieval/ranking.py, `concierge eval fit`), its collaborative and popularity prior.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np

from chat.catalog import Catalog
from chat.reading import ATTRIBUTES
from chat.state import DialogueState
from retrieval.adapter import adapt
from retrieval.diversity import mmr
from retrieval.embedders.base import Embedder
from retrieval.index import Filters, Hit, VectorIndex
from retrieval.interest import InterestWeights, interest_vector
from retrieval.ranking import PeopleIndex, RankContext, item_people

DIRECTION_STRENGTH = 0.35  # how far one critique moves the (unit) interest vector
# without a fitted ranker, what liked items lend to the items like them (cosine units; fitted on the fit part
# of the shared ReDial dialogues with --no-ranker, held out: R@10 0.035 -> 0.049, R@50 0.083 -> 0.120)
LIKED_GENRE_BOOST = 0.04  # for an item with all of the liked items' genres
LIKED_PEOPLE_BOOST = 0.04  # per (liked item, director or star) link shared
GENRE_BOOST = 0.06  # score added per matching genre of a critique's pole (cosine units)
CRITIQUE_POOL = 100  # under a ranker, the critique's step is a share of the spread of this many leading scores
CRITIQUE_SPREAD = 1.0
PEOPLE_BOOST = 0.1  # without a fitted ranker: cosine units added per person the user asked for that an item has
PEOPLE_AVOID = -10.0  # an item with a person the user ruled out ("no Adam Sandler") drops below every other
POOL = 4  # MMR chooses k items from the top POOL * k
# A list for children ("with my kids", "合家欢"): these genres stay out unless asked for by name too
# ("Shoplifters", a crime drama about a family, came first for "something to watch tonight with my kids")
NOT_FOR_CHILDREN = frozenset({"horror", "crime", "war", "thriller"})


def context_items(state: DialogueState) -> tuple[list[str], list[str]]:
    """(recently liked items, other recently named or shown items that were not rejected or turned down)."""
    rejected = set(state.liked) | set(state.disliked) | set(state.passed)
    others = [i for i in dict.fromkeys([*state.mentioned, *state.shown]) if i not in rejected]
    return state.liked[-5:], others[-10:]


class Recommender:
    """Ranks the catalog for a dialogue state."""

    def __init__(self, catalog: Catalog, embedder: Embedder, weights: InterestWeights | None = None,
                 diversity: float = 0.75) -> None:
        self.catalog, self.embedder, self.weights = catalog, embedder, weights or InterestWeights()
        self.diversity = diversity  # MMR lambda: 1.0 keeps the relevance order
        self._directions: dict[str, np.ndarray] = {}
        self._people: tuple[VectorIndex, PeopleIndex] | None = None  # built for this index

    def direction(self, name: str) -> np.ndarray:
        """Unit vector from an attribute's negative pole to its positive pole (document space), cached."""
        if name not in self._directions:
            attr = ATTRIBUTES[name]
            pos, neg = self.embedder.embed_documents([attr.positive, attr.negative])
            diff = pos - neg
            norm = float(np.linalg.norm(diff))
            self._directions[name] = (diff / norm if norm else diff).astype(np.float32)
        return self._directions[name]

    @staticmethod
    def query_texts(state: DialogueState) -> list[str]:
        """What the query vectors encode: the latest statement with the wanted genres, then earlier ones."""
        latest = " ".join([*state.statements[-1:], *state.genres_wanted]).strip()
        earlier = " ".join(state.statements[-3:-1]).strip()
        return [t for t in (latest, earlier) if t]

    def interest(self, state: DialogueState) -> np.ndarray | None:
        """The interest vector, through the fitted ranker's interest adapter when it has one."""
        vec = self.raw_interest(state)
        ranker = self.catalog.ranker
        return adapt(ranker.adapter, vec) if vec is not None and ranker is not None else vec

    def raw_interest(self, state: DialogueState) -> np.ndarray | None:
        """Statements, liked and disliked items and critiques as one unit vector in the items' space."""
        index = self.catalog.index
        texts = self.query_texts(state)
        text_vec = None
        if texts:
            vecs = self.embedder.embed_queries(texts)  # (1 or 2, dim): the latest counts twice as much
            text_vec = vecs[0] if len(vecs) == 1 else (2 * vecs[0] + vecs[1]) / 3
        liked = [v for v in (index.vector(i) for i in state.liked[-5:]) if v is not None]
        disliked = [v for v in (index.vector(i) for i in state.disliked[-5:]) if v is not None]
        vec = interest_vector(text_vec, liked, disliked, self.weights)
        if not state.directions:
            return vec
        shift = np.sum([d.sign * self.direction(d.name) for d in state.directions], axis=0)
        vec = DIRECTION_STRENGTH * shift if vec is None else vec + DIRECTION_STRENGTH * shift
        norm = float(np.linalg.norm(vec))
        return None if norm == 0 else (vec / norm).astype(np.float32)

    def prior(self, state: DialogueState, vec: np.ndarray | None) -> np.ndarray | None:
        """Everything added to the cosine (n,): critiques' genre boosts, people asked for, the fitted ranker's prior."""
        cosine = self.catalog.index.scores(vec) if vec is not None else None
        parts = [p for p in (self.people_prior(state), self.likeness_prior(state), self.ranker_prior(state, cosine))
                 if p is not None]
        step = GENRE_BOOST
        if state.directions and self.catalog.ranker is not None and cosine is not None:
            # co-occurrence can add many times GENRE_BOOST ("funnier" after The Godfather kept its crime
            # dramas): a critique moves items by a share of how far apart the leading candidates are
            total = cosine + np.sum(parts, axis=0)
            lead = np.partition(total, -CRITIQUE_POOL)[-CRITIQUE_POOL:] if len(total) > CRITIQUE_POOL else total
            step = max(GENRE_BOOST, CRITIQUE_SPREAD * float(lead.std()))
        critique = self.critique_prior(state, step)
        parts += [critique] if critique is not None else []
        return np.sum(parts, axis=0) if parts else None

    @property
    def people(self) -> PeopleIndex:
        """Who is on each index row (directors, authors, stars), built on first use and after a catalog reload."""
        index = self.catalog.index
        if self._people is None or self._people[0] is not index:
            self._people = (index, PeopleIndex([item_people(it.creators, it.extra) for it in index.items]))
        return self._people[1]

    def people_prior(self, state: DialogueState) -> np.ndarray | None:
        """Items with a person the user ruled out sink; without a fitted ranker, people asked for lift theirs.

        With a fitted ranker the lift is its `named_people` weight (`ranker_prior`).
        """
        out = None
        if state.people_avoided:
            out = PEOPLE_AVOID * np.minimum(self.people.named(state.people_avoided), 1.0)
        if state.people_wanted and not self.fitted:
            lift = PEOPLE_BOOST * self.people.named(state.people_wanted)
            out = lift if out is None else out + lift
        return out

    def likeness_prior(self, state: DialogueState) -> np.ndarray | None:
        """Without a fitted ranker: items that share genres and people with the liked items rise ("like Inception").

        Per item, LIKED_GENRE_BOOST times the share of the liked items' genres it has (each liked item's genres
        weighted equally), plus LIKED_PEOPLE_BOOST per (liked item, person) link it shares.
        """
        index = self.catalog.index
        liked = [index.position[i] for i in state.liked[-5:] if i in index.position]
        if self.fitted or not liked:
            return None
        genres = index.genre_matrix[liked].astype(np.float32)  # (liked, n_genres)
        weights = (genres / np.maximum(genres.sum(axis=1, keepdims=True), 1.0)).mean(axis=0)  # sums to <= 1
        out = LIKED_GENRE_BOOST * (index.genre_matrix @ weights) + LIKED_PEOPLE_BOOST * self.people.shared(liked)
        return out.astype(np.float32)

    def critique_prior(self, state: DialogueState, step: float = GENRE_BOOST) -> np.ndarray | None:
        """Score boosts of `step` per genre that goes with a critique in force (minus for its counter-genres).

        With genres asked for, a critique qualifies them: "too gory" after horror wants gentler horror, so the
        wanted genres are not marked down and only items of a wanted genre gain (not family films).
        """
        if not state.directions:
            return None
        boosts: dict[str, float] = {}
        for d in state.directions:
            attr = ATTRIBUTES[d.name]
            for g in attr.genres:
                boosts[g] = boosts.get(g, 0.0) + d.sign * step
            for g in attr.counter_genres:
                boosts[g] = boosts.get(g, 0.0) - d.sign * step
        boosts = {g: b for g, b in boosts.items() if g not in state.genres_wanted}
        if not boosts:
            return None
        out = self.catalog.index.genre_prior(boosts)
        share = self.genre_share(state)
        if share is not None:
            out = np.where((share > 0) | (out < 0), out, 0.0).astype(np.float32)
        return out

    def ranker_prior(self, state: DialogueState, cosine: np.ndarray | None) -> np.ndarray | None:
        """The hybrid ranker's additive prior (n,), or None when the catalog has no ranker (fitted or from likes).

        `cosine`: the interest vector's scores over the index, None when there is no interest vector.
        """
        ranker = self.catalog.ranker
        if ranker is None:
            return None
        liked, others = context_items(state)
        index = self.catalog.index
        vecs = [v for v in (index.vector(i) for i in [*liked, *others]) if v is not None]
        item_sim = index.scores(np.mean(vecs, axis=0)) if vecs and ranker.weights.items else None
        share = self.genre_share(state) if ranker.soft_genres else None
        era = self.in_era(state) if self.soft_years(state) else None
        ctx = RankContext(liked, others, item_sim, share, state.people_wanted, state.genres_wanted, era)
        return ranker.prior(cosine, ctx)

    def in_era(self, state: DialogueState) -> np.ndarray | None:
        """Per item, 1 inside the year bounds the user gave by an era word ("older ones"), else 0 (n,); None
        when the bounds are numbers or there are none."""
        if not state.year_vague or (state.year_min is None and state.year_max is None):
            return None
        # exactly the items the hard year filter keeps (an unknown year is outside)
        return self.catalog.index.mask(Filters(year_min=state.year_min, year_max=state.year_max)).astype(np.float32)

    def genre_share(self, state: DialogueState) -> np.ndarray | None:
        """Per item, the share of the wanted genres it has (n,), or None when no genre is wanted."""
        wanted = state.genres_wanted
        return self.catalog.index.genre_prior({g: 1.0 / len(wanted) for g in wanted}) if wanted else None

    @property
    def fitted(self) -> bool:
        """True when the catalog's ranker was fitted on dialogues (`concierge eval fit`), so its own fitted
        features replace the fixed likeness and people lifts; a ranker built only from users' likes is not."""
        return self.catalog.ranker is not None and self.catalog.ranker.fitted

    @property
    def soft_genres(self) -> bool:
        """True when a fitted ranker scores wanted genres as a boost instead of filtering on them."""
        return self.catalog.ranker is not None and self.catalog.ranker.soft_genres

    def soft_years(self, state: DialogueState) -> bool:
        """True when the state's year bounds came from an era word ("older ones", "classics") and a fitted ranker
        scores them as a boost instead of filtering on them; years given as numbers are always a filter."""
        return state.year_vague and self.catalog.ranker is not None and self.catalog.ranker.soft_years

    def filters(self, state: DialogueState) -> Filters:
        domain = state.domain
        if domain not in self.catalog.index.domain_set:
            domain = None  # "the book is always better" in a catalog of films: a filter nothing could pass
        if domain is None and state.liked:
            item = self.catalog.items.get(state.liked[-1])
            domain = item.domain if item else None
        soft_years = self.soft_years(state)
        avoided = set(state.genres_avoided)
        excluded = self.excluded(state)
        if state.for_children:  # family-safe: not even when the list has to be loosened
            avoided |= NOT_FOR_CHILDREN - set(state.genres_wanted)
            excluded |= self.catalog.index.adult_ids
        return Filters(domain=domain, genres_any=frozenset() if self.soft_genres else frozenset(state.genres_wanted),
                       genres_none=frozenset(avoided), languages_any=frozenset(state.languages_wanted),
                       languages_none=frozenset(state.languages_avoided),
                       year_min=None if soft_years else state.year_min, year_max=None if soft_years else state.year_max,
                       max_minutes=state.max_minutes, exclude_ids=excluded,
                       attributes=tuple(wish.constraint(name) for name, wish in state.attributes.items()
                                        if name in self.catalog.attributes))

    def excluded(self, state: DialogueState) -> frozenset[str]:
        """What not to recommend: what was named, shown, rejected or seen, and other records of the same works."""
        out = state.excluded()
        return frozenset(out.union(*(self.catalog.twins.get(i, ()) for i in out)))

    def recommend(self, state: DialogueState, k: int, diversify: bool = True) -> list[Hit]:
        """Top-k items for the state (MMR-diversified); loosens wanted genres, then years, when nothing fits."""
        vec = self.interest(state)
        filters = self.filters(state)
        if vec is None:
            return self._varied(filters, k, seed=state.turns)
        index = self.catalog.index
        prior = self.prior(state, vec)
        for relaxed in filters.relaxations():
            if relaxed.domain is None:
                # keep one list coherent: the domain of the best match overall
                top = index.search(vec, relaxed, 1, prior)
                if top:
                    relaxed = replace(relaxed, domain=top[0].item.domain)
            hits = self.one_record_per_work(index.search(vec, relaxed, POOL * k if diversify else 2 * k, prior))
            if hits:
                return self.diversify(hits, k, frozenset(state.people_wanted)) if diversify else hits[:k]
        return []

    def nearest(self, state: DialogueState, k: int) -> list[Hit]:
        """When no item satisfies what the user asked of the attributes ("under $1"): the k closest to it."""
        scores = self.scores(state)
        if scores is None:
            scores = np.zeros(len(self.catalog.index), dtype=np.float32)
        index = self.catalog.index
        filters = self.filters(state)
        domain = index.with_best_domain(replace(filters, attributes=()), scores).domain
        return index.nearest(replace(filters, domain=domain), scores, k)

    def one_record_per_work(self, hits: list[Hit]) -> list[Hit]:
        """`hits` (best first) without the other records of a work already in it: ReDial lists "The Man in the
        Iron Mask" as a 1985 and a 1998 record of one IMDb id, and one list showed both."""
        out: list[Hit] = []
        taken: set[str] = set()
        for hit in hits:
            if hit.item.id not in taken:
                out.append(hit)
                taken.update(self.catalog.twins.get(hit.item.id, ()))
        return out

    def diversify(self, hits: list[Hit], k: int, wanted_people: frozenset[str] = frozenset()) -> list[Hit]:
        """MMR over the pool: relevant, but not five sequels of one film nor three of one director (unless asked)."""
        if self.diversity >= 1.0 or len(hits) <= k:
            return hits[:k]
        index = self.catalog.index
        vectors = np.stack([index.matrix[index.position[h.item.id]] for h in hits])
        order = mmr([h.item for h in hits], np.array([h.score for h in hits]), vectors, k, self.diversity,
                    wanted_people)
        return [hits[i] for i in order]

    def scores(self, state: DialogueState) -> np.ndarray | None:
        """Hybrid scores of every index row (n,), or None when there is nothing to score from (cold start)."""
        vec = self.interest(state)
        prior = self.prior(state, vec)
        if vec is None and prior is None:
            return None
        scores = self.catalog.index.scores(vec) if vec is not None else np.zeros(len(self.catalog.index), np.float32)
        return scores + prior if prior is not None else scores

    def ranking(self, state: DialogueState, k: int, exclude: bool = True) -> list[str]:
        """The top-k item ids as one long list (evaluation, "more like this" pages).

        Same scores and filters as `recommend`, but instead of stopping at the first relaxation level
        that has anything, the list is filled from the stricter levels first. `exclude=False` keeps
        the items the state excludes (named, shown, rejected), for the raw ReDial protocol.
        """
        return self.rank_scores(state, self.scores(state), k, exclude)

    def rank_scores(self, state: DialogueState, scores: np.ndarray | None, k: int, exclude: bool = True) -> list[str]:
        """`ranking` from scores already computed by `self.scores(state)` (rank one state twice, score once)."""
        index = self.catalog.index
        filters = self.filters(state)
        if not exclude:
            filters = replace(filters, exclude_ids=frozenset())
        if scores is None:
            return [h.item.id for h in self._varied(filters, k, seed=state.turns)]
        level = index.relaxation_levels(index.with_best_domain(filters, scores))
        keep = np.flatnonzero(level < len(filters.relaxations()))  # items failing every level stay out
        order = keep[np.lexsort((-scores[keep], level[keep]))][:k]
        return [index.items[i].id for i in order]

    def _varied(self, filters: Filters, k: int, seed: int) -> list[Hit]:
        """Cold start with nothing said: a varied set, one per genre, deterministic per turn."""
        index = self.catalog.index
        mask = index.mask(filters if filters.domain else replace(filters, domain="movie"))
        pool = [index.items[i] for i in np.flatnonzero(mask)] or [index.items[i] for i in np.flatnonzero(
            index.mask(filters))]
        rng = random.Random(seed)
        rng.shuffle(pool)
        picked, genres = [], set()
        for item in pool:
            head = item.genres[0] if item.genres else ""
            if head not in genres:
                picked.append(Hit(item, 0.0))
                genres.add(head)
            if len(picked) == k:
                break
        return picked
