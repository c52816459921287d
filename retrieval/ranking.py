"""Hybrid ranking: content (interest vector vs item vectors), collaborative (item-item co-occurrence),
and a popularity prior, mixed with weights fitted on training dialogues.

Scores are in units of the content score's spread: for a query, the hybrid score of item j is
    cos_j + std(cos) * (w_liked * cf_liked_j + w_shown * cf_shown_j + w_pop * pop_j + w_recency * rec_j
                        + w_items * z(item_sim)_j + w_genre * genre_j + w_people * people_j
                        + w_liked2 * cf2_liked_j + w_shown2 * cf2_shown_j + w_named_people * named_j
                        + w_genre_items * genre_items_j + w_context_genres * cgenre_j + w_context_era * era_j
                        + w_year * in_era_j + w_series * series_j)
which ranks exactly like z(cos)_j + w_liked * cf_liked_j + ...; item_sim is the cosine to the mean
vector of the items in the conversation (liked and shown), rec_j the training share of item j's year,
genre_j the share of the wanted genres item j has (with w_genre > 0 wanted genres are this soft boost
instead of a hard filter), people_j how many directors or stars item j shares with the conversation's items,
cf2 the two-hop co-occurrence (neighbours of neighbours), named_j how many of the people the user asked for
by name item j has, genre_items_j the summed log count of item j's recommendations to seekers who wanted
each of the wanted genres, cgenre_j how much item j's genres are those of the conversation's items (the share of
those items with each genre, averaged over item j's genres), era_j how close item j's year is to theirs
(exp(-|year_j - median year| / ERA_SCALE), 0 when either is unknown), in_era_j 1 when item j's year is inside
bounds the user gave only by an era word ("older ones", "classics", "something more recent"), else 0 (with
w_year > 0 those bounds are this soft boost instead of a hard filter; years given as numbers stay a filter), series_j
how many of the conversation's items are of item j's series (`series_key`: the title without a subtitle or a trailing
number, so "Die Hard 2" for "Die Hard").
`prior()` returns the added part so
`VectorIndex.search(query, filters, k, prior)` ranks with it. With no model, ranking is content-only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

GENRE_SOURCE = "genre:"  # source ids of genre -> item rows in `LinkCounts.rows` (item ids are never bare genres)
SMOOTHING = 5.0  # added to an item's total co-occurrence count: rare items' neighbours count less
PEOPLE_MAX_ITEMS = 200  # a name on more items than this says nothing about taste (e.g. "Various")
ERA_SCALE = 10.0  # years: a film this far from the conversation's films keeps 1/e of the era closeness


@dataclass(frozen=True)
class HybridWeights:
    """Weights relative to the content score (whose weight is 1 in z-units)."""

    liked: float = 0.0  # collaborative evidence from items the user liked
    shown: float = 0.0  # collaborative evidence from items already shown or named by the other side
    popularity: float = 0.0  # log-count prior
    recency: float = 0.0  # how often training dialogues name movies of the item's year
    items: float = 0.0  # content similarity to the items named in the conversation
    genre: float = 0.0  # 0: wanted genres are a hard filter; > 0: a boost per share of wanted genres matched
    people: float = 0.0  # per director or star shared with the items named in the conversation
    liked2: float = 0.0  # two-hop collaborative evidence from liked items (neighbours of neighbours)
    shown2: float = 0.0  # two-hop collaborative evidence from the other context items
    named_people: float = 0.0  # per person the user asked for by name ("something with Tom Hanks") on the item
    genre_items: float = 0.0  # how often the item was recommended when the seeker wanted these genres (log count)
    context_genres: float = 0.0  # how much the item's genres are those of the items named in the conversation
    context_era: float = 0.0  # how close the item's year is to the years of the items named in the conversation
    year: float = 0.0  # 0: bounds from an era word ("older ones") are a hard filter; > 0: a boost inside them
    series: float = 0.0  # per item of the conversation from the same series ("Die Hard" -> "Die Hard 2")

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, float]) -> HybridWeights:
        names = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in data.items() if k in names})


@dataclass(frozen=True)
class RankContext:
    """What one moment of a conversation gives the hybrid ranker."""

    liked: Sequence[str] = ()  # items the user liked, latest last
    shown: Sequence[str] = ()  # the other items named or shown, not rejected
    item_sim: np.ndarray | None = None  # cosine to the mean vector of those items (n,)
    genre_share: np.ndarray | None = None  # share of the wanted genres each item has (n,)
    named: Sequence[str] = ()  # people the user asked for by name
    genres: Sequence[str] = ()  # the wanted genres
    in_era: np.ndarray | None = None  # 1 inside year bounds given by an era word, else 0 (n,)


# Every feature, in the order `boost` adds them up. Those a fit needs no counts for, and those built from counts.
FEATURES = ("popularity", "recency", "items", "genre", "people", "liked", "shown", "liked2", "shown2", "named_people",
            "genre_items", "context_genres", "context_era", "year", "series")
CONTENT_FEATURES = ("items", "genre", "people", "named_people", "context_genres", "context_era", "year", "series")
COUNT_FEATURES = ("liked", "shown", "liked2", "shown2", "genre_items", "popularity", "recency")


@dataclass
class LinkCounts:
    """Counts the collaborative part learns from: how often items are named, and named together.

    Training dialogues add every pair of movies named in one conversation (both directions) and, per
    recommender turn, the genres the seeker wanted then -> the movies recommended (`add_genre_targets`);
    the product can add an accepted recommendation with `add_accepted` (the liked context -> the item).
    """

    popularity: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    pairs: defaultdict[str, defaultdict[str, float]] = field(default_factory=lambda: defaultdict(
        lambda: defaultdict(float)))
    genre_targets: defaultdict[str, defaultdict[str, float]] = field(default_factory=lambda: defaultdict(
        lambda: defaultdict(float)))

    def add_dialogue(self, item_ids: Iterable[str], weight: float = 1.0) -> None:
        ids = list(dict.fromkeys(item_ids))
        for a in ids:
            self.popularity[a] += weight
            row = self.pairs[a]
            for b in ids:
                if b != a:
                    row[b] += weight

    def add_genre_targets(self, genres: Iterable[str], item_ids: Iterable[str], weight: float = 1.0) -> None:
        """Items recommended while the seeker wanted `genres`."""
        ids = list(dict.fromkeys(item_ids))
        for g in dict.fromkeys(genres):
            row = self.genre_targets[g]
            for item_id in ids:
                row[item_id] += weight

    def add_accepted(self, context_ids: Iterable[str], item_id: str, weight: float = 1.0) -> None:
        self.popularity[item_id] += weight
        for c in dict.fromkeys(context_ids):
            if c != item_id:
                self.pairs[c][item_id] += weight
                self.pairs[item_id][c] += weight

    def rows(self) -> Iterator[tuple[str, str, float]]:
        """(source, target, count); popularity rows have the empty source."""
        for item_id, n in self.popularity.items():
            yield "", item_id, float(n)
        for a, row in self.pairs.items():
            for b, n in row.items():
                yield a, b, float(n)
        for g, row in self.genre_targets.items():
            for b, n in row.items():
                yield GENRE_SOURCE + g, b, float(n)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, float]]) -> LinkCounts:
        counts = cls()
        for a, b, n in rows:
            if a == "":
                counts.popularity[b] += n
            elif a.startswith(GENRE_SOURCE):
                counts.genre_targets[a[len(GENRE_SOURCE):]][b] += n
            else:
                counts.pairs[a][b] += n
        return counts


class HybridRanker:
    """The fitted model bound to one index order (item ids aligned with the index rows)."""

    def __init__(self, weights: HybridWeights, counts: LinkCounts, item_ids: Sequence[str],
                 years: Sequence[int | None] | None = None, people: Sequence[Sequence[str]] | None = None,
                 fitted: bool = True, likeness: ContextLikeness | None = None,
                 adapter: np.ndarray | None = None) -> None:
        self.weights, self.counts = weights, counts
        self.adapter = adapter  # (dim, dim) map of the interest vector fitted with the weights (retrieval/adapter.py)
        self.fitted = fitted  # False: fixed weights over users' likes only, nothing fitted on dialogues
        self.people = PeopleIndex(people) if people is not None else None
        self.likeness = likeness
        self.position = {item_id: i for i, item_id in enumerate(item_ids)}
        n = len(item_ids)
        pop = np.zeros(n, dtype=np.float32)
        for item_id, c in counts.popularity.items():
            pos = self.position.get(item_id)
            if pos is not None:
                pop[pos] = np.log1p(c)
        self.popularity = pop / pop.max() if pop.max() > 0 else pop  # (n,) in [0, 1]
        self.recency = year_prior(counts, item_ids, years) if years is not None else np.zeros(n, np.float32)
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for a, row in counts.pairs.items():
            pa = self.position.get(a)
            arrays = self._arrays(row) if pa is not None else None
            if pa is not None and arrays is not None:
                cols, vals = arrays
                self._rows[pa] = (cols, vals / (vals.sum() + SMOOTHING))  # ~ P(b named | a named)
        self._genre_rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for g, row in counts.genre_targets.items():
            arrays = self._arrays(row)
            if arrays is not None:
                self._genre_rows[g] = (arrays[0], np.log1p(arrays[1]))
        self.size = n

    def _arrays(self, row: dict[str, float]) -> tuple[np.ndarray, np.ndarray] | None:
        """A count row keyed by item id as (index positions, counts), items not in the index dropped."""
        idx = [(self.position[b], c) for b, c in row.items() if b in self.position]
        if not idx:
            return None
        return np.array([i for i, _ in idx], dtype=np.int64), np.array([c for _, c in idx], dtype=np.float32)

    def _summed(self, rows: dict[Any, tuple[np.ndarray, np.ndarray]], keys: Iterable[Any]) -> np.ndarray:
        """The sum of `rows[k]` over the distinct keys that have a row, spread over the index, shape (n,)."""
        out = np.zeros(self.size, dtype=np.float32)
        for key in dict.fromkeys(keys):
            row = rows.get(key)
            if row is not None:
                out[row[0]] += row[1]
        return out

    def genre_targets(self, genres: Sequence[str]) -> np.ndarray:
        """Per item, the summed log count of its recommendations for each of `genres`, shape (n,)."""
        return self._summed(self._genre_rows, genres)

    def collaborative(self, item_ids: Sequence[str]) -> np.ndarray:
        """Sum over the given items of their neighbours' co-occurrence share, shape (n,)."""
        return self._summed(self._rows, (self.position.get(i) for i in item_ids))

    def two_hop(self, item_ids: Sequence[str]) -> np.ndarray:
        """`collaborative` one step further: the neighbours' neighbours, weighted by both shares, shape (n,).

        Co-occurrence from a thousand conversations links only a quarter of the recommended movies to the
        movies named before them; two steps reach most of the rest through a shared neighbour.
        """
        out = np.zeros(self.size, dtype=np.float32)
        for item_id in dict.fromkeys(item_ids):
            pos = self.position.get(item_id)
            if pos is None or pos not in self._rows:
                continue
            cols, vals = self._rows[pos]
            for b, share in zip(cols.tolist(), vals.tolist(), strict=True):
                row = self._rows.get(b)
                if row is not None:
                    out[row[0]] += share * row[1]
        return out

    @property
    def soft_genres(self) -> bool:
        """Whether wanted genres are a fitted boost rather than a hard filter."""
        return self.weights.genre > 0

    @property
    def soft_years(self) -> bool:
        """Whether year bounds read from an era word ("older ones") are a fitted boost rather than a hard filter."""
        return self.weights.year > 0

    def feature(self, name: str, ctx: RankContext) -> np.ndarray | None:
        """What the weight `name` multiplies for a moment of a conversation (n,); None where it adds nothing.

        The one computation of every feature: live ranking (`boost`) and the fit (evaluation/fit.py) both call it.
        """
        context = [self.position[i] for i in dict.fromkeys([*ctx.liked, *ctx.shown]) if i in self.position]
        match name:
            case "popularity":
                return self.popularity
            case "recency":
                return self.recency
            case "items":
                return zscore(ctx.item_sim) if ctx.item_sim is not None else None
            case "genre":
                return ctx.genre_share
            case "people":
                return self.people.shared(context) if self.people is not None else None
            case "liked":
                return self.collaborative(ctx.liked) if ctx.liked else None
            case "shown":
                return self.collaborative(ctx.shown) if ctx.shown else None
            case "liked2":
                return self.two_hop(ctx.liked) if ctx.liked else None
            case "shown2":
                return self.two_hop(ctx.shown) if ctx.shown else None
            case "named_people":
                return self.people.named(ctx.named) if ctx.named and self.people is not None else None
            case "genre_items":
                return self.genre_targets(ctx.genres) if ctx.genres else None
            case "context_genres":
                return self.likeness.genres(context) if self.likeness is not None else None
            case "context_era":
                return self.likeness.era(context) if self.likeness is not None else None
            case "year":
                return ctx.in_era
            case "series":
                return self.likeness.series(context) if self.likeness is not None else None
        raise ValueError(f"no feature {name!r}")

    def boost(self, ctx: RankContext) -> np.ndarray:
        """The weighted non-content parts, shape (n,), in z-units of the content score."""
        weights = self.weights.to_json()
        total: np.ndarray = np.zeros(self.size, dtype=np.float32)
        for name in FEATURES:
            value = weights[name]
            feature = self.feature(name, ctx) if value else None
            if feature is not None:
                total = total + value * feature
        return total.astype(np.float32)

    def prior(self, cosine: np.ndarray | None, ctx: RankContext) -> np.ndarray:
        """What to add to the cosine scores (n,); with no content score the boost alone ranks."""
        boost = self.boost(ctx)
        if cosine is None:
            return boost
        spread = float(cosine.std()) or 1.0
        return spread * boost


