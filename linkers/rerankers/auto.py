"""The default method: each mention gets the reranker fitted for its kind of span.

Given spans (a caption's marked mention, a benchmark's gold span) are mentions by assertion, and the features
weights fitted on WikiMEL rank them best; detected spans of ordinary text need the learned model, which also
decides that a span is no mention worth linking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linkers.candidates import Candidate
from linkers.rerankers.base import MentionInput, Ranking, Reranker
from linkers.rerankers.registry import Method, MethodBuild, register_method


@dataclass
class AutoReranker:
    given: Reranker
    detected: Reranker
    name: str = "auto"

    def version(self) -> str:
        return f"auto({self.given.version()},{self.detected.version()})"

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        return self.rerank_many([(mention, candidates)])[0]

    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        out: list[Ranking | None] = [None] * len(items)
        for reranker, detected in ((self.given, False), (self.detected, True)):
            picked = [i for i, (m, _) in enumerate(items) if (m.detector is not None) == detected]
            if picked:
                for i, ranking in zip(picked, reranker.rerank_many([items[i] for i in picked])):
                    out[i] = ranking
        return out  # type: ignore[return-value]

    @property
    def wants(self) -> tuple[str, ...]:
        """The inputs either reranker asks the linker for."""
        return tuple(dict.fromkeys((*getattr(self.given, "wants", ()), *getattr(self.detected, "wants", ()))))

    @property
    def keyphrases(self) -> Any:
        """The detected spans' model's keyphraseness table (the detector's filter), if it has one."""
        return getattr(self.detected, "keyphrases", None)

    def name_for(self, detected: bool) -> str:
        """What ranked a mention of that kind, for traces: "auto:features" or "auto:learned"."""
        return f"{self.name}:{(self.detected if detected else self.given).name}"

    def nil_threshold_for(self, detected: bool) -> float | None:
        reranker = self.detected if detected else self.given
        if hasattr(reranker, "nil_threshold_for"):
            return reranker.nil_threshold_for(detected)
        return getattr(reranker, "nil_threshold", None)


def _build(b: MethodBuild) -> AutoReranker:
    from linkers.rerankers.features import FeatureReranker
    from linkers.rerankers.learned import LearnedReranker

    return AutoReranker(FeatureReranker.from_file(b.weights), LearnedReranker.from_file())


register_method(Method("auto", _build, "features for given spans, learned for detected ones", order=0))
