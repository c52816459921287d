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


BOOTSTRAP_SAMPLES = 1000


@dataclass
class RecallCounter:
    """Accumulates hits per k over (turn, target) pairs, per group (conversation), so intervals can resample."""

    ks: tuple[int, ...] = DEFAULT_KS
    groups: dict[str, list[int]] = field(default_factory=dict)  # group -> [pairs, hits at each k]

    def add(self, ranked: Sequence[str], targets: Sequence[str], group: str = "") -> None:
        found = hits_at(ranked, targets, self.ks)
        row = self.groups.setdefault(group, [0] * (1 + len(self.ks)))
        row[0] += len(targets)
        for j, k in enumerate(self.ks):
            row[1 + j] += found[k]

    def merge(self, other: RecallCounter) -> None:
        """Add another counter's conversations (same k values) to this one."""
        if other.ks != self.ks:
            raise ValueError(f"cannot merge recall at k={other.ks} into k={self.ks}")
        for group, row in other.groups.items():
            mine = self.groups.setdefault(group, [0] * len(row))
            for j, n in enumerate(row):
                mine[j] += n

    @property
    def pairs(self) -> int:
        return sum(row[0] for row in self.groups.values())

    def recall(self, k: int) -> float:
        if k not in self.ks or not self.pairs:
            return 0.0
        col = 1 + self.ks.index(k)
        return sum(row[col] for row in self.groups.values()) / self.pairs

    def interval(self, k: int, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
        """A bootstrap interval of recall@k, resampling whole conversations (their turns are not independent)."""
        rows = np.array([r for r in self.groups.values() if r[0]], dtype=np.float64)
        if len(rows) < 2:
            return self.recall(k), self.recall(k)
        pick = np.random.default_rng(seed).integers(0, len(rows), size=(BOOTSTRAP_SAMPLES, len(rows)))
        col = 1 + self.ks.index(k)
        recalls = rows[pick, col].sum(axis=1) / rows[pick, 0].sum(axis=1)
        tail = (1 - level) / 2 * 100
        return float(np.percentile(recalls, tail)), float(np.percentile(recalls, 100 - tail))

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {f"R@{k}": round(self.recall(k), 4) for k in self.ks}
        out["pairs"] = self.pairs
        if len(self.groups) > 1:
            out["ci95"] = {f"R@{k}": [round(x, 4) for x in self.interval(k)] for k in self.ks}
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
            context: Sequence[str], seconds: float, group: str = "") -> None:
        """One prediction point of conversation `group`. `ranked_dedup` must already leave out the context."""
        self.raw.add(ranked_raw, targets, group)
        seen = set(context)
        self.dedup.add(ranked_dedup, [t for t in targets if t not in seen], group)
        self.latencies_ms.append(seconds * 1000)

    def merge(self, other: MethodScore) -> None:
        self.raw.merge(other.raw)
        self.dedup.merge(other.dedup)
        self.latencies_ms += other.latencies_ms

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
