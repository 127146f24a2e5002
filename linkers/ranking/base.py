"""The interface every linking method implements: order a mention's candidates, best first, or say NIL."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.detection.keyphrases import Keyphrases


@dataclass
class MentionInput:
    """What a method may read about one mention: its words, its surroundings, its image and image clues."""

    id: str
    surface: str
    context: str  # the window of document text around the mention
    image: str | None = None  # path or URL of the mention's image (document image or region crop)
    clues: dict[str, Any] = field(default_factory=dict)  # precomputed image clues: caption, tags, ocr, ...
    context_vector: np.ndarray | None = None  # the text encoder's vector of `context`
    text_vectors: Mapping[str, Any] = field(default_factory=dict, repr=False)  # candidate id -> entity text vector
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


class Ranker(Protocol):
    """A linking method as the `Linker` uses it: every capability it may ask for is declared here (`RankerBase`
    gives the defaults), so the Linker never probes a method for what it can do."""

    name: str
    nil_threshold: float | None  # the fitted NIL threshold (None: never NIL); `--nil-threshold` overrides it

    def version(self) -> str:
        """Identifies the method's settings in the REFERS_TO edges and the run id."""
        ...

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        """Set `candidate.score` and rank (features are already computed)."""
        ...

    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        """A batch of mentions: LLM methods overlap their calls here."""
        ...

    @property
    def wants(self) -> tuple[str, ...]:
        """Inputs the linker computes only for a method that asks (`linkers.features.scalar.OVERLAP`)."""
        ...

    @property
    def keyphrases(self) -> Keyphrases | None:
        """The keyphraseness table fitted with the method: a mention feature and the detector's filter."""
        ...

    @property
    def interaction_queries(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """Maps context vectors to query vectors u whose <u, entity text vector> the vector store computes into
        `MentionInput.interactions` (the fusion scorer's bilinear term); None: the method has no such term."""
        ...

    def wants_interactions(self, mention: MentionInput) -> bool:
        """Whether this mention needs its interactions computed (when `interaction_queries` is not None)."""
        ...

    def nil_threshold_for(self, detected: bool, detector: str | None = None) -> float | None:
        """The NIL threshold of a kind of span: detected or given, and by which detector."""
        ...

    def name_for(self, detected: bool) -> str:
        """What ranks a mention of that kind, for traces ("auto:learned")."""
        ...

    def trained_with(self, detected: bool) -> list[str]:
        """The datasets the model ranking that kind of span was fitted on besides its own (an eval on one of them
        is not held out)."""
        ...

    def stats_json(self) -> dict[str, Any] | None:
        """Run totals worth reporting (an LLM method's calls and tokens); None: nothing to report."""
        ...


Reranker = Ranker  # the name most of the code base uses


class RankerBase:
    """The defaults of `Ranker`'s capabilities: no NIL threshold, no keyphrases, wants nothing, no interaction
    queries, one threshold and one name for every kind of span. A method subclasses it and overrides what it has;
    a dataclass method may declare any of them as a field (a class attribute here is only the default)."""

    name: str = "ranker"
    nil_threshold: float | None = None
    wants: tuple[str, ...] = ()
    keyphrases: Keyphrases | None = None
    interaction_queries: Callable[[np.ndarray], np.ndarray] | None = None

    def wants_interactions(self, mention: MentionInput) -> bool:
        return True

    def nil_threshold_for(self, detected: bool, detector: str | None = None) -> float | None:
        return self.nil_threshold

    def name_for(self, detected: bool) -> str:
        return self.name

    def trained_with(self, detected: bool) -> list[str]:
        return []

    def stats_json(self) -> dict[str, Any] | None:
        return None


class FittedRanker(RankerBase):
    """A method read from a fitted file whose `meta` says what it was fitted on."""

    meta: dict[str, Any]

    def trained_with(self, detected: bool) -> list[str]:
        return list((self.meta or {}).get("also") or [])

    def unseen_inputs(self) -> frozenset[str]:
        """Inputs that were 0 in every training example: the model never learnt to weigh them."""
        return frozenset((self.meta or {}).get("unseen_inputs", ()))