class PeopleIndex:
    """Which items each person (director, writer of record, star) is on, for "same director / same star"."""

    def __init__(self, people: Sequence[Sequence[str]]) -> None:
        self.size = len(people)
        on: defaultdict[str, list[int]] = defaultdict(list)
        for pos, names in enumerate(people):
            for name in dict.fromkeys(names):
                on[name].append(pos)
        self._all = {name: np.array(p, dtype=np.int64) for name, p in on.items()}
        self._items = {name: p for name, p in self._all.items() if len(p) <= PEOPLE_MAX_ITEMS}
        self._names = [list(dict.fromkeys(names)) for names in people]

    def named(self, names: Iterable[str]) -> np.ndarray:
        """Per item, how many of `names` (people as the catalog spells them) it has, shape (n,)."""
        out = np.zeros(self.size, dtype=np.float32)
        for name in dict.fromkeys(names):
            cols = self._all.get(name)
            if cols is not None:
                out[cols] += 1.0
        return out

    def shared(self, positions: Iterable[int]) -> np.ndarray:
        """Per item, how many (item, person) links it shares with the items at `positions`, shape (n,)."""
        out = np.zeros(self.size, dtype=np.float32)
        for pos in positions:
            for name in self._names[pos]:
                cols = self._items.get(name)
                if cols is not None:
                    out[cols] += 1.0
        return out


