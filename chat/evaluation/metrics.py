"""Recall@k raw and deduplicated, and latency percentiles: the arithmetic of the ReDial protocol.

Raw: every (turn, target) pair counts, and the ranked list may contain movies from the context.
Deduplicated: targets already named in the context are dropped, and context movies are removed from
the ranked list before cutting it at k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

DEFAULT_KS = (1, 10, 50)


def hits_at(ranked: Sequence[str], targets: Sequence[str], ks: Sequence[int]) -> dict[int, int]:
    """How many targets appear in the first k of `ranked`, for each k."""
    position = {item_id: i for i, item_id in enumerate(ranked)}
    return {k: sum(1 for t in targets if position.get(t, k) < k) for k in ks}


@dataclass
class RecallCounter:
    """Accumulates hits per k over (turn, target) pairs."""

    ks: tuple[int, ...] = DEFAULT_KS
    pairs: int = 0
    hits: dict[int, int] = field(default_factory=dict)

    def add(self, ranked: Sequence[str], targets: Sequence[str]) -> None:
        self.pairs += len(targets)
        for k, n in hits_at(ranked, targets, self.ks).items():
            self.hits[k] = self.hits.get(k, 0) + n

    def recall(self, k: int) -> float:
        return self.hits.get(k, 0) / self.pairs if self.pairs else 0.0

    def to_json(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {f"R@{k}": round(self.recall(k), 4) for k in self.ks}
        out["pairs"] = self.pairs
        return out


@dataclass
class MethodScore:
    """Raw and deduplicated recall and per-turn latency of one ranking method."""

    ks: tuple[int, ...] = DEFAULT_KS
    raw: RecallCounter = field(init=False)
    dedup: RecallCounter = field(init=False)
    latencies_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.raw, self.dedup = RecallCounter(self.ks), RecallCounter(self.ks)

    def add(self, ranked_raw: Sequence[str], ranked_dedup: Sequence[str], targets: Sequence[str],
            context: Sequence[str], seconds: float) -> None:
        """One prediction point. `ranked_dedup` must already leave out the context movies."""
        self.raw.add(ranked_raw, targets)
        seen = set(context)
        self.dedup.add(ranked_dedup, [t for t in targets if t not in seen])
        self.latencies_ms.append(seconds * 1000)

    def to_json(self) -> dict[str, object]:
        lat = self.latencies_ms
        return {"raw": self.raw.to_json(), "dedup": self.dedup.to_json(),
                "latency_ms": {"p50": round(percentile(lat, 50), 3), "p95": round(percentile(lat, 95), 3)}}


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else 0.0


def without(ranked: Sequence[str], drop: Sequence[str]) -> list[str]:
    """`ranked` with the context movies removed (the deduplicated list)."""
    gone = set(drop)
    return [i for i in ranked if i not in gone]
