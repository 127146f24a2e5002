"""The default method: each mention gets the reranker fitted for its kind of span.

Given spans (a caption's marked mention, a benchmark's gold span) are mentions by assertion: the fusion scorer
ranks them best (WikiMEL, WikiDiverse and the text benchmarks' gold spans alike), except where a mention carries an
input the scorer never saw in training and the features weights use (an image, with an image model configured): a
scorer is not asked to rank with inputs it was fitted without. Detected spans of ordinary text need the learned
model, which also decides that a span is no mention worth linking.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.kgstore.errors import InputError
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.ranking.base import MentionInput, Ranking, Reranker
from kg.linkers.ranking.registry import Method, MethodBuild, register_method


@dataclass
class AutoReranker:
    given: Reranker
    detected: Reranker
    fallback: Reranker | None = None  # given spans with inputs `given` never saw
    name: str = "auto"
    unseen: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        # inputs the given-span scorer was fitted without, that the fallback weighs
        never = set(getattr(self.given, "meta", {}).get("unseen_inputs", ()))
        weighed = {k for k, w in getattr(self.fallback, "weights", {}).items() if w}
        self.unseen = frozenset(never & weighed)

    def version(self) -> str:
        rest = f",{self.fallback.version()}" if self.fallback is not None and self.unseen else ""
        return f"auto({self.given.version()},{self.detected.version()}{rest})"

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        return self.rerank_many([(mention, candidates)])[0]

    def _for(self, mention: MentionInput, candidates: list[Candidate]) -> Reranker:
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

    @property
    def wants(self) -> tuple[str, ...]:
        """The inputs any of its rerankers asks the linker for."""
        return tuple(dict.fromkeys(w for r in (self.given, self.detected, self.fallback) if r is not None
                                   for w in getattr(r, "wants", ())))

    @property
    def interaction_queries(self) -> Any:
        """The given-span scorer's, when it has a text interaction term (the fusion scorer)."""
        return getattr(self.given, "interaction_queries", None)

    def wants_interactions(self, mention: MentionInput) -> bool:
        return mention.detector is None

    @property
    def keyphrases(self) -> Any:
        """The detected spans' model's keyphraseness table (the detector's filter), if it has one."""
        return getattr(self.detected, "keyphrases", None)

    def name_for(self, detected: bool) -> str:
        """What ranked a mention of that kind, for traces: "auto:fusion" or "auto:learned"."""
        return f"{self.name}:{(self.detected if detected else self.given).name}"

    def nil_threshold_for(self, detected: bool, detector: str | None = None) -> float | None:
        reranker = self.detected if detected else self.given
        if hasattr(reranker, "nil_threshold_for"):
            return reranker.nil_threshold_for(detected, detector)
        return getattr(reranker, "nil_threshold", None)


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
