"""Local transformers causal LM: bf16 on CPU, accelerate's device_map="auto" on GPU, token streaming."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from chat.lm.base import Message, complete, cut_at_stop, first_stop
from common.errors import ModelUnavailableError

log = logging.getLogger(__name__)


def batching_pays(device: str, capability: str, cpu_flags: set[str]) -> bool:
    """Whether decoding three prompts together costs about what one costs: on a GPU, and on a CPU whose kernels
    use AVX-512 with bf16 (`torch.backends.cpu.get_cpu_capability()`, /proc/cpuinfo flags).

    Measured on 2 cores, 64 greedy bf16 tokens of Qwen 0.5B: with AVX-512 and bf16, 1 prompt 4.1 s, 3 prompts 4.6 s;
    the same CPU restricted to AVX2 kernels (ATEN_CPU_CAPABILITY=avx2), 3.6 s and 8.7 s: there a batch gains a
    fifth of the time but shows the first reason 5 s later.
    """
    if device != "cpu":
        return True
    return capability.startswith("AVX512") and bool({"avx512_bf16", "amx_bf16"} & cpu_flags)


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


class TransformersGenerator:
    """A causal LM loaded from a folder (or hub id), shared read-only by every session.

    Generation is serialised by a lock: on a small CPU, two concurrent generations are each
    slower than running them back to back.
    """

    def __init__(self, name: str, path: str, device: str = "cpu", batch: str = "auto") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name, self.device = name, device
        self.batched = batch == "on" or (batch == "auto" and batching_pays(
            device, torch.backends.cpu.get_cpu_capability(), _cpu_flags()))
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(path)
            if device == "cuda":
                self.model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, device_map="auto")
            else:
                self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16)
        except OSError as exc:
            raise ModelUnavailableError(
                f"Cannot load language model '{path}': {exc}. Use a preset (`concierge models`), a local "
                "folder or a .gguf file; nothing is downloaded from a model hub."
            ) from exc
        self.model.eval()
        self._lock = threading.Lock()
        self._guidance: Any = None  # the tokenizer as llguidance sees it, for JSON under a schema
        log.info("language model %s on %s; reasons %s", name, device,
                 "batched" if self.batched else "written one at a time")

    def _prompt(self, messages: Sequence[Message]) -> str:
        # A final assistant message is a prefill: the model continues it (used to force each item's heading).
        prefill = bool(messages) and messages[-1]["role"] == "assistant"
        if prefill:  # a prompt ending in a lone space token leaves the model mid-word: Qwen then wrote "1." or
            # "1990-1999" after "— You wanted comedy: " instead of a sentence; the reply takes its space back
            messages = [*messages[:-1], {**messages[-1], "content": messages[-1]["content"].rstrip()}]
        return str(self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=not prefill,
                                                      continue_final_message=prefill))

    def _encode(self, messages: Sequence[Message]) -> Any:
        enc = self.tokenizer(self._prompt(messages), return_tensors="pt", add_special_tokens=False)
        return enc.to(self.model.device)

    def complete_batch(self, prompts: Sequence[Sequence[Message]], max_new_tokens: int = 128,
                       stop: Sequence[str] = ()) -> list[str]:
        """Greedy replies to all `prompts` in one left-padded decode; each row stops at its own stop string.

        A decoding step of a 0.5B model is memory-bound, so three reasons take about as long as one on a CPU
        with AVX-512 and bf16 (bench/bench_turns.py). Padding can change a bf16 logit in its last bits, so a row
        may differ from what `stream` gives the same prompt; both are checked alike by their callers. Where
        batches do not pay (`self.batched`, see `batching_pays`), the prompts are decoded one after another.
        """
        if not self.batched:
            return [complete(self, p, max_new_tokens, stop) for p in prompts]
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tokenizer = self.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

        class _RowStops(StoppingCriteria):
            """Ends each row at its first stop string (EOS is generate's own)."""

            def __init__(self, start: int) -> None:
                self.start = start

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = [first_stop(tokenizer.decode(row[self.start:], skip_special_tokens=True), stop) is not None
                        for row in input_ids]
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        with self._lock:  # padded on the left, so the new tokens of every row follow its prompt
            enc = tokenizer([self._prompt(p) for p in prompts], return_tensors="pt", padding=True,
                            padding_side="left", add_special_tokens=False).to(self.model.device)
            start = enc["input_ids"].shape[1]
            criteria = StoppingCriteriaList([_RowStops(start)] if stop else [])
            with torch.inference_mode():
                out = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad,
                                          stopping_criteria=criteria)
        return [cut_at_stop(tokenizer.decode(row[start:], skip_special_tokens=True), stop) for row in out]

    def complete_json(self, messages: Sequence[Message], schema: dict[str, Any], max_new_tokens: int = 256) -> str:
        """A reply that can only be JSON matching `schema`: at each step the tokens that would break it are masked
        (llguidance; bench/bench_structured.py compares it with free decoding and xgrammar)."""
        import json

        import torch
        from transformers import LogitsProcessorList

        with self._lock:
            if self._guidance is None:
                import llguidance.hf

                self._guidance = llguidance.hf.from_tokenizer(self.tokenizer)  # about a second: once
            mask = JsonMask(self._guidance, json.dumps(schema))
            enc = self._encode(messages)
            with torch.inference_mode():
                out = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                          logits_processor=LogitsProcessorList([mask]),
                                          pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        return str(self.tokenizer.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True))

    def stream(self, messages: Sequence[Message], max_new_tokens: int = 128,
               stop: Sequence[str] = ()) -> Iterator[str]:
        """Greedy decoding in a worker thread; pieces are yielded as the tokenizer can decode them."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        halt = threading.Event()

        class _Halt(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), halt.is_set(), dtype=torch.bool, device=input_ids.device)

        with self._lock:
            enc = self._encode(messages)
            streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                            timeout=120)
            kwargs = dict(**enc, max_new_tokens=max_new_tokens, do_sample=False, streamer=streamer,
                          pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                          stopping_criteria=StoppingCriteriaList([_Halt()]))

            def run() -> None:
                with torch.inference_mode():
                    self.model.generate(**kwargs)

            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            text = ""
            try:
                for piece in streamer:
                    if halt.is_set():
                        continue  # drain what the worker already produced
                    text += piece
                    found = first_stop(text, stop)
                    if found is not None:
                        cut = found[0] + len(found[1].rstrip())  # keep the stop's punctuation, not its whitespace
                        tail = piece[: max(0, len(piece) - (len(text) - cut))]
                        if tail:
                            yield tail
                        halt.set()
                        continue
                    if piece:
                        yield piece
            finally:
                halt.set()
                worker.join()


class JsonMask:
    """A logits processor for one reply of one row: only tokens that keep the text a prefix of JSON matching the
    schema (then end of text) stay possible. llguidance computes the allowed tokens as a bitmask in Rust; unpacking
    it with numpy needs no compiler (its torch helper compiles a kernel)."""

    def __init__(self, tokenizer: Any, schema_json: str) -> None:
        import llguidance
        import llguidance.numpy

        self.matcher = llguidance.LLMatcher(tokenizer, llguidance.LLMatcher.grammar_from_json_schema(schema_json))
        if self.matcher.is_error():
            raise ValueError(f"schema not usable for constrained decoding: {self.matcher.get_error()}")
        self.vocab = tokenizer.vocab_size
        self.bits = llguidance.numpy.allocate_token_bitmask(1, self.vocab)  # refilled at every step
        self.fill = llguidance.numpy.fill_next_token_bitmask
        self.started = False

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np
        import torch

        if self.started:
            self.matcher.consume_token(int(input_ids[0, -1]))
        self.started = True
        self.fill(self.matcher, self.bits)
        allowed = np.zeros(scores.shape[-1], dtype=bool)
        unpacked = np.unpackbits(self.bits.view(np.uint8), bitorder="little")[:min(self.vocab, scores.shape[-1])]
        allowed[:unpacked.size] = unpacked.astype(bool)
        return scores.masked_fill(~torch.from_numpy(allowed).to(scores.device), float("-inf"))

