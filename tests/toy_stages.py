"""Toy stages, one of each kind the `Linker` runs, each whole in a few lines: how to add a stage (docs/architecture.md).

Each records its calls, so tests/test_stages.py shows that a real Linker run calls it and uses what it returns.
(The toy ranker is tests/toy_method.py's `PopularReranker`.)"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from kg.linkers.candidates.generator import Work
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.detection.base import DetectorBase, Span
from kg.linkers.features.extractor import FeatureBatch
from kg.linkers.features.image_evidence import MentionImages
from kg.linkers.nil import NilDecision
from kg.linkers.postprocess.base import PostBatch
from kg.linkers.ranking.base import Ranker, Ranking
from kg.linkers.records import Mention


class WordListDetector(DetectorBase):
    """A mention detector: every occurrence of the listed words."""

    name = "words"

    def __init__(self, words: list[str]):
        self.pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b")
        self.calls: list[list[str]] = []

    def spans_many(self, texts: list[str]) -> list[list[Span]]:
        self.calls.append(texts)
        return [[Span(m.start(), m.end(), m.group(0), None, self.name) for m in self.pattern.finditer(t)]
                for t in texts]


class TableCandidates:
    """A candidate generator: a fixed table of surface -> (QID, label)."""

    def __init__(self, table: dict[str, list[tuple[str, str]]]):
        self.table = table
        self.calls: list[list[str]] = []

    def generate(self, work: Work, vectors: np.ndarray, images: MentionImages | None = None,
                 on_fused: Callable[[list[list[Candidate]]], None] | None = None) -> list[list[Candidate]]:
        self.calls.append([m.surface for _, m in work])
        found = [[Candidate(qid, label, sources={"table": 1.0}) for qid, label in self.table.get(m.surface, [])]
                 for _, m in work]
        if on_fused is not None:
            on_fused(found)
        return found


class LabelLength:
    """A feature extractor: the candidate label's length, over 10 (it needs no optional input)."""

    name = "label_length"
    wants: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.calls = 0

    def add(self, batch: FeatureBatch) -> None:
        self.calls += 1
        for cands in batch.candidates:
            for c in cands:
                c.features[self.name] = len(c.label or "") / 10


class NeverLink:
    """A NIL policy: the listed surfaces are always NIL, any other mention with a candidate links."""

    def __init__(self, surfaces: set[str]):
        self.surfaces = surfaces
        self.calls: list[str] = []

    def decide(self, ranker: Ranker, mention: Mention, ranking: Ranking) -> NilDecision:
        self.calls.append(mention.surface)
        return NilDecision(mention.surface in self.surfaces or not ranking.candidates, None)


class Stamp:
    """A post-processor: notes in each result's trace how many results its batch had."""

    name = "stamp"

    def __init__(self) -> None:
        self.calls = 0

    def process(self, batch: PostBatch) -> None:
        self.calls += 1
        for r in batch.results:
            r.trace["stamp"] = len(batch.results)
