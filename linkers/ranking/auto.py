"""The default method: each mention gets the reranker fitted for its kind of span.

Given spans (a caption's marked mention, a benchmark's gold span) are mentions by assertion: the fusion scorer
ranks them best (WikiMEL, WikiDiverse and the text benchmarks' gold spans alike), except where a mention carries an
input the scorer never saw in training and the features weights use (an image, with an image model configured): a
scorer is not asked to rank with inputs it was fitted without. Detected spans of ordinary text need the learned
model, which also decides that a span is no mention worth linking.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kg.kgstore.errors import InputError
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.detection.keyphrases import Keyphrases
from kg.linkers.ranking.base import FittedRanker, MentionInput, Ranker, RankerBase, Ranking, Reranker
from kg.linkers.ranking.registry import Method, MethodBuild, register_method

if TYPE_CHECKING:
    from kg.linkers.ranking.features import FeatureReranker


@dataclass
class AutoReranker(RankerBase):
    given: Ranker
    detected: Ranker
    fallback: FeatureReranker | None = None  # given spans with inputs `given` never saw
    name: str = "auto"
    unseen: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        # inputs the given-span scorer was fitted without, that the fallback weighs
        never = self.given.unseen_inputs() if isinstance(self.given, FittedRanker) else frozenset()
        weighed = {k for k, w in self.fallback.weights.items() if w} if self.fallback is not None else set()
        self.unseen = frozenset(never & weighed)

    def version(self) -> str:
        rest = f",{self.fallback.version()}" if self.fallback is not None and self.unseen else ""
        return f"auto({self.given.version()},{self.detected.version()}{rest})"

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        return self.rerank_many([(mention, candidates)])[0]

    def _for(self, mention: MentionInput, candidates: list[Candidate]) -> Ranker:
        if mention.detector is not None:
            return self.detected
        if self.unseen and self.fallback is not None and any(c.features.get(k) for c in candidates
                                                             for k in self.unseen):
            return self.fallback
        return self.given

    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        out: list[Ranking | None] = [None] * len(items)
        chosen = [self._for(m, cands) for m, cands in items]
        for reranker in {id(r): r for r in (self.given, self.fallback, self.detected) if r is not None}.values():
            picked = [i for i, r in enumerate(chosen) if r is reranker]
            if not picked:
                continue
            for i, ranking in zip(picked, reranker.rerank_many([items[i] for i in picked])):
                if reranker is self.fallback and reranker is not self.given:
                    ranking.trace["ranked_by"] = (f"{reranker.name} (inputs the {self.given.name} scorer was "
                                                  f"fitted without: {', '.join(sorted(self.unseen))})")
                out[i] = ranking
        return out  # type: ignore[return-value]

    @property  # type: ignore[override]
    def wants(self) -> tuple[str, ...]:
        """The inputs any of its rerankers asks the linker for."""
        return tuple(dict.fromkeys(w for r in (self.given, self.detected, self.fallback) if r is not None
                                   for w in r.wants))

    @property  # type: ignore[override]
    def interaction_queries(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """The given-span scorer's, when it has a text interaction term (the fusion scorer)."""
        return self.given.interaction_queries

    def wants_interactions(self, mention: MentionInput) -> bool:
        return mention.detector is None

    @property  # type: ignore[override]
    def keyphrases(self) -> Keyphrases | None:
        """The detected spans' model's keyphraseness table (the detector's filter), if it has one."""
        return self.detected.keyphrases

    def name_for(self, detected: bool) -> str:
        """What ranked a mention of that kind, for traces: "auto:fusion" or "auto:learned"."""
        return f"{self.name}:{self._of(detected).name}"

    def nil_threshold_for(self, detected: bool, detector: str | None = None) -> float | None:
        return self._of(detected).nil_threshold_for(detected, detector)

    def trained_with(self, detected: bool) -> list[str]:
        return self._of(detected).trained_with(detected)

    def _of(self, detected: bool) -> Ranker:
        return self.detected if detected else self.given

def given_scorer(path: Path | None) -> Reranker:
    """The given-span scorer of a file: a fusion scorer (`kg train --reranker fusion`) or features weights
    (`kg train`); the shipped fusion scorer when no file is given."""
    from kg.linkers.ranking.features import FeatureReranker
    from kg.linkers.ranking.fusion import FusionReranker

    if path is None:
        return FusionReranker.from_file()
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a scorer file ({exc}); fit one with `kg train`") from exc
    if isinstance(data, dict) and "params" in data:
        return FusionReranker.from_file(path)
    return FeatureReranker.from_file(path)


def _build(b: MethodBuild) -> AutoReranker:
    from kg.linkers.ranking.features import FeatureReranker
    from kg.linkers.ranking.learned import LearnedReranker

    given = given_scorer(b.weights)
    fallback = given if isinstance(given, FeatureReranker) else FeatureReranker.from_file()
    return AutoReranker(given, LearnedReranker.from_file(), fallback)


register_method(Method("auto", _build, "fusion for given spans, learned for detected ones", order=0))
