"""Maximal-marginal-relevance re-ranking, so a list is not five sequels of one film, nor all one director's."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from storage.records import CatalogItem

_SEQUEL_TAIL = re.compile(r"(?:\s*[:(].*|\s+[-–]\s.*|\s+and the\s.*|\s+(?:part\s+)?(?:[0-9]+|ii|iii|iv|v|vi)\b.*)$",
                         re.IGNORECASE)


# one director's or author's items in one list before the next counts as a repeat; with 1 (every second film
# of a director a repeat) the simulated seeker (`concierge eval simulate`) found 2 of 50 targets fewer
PER_CREATOR = 2
# items of one franchise in one list, however relevant: a fitted ranker's scores can outweigh MMR's penalty
# (its series weight lifted three Harry Potter films over everything else for a Philosopher's Stone fan)
PER_FRANCHISE = 2


def franchise_key(item: CatalogItem) -> str:
    """A title with its sequel number or subtitle removed ("Toy Story 3" -> "toy story")."""
    title = unicodedata.normalize("NFKC", item.title).lower()
    return _SEQUEL_TAIL.sub("", title).strip() or title


def mmr(items: list[CatalogItem], relevance: np.ndarray, vectors: np.ndarray, k: int,
        lam: float = 0.7, wanted_people: frozenset[str] = frozenset()) -> list[int]:
    """Pick k positions by MMR: lam * relevance - (1 - lam) * max similarity to what is already picked.

    Two items of the same franchise count as fully similar, and so does an item whose director or author
    already has PER_CREATOR items picked: "something like Inception" may show two Nolan films, not three.
    A franchise never has more than PER_FRANCHISE items in the list while other items are left.
    People in `wanted_people` (the user asked for them: "films by Nolan") do not count. lam=1 keeps the
    relevance order.

    Args:
        relevance: (n,) scores of `items`, higher is better.
        vectors: (n, dim) normalised embeddings of `items`.
    """
    n = len(items)
    if n == 0 or k <= 0:
        return []
    sims = vectors @ vectors.T  # (n, n) cosine
    keys = [franchise_key(it) for it in items]
    same = np.array([[a == b for b in keys] for a in keys], dtype=bool)
    sims = np.where(same, 1.0, sims)
    creators = [set(it.creators) - wanted_people for it in items]
    shares = np.array([[not a.isdisjoint(b) for b in creators] for a in creators], dtype=np.int64)  # (n, n)
    picked = [int(np.argmax(relevance))]
    while len(picked) < min(k, n):
        redundancy = sims[:, picked].max(axis=1)
        redundancy = np.where(shares[:, picked].sum(axis=1) >= PER_CREATOR, 1.0, redundancy)
        gain = lam * relevance - (1 - lam) * redundancy
        gain[picked] = -np.inf
        full = same[:, picked].sum(axis=1) >= PER_FRANCHISE
        if not np.all(full | np.isneginf(gain)):
            gain[full] = -np.inf
        picked.append(int(np.argmax(gain)))
    return picked