class ContextLikeness:
    """How much an item is like the conversation's items in what the catalog records: genres, year and series.

    Co-occurrence knows only the movies training dialogues named; these reach every item (a seeker who
    named two 80s horror films gets 80s horror, named or not; one who named "Die Hard" gets "Die Hard 2").
    """

    def __init__(self, years: np.ndarray, genre_matrix: np.ndarray, titles: Sequence[str] = ()) -> None:
        """`years`: (n,) float, NaN where unknown; `genre_matrix`: (n, genres), true where the item has the genre
        (`VectorIndex.years` and `VectorIndex.genre_matrix`); `titles`: the items' titles (n,), or none."""
        self.years = years
        self.has = genre_matrix.astype(np.float32)
        self.mean_of = self.has / np.maximum(self.has.sum(axis=1, keepdims=True), 1.0)  # each genre 1 / its count
        self.series_of = [series_key(t) for t in titles]
        members: defaultdict[str, list[int]] = defaultdict(list)
        for pos, key in enumerate(self.series_of):
            if key:
                members[key].append(pos)
        self._series = {key: np.array(p, dtype=np.int64) for key, p in members.items() if len(p) > 1}

    def series(self, positions: Sequence[int]) -> np.ndarray:
        """Per item, how many of the items at `positions` are of its series (`series_key`), shape (n,)."""
        out = np.zeros(len(self.years), dtype=np.float32)
        for pos in dict.fromkeys(positions):
            cols = self._series.get(self.series_of[pos]) if pos < len(self.series_of) else None
            if cols is not None:
                out[cols] += 1.0
        return out

    def genres(self, positions: Sequence[int]) -> np.ndarray:
        """Per item, the mean over its genres of the share of the items at `positions` with that genre (n,)."""
        if not positions:
            return np.zeros(len(self.has), dtype=np.float32)
        return (self.mean_of @ self.has[list(positions)].mean(axis=0)).astype(np.float32)

    def era(self, positions: Sequence[int]) -> np.ndarray:
        """Per item, exp(-|year - median year of the items at `positions`| / ERA_SCALE); 0 where unknown (n,)."""
        known = self.years[list(positions)]
        known = known[~np.isnan(known)]
        if not len(known):
            return np.zeros(len(self.years), dtype=np.float32)
        return np.nan_to_num(np.exp(-np.abs(self.years - np.median(known)) / ERA_SCALE), nan=0.0).astype(np.float32)


