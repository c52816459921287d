"""The hybrid ranker's storage: fitted weights and collaborative counts, beside the catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from storage.schema import ItemLink, RankerModel

DEFAULT_MODEL = "default"  # the shared model: rankers fitted before they were kept per embedder, feedback-only counts
EMBEDDER_PREFIX = "embedder:"


def model_name(embedder: str) -> str:
    """The stored name of the ranker fitted with `embedder` (its weights suit that embedder's scores only)."""
    return (EMBEDDER_PREFIX + embedder)[:100]


@dataclass(frozen=True)
class StoredRanker:
    """What `RankerRepository.load` returns: weights, meta, (source, target, count) rows and the adapter's bytes."""

    weights: dict[str, float]
    meta: dict[str, Any]
    links: list[tuple[str, str, float]]
    adapter: bytes | None = None  # the interest adapter (retrieval/adapter.py), float32 row-major


class RankerRepository:
    """Save, load and grow the fitted ranker."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def save(self, weights: dict[str, float], meta: dict[str, Any], links: Iterable[tuple[str, str, float]],
             name: str = DEFAULT_MODEL, adapter: bytes | None = None) -> None:
        """Replace the model `name` (weights, adapter and all its counts) in one transaction."""
        with self._sessions.begin() as s:
            s.execute(delete(ItemLink).where(ItemLink.model == name))
            row = s.get(RankerModel, name) or RankerModel(name=name)
            row.weights, row.meta, row.adapter = dict(weights), dict(meta), adapter
            s.add(row)
            s.flush()
            rows = [{"model": name, "source_id": a, "target_id": b, "count": float(n)} for a, b, n in links]
            if rows:
                s.execute(insert(ItemLink), rows)

    def load(self, name: str = DEFAULT_MODEL) -> StoredRanker | None:
        with self._sessions() as s:
            row = s.get(RankerModel, name)
            if row is None:
                return None
            links = s.execute(select(ItemLink.source_id, ItemLink.target_id, ItemLink.count)
                              .where(ItemLink.model == name)).all()
            return StoredRanker(dict(row.weights), dict(row.meta), [(a, b, float(n)) for a, b, n in links],
                                row.adapter)

    def load_for(self, embedder: str) -> StoredRanker | None:
        """The ranker fitted with `embedder`, else the shared one (which may suit another embedder: see its meta)."""
        return self.load(model_name(embedder)) or self.load()

    def add_links(self, links: Iterable[tuple[str, str, float]], name: str = DEFAULT_MODEL) -> None:
        """Add counts (e.g. from an accepted recommendation) to an existing model; new pairs are created."""
        with self._sessions.begin() as s:
            if s.get(RankerModel, name) is None:
                s.add(RankerModel(name=name, weights={}, meta={"source": "feedback only"}))
                s.flush()
            for a, b, n in links:
                row = s.scalar(select(ItemLink).where(ItemLink.model == name, ItemLink.source_id == a,
                                                      ItemLink.target_id == b))
                if row is None:
                    s.add(ItemLink(model=name, source_id=a, target_id=b, count=float(n)))
                else:
                    row.count += float(n)
