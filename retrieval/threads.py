"""Let torch use every core for one large batch of work (replays set it to one thread, which is faster there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def all_cores() -> Iterator[None]:
    """Within the block torch uses at least as many threads as there are cores; the old count is restored."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, os.cpu_count() or 1))
    try:
        yield
    finally:
        torch.set_num_threads(threads)
