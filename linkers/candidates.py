"""Candidate retrieval: exact and fuzzy names, dense text (the mention's context), dense image; fused by RRF.

Each source keeps its own score on the candidate, so the rerankers see which index found what and how well; the
fused order (reciprocal rank fusion) is the retrieval ranking that candidate recall@K measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


from kgstore.entity_index import IMAGE, TEXT
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

    def retrieve_many(self, surfaces: list[str], context_vectors: Any = None,
                      image_vectors: Any = None) -> list[list[Candidate]]:
        """Candidates for a batch of mentions: a few round trips per batch, not per mention."""
        cfg = self.config
        sources: dict[str, list[list[Hit]]] = {"name": self.searcher.by_name_many(surfaces, cfg.name_k)}
        if context_vectors is not None and cfg.text_k:
            sources["text"] = self.searcher.by_vector_many(TEXT, context_vectors, cfg.text_k, "text")
        if image_vectors is not None and cfg.image_k:
            sources["image"] = self.searcher.by_vector_many(IMAGE, image_vectors, cfg.image_k, "image")
        out = []
        for i in range(len(surfaces)):
            fused: dict[str, Candidate] = {}
            for source, per_mention in sources.items():
                for rank, hit in enumerate(per_mention[i]):
                    cand = fused.setdefault(hit.qid, Candidate(hit.qid, hit.label, hit.payload))
                    cand.sources[source] = hit.score
                    cand.rrf += 1.0 / (RRF_K + rank + 1)
            out.append(sorted(fused.values(), key=lambda c: c.rrf, reverse=True)[: cfg.top_k])
        return out
