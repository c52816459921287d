"""Candidate selection: the interest vector from the state, hard filters, and relaxation when too strict."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np

from chat.catalog import Catalog
from chat.critique import ATTRIBUTES
from chat.state import DialogueState
from retrieval.diversity import mmr
from retrieval.embedders.base import Embedder
from retrieval.index import Filters, Hit
from retrieval.interest import InterestWeights, interest_vector

DIRECTION_STRENGTH = 0.35  # how far one critique moves the (unit) interest vector
GENRE_BOOST = 0.06  # score added per matching genre of a critique's pole (cosine units)
POOL = 4  # MMR chooses k items from the top POOL * k


class Recommender:
    """Ranks the catalog for a dialogue state."""

    def __init__(self, catalog: Catalog, embedder: Embedder, weights: InterestWeights | None = None,
                 diversity: float = 0.75) -> None:
        self.catalog, self.embedder, self.weights = catalog, embedder, weights or InterestWeights()
        self.diversity = diversity  # MMR lambda: 1.0 keeps the relevance order
        self._directions: dict[str, np.ndarray] = {}

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

    def prior(self, state: DialogueState) -> np.ndarray | None:
        """Score boosts for the catalog genres that go with the critiques in force."""
        boosts: dict[str, float] = {}
        for d in state.directions:
            attr = ATTRIBUTES[d.name]
            for g in attr.genres:
                boosts[g] = boosts.get(g, 0.0) + d.sign * GENRE_BOOST
            for g in attr.counter_genres:
                boosts[g] = boosts.get(g, 0.0) - d.sign * GENRE_BOOST
        return self.catalog.index.genre_prior(boosts) if boosts else None

    def filters(self, state: DialogueState) -> Filters:
        domain = state.domain
        if domain is None and state.liked:
            item = self.catalog.items.get(state.liked[-1])
            domain = item.domain if item else None
        return Filters(domain=domain, genres_any=frozenset(state.genres_wanted),
                       genres_none=frozenset(state.genres_avoided), year_min=state.year_min,
                       year_max=state.year_max, max_minutes=state.max_minutes,
                       exclude_ids=frozenset(state.excluded()))

    def recommend(self, state: DialogueState, k: int, diversify: bool = True) -> list[Hit]:
        """Top-k items for the state (MMR-diversified); loosens wanted genres, then years, when nothing fits."""
        vec = self.interest(state)
        filters = self.filters(state)
        if vec is None:
            return self._varied(filters, k, seed=state.turns)
        index = self.catalog.index
        prior = self.prior(state)
        for relaxed in (filters, replace(filters, genres_any=frozenset()),
                        replace(filters, genres_any=frozenset(), year_min=None, year_max=None)):
            if relaxed.domain is None:
                # keep one list coherent: the domain of the best match overall
                top = index.search(vec, relaxed, 1, prior)
                if top:
                    relaxed = replace(relaxed, domain=top[0].item.domain)
            hits = index.search(vec, relaxed, POOL * k if diversify else k, prior)
            if hits:
                return self.diversify(hits, k) if diversify else hits
        return []

    def diversify(self, hits: list[Hit], k: int) -> list[Hit]:
        """MMR over the pool: relevant, but not five sequels of one film."""
        if self.diversity >= 1.0 or len(hits) <= k:
            return hits[:k]
        index = self.catalog.index
        vectors = np.stack([index.matrix[index.position[h.item.id]] for h in hits])
        order = mmr([h.item for h in hits], np.array([h.score for h in hits]), vectors, k, self.diversity)
        return [hits[i] for i in order]

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
