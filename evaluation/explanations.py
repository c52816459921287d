"""How far the reasons can be trusted: the explanation gate scored against reasons a person judged, and a fixed
probe of (request, item) pairs written as a turn writes them, to see how many shown reasons are the model's.

The judged set (evaluation/judged/explanations.jsonl, docs/evaluation.md says how it was labelled) holds one row
per reason: the item, the reply's language, the request it answered, the text after the deterministic lead, who
wrote it ("model" or "template") and a person's label: faithful, wrong, garbled or nothing (says nothing about
the item). The gate is `chat.checker.ExplanationChecker`; a reason it refuses is never shown.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chat.checker import ExplanationChecker
from chat.engine import Engine
from chat.lm.base import Generator
from chat.reading import read
from chat.reply import draft_reasons, headings_and_leads, reply_checker, template_reason, write_reply
from chat.state import DialogueState
from chat.tracking import track
from common.errors import ConfigError

JUDGED_DIR = Path(__file__).parent / "judged"
LABELS = ("faithful", "wrong", "garbled", "nothing")
BAD = frozenset({"wrong", "garbled", "nothing"})  # what must not be shown


@dataclass(frozen=True)
class ProbeRequest:
    """A request and the items a turn showed for it (frozen, so every run explains the same items)."""

    request: str
    items: tuple[str, ...]


def load_probe(path: Path = JUDGED_DIR / "probe.json") -> list[ProbeRequest]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [ProbeRequest(r["request"], tuple(r["items"])) for r in rows]


def load_judged(path: Path = JUDGED_DIR / "explanations.jsonl") -> list[dict[str, Any]]:
    """The judged reasons; a row without a known label stops the run, naming its line."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("label") not in LABELS:
            raise ConfigError(f"{path}:{n}: label {row.get('label')!r} is not one of {', '.join(LABELS)}")
        rows.append(row)
    return rows


def state_for(engine: Engine, request: str) -> DialogueState:
    """The dialogue state after `request` as a first message, read and folded as a turn does (rules only)."""
    state = DialogueState()
    reading = read(request, state, engine.catalog.titles, None, "never", None, engine.catalog.items)
    state.language = reading.language
    track(reading, state, engine.catalog.items)
    return state


def gate_for(engine: Engine, state: DialogueState) -> ExplanationChecker:
    """The checker a turn with this state uses."""
    items = engine.catalog.items
    return reply_checker(engine.catalog.titles, engine.catalog.people,
                         [items[i] for i in state.mentioned if i in items], state.language,
                         engine.settings.reason_grounding)


def _items(engine: Engine, ids: Iterable[str]) -> list[Any]:
    missing = [i for i in ids if i not in engine.catalog.items]
    if missing:
        raise ConfigError(f"items not in the catalog: {missing}; the judged set is made for the embedded catalog")
    return [engine.catalog.items[i] for i in ids]


@dataclass
class GateScore:
    """The gate's agreement with the people's labels on the model-written reasons of the judged set."""

    n: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)  # label -> how many the gate let through
    refused: Counter[str] = field(default_factory=Counter)
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    def precision_recall(self, positive: Iterable[str]) -> tuple[float, float]:
        """Of the reasons the gate refused, the share whose label is in `positive`; of those labelled so, the share
        it refused."""
        pos = set(positive)
        refused = sum(self.refused.values())
        hit = sum(self.refused[k] for k in pos)
        total = sum(self.labels[k] for k in pos)
        return (hit / refused if refused else 1.0), (hit / total if total else 1.0)

    def to_json(self) -> dict[str, Any]:
        wp, wr = self.precision_recall({"wrong"})
        bp, br = self.precision_recall(BAD)
        return {"n": self.n, "labels": dict(self.labels), "passed": dict(self.passed),
                "wrong_precision": round(wp, 3), "wrong_recall": round(wr, 3),
                "bad_precision": round(bp, 3), "bad_recall": round(br, 3),
                "bad_passed": sum(self.passed[k] for k in BAD)}


