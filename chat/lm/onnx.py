"""The local model on onnxruntime-genai with quantised weights: on a CPU, decoding a small model is bound by reading
its weights once per token, and int8/int4 weights are a fraction of bf16's (bench/bench_lm.py).

The ONNX folder is built once from the model's HF folder with onnxruntime-genai's own builder (about 25 s and
5 GB of memory for the 0.5B model) and cached beside it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from chat.lm.base import Message, first_stop
from common.errors import ModelUnavailableError

log = logging.getLogger(__name__)
PRECISIONS = ("int4", "int8")
SHARED_LENGTH = 2048  # tokens the shared generator's cache holds (prompt and reply); longer ones get their own


def build_onnx(hf_folder: Path, out: Path, precision: str) -> Path:
    """Quantise and export `hf_folder` to an onnxruntime-genai folder at `out` (once; atomic)."""
    if (out / "genai_config.json").is_file():
        return out
    if precision not in PRECISIONS:
        raise ModelUnavailableError(f"lm_precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    log.info("Building the %s ONNX model from %s (once; about 25 s)", precision, hf_folder)
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf_folder), "-o", str(tmp / "model"),
           "-p", precision, "-e", "cpu", "-c", str(tmp / "cache"),
           "--extra_options", "hf_token=false", "prune_lm_head=true"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if done.returncode != 0 or not (tmp / "model" / "genai_config.json").is_file():
            raise ModelUnavailableError(f"Could not build the ONNX model from {hf_folder}: "
                                        f"{(done.stderr or done.stdout)[-600:]}. Set lm_runtime=torch to run "
                                        "the model with transformers instead.")
        (tmp / "model").rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


class OnnxGenerator:
    """A causal LM on onnxruntime-genai (CPU), greedy, streamed token by token; one generation at a time."""

    def __init__(self, name: str, folder: str, hf_folder: str) -> None:
        try:
            import onnxruntime_genai as og
            from transformers import AutoTokenizer
        except ImportError as exc:
            raise ModelUnavailableError(f"lm_runtime=onnx needs onnxruntime-genai ({exc}): `make install` "
                                        "installs it; or set lm_runtime=torch.") from exc
        self.name = name
        self._og = og
        self.model = og.Model(folder)
        self.tokenizer = og.Tokenizer(self.model)
        self.chat: Any = AutoTokenizer.from_pretrained(hf_folder)  # the chat template, as transformers renders it
        self._lock = threading.Lock()
        self._shared: Any = None  # the generator plain replies share, and the tokens its cache holds
        self._held: list[int] = []
        self._eos = {int(t) for t in self.tokenizer.eos_token_ids}
        log.info("language model %s on onnxruntime-genai (%s)", name, folder)

    def _ids(self, messages: Sequence[Message]) -> Any:
        prefill = bool(messages) and messages[-1]["role"] == "assistant"
        if prefill:  # as TransformersGenerator: the prefill's trailing space is taken back
            messages = [*messages[:-1], {**messages[-1], "content": messages[-1]["content"].rstrip()}]
        text = self.chat.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=not prefill,
                                             continue_final_message=prefill)
        return self.tokenizer.encode(str(text))

    def _tokens(self, messages: Sequence[Message], max_new_tokens: int, guidance: str | None = None) -> Iterator[str]:
        """Greedy pieces of the reply. Plain replies share one generator whose cache keeps the last prompt: a prompt
        that starts as the last one did (the same system prompt and instructions for each item of a list) is
        rewound to where they part, and only the rest is read again (outputs are the same as from a fresh one)."""
        og = self._og
        ids = [int(i) for i in self._ids(messages)]
        stream = self.tokenizer.create_stream()
        if guidance is not None or len(ids) + max_new_tokens > SHARED_LENGTH:
            params = og.GeneratorParams(self.model)
            params.set_search_options(do_sample=False, max_length=len(ids) + max_new_tokens)
            if guidance is not None:
                params.set_guidance("json_schema", guidance)
            generator = og.Generator(self.model, params)
            generator.append_tokens(ids)
            while not generator.is_done():
                generator.generate_next_token()
                yield stream.decode(generator.get_next_tokens()[0])
            return
        if self._shared is None:
            params = og.GeneratorParams(self.model)
            params.set_search_options(do_sample=False, max_length=SHARED_LENGTH)
            self._shared, self._held = og.Generator(self.model, params), []
        generator, held = self._shared, self._held
        same = 0
        while same < min(len(ids) - 1, len(held)) and ids[same] == held[same]:
            same += 1
        if held:
            generator.rewind_to(same)
        del held[same:]
        generator.append_tokens(ids[same:])
        held.extend(ids[same:])
        for _ in range(max_new_tokens):
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            held.append(token)
            if token in self._eos:
                return
            yield stream.decode(token)

    def stream(self, messages: Sequence[Message], max_new_tokens: int = 128,
               stop: Sequence[str] = ()) -> Iterator[str]:
        with self._lock:
            text = ""
            for piece in self._tokens(messages, max_new_tokens):
                text += piece
                found = first_stop(text, stop)
                if found is not None:
                    cut = found[0] + len(found[1].rstrip())
                    tail = piece[: max(0, len(piece) - (len(text) - cut))]
                    if tail:
                        yield tail
                    return
                if piece:
                    yield piece

    def complete_json(self, messages: Sequence[Message], schema: dict[str, Any], max_new_tokens: int = 256) -> str:
        """A reply that can only be JSON matching `schema` (onnxruntime-genai's guidance, llguidance inside)."""
        with self._lock:
            return "".join(self._tokens(messages, max_new_tokens, json.dumps(schema)))
