"""What each reader reads of a catalog's declared attributes, scored against shop messages a person labelled.

The labelled set (evaluation/judged/shop_wishes.jsonl) holds one first message per line with what it asks of the
demo shop's attributes: a price or rating range (in the stored unit, the shop's declared rates applied), category
values wanted or ruled out, a yes/no. It was written by someone who had read the shop's schema file but not the
reader (docs/evaluation.md). A reading is scored as the set of atomic wishes it yields ("price high 100",
"color any blue", "in_stock value true"): precision, recall and F1 over them, and the share of messages read
exactly.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat.engine import Engine
from chat.reading import LM_FIELDS, Wish, read
from chat.state import DialogueState
from common.errors import ConfigError

CASES = Path(__file__).parent / "judged" / "shop_wishes.jsonl"
Fact = tuple[str, str, object]  # (attribute, part, value): ("price", "high", 100.0)


@dataclass(frozen=True)
class Case:
    text: str
    language: str
    facts: frozenset[Fact]


def facts_of(wishes: dict[str, Any]) -> frozenset[Fact]:
    """The atomic wishes of a labelled or read wish table (labels are dicts, readings `Wish` objects)."""
    out: set[Fact] = set()
    for name, wish in wishes.items():
        get = wish.get if isinstance(wish, dict) else lambda key, w=wish: getattr(w, key, None)
        for part in ("low", "high"):
            bound = get(part)
            if bound is not None:
                out.add((name, part, round(float(bound), 2)))
        for part, key in (("any", "any_of"), ("none", "none_of")):
            out |= {(name, part, str(v).lower()) for v in get(key) or ()}
        if get("value") is not None:
            out.add((name, "value", bool(get("value"))))
    return frozenset(out)


def load_cases(path: Path = CASES) -> list[Case]:
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cases.append(Case(row["text"], row.get("language", "en"), facts_of(row["wishes"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{n}: not a labelled message ({exc}); see evaluation/wishes.py") from None
    return cases


def rules(engine: Engine) -> Callable[[str], dict[str, Wish]]:
    """The rules' reading of the catalog's attributes."""
    def run(text: str) -> dict[str, Wish]:
        catalog = engine.catalog
        return read(text, DialogueState(), catalog.titles, items=catalog.items,
                    attributes=catalog.attribute_reader).attributes.wishes
    return run


def model(engine: Engine) -> Callable[[str], dict[str, Wish]]:
    """The generative LM's reading (JSON under the schema, grounded); where it fails, the rules' reading stands."""
    def run(text: str) -> dict[str, Wish]:
        catalog = engine.catalog
        return read(text, DialogueState(), catalog.titles, engine.generator, items=catalog.items,
                    lm_fields=frozenset(LM_FIELDS), attributes=catalog.attribute_reader).attributes.wishes
    return run


def score(reader: Callable[[str], dict[str, Wish]], cases: Iterable[Case]) -> dict[str, Any]:
    """Precision, recall and F1 over atomic wishes, exact messages, per-message latency, and the misses."""
    tp = fp = fn = exact = n = 0
    times: list[float] = []
    misses: list[dict[str, Any]] = []
    for case in cases:
        t0 = time.perf_counter()
        got = facts_of(reader(case.text))
        times.append((time.perf_counter() - t0) * 1000)
        n += 1
        tp, fp, fn = tp + len(got & case.facts), fp + len(got - case.facts), fn + len(case.facts - got)
        exact += got == case.facts
        if got != case.facts:
            misses.append({"text": case.text, "extra": sorted(map(str, got - case.facts)),
                           "missed": sorted(map(str, case.facts - got))})
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    times.sort()
    return {"n": n, "precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
            "exact": round(exact / n, 3) if n else 0.0,
            "latency_ms": {"p50": round(statistics.median(times), 1) if times else 0.0,
                           "p95": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1) if times else 0.0},
            "misses": misses}
