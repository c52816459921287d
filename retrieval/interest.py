"""The user-interest vector: what the user said, plus items liked, minus items rejected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InterestWeights:
    """How much each signal counts (cosine space, before re-normalisation)."""

    text: float = 1.0
    liked: float = 0.8
    disliked: float = 0.35


def interest_vector(text_vec: np.ndarray | None, liked: Sequence[np.ndarray], disliked: Sequence[np.ndarray],
                    weights: InterestWeights | None = None) -> np.ndarray | None:
    """Combine the signals into one unit vector, or None when there is no signal at all.

    Args:
        text_vec: query embedding of the user's positive statements, shape (dim,).
        liked: document embeddings of liked items, each (dim,).
        disliked: document embeddings of rejected items, each (dim,).
    """
    w = weights or InterestWeights()
    parts: list[np.ndarray] = []
    if text_vec is not None:
        parts.append(w.text * text_vec)
    if liked:
        parts.append(w.liked * np.mean(np.stack(liked), axis=0))
    if not parts:
        return None
    vec = np.sum(parts, axis=0)
    if disliked:
        # remove only the part of the rejected direction that is not shared with what the user wants
        centre = np.mean(np.stack(disliked), axis=0)
        vec = vec - w.disliked * (centre - (centre @ vec) / (vec @ vec) * vec)
    norm = float(np.linalg.norm(vec))
    return None if norm == 0 else (vec / norm).astype(np.float32)
