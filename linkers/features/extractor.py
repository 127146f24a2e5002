"""The feature stage's interface: an extractor adds features to every candidate of a batch.

kg's own features (name, context, popularity, era, image, graph coherence, words overlap) are computed by the
`Linker` first; then each `FeatureExtractor` given as `Linker(..., features=[...])` adds its own, in order. An
extractor declares in `wants` the optional inputs it reads (`linkers.features.scalar.OVERLAP`: the words
overlap, a vector-store request the Linker makes only when a ranker or an extractor asks for it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kg.linkers.candidates.generator import Work
from kg.linkers.candidates.retrieval import Candidate


@dataclass
class FeatureBatch:
    """A batch as the extractors see it: the mentions with their documents, context windows and vectors, and
    their candidates (whose `features` an extractor adds to)."""

    work: Work
    contexts: list[str]
    vectors: np.ndarray
    candidates: list[list[Candidate]]


class FeatureExtractor(Protocol):
    name: str
    wants: tuple[str, ...]  # optional inputs computed before it runs (e.g. OVERLAP)

    def add(self, batch: FeatureBatch) -> None:
        """Set this extractor's features on every candidate (`candidate.features[key] = value`)."""
        ...
