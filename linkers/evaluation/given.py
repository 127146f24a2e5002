"""The given-candidates protocol: a benchmark brings each mention's candidate list, and methods rank within it.

Published MEL numbers (I2CR on WikiDiverse) are measured this way, with no KB retrieval involved, so the
candidates are built from the benchmark's names and descriptions and the features from the text encoder.
Candidate ids are the benchmark's titles, which is also what its gold answers name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kg.kgstore.chunks import chunked
from kg.kgstore.entity_text import entity_text
from kg.kgstore.names import normalise
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.evaluation.metrics import Evaluator, Scored
from kg.linkers.features import scalar as feats
from kg.linkers.ranking import MentionInput, Reranker
from kg.linkers.records import NIL, GivenCandidatesMention

_DISAMBIGUATION = re.compile(r"\s*\([^)]*\)\s*$")


@dataclass
class GivenResult:
    mention: GivenCandidatesMention
    predicted: str  # a title or NIL
    ranked: list[str]
    trace: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        m = self.mention
        return {"id": m.id, "surface": m.surface, "context": m.text, "gold": m.gold, "predicted": self.predicted,
                "ranked": self.ranked, "trace": self.trace}


def candidates_of(m: GivenCandidatesMention) -> list[Candidate]:
    out = []
    for c in m.candidates:
        label = c.title.replace("_", " ")
        names = list(dict.fromkeys(n for n in (normalise(label), normalise(_DISAMBIGUATION.sub("", label))) if n))
        out.append(Candidate(c.title, label, {"description": c.description, "names": names, "popularity": 0}))
    return out


def rank_given(mentions: Iterable[GivenCandidatesMention], reranker: Reranker,
               encode: Callable[[list[str]], np.ndarray], batch: int = 16) -> Iterator[GivenResult]:
    """Rank each mention's own candidates with `reranker`, `batch` mentions at a time (LLM calls overlap)."""
    for chunk in chunked(mentions, batch):
        yield from _rank_chunk(chunk, reranker, encode)


def _rank_chunk(chunk: list[GivenCandidatesMention], reranker: Reranker,
                encode: Callable[[list[str]], np.ndarray]) -> Iterator[GivenResult]:
    cands = [candidates_of(m) for m in chunk]
    entity_texts = {c.qid: entity_text(c.label, c.payload.get("description")) for cs in cands for c in cs}
    ids = list(entity_texts)
    vectors = encode([entity_texts[i] for i in ids] + [m.text for m in chunk])
    text_vectors = dict(zip(ids, vectors[: len(ids)]))
    items = []
    for m, cs, vector in zip(chunk, cands, vectors[len(ids):]):
        feats.compute(m.surface, cs, vector, text_vectors)
        items.append((MentionInput(m.id, m.surface, m.text, image=None, clues=dict(m.clues),
                                   context_vector=vector, text_vectors=text_vectors), cs))
    for m, ranking in zip(chunk, reranker.rerank_many(items)):
        ranked = [c.qid for c in ranking.candidates]
        predicted = NIL if ranking.nil or not ranked else ranked[0]
        yield GivenResult(m, predicted, ranked, ranking.trace)


def evaluate_given(results: Iterable[GivenResult], k: int = 10) -> tuple[Evaluator, list[GivenResult]]:
    ev = Evaluator(k=k)
    kept = []
    for r in results:
        ev.add(Scored(gold=r.mention.gold, ranked=r.ranked, retrieved=[c.title for c in r.mention.candidates],
                      predicted=r.predicted))
        kept.append(r)
    return ev, kept
