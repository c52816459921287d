"""Candidate selection: the interest vector from the state, hard filters, and relaxation when too strict."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np

from chat.catalog import Catalog
from chat.state import DialogueState
from retrieval.embedders.base import Embedder
from retrieval.index import Filters, Hit
from retrieval.interest import InterestWeights, interest_vector


class Recommender:
    """Ranks the catalog for a dialogue state."""

    def __init__(self, catalog: Catalog, embedder: Embedder, weights: InterestWeights | None = None) -> None:
        self.catalog, self.embedder, self.weights = catalog, embedder, weights or InterestWeights()

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
        return interest_vector(text_vec, liked, disliked, self.weights)

    def filters(self, state: DialogueState) -> Filters:
        domain = state.domain
        if domain is None and state.liked:
            item = self.catalog.items.get(state.liked[-1])
            domain = item.domain if item else None
        return Filters(domain=domain, genres_any=frozenset(state.genres_wanted),
                       genres_none=frozenset(state.genres_avoided), year_min=state.year_min,
                       year_max=state.year_max, exclude_ids=frozenset(state.excluded()))

    def recommend(self, state: DialogueState, k: int) -> list[Hit]:
        """Top-k items for the state; loosens wanted genres, then years, when nothing fits."""
        vec = self.interest(state)
        filters = self.filters(state)
        if vec is None:
            return self._varied(filters, k, seed=state.turns)
        index = self.catalog.index
        for relaxed in (filters, replace(filters, genres_any=frozenset()),
                        replace(filters, genres_any=frozenset(), year_min=None, year_max=None)):
            if relaxed.domain is None:
                # keep one list coherent: the domain of the best match overall
                top = index.search(vec, relaxed, 1)
                if top:
                    relaxed = replace(relaxed, domain=top[0].item.domain)
            hits = index.search(vec, relaxed, k)
            if len(hits) >= min(k, 1):
                return hits
        return []

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
