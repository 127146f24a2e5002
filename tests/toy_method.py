"""A toy linking method, whole in this one file: candidates ranked by popularity alone (no LLM).

Importing it registers `popular`; tests/test_link.py shows that `kg link` and `kg eval` then offer and run it."""

from __future__ import annotations

from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.ranking.base import MentionInput, RankerBase, Ranking
from kg.linkers.ranking.registry import Method, register_method


class PopularReranker(RankerBase):
    name = "popular"

    def version(self) -> str:
        return "popular-1"

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        for c in candidates:
            c.score = c.features.get("popularity", 0.0)
        return Ranking(sorted(candidates, key=lambda c: (c.score, c.qid), reverse=True))

    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        return [self.rerank(m, c) for m, c in items]


register_method(Method("popular", lambda build: PopularReranker(), "the most popular candidate, for tests"))