def score_gate(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> GateScore:
    """Run the gate over the judged set's model-written reasons (templates are the catalog's own words)."""
    score = GateScore()
    for row in rows:
        if row["source"] != "model":
            continue
        state = state_for(engine, row["request"])
        (item,) = _items(engine, [row["item"]])
        verdict = gate_for(engine, state).check(row["text"], item)
        label = row["label"]
        score.n += 1
        score.labels[label] += 1
        (score.passed if verdict.ok else score.refused)[label] += 1
        if verdict.ok == (label in BAD):
            score.disagreements.append({"item": row["item"], "text": row["text"], "label": label,
                                        "gate": verdict.problems or "passed"})
    return score


@dataclass
class ProbeRun:
    """One run of the probe: which path each shown reason took, its text, and the timings per request."""

    shown: list[dict[str, Any]] = field(default_factory=list)  # item, language, request, text, path
    first_reason_s: list[float] = field(default_factory=list)
    full_s: list[float] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)  # what befell the reasons asked of the model

    def to_json(self, judged: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        paths = Counter(r["path"] for r in self.shown)
        model = sum(v for k, v in paths.items() if k != "template")
        known = {(r["item"], r["language"], r["text"]): r["label"] for r in judged}
        labels = Counter(known.get((r["item"], r["language"], r["text"]), "unjudged")
                         for r in self.shown if r["path"] != "template")
        n = len(self.shown)

        def pct(xs: list[float]) -> dict[str, float]:
            xs = sorted(xs)
            return {"p50": round(statistics.median(xs), 2), "p95": round(xs[min(len(xs) - 1, int(0.95 * len(xs)))], 2)
                    } if xs else {}

        return {"n": n, "requests": len(self.full_s), "paths": dict(paths),
                "model_written_share": round(model / n, 3) if n else 0.0,
                "model_written_judged": dict(labels), "events": dict(self.events),
                "first_reason_s": pct(self.first_reason_s), "full_reply_s": pct(self.full_s)}


def run_probe(engine: Engine, probe: Sequence[ProbeRequest], generator: Generator | None) -> ProbeRun:
    """Write each request's reasons as a turn does (the same prompts, batch, gate and fallbacks), timed."""
    run = ProbeRun()
    for req in probe:
        state = state_for(engine, req.request)
        items = _items(engine, req.items)
        t0 = time.perf_counter()
        first: float | None = None
        for piece in write_reply(generator, state, items, engine.catalog.items, engine.catalog.titles,
                                 state.language, engine.settings.max_reason_tokens, engine.catalog.people,
                                 engine.settings.reason_grounding, engine.settings.reason_budget_s, run.events,
                                 engine.settings.reason_attempts):
            if piece.item_index is None:
                continue
            first = first if first is not None else time.perf_counter() - t0
            run.shown.append({"item": items[piece.item_index].id, "language": state.language,
                              "request": req.request, "text": piece.claim or "", "path": piece.path or "template"})
        run.full_s.append(time.perf_counter() - t0)
        run.first_reason_s.append(first if first is not None else run.full_s[-1])
    return run


def drafts(engine: Engine, probe: Sequence[ProbeRequest], generator: Generator | None, runtime: str,
           attempts: Sequence[int] = (0, 1)) -> list[dict[str, Any]]:
    """Unlabelled rows for a person to judge: every draft the model writes for the probe (before the gate, each
    attempt's prompt), and the template reason of each item, deduplicated."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()

    def add(item_id: str, language: str, request: str, text: str, source: str, attempt: int | None) -> None:
        if text and (item_id, language, text) not in seen:
            seen.add((item_id, language, text))
            rows.append({"item": item_id, "language": language, "request": request, "text": text, "source": source,
                         "runtime": runtime if source == "model" else "", "attempt": attempt, "label": ""})

    for req in probe:
        state = state_for(engine, req.request)
        items = _items(engine, req.items)
        lang = state.language
        headings, leads = headings_and_leads(state, items, engine.catalog.items, lang)
        prefills = [h + lead for h, lead in zip(headings, leads, strict=True)]
        for it in items:
            add(it.id, lang, req.request, template_reason(it, lang, state.genres_wanted), "template", None)
        for attempt in attempts if generator is not None else ():
            assert generator is not None
            bodies = draft_reasons(generator, items, prefills, lang, attempt, engine.settings.max_reason_tokens)
            for it, body in zip(items, bodies, strict=True):
                add(it.id, lang, req.request, body, "model", attempt)
    return rows
