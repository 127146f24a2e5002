"""Candidate retrieval: exact and fuzzy names, dense text (the mention's context), dense image; fused by RRF.

Each source keeps its own score on the candidate, so the rerankers see which index found what and how well; the
fused order (reciprocal rank fusion) is the retrieval ranking that candidate recall@K measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kgstore.entity_index import TEXT
from kgstore.search import Hit, Searcher

RRF_K = 60


@dataclass
class Candidate:
    qid: str
    label: str | None
    payload: dict[str, Any] = field(default_factory=dict, repr=False)
    sources: dict[str, float] = field(default_factory=dict)  # index -> its score (name: 0..1, text/image: cosine)
    rrf: float = 0.0
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0


@dataclass
class RetrievalConfig:
    top_k: int = 10  # candidates kept after fusion
    name_k: int = 10
    text_k: int = 5
    image_k: int = 5


class CandidateRetriever:
    def __init__(self, searcher: Searcher, config: RetrievalConfig | None = None):
        self.searcher = searcher
        self.config = config or RetrievalConfig()

    def retrieve(self, surface: str, context_vector: np.ndarray | None = None,
                 image_vector: np.ndarray | None = None) -> list[Candidate]:
        cfg = self.config
        ranked: dict[str, list[Hit]] = {"name": self.searcher.by_name(surface, cfg.name_k)}
        if context_vector is not None and cfg.text_k:
            ranked["text"] = self.searcher.by_vector(TEXT, context_vector, cfg.text_k, "text")
        if image_vector is not None and cfg.image_k:
            ranked["image"] = self.searcher.by_vector("image", image_vector, cfg.image_k, "image")
        fused: dict[str, Candidate] = {}
        for source, hits in ranked.items():
            for rank, hit in enumerate(hits):
                cand = fused.setdefault(hit.qid, Candidate(hit.qid, hit.label, hit.payload))
                cand.sources[source] = hit.score
                cand.rrf += 1.0 / (RRF_K + rank + 1)
        return sorted(fused.values(), key=lambda c: c.rrf, reverse=True)[: cfg.top_k]
