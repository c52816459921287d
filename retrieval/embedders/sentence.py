"""sentence-transformers backend (any ST folder, or a hub id for users who have one)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.errors import ModelUnavailableError
from retrieval.embedders.base import Embedder

log = logging.getLogger(__name__)


class SentenceTransformerEmbedder(Embedder):
    """Wraps `sentence_transformers.SentenceTransformer`; torch is imported only here, on first use."""

    def __init__(self, name: str, path: str, device: str = "cpu", query_prefix: str = "",
                 document_prefix: str = "", batch_size: int = 64) -> None:
        self.name, self.query_prefix, self.document_prefix = name, query_prefix, document_prefix
        self.batch_size = batch_size
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - the package is a hard dependency
            raise ModelUnavailableError("sentence-transformers is not installed: run `make install`.") from exc
        try:
            self._model: Any = SentenceTransformer(path, device=device)
        except OSError as exc:
            raise ModelUnavailableError(
                f"Cannot load embedder '{path}': {exc}. Use a preset (`concierge models`) or a local "
                "sentence-transformers folder; nothing is downloaded from a model hub."
            ) from exc
        getter = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(getter() or 0)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)
