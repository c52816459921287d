"""The generator interface and a scripted fake that implements it for real."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, TypedDict, runtime_checkable


class Message(TypedDict):
    """One chat message in the OpenAI/transformers format."""

    role: str
    content: str


class Generator(Protocol):
    """Streams the assistant's next message, token by token."""

    name: str

    def stream(self, messages: Sequence[Message], max_new_tokens: int = 128,
               stop: Sequence[str] = ()) -> Iterator[str]:
        """Yield text pieces of the reply; greedy decoding; ends at EOS, `max_new_tokens` or a stop string.

        The stop string that ended the reply is kept, less its trailing whitespace ("}" of "}\n", "." of
        ". ", nothing of "\n"). When the last message has the assistant role, it is a prefill: the reply
        continues it.
        """
        ...


@runtime_checkable
class BatchGenerator(Protocol):
    """A generator that can also decode several prompts at once (optional: `complete_many` falls back)."""

    def complete_batch(self, prompts: Sequence[Sequence[Message]], max_new_tokens: int = 128,
                       stop: Sequence[str] = ()) -> list[str]:
        """Each prompt's whole reply, as `complete` would give it, in one batched decode."""
        ...


def complete(generator: Generator, messages: Sequence[Message], max_new_tokens: int = 128,
             stop: Sequence[str] = ()) -> str:
    """The whole reply as one string."""
    return "".join(generator.stream(messages, max_new_tokens, stop))


def complete_within(generator: Generator, messages: Sequence[Message], max_new_tokens: int, stop: Sequence[str],
                    seconds: float) -> str:
    """The reply as far as it got in `seconds`: the stream is closed there, which stops the decoding."""
    deadline = time.perf_counter() + seconds
    pieces = generator.stream(messages, max_new_tokens, stop)
    text = ""
    try:
        for piece in pieces:
            text += piece
            if time.perf_counter() > deadline:
                break
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    return text


def complete_many(generator: Generator, prompts: Sequence[Sequence[Message]], max_new_tokens: int = 128,
                  stop: Sequence[str] = ()) -> list[str]:
    """Every prompt's reply: one batched decode where the backend has one, else one prompt after another.

    On a GPU, or a CPU with AVX-512 and bf16, a small model decodes three short replies in a batch in about the
    time of one (its decoding steps are bound by memory).
    """
    if not prompts:
        return []
    if isinstance(generator, BatchGenerator) and len(prompts) > 1:
        return generator.complete_batch(prompts, max_new_tokens, stop)
    return [complete(generator, p, max_new_tokens, stop) for p in prompts]


def first_stop(text: str, stop: Sequence[str]) -> tuple[int, str] | None:
    """(position, stop string) of the earliest stop string in `text`, or None."""
    hits = [(text.find(s), s) for s in stop if s and s in text]
    return min(hits) if hits else None


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to its first stop string, which is kept less its trailing whitespace."""
    found = first_stop(text, stop)
    return text if found is None else text[: found[0]] + found[1].rstrip()


class ScriptedGenerator:
    """Replays queued replies (or computes them with a function), split into word-sized pieces.

    With a `respond` function, each call gets the messages and returns the reply; otherwise
    replies are popped from the queue and an empty queue yields `default`.
    """

    def __init__(self, replies: Iterable[str] = (), respond: Callable[[Sequence[Message]], str] | None = None,
                 default: str = "") -> None:
        self.name = "scripted"
        self._queue: deque[str] = deque(replies)
        self._respond = respond
        self._default = default
        self._lock = threading.Lock()
        self.calls: list[list[Message]] = []
        self.batches: list[int] = []  # the size of each complete_batch call

    def queue(self, *replies: str) -> None:
        with self._lock:
            self._queue.extend(replies)

    def stream(self, messages: Sequence[Message], max_new_tokens: int = 128,
               stop: Sequence[str] = ()) -> Iterator[str]:
        with self._lock:
            self.calls.append(list(messages))
            if self._respond is not None:
                text = self._respond(messages)
            else:
                text = self._queue.popleft() if self._queue else self._default
        pieces = cut_at_stop(text, stop).split(" ")
        for i, piece in enumerate(pieces[: max_new_tokens]):
            yield piece if i == 0 else " " + piece

    def complete_batch(self, prompts: Sequence[Sequence[Message]], max_new_tokens: int = 128,
                       stop: Sequence[str] = ()) -> list[str]:
        """The replies in prompt order, as `complete` gives them; the batch's size is recorded."""
        self.batches.append(len(prompts))
        return [complete(self, p, max_new_tokens, stop) for p in prompts]
