"""Decode speed of the default model on each local runtime, in one run: transformers bf16, onnxruntime-genai int8
and int4 (settings `lm_runtime`, `lm_precision`).

usage: python bench/bench_lm.py [--runs 3] [--tokens 64]
Prompt: a reply prompt for one item of the embedded catalog (about 230 tokens), greedy. Prints, per runtime, the
median time to the first token, decode tokens/s after it, and the output's first words.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chat.lm.presets import load_generator  # noqa: E402
from chat.reply import reply_messages  # noqa: E402
from chat.settings import load_settings  # noqa: E402
from storage.importers import embedded_catalog_files, load_file  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--runtimes", default="torch,onnx-int8,onnx-int4")
    args = ap.parse_args()
    settings = load_settings()
    item = next(it for f in embedded_catalog_files() for it in load_file(f) if it.title == "Elf")
    prompt = reply_messages([item], "en")
    out = {}
    for runtime in args.runtimes.split(","):
        kind, _, precision = runtime.partition("-")
        gen = load_generator(settings.lm, settings.cache_dir, "cpu", "off", kind, precision or "int4")
        firsts, rates, text = [], [], ""
        for _ in range(args.runs + 1):  # the first run warms up
            t0 = time.perf_counter()
            first, n, text = None, 0, ""
            for piece in gen.stream(prompt, args.tokens):
                n += 1
                text += piece
                first = first or time.perf_counter()
            end = time.perf_counter()
            firsts.append(first - t0)
            rates.append((n - 1) / (end - first) if n > 1 else 0.0)
        out[runtime] = {"first_token_s": round(statistics.median(firsts[1:]), 2),
                        "decode_tok_s": round(statistics.median(rates[1:]), 1), "text": text.strip()[:100]}
        del gen
    base = out.get("torch", {}).get("decode_tok_s")
    for r in out.values():
        if base:
            r["decode_vs_torch"] = round(r["decode_tok_s"] / base, 2)
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
