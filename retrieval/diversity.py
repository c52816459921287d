"""Maximal-marginal-relevance re-ranking, so a list is not five sequels of one film, nor three films of one director."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from storage.records import CatalogItem

_SEQUEL_TAIL = re.compile(r"(?:\s*[:(].*|\s+[-–]\s.*|\s+and the\s.*|\s+(?:part\s+)?(?:[0-9]+|ii|iii|iv|v|vi)\b.*)$",
                         re.IGNORECASE)


def franchise_key(item: CatalogItem) -> str:
    """A title with its sequel number or subtitle removed ("Toy Story 3" -> "toy story")."""
    title = unicodedata.normalize("NFKC", item.title).lower()
    return _SEQUEL_TAIL.sub("", title).strip() or title


def mmr(items: list[CatalogItem], relevance: np.ndarray, vectors: np.ndarray, k: int,
        lam: float = 0.7, wanted_people: frozenset[str] = frozenset()) -> list[int]:
    """Pick k positions by MMR: lam * relevance - (1 - lam) * max similarity to what is already picked.

    Two items of the same franchise, or by the same director or author, count as fully similar, so
    "something like Inception" is not three Nolan films; people in `wanted_people` (the user asked for
    them: "films by Nolan") do not count. lam=1 keeps the relevance order.

    Args:
        relevance: (n,) scores of `items`, higher is better.
        vectors: (n, dim) normalised embeddings of `items`.
    """
    n = len(items)
    if n == 0 or k <= 0:
        return []
    sims = vectors @ vectors.T  # (n, n) cosine
    keys = [franchise_key(it) for it in items]
    creators = [set(it.creators) - wanted_people for it in items]
    same = np.array([[a == b or not ca.isdisjoint(cb) for b, cb in zip(keys, creators, strict=True)]
                     for a, ca in zip(keys, creators, strict=True)], dtype=bool)
    sims = np.where(same, 1.0, sims)
    picked = [int(np.argmax(relevance))]
    while len(picked) < min(k, n):
        redundancy = sims[:, picked].max(axis=1)
        gain = lam * relevance - (1 - lam) * redundancy
        gain[picked] = -np.inf
        picked.append(int(np.argmax(gain)))
    return picked
