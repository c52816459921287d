"""The in-memory vector index: one normalised matrix, loaded once, shared read-only by every session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from storage.attributes import Constraint
from storage.records import CatalogItem

COMPOUND_SEP = "+"  # a genre key "comedy+romance" stands for an item with every part (a romcom)
ADULT_RATINGS = frozenset({"r", "nc-17", "x", "18", "r18", "r-18", "18+", "tv-ma", "iii"})


@dataclass(frozen=True)
class Filters:
    """Hard constraints from the dialogue state; every field is optional."""

    domain: str | None = None
    genres_any: frozenset[str] = frozenset()
    genres_none: frozenset[str] = frozenset()  # "horror" rules out horror; "comedy+romance" only items with both
    year_min: int | None = None
    year_max: int | None = None
    languages_any: frozenset[str] = frozenset()  # original languages; ignored when no item records one
    languages_none: frozenset[str] = frozenset()
    max_minutes: int | None = None  # applied only to items whose record has a runtime
    exclude_ids: frozenset[str] = field(default_factory=frozenset)
    # what the user asked of the catalog's declared attributes ("under $100", "in blue"): never loosened
    attributes: tuple[Constraint, ...] = ()

    def relaxations(self) -> tuple[Filters, Filters, Filters]:
        """What is loosened, in order, when nothing passes: these filters, then without the wanted genres, then
        without the years too. The one ladder live ranking, evaluation and the fit all climb. Attribute
        constraints hold on every step: an item over the budget is never shown as if it were within it."""
        no_genres = replace(self, genres_any=frozenset())
        return self, no_genres, replace(no_genres, year_min=None, year_max=None)


@dataclass(frozen=True)
class Hit:
    """A scored item."""

    item: CatalogItem
    score: float


class VectorIndex:
    """Cosine scoring over a (n, dim) matrix plus vectorised hard filters.

    Rows of `matrix` must be L2-normalised and aligned with `items`.
    """

    def __init__(self, items: Sequence[CatalogItem], matrix: np.ndarray) -> None:
        if len(items) != matrix.shape[0]:
            raise ValueError(f"{len(items)} items but {matrix.shape[0]} vectors")
        self.items = list(items)
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)  # (n, dim)
        self.matrix.setflags(write=False)
        self.position = {item.id: i for i, item in enumerate(self.items)}
        self.years = np.array([np.nan if it.year is None else it.year for it in self.items], dtype=np.float64)
        self.domains = np.array([it.domain for it in self.items], dtype=object)
        self.domain_set = frozenset(it.domain for it in self.items)
        self.languages = np.array([it.language or "" for it in self.items], dtype=object)
        self.runtimes = np.array([_minutes(it) for it in self.items], dtype=np.float64)  # NaN: unknown
        self.genre_names = sorted({g for it in self.items for g in it.genres})
        genre_col = {g: j for j, g in enumerate(self.genre_names)}
        self.genre_matrix = np.zeros((len(self.items), len(self.genre_names)), dtype=bool)  # (n, n_genres)
        for i, it in enumerate(self.items):
            for g in it.genres:
                self.genre_matrix[i, genre_col[g]] = True
        self._genre_col = genre_col
        # items whose record gives an age rating for adults only (an optional "rating" field: "R", "18", "TV-MA")
        self.adult_ids = frozenset(it.id for it in self.items
                                   if str(it.extra.get("rating") or "").strip().lower() in ADULT_RATINGS)
        self._numbers: dict[str, np.ndarray] = {}  # per numeric or boolean attribute, (n,) values, NaN unknown

    def __len__(self) -> int:
        return len(self.items)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def vector(self, item_id: str) -> np.ndarray | None:
        pos = self.position.get(item_id)
        return None if pos is None else self.matrix[pos]

    def mask(self, filters: Filters) -> np.ndarray:
        """Boolean (n,) mask of the items that satisfy every hard filter."""
        keep = np.ones(len(self.items), dtype=bool)
        if filters.domain:
            keep &= self.domains == filters.domain
        if (filters.languages_any or filters.languages_none) and self.has_languages:
            if filters.languages_any:
                keep &= np.isin(self.languages, list(filters.languages_any))
            if filters.languages_none:
                keep &= ~np.isin(self.languages, list(filters.languages_none))
        if filters.year_min is not None:
            keep &= self.years >= filters.year_min  # NaN years fail both comparisons: unknown year is excluded
        if filters.year_max is not None:
            keep &= self.years <= filters.year_max
        if filters.max_minutes is not None:
            keep &= ~(self.runtimes > filters.max_minutes)  # unknown runtimes stay: the catalog cannot tell
        if filters.genres_any:
            cols = [self._genre_col[g] for g in filters.genres_any if g in self._genre_col]
            keep &= self.genre_matrix[:, cols].any(axis=1) if cols else False
        for key in filters.genres_none:
            parts = key.split(COMPOUND_SEP)
            if all(g in self._genre_col for g in parts):  # a genre no item has rules nothing out
                keep &= ~self.genre_matrix[:, [self._genre_col[g] for g in parts]].all(axis=1)
        for item_id in filters.exclude_ids:
            pos = self.position.get(item_id)
            if pos is not None:
                keep[pos] = False
        for constraint in filters.attributes:
            keep &= self.satisfying(constraint)
        return keep

    def attribute_values(self, name: str) -> np.ndarray:
        """(n,) float values of a numeric or boolean attribute (booleans 0 / 1), NaN where an item has none."""
        if name not in self._numbers:
            values = [it.attributes.get(name) for it in self.items]
            column = np.array([float(v) if isinstance(v, int | float) else np.nan for v in values], dtype=np.float64)
            column.setflags(write=False)
            self._numbers[name] = column
        return self._numbers[name]

    def satisfying(self, c: Constraint) -> np.ndarray:
        """(n,) mask of the items that satisfy one attribute constraint; an item with no value fails it."""
        if c.any_of or c.none_of:  # category values: per item, a small list
            return np.fromiter((c.satisfied_by(it.attributes.get(c.name)) for it in self.items), dtype=bool,
                               count=len(self.items))
        values = self.attribute_values(c.name)
        keep = np.isfinite(values)
        with np.errstate(invalid="ignore"):
            if c.low is not None:
                keep &= values > c.low if c.low_strict else values >= c.low
            if c.high is not None:
                keep &= values < c.high if c.high_strict else values <= c.high
            if c.value is not None:
                keep &= values == float(c.value)
        return keep

    def nearest(self, filters: Filters, scores: np.ndarray, k: int) -> list[Hit]:
        """When no item satisfies `filters.attributes`: the k items closest to doing so (the fewest wishes missed,
        then the least total miss, `Constraint.miss`), the best scored first among equals, under the other filters."""
        loose = replace(filters, attributes=())
        rows = np.flatnonzero(self.mask(loose.relaxations()[-1]))
        if not len(rows):
            return []
        misses = np.array([[c.miss(self.items[i].attributes.get(c.name)) for c in filters.attributes] for i in rows])
        broken, far = (misses > 0).sum(axis=1), np.round(misses.sum(axis=1), 3)
        order = rows[np.lexsort((-scores[rows], far, broken))][:k]  # fewest wishes missed, then by the least
        return [Hit(self.items[i], float(scores[i])) for i in order]

    @property
    def has_languages(self) -> bool:
        return bool((self.languages != "").any())

    @property
    def has_runtimes(self) -> bool:
        return bool(np.isfinite(self.runtimes).any())

    def relaxation_levels(self, filters: Filters) -> np.ndarray:
        """Per item (n,), the first of `filters.relaxations()` it passes (0 the strictest), 3 when it passes none."""
        ladder = filters.relaxations()
        level = np.full(len(self.items), len(ladder), dtype=np.int64)
        for i, f in reversed(list(enumerate(ladder))):
            level[self.mask(f)] = i
        return level

    def with_best_domain(self, filters: Filters, scores: np.ndarray) -> Filters:
        """`filters`, held to the domain of the best-scored item that passes them when they name none: one list
        stays one kind of thing."""
        if filters.domain is not None:
            return filters
        best = int(np.argmax(np.where(self.mask(filters), scores, -np.inf)))
        return replace(filters, domain=self.items[best].domain)

    def genre_prior(self, boosts: dict[str, float]) -> np.ndarray:
        """(n,) additive scores: the sum of the boosts of each item's genres."""
        prior = np.zeros(len(self.items), dtype=np.float32)
        for genre, boost in boosts.items():
            col = self._genre_col.get(genre)
            if col is not None:
                prior += boost * self.genre_matrix[:, col]
        return prior

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of every item to `query` (dim,), shape (n,)."""
        return self.matrix @ query.astype(np.float32)

    def search(self, query: np.ndarray, filters: Filters, k: int = 10,
               prior: np.ndarray | None = None) -> list[Hit]:
        """Top-k items by cosine (+ optional additive prior of shape (n,)) among those passing the filters."""
        scores = self.scores(query)
        if prior is not None:
            scores = scores + prior
        scores = np.where(self.mask(filters), scores, -np.inf)
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Hit(self.items[i], float(scores[i])) for i in top]


def _minutes(item: CatalogItem) -> float:
    value = item.extra.get("runtime")
    return float(value) if isinstance(value, int | float) and value > 0 else np.nan
