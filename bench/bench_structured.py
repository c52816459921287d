"""Structured output from the local LM: the model reader's JSON schema, decoded free, under llguidance (what
`TransformersGenerator.complete_json` uses) and under xgrammar. Prints per message the seconds and whether the JSON
validates, then medians. (lm-format-enforcer 0.11.3, the other candidate, fails to import its transformers
integration on transformers 5: `transformers.tokenization_utils` is gone.)

    HF_HUB_OFFLINE=1 python bench/bench_structured.py [--lm qwen2.5-coder-0.5b] [--tokens 160]

xgrammar is not a dependency (its wheel pulls triton, about 1 GB, for GPU kernels): install it to compare,
`pip install --no-deps xgrammar==0.2.8 apache-tvm-ffi`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chat.lm.presets import prepare_lm  # noqa: E402
from chat.reading.model import SCHEMA, ModelReading, messages_for  # noqa: E402
from chat.state import DialogueState  # noqa: E402

MESSAGES = ["I loved Inception and The Matrix, but no horror please", "seen the first one, the second sounds great",
            "something from the 90s with Tom Hanks", "thanks, that's all!", "我喜欢科幻小说，比如三体",
            "not really into those, maybe a comedy?", "Have you seen Heat? I haven't", "older ones please, before 1980"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lm", default="qwen2.5-coder-0.5b")
    ap.add_argument("--tokens", type=int, default=160)
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "models"))
    args = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = prepare_lm(args.lm, Path(args.cache))
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()
    state = DialogueState()
    modes: dict[str, object] = {"free": None}
    import llguidance.hf

    from chat.lm.local import JsonMask

    t = time.perf_counter()
    guidance = llguidance.hf.from_tokenizer(tok)
    modes["llguidance"] = guidance
    print(f"llguidance set up in {time.perf_counter() - t:.1f} s")
    try:
        import xgrammar as xgr

        t = time.perf_counter()
        info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=model.config.vocab_size)
        compiled = xgr.GrammarCompiler(info).compile_json_schema(json.dumps(SCHEMA))
        modes["xgrammar"] = (xgr, compiled)
        print(f"xgrammar set up in {time.perf_counter() - t:.1f} s")
    except ImportError:
        print("xgrammar not installed")
    results: dict[str, list[tuple[float, bool]]] = {m: [] for m in modes}
    for text in MESSAGES:
        prompt = tok.apply_chat_template(messages_for(text, state, {}), tokenize=False, add_generation_prompt=True)
        enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
        for mode, how in modes.items():
            kwargs: dict[str, object] = {}
            if mode == "llguidance":
                kwargs["logits_processor"] = [JsonMask(how, json.dumps(SCHEMA))]
            elif mode == "xgrammar":
                xgr_mod, compiled = how  # type: ignore[misc]
                kwargs["logits_processor"] = [xgr_mod.contrib.hf.LogitsProcessor(compiled)]
            t = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=args.tokens, do_sample=False,
                                     pad_token_id=tok.eos_token_id, **kwargs)
            seconds = time.perf_counter() - t
            raw = tok.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)
            try:
                ModelReading.model_validate(json.loads(raw))
                valid = True
            except ValueError:
                valid = False
            results[mode].append((seconds, valid))
            print(f"{mode:20} {seconds:6.2f} s  {'valid' if valid else 'INVALID'}  {raw[:110]!r}")
    print()
    for mode, rows in results.items():
        print(f"{mode:20} median {statistics.median(s for s, _ in rows):.2f} s, "
              f"{sum(v for _, v in rows)}/{len(rows)} valid JSON")


if __name__ == "__main__":
    main()
