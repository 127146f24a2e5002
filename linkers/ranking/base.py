"""The interface every linking method implements: order a mention's candidates, best first, or say NIL."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kg.linkers.candidates.retrieval import Candidate


@dataclass
class MentionInput:
    """What a method may read about one mention: its words, its surroundings, its image and image clues."""

    id: str
    surface: str
    context: str  # the window of document text around the mention
    image: str | None = None  # path or URL of the mention's image (document image or region crop)
    clues: dict[str, Any] = field(default_factory=dict)  # precomputed image clues: caption, tags, ocr, ...
    context_vector: np.ndarray | None = None  # the text encoder's vector of `context`
    text_vectors: dict[str, Any] = field(default_factory=dict, repr=False)  # candidate id -> entity text vector
    # candidate id -> <u, entity text vector> for the method's own query vector u (`interaction_queries`),
    # computed by the vector store, so the entity vectors never leave it; None: not computed
    interactions: dict[str, float] | None = field(default=None, repr=False)
    detector: str | None = None  # "ner" or "gazetteer" for a detected span; None for a given one
    ner_label: str | None = None  # the NER model's label of a detected span
    keyphrase: float | None = None  # the surface's learned keyphraseness (linkers.detection.keyphrases); None: unknown


@dataclass
class Ranking:
    candidates: list[Candidate]  # best first
    nil: bool = False  # the method decided the mention's entity is none of the candidates
    decided: bool = False  # the method itself chose (an LLM pick or NIL): the score threshold does not override it
    trace: dict[str, Any] = field(default_factory=dict)  # what the method did, for --explain and eval reports


def top_margin(ranked: list[Candidate]) -> float:
    """How sure a ranking is: the top-1 score less the top-2 score (infinite with one candidate)."""
    return ranked[0].score - ranked[1].score if len(ranked) > 1 else math.inf


class Reranker(Protocol):
    name: str

    def version(self) -> str:
        """Identifies the method's settings in the REFERS_TO edges and the run id."""
        ...

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        """Set `candidate.score` and rank (features are already computed)."""
        ...

    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        """A batch of mentions: LLM methods overlap their calls here."""
        ...
