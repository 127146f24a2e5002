"""The interface every linking method implements: order a mention's candidates, best first."""

from __future__ import annotations

from typing import Protocol

from linkers.candidates import Candidate


class Reranker(Protocol):
    name: str

    def version(self) -> str:
        """Identifies the method's settings in the REFERS_TO edges and the run id."""
        ...

    def rerank(self, surface: str, context: str, candidates: list[Candidate]) -> list[Candidate]:
        """Set `candidate.score` and return the candidates best first (features are already computed)."""
        ...