_SUBTITLE = re.compile(r"\s*[:：].*$")
_NUMBERED = re.compile(r"\s+(?:(?:part|chapter|vol|volume|episode)\s+)?(?:\d+|[ivx]+)$")
SERIES_MIN_CHARS = 4  # shorter series names ("it", "up") join unrelated titles


def series_key(title: str) -> str:
    """The name a title's series shares: lower case, without a subtitle after ':' or a trailing number
    ("Die Hard 2" and "Die Hard" -> "die hard"; "The Hangover Part II" -> "the hangover"; "Transformers: Dark
    of the Moon" -> "transformers"); '' when it is shorter than `SERIES_MIN_CHARS`."""
    key = _SUBTITLE.sub("", title.lower())
    key = " ".join(re.sub(r"[^\w\s]", " ", key).split())
    key = _NUMBERED.sub("", key)
    return key if len(key) >= SERIES_MIN_CHARS else ""


def item_people(creators: Sequence[str], extra: dict[str, object]) -> list[str]:
    """An item's people: its creators plus the `stars` (or `cast`) list of its record, when there is one."""
    out = list(creators)
    for key in ("stars", "cast"):
        value = extra.get(key)
        if isinstance(value, list):
            out += [v for v in value if isinstance(v, str)]
    return out


def zscore(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean()) / (x.std() or 1.0)).astype(np.float32)


def year_prior(counts: LinkCounts, item_ids: Sequence[str], years: Sequence[int | None]) -> np.ndarray:
    """Per item, the smoothed log share of training mentions that fall in its year, scaled to [0, 1] (n,)."""
    year_of = dict(zip(item_ids, years, strict=True))
    mass: defaultdict[int, float] = defaultdict(float)
    for item_id, c in counts.popularity.items():
        y = year_of.get(item_id)
        if y is not None:
            mass[y] += c
    if not mass:
        return np.zeros(len(item_ids), dtype=np.float32)
    out = np.array([np.log1p(mass.get(y, 0.0) + 0.5 * (mass.get(y - 1, 0.0) + mass.get(y + 1, 0.0)))
                    if y is not None else 0.0 for y in years], dtype=np.float32)
    return out / out.max() if out.max() > 0 else out
