"""One turn at a time per session: the lease a turn holds, and the text a turn reads."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
# How long a turn may hold its session before another may start: longer than any turn takes; a process killed
# in the middle of a turn frees the session after this.
TURN_LEASE_S = 300.0

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(text: str | None) -> str:
    """A message as it is read and stored: line breaks kept, other control characters (which some databases
    refuse, such as NUL) removed, surrounding whitespace stripped."""
    return _CONTROL.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n")).strip()


def leased(events: Iterator[T], release: Callable[[], None]) -> Iterator[T]:
    """`events`, with `release` called however the iteration ends: finished, failed, closed, or dropped unread."""

    def run() -> Iterator[T | None]:
        try:
            yield None  # started here, so that closing or collecting it before the first event still releases
            yield from events
        finally:
            release()

    started = run()
    next(started)
    return started  # type: ignore[return-value]  # the None was consumed above
