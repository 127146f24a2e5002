"""The NIL stage: whether a mention's ranking links its top candidate or nothing.

The `Linker` asks its `NilPolicy` once per mention, after the ranker; `ThresholdNil` is the decision kg makes:
NIL when there is no candidate, when the method said NIL, or when the top score is under the threshold for that
kind of span (detected or given, and which detector: the learned model wants more of a span only the gazetteer
found), unless the method decided itself (an LLM's pick). `--nil-threshold` overrides every kind's threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kg.linkers.ranking.base import Ranker, Ranking
from kg.linkers.records import Mention


@dataclass(frozen=True)
class NilDecision:
    nil: bool
    threshold: float | None  # what the top score was held against (None: none), for the trace


class NilPolicy(Protocol):
    def decide(self, ranker: Ranker, mention: Mention, ranking: Ranking) -> NilDecision:
        """NIL or not for one mention ranked by `ranker`."""
        ...


@dataclass(frozen=True)
class ThresholdNil:
    """The ranker's own threshold per kind of span, or one given for every span (`override`)."""

    override: float | None = None

    def threshold(self, ranker: Ranker, mention: Mention) -> float | None:
        if self.override is not None:
            return self.override
        return ranker.nil_threshold_for(mention.detected, mention.detector)

    def decide(self, ranker: Ranker, mention: Mention, ranking: Ranking) -> NilDecision:
        threshold = self.threshold(ranker, mention)
        top = ranking.candidates[0] if ranking.candidates else None
        below = threshold is not None and top is not None and top.score < threshold
        return NilDecision(top is None or ranking.nil or (below and not ranking.decided), threshold)
