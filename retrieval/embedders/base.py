"""The embedder interface: a backend writes `embed_batch`, everything else is derived."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors.

    Attributes:
        name: identifies this embedder's vectors in the database.
        query_prefix / document_prefix: prepended to queries and documents (e5 needs
            "query: " and "passage: "; most models need nothing).
    """

    name: str = "embedder"
    query_prefix: str = ""
    document_prefix: str = ""

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as they are; returns shape (len(texts), dim), rows L2-normalised."""

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector, shape (dim,)."""
        return self.embed_batch([self.query_prefix + text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_batch([self.query_prefix + t for t in texts])

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_batch([self.document_prefix + t for t in texts])


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)
