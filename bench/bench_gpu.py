"""The GPU path: the default models on CUDA through the product's own loaders, engine and trainer.

usage: python bench/bench_gpu.py [--lm SPEC] [--embedder SPEC] [--random-weights] [--train-seconds 60]
                                 [--device cuda] [--json OUT]

Checks and measures, each step reported on its own so one failure does not hide the others:
  lm        loading with device_map="auto" (every weight on the GPU, bf16), streaming, greedy decode
            tokens/s (the product's load, a plain .to(device) copy and device_map=device, timed in turns;
            the product's stream(); a static KV cache, which generate() compiles), a 1,000-token prefill,
            and the logits against the same model on the CPU;
  embedder  vectors on the GPU against the CPU's, query latency;
  engine    the ReDial catalog (../shared/data) imported and embedded on the GPU, then a 3-turn chat over
            it: every recommended title must be a catalog title;
  train     `concierge train` (run_train: pairs, accelerate fine-tuning, the held-out gate) for one epoch
            within --train-seconds; steps/s and the projected time of the default 3 epochs.
--random-weights builds models of the same architecture (config and tokenizer of --lm / --embedder, a
folder) with seeded random weights: for a machine the real weights cannot reach. Speeds are then the
real model's; replies and recall are meaningless (the reasons fail the catalog check, as they should).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from chat.build import build_engine_for
from chat.engine import TurnResult  # noqa: E402
from chat.lm.presets import load_generator, prepare_lm  # noqa: E402
from chat.settings import Settings, load_settings  # noqa: E402
from retrieval.embedders.presets import load_embedder  # noqa: E402

DIALOGUE = ["I loved Inception, something like it", "no horror please", "something older, from the 90s"]
PROMPT = [{"role": "system", "content": "You recommend movies from a catalog."},
          {"role": "user", "content": "I loved Inception and Interstellar. Something like them, but lighter?"}]
LM_FILES = ("generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def random_copy(kind: str, source: Path, out: Path, layers: int = 0) -> Path:
    """A folder with `source`'s config, tokenizer (and sentence-transformers modules) and seeded random weights.

    `layers` > 0 keeps only that many transformer layers (a quick dry run on a CPU).
    """
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(source)
    if layers:
        config.num_hidden_layers = layers
        if getattr(config, "layer_types", None):
            config.layer_types = config.layer_types[:layers]
    if kind == "lm":
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        names: tuple[str, ...] = LM_FILES
    else:
        model = AutoModel.from_config(config)
        names = tuple(p.name for p in source.iterdir()
                      if p.suffix != ".safetensors" and p.name not in ("pytorch_model.bin", "config.json"))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)  # writes config.json and the weights
    for name in names:
        src = source / name
        if src.is_dir():
            shutil.copytree(src, out / name, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, out / name)
    return out


def step(report: dict[str, object], name: str, fn: Callable[[], dict[str, object]]) -> None:
    t = time.perf_counter()
    try:
        report[name] = {**fn(), "seconds": round(time.perf_counter() - t, 1)}
    except Exception as exc:  # noqa: BLE001 - a failed step is reported, the others still run
        traceback.print_exc()
        report[name] = {"error": f"{type(exc).__name__}: {exc}", "seconds": round(time.perf_counter() - t, 1)}
    print(json.dumps({name: report[name]}), flush=True)


def pct(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 4), "p95": round(float(np.percentile(values, 95)), 4)}


def check_lm(settings: Settings, device: str, holder: dict[str, object]) -> dict[str, object]:
    t = time.perf_counter()
    gen = load_generator(settings.lm, settings.cache_dir, device)
    load_s = time.perf_counter() - t
    holder["lm"] = gen
    params = list(gen.model.parameters())
    placement = sorted({str(p.device) for p in params})
    dtypes = sorted({str(p.dtype) for p in params})
    streamed = "".join(gen.stream(PROMPT, max_new_tokens=24))
    enc = gen._encode(PROMPT)
    pad = gen.tokenizer.pad_token_id or gen.tokenizer.eos_token_id

    def decode_rate(model: Any, new: int = 128) -> float:
        with torch.inference_mode():
            sync(device)
            t = time.perf_counter()
            model.generate(**enc, min_new_tokens=new, max_new_tokens=new, do_sample=False, pad_token_id=pad)
            sync(device)
            return new / (time.perf_counter() - t)

    def stream_rate(new: int = 128) -> float:
        # what a user waits on: the product's stream() (a worker thread feeding a TextIteratorStreamer)
        sync(device)
        t = time.perf_counter()
        text = "".join(gen.stream(PROMPT, max_new_tokens=new))
        sync(device)
        return len(gen.tokenizer(text, add_special_tokens=False)["input_ids"]) / (time.perf_counter() - t)

    decode_rate(gen.model, 8)  # warm-up
    # the product's load is timed in turns with other loads of the same weights (one H200 run gave 11-16
    # tokens/s as the product loads it against 44 for a .to(device) copy, but only in that order)
    from transformers import AutoModelForCausalLM

    folder = prepare_lm(settings.lm, settings.cache_dir)
    others: dict[str, Any] = {
        "plain_to_device": AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).to(device).eval(),
        "device_map_device": AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16,
                                                                  device_map=device).eval()}
    for model in others.values():
        decode_rate(model, 8)
    rates: dict[str, list[float]] = {"product": [], **{k: [] for k in others}, "product_stream": []}
    for _ in range(3):
        rates["product"].append(decode_rate(gen.model))
        for name, model in others.items():
            rates[name].append(decode_rate(model))
        rates["product_stream"].append(stream_rate())
    static: dict[str, object] = {}
    try:  # a static KV cache lets generate() compile the decode step (CUDA graphs): the first call compiles
        t = time.perf_counter()
        with torch.inference_mode():
            gen.model.generate(**enc, max_new_tokens=16, do_sample=False, pad_token_id=pad,
                               cache_implementation="static")
        static["first_call_s"] = round(time.perf_counter() - t, 1)
        runs = []
        for _ in range(3):
            sync(device)
            t = time.perf_counter()
            with torch.inference_mode():
                gen.model.generate(**enc, min_new_tokens=128, max_new_tokens=128, do_sample=False, pad_token_id=pad,
                                   cache_implementation="static")
            sync(device)
            runs.append(128 / (time.perf_counter() - t))
        static["tokens_per_s"] = round(statistics.median(runs), 1)
    except Exception as exc:  # noqa: BLE001 - reported, the other figures stand
        static["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    hooked = sum(1 for m in gen.model.modules() if hasattr(m, "_hf_hook"))
    device_map = getattr(gen.model, "hf_device_map", None)
    del others
    with torch.inference_mode():
        long = gen.tokenizer(" ".join(["The film follows a thief who steals secrets from dreams."] * 90),
                             return_tensors="pt").to(gen.model.device)
        long_ids = long["input_ids"][:, :1000]
        t = time.perf_counter()
        gen.model(input_ids=long_ids)
        sync(device)
        prefill_s = time.perf_counter() - t
        gpu_logits = gen.model(**enc).logits[0].float().cpu()
    cpu = load_generator(settings.lm, settings.cache_dir, "cpu")
    with torch.inference_mode():
        cpu_logits = cpu.model(**cpu._encode(PROMPT)).logits[0].float()
    del cpu
    cos = torch.nn.functional.cosine_similarity(gpu_logits, cpu_logits, dim=-1)
    top1 = (gpu_logits.argmax(-1) == cpu_logits.argmax(-1)).float().mean()
    return {"load_s": round(load_s, 1), "placement": placement, "dtypes": dtypes, "streamed_chars": len(streamed),
            "decode_tokens_per_s": {k: round(statistics.median(v), 1) for k, v in rates.items()},
            "decode_runs": {k: [round(x, 1) for x in v] for k, v in rates.items()}, "static_cache": static,
            "accelerate_hooked_modules": hooked, "hf_device_map": device_map,
            "prefill_tokens": int(long_ids.shape[1]), "prefill_s": round(prefill_s, 4),
            "logits_cosine_vs_cpu_min": round(float(cos.min()), 4),
            "top1_agreement_vs_cpu": round(float(top1), 3), "positions": int(cos.shape[0])}


def check_embedder(settings: Settings, device: str, holder: dict[str, object]) -> dict[str, object]:
    t = time.perf_counter()
    emb = load_embedder(settings.embedder, settings.cache_dir, device)
    load_s = time.perf_counter() - t
    holder["embedder"] = emb
    genres = ("science fiction", "romantic comedy", "horror", "animated family")
    subjects = ("dreams", "a heist", "first love", "a haunted house")
    texts = [f"A {g} film about {w}, set in {y}." for g in genres for w in subjects
             for y in ("Paris", "1999", "space", "Tokyo")]
    gpu = emb.embed_documents(texts)
    cpu = load_embedder(settings.embedder, settings.cache_dir, "cpu").embed_documents(texts)
    cosine = np.sum(gpu * cpu, axis=1)
    emb.embed_query("warm-up")
    times = []
    for i in range(50):
        t = time.perf_counter()
        emb.embed_query(f"something like Inception but less confusing {i}")
        times.append(time.perf_counter() - t)
    device_of = str(getattr(getattr(emb, "_model", None), "device", "n/a"))
    return {"load_s": round(load_s, 1), "device": device_of, "dim": int(gpu.shape[1]),
            "cosine_vs_cpu_min": round(float(cosine.min()), 5), "query_ms": {k: round(v * 1000, 2)
                                                                             for k, v in pct(times).items()}}


def check_engine(settings: Settings, holder: dict[str, object]) -> dict[str, object]:
    t = time.perf_counter()
    engine = build_engine_for(settings, "redial", embedder=holder.get("embedder"),  # type: ignore[arg-type]
                                generator=holder.get("lm"))  # type: ignore[arg-type]
    start_s = time.perf_counter() - t
    titles = {item.title for item in engine.catalog.items.values()}
    sid = engine.new_session()
    turns, latencies = [], []
    for text in DIALOGUE:
        t = time.perf_counter()
        result: TurnResult = engine.ask(sid, text)
        latencies.append(time.perf_counter() - t)
        recs = [r.title for r in result.recommendations]
        unknown = [r for r in recs if r not in titles]
        if unknown:
            raise AssertionError(f"titles not in the catalog: {unknown}")
        turns.append({"text": text, "action": result.action, "recommended": recs, "explanations": result.explanations,
                      "reply": result.reply[:800]})
    return {"items": len(titles), "start_and_embed_s": round(start_s, 1), "turn_s": pct(latencies), "turns": turns}


def check_train(settings: Settings, shared: Path, seconds: float, work: Path) -> dict[str, object]:
    from evaluation.train import run_train
    from retrieval.embedders.finetune import FinetuneConfig
    from retrieval.embedders.presets import prepare_embedder

    base = prepare_embedder(settings.embedder, settings.cache_dir)
    # the trained model (kept or not) goes to a scratch cache, never beside the user's presets
    settings = settings.model_copy(update={"model_cache": work / "models", "embedder": str(base)})
    redial = shared / "redial"
    summary = run_train(settings, redial / "dialogues_dev.jsonl", redial / "movies.json", "gpu-check",
                        config=FinetuneConfig(epochs=1, max_seconds=seconds), show_progress=False)
    training = summary["training"]
    assert isinstance(training, dict)
    steps, secs = int(training["steps"]), float(training["seconds"])
    per_s = steps / secs if secs else 0.0
    return {**summary, "steps_per_s": round(per_s, 2),
            "projected_3_epochs_s": round(3 * int(training["planned_steps"]) / per_s, 1) if per_s else None}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lm", default=None, help="LM preset or folder (default: the settings')")
    ap.add_argument("--embedder", default=None, help="embedder preset or folder (default: the settings')")
    ap.add_argument("--random-weights", action="store_true", help="same architecture, seeded random weights")
    ap.add_argument("--layers", type=int, default=0, help="with --random-weights: keep N layers (dry runs)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: a dry run of this script")
    ap.add_argument("--train-seconds", type=float, default=60.0)
    ap.add_argument("--skip", default="", help="comma-separated steps to skip: lm,embedder,engine,train")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("No CUDA device is visible: run this on a GPU machine, or --device cpu for a dry run.")
    work = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    base = load_settings()
    lm, embedder = args.lm or base.lm, args.embedder or base.embedder
    if args.random_weights:
        lm = str(random_copy("lm", Path(lm), work / "lm-random", args.layers))
        embedder = str(random_copy("embedder", Path(embedder), work / "embedder-random",
                                    args.layers))
    settings = load_settings(data_dir=work / "data", model_cache=base.cache_dir, lm=lm, embedder=embedder,
                             device=args.device, learn_from_likes=False)
    report: dict[str, object] = {"device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
                                 "torch": torch.__version__, "random_weights": args.random_weights}
    import transformers

    report["transformers"] = transformers.__version__
    skip = set(filter(None, args.skip.split(",")))
    holder: dict[str, object] = {}
    if "lm" not in skip:
        step(report, "lm", lambda: check_lm(settings, args.device, holder))
    if "embedder" not in skip:
        step(report, "embedder", lambda: check_embedder(settings, args.device, holder))
    if "engine" not in skip:
        step(report, "engine", lambda: check_engine(settings, holder))
    if "train" not in skip:
        step(report, "train", lambda: check_train(settings, settings.shared_data, args.train_seconds, work))
    if args.device == "cuda":
        report["gpu_peak_allocated_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    failed = [k for k, v in report.items() if isinstance(v, dict) and "error" in v]
    if failed:
        raise SystemExit(f"failed steps: {', '.join(failed)}")


if __name__ == "__main__":
    main()
