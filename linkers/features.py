"""Features of a (mention, candidate) pair that the feature reranker combines with fitted weights."""

from __future__ import annotations

import math

import numpy as np

from kgstore.names import normalise
from kgstore.search import name_score
from linkers.candidates import Candidate

FEATURES = ("name", "exact", "context", "popularity", "image")


def cosine(a: np.ndarray | None, b: list[float] | np.ndarray | None) -> float:
    if a is None or b is None:
        return 0.0
    b = np.asarray(b, dtype=np.float32)
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / denom) if denom else 0.0


def compute(surface: str, candidates: list[Candidate], context_vector: np.ndarray | None,
            text_vectors: dict[str, list[float]], image_vector: np.ndarray | None = None,
            image_vectors: dict[str, list[float]] | None = None) -> None:
    """Fill `candidate.features` in place: every feature in 0..1 (cosines may dip below 0)."""
    form = normalise(surface)
    for c in candidates:
        forms = c.payload.get("names") or []
        name = max((name_score(form, f) for f in forms), default=0.0) / 100 if form else 0.0
        c.features = {
            "name": name,
            "exact": 1.0 if form and form in forms else 0.0,
            "context": c.context if c.context is not None else cosine(context_vector, text_vectors.get(c.qid)),
            "popularity": min(1.0, math.log1p(c.payload.get("popularity") or 0) / math.log1p(500)),
            "image": cosine(image_vector, (image_vectors or {}).get(c.qid)),
        }
