"""A deterministic hashing bag-of-words embedder: a real, instant embedder for tests and fallbacks."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from retrieval.embedders.base import Embedder, l2_normalise

_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]")


def tokens(text: str) -> list[str]:
    """Lowercased words, plus single CJK characters and their bigrams."""
    found = _WORD.findall(text.lower())
    cjk = [t for t in found if len(t) == 1 and "\u3400" <= t <= "\u9fff"]
    return [t for t in found if len(t) > 2 or t in cjk] + [a + b for a, b in zip(cjk, cjk[1:], strict=False)]


class HashingEmbedder(Embedder):
    """Signed feature hashing of words into `dim` buckets; same text, same vector, on every machine."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for tok in tokens(text):
                digest = hashlib.blake2b(tok.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        return l2_normalise(out)
