"""An OpenAI-compatible chat-completions server as the LM: vLLM, llama.cpp's server, `transformers serve`, Ollama.

Streaming, a timeout per request, and errors turned into `LMError`, which every caller answers with its
deterministic path (the rules' reading, the catalog's template reason): a server that is down or slow never
loses a turn. The API key, if any, is sent as a bearer token and never logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any, cast

from chat.lm.base import Message, complete, first_stop
from common.errors import LMError

log = logging.getLogger(__name__)

# vLLM continues a final assistant message with these; servers that do not know them refuse the request (422)
_CONTINUE = {"continue_final_message": True, "add_generation_prompt": False}


class ServerGenerator:
    """The `Generator` of a chat-completions server at `base_url` (e.g. http://127.0.0.1:8000/v1)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        import openai

        self.name = f"{model} at {base_url}"
        self.model = model
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=0)
        self._prefill: bool | None = None  # whether the server continues a final assistant message (tried once)

    def stream(self, messages: Sequence[Message], max_new_tokens: int = 128,
               stop: Sequence[str] = ()) -> Iterator[str]:
        """The reply in pieces, cut at the first stop string (kept less its trailing whitespace), as the local
        model does. Stop strings are matched here rather than by the server, which would drop them."""
        prefill = messages[-1]["content"] if messages and messages[-1]["role"] == "assistant" else None
        text, sent = "", 0
        for piece in self._pieces(list(messages), max_new_tokens, prefill):
            text += piece
            found = first_stop(text, stop)
            if found is not None:
                end = found[0] + len(found[1].rstrip())
                if end > sent:
                    yield text[sent:end]
                return
            # hold back what could be the start of a stop string
            hold = max((len(s) - 1 for s in stop), default=0)
            safe = max(sent, len(text) - hold)
            if safe > sent:
                yield text[sent:safe]
                sent = safe
        if len(text) > sent:
            yield text[sent:]

    def complete_batch(self, prompts: Sequence[Sequence[Message]], max_new_tokens: int = 128,
                       stop: Sequence[str] = ()) -> list[str]:
        """Every prompt's reply, the requests sent at once: a server batches concurrent requests itself (vLLM's
        continuous batching), so a list's reasons take about as long as one."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(prompts)) or 1) as pool:
            return list(pool.map(lambda p: complete(self, p, max_new_tokens, stop), prompts))

    def complete_json(self, messages: Sequence[Message], schema: dict[str, Any], max_new_tokens: int = 256) -> str:
        """A reply that the server constrains to `schema` (response_format json_schema; servers that ignore it,
        as `transformers serve` does, answer as they will, and the caller validates)."""
        response = self._create(list(messages), max_new_tokens, stream=False, response_format={
            "type": "json_schema", "json_schema": {"name": "reading", "schema": schema, "strict": True}})
        try:
            return str(response.choices[0].message.content or "")
        except (AttributeError, IndexError) as exc:
            raise LMError(f"The LM server at {self.name} sent no message: {exc}") from None

    def _pieces(self, messages: list[Message], max_new_tokens: int, prefill: str | None) -> Iterator[str]:
        if prefill is not None and self._prefill is not False:
            try:
                yield from self._deltas(self._create(messages, max_new_tokens, stream=True, extra_body=_CONTINUE))
                self._prefill = True
                return
            except LMError as exc:
                if self._prefill or "422" not in str(exc) and "400" not in str(exc):
                    raise
                log.info("The LM server does not continue an assistant message; asking for the start instead")
                self._prefill = False
        if prefill is not None:  # ask for the prefill as the reply's start, then drop it from what comes back
            head = messages[:-1]
            instruction = f"\n\nStart your answer with exactly: {prefill}"
            head[-1] = {"role": head[-1]["role"], "content": head[-1]["content"] + instruction}
            seen = ""
            for piece in self._deltas(self._create(head, max_new_tokens + 16, stream=True)):
                seen += piece
                if len(seen) >= len(prefill):
                    break
            rest = seen[len(prefill):] if seen.startswith(prefill) else seen
            if rest:
                yield rest
            return
        yield from self._deltas(self._create(messages, max_new_tokens, stream=True))

    def _create(self, messages: list[Message], max_new_tokens: int, stream: bool, **extra: Any) -> Any:
        import openai

        try:
            return self._client.chat.completions.create(
                model=self.model, messages=cast(Any, messages), max_tokens=max_new_tokens, temperature=0.0,
                stream=stream, **extra)
        except openai.APIStatusError as exc:
            raise LMError(f"The LM server at {self.name} answered {exc.status_code}: {_short(exc)}") from None
        except openai.APITimeoutError:
            raise LMError(f"The LM server at {self.name} did not answer in time") from None
        except openai.APIError as exc:
            raise LMError(f"The LM server at {self.name} could not be reached: {_short(exc)}") from None

    def _deltas(self, response: Any) -> Iterator[str]:
        import openai

        try:
            for chunk in response:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.APIError as exc:
            raise LMError(f"The LM server at {self.name} broke off: {_short(exc)}") from None
        finally:
            response.close()


def _short(exc: Exception) -> str:
    text = str(exc)
    try:  # the server's own message, when it sent JSON
        body = getattr(exc, "body", None)
        if isinstance(body, dict):
            text = json.dumps(body.get("error", body))[:300]
    except (TypeError, ValueError):
        pass
    return text[:300]
