"""Turn latency and memory with the default models on the embedded catalog.

usage: python bench/bench_turns.py [--runs 3] [--first-run]
Measures, over a 5-turn scripted dialogue repeated --runs times: time to the first streamed
text, to the generator's first output (its first streamed piece, or the replies of a batch), to
the first reason shown (recommending turns) and to the full reply; plus engine start time on a
warm cache and the process's peak RSS. --first-run also times `concierge models` on an empty
data dir and model cache (preparation from the installed packages, install excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from chat.build import build_engine
from chat.engine import Delta  # noqa: E402
from chat.settings import load_settings  # noqa: E402

DIALOGUE = ["hi", "I loved Inception and Interstellar, something sci-fi please", "not the first one",
            "我喜欢科幻小说，比如《三体》", "any good mystery books from before 1950?"]


class _FirstModelToken:
    """Wraps the generator to time its first piece (of a batch: when the batch is done)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.name, self.first = inner, inner.name, None
        if hasattr(inner, "complete_batch"):
            self.complete_batch = self._complete_batch

    def stream(self, messages, max_new_tokens=128, stop=()):  # type: ignore[no-untyped-def]
        for piece in self.inner.stream(messages, max_new_tokens, stop):
            if self.first is None:
                self.first = time.perf_counter()
            yield piece

    def _complete_batch(self, prompts, max_new_tokens=128, stop=()):  # type: ignore[no-untyped-def]
        replies = self.inner.complete_batch(prompts, max_new_tokens, stop)
        if self.first is None:
            self.first = time.perf_counter()
        return replies


def pct(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 3), "p95": round(float(np.percentile(values, 95)), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--first-run", action="store_true")
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    out: dict[str, object] = {}
    if args.first_run:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "CONCIERGE_DATA_DIR": tmp}
            env.pop("CONCIERGE_MODEL_CACHE", None)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ui.cli", "models"], env=env, check=True, capture_output=True)
            out["first_run_prepare_s"] = round(time.perf_counter() - t, 1)
    data = args.data or Path(tempfile.mkdtemp(prefix="bench-"))
    settings = load_settings(data_dir=data, model_cache=load_settings().cache_dir)  # fresh database, warm models
    build_engine(settings, load_lm=False)  # first start in this data dir: imports + embeds the catalog
    t = time.perf_counter()
    engine = build_engine(settings)
    out["warm_start_s"] = round(time.perf_counter() - t, 2)
    assert engine.generator is not None
    timer = _FirstModelToken(engine.generator)
    engine.generator = timer
    first_text, first_model, full, sources, full_rec, first_reason = [], [], [], [], [], []
    for _ in range(args.runs):
        sid = engine.new_session()
        for text in DIALOGUE:
            timer.first = None
            t0 = time.perf_counter()
            t_first = None
            recommending = False
            deltas: list[float] = []  # intro, first heading with its lead, first reason, ...
            for ev in engine.turn(sid, text):
                if isinstance(ev, Delta):
                    deltas.append(time.perf_counter())
                if isinstance(ev, Delta) and t_first is None:
                    t_first = time.perf_counter()
                elif not isinstance(ev, Delta):
                    sources.append(ev.reply_source if ev.recommendations else "ask")
                    recommending = bool(ev.recommendations)
            full.append(time.perf_counter() - t0)
            if recommending:
                full_rec.append(full[-1])
                first_reason.append(deltas[min(2, len(deltas) - 1)] - t0)
            first_text.append((t_first or time.perf_counter()) - t0)
            if timer.first is not None:
                first_model.append(timer.first - t0)
    out.update({"turns": len(full), "first_text_s": pct(first_text), "first_model_token_s": pct(first_model),
                "full_reply_s": pct(full),
                "full_reply_recommending_turns_s": pct(full_rec),
                "first_reason_shown_s": pct(first_reason),
                "reply_sources": {s: sources.count(s) for s in set(sources)},
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024, 2)})
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
