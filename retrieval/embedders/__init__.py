"""Embedders: one base class, several backends, chosen by name through `presets.load_embedder`."""

from retrieval.embedders.base import Embedder
from retrieval.embedders.hashing import HashingEmbedder

__all__ = ["Embedder", "HashingEmbedder"]
