"""The default, LLM-free method: a weighted sum of features, weights fitted on a training split (`kg train`).

The sum ranks; what the method returns is its probability (`linkers.ranking.calibration`: a logistic fitted with the
weights), so its scores and `--nil-threshold` are in [0, 1] like every other method's."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.kgstore.errors import InputError
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.features.scalar import FEATURES
from kg.linkers.ranking.base import FittedRanker, MentionInput, Ranking
from kg.linkers.ranking.calibration import Calibration
from kg.linkers.ranking.registry import Method, Trainer, later, register_method

DEFAULT_WEIGHTS = "default.json"


@dataclass
class FeatureReranker(FittedRanker):
    weights: dict[str, float]
    nil_threshold: float | None = None  # fitted default; `--nil-threshold` overrides
    meta: dict = field(default_factory=dict)
    calibration: Calibration | None = None  # None: a weights file from before calibrations (raw sums returned)
    name: str = "features"

    @classmethod
    def from_file(cls, path: Path | None = None) -> FeatureReranker:
        source = path or Path(__file__).resolve().parents[1] / "weights" / DEFAULT_WEIGHTS
        try:
            data = json.loads(Path(source).read_text())
            weights = {k: float(v) for k, v in data["weights"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{source}: not a weights file ({exc}); create one with `kg train`") from exc
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise InputError(f"{source}: unknown feature(s) {', '.join(sorted(unknown))}; known: {', '.join(FEATURES)}")
        return cls(weights, data.get("nil_threshold"), data.get("meta", {}),
                   Calibration.from_json(data.get("calibration"), source))

    def version(self) -> str:
        key: dict[str, Any] = dict(self.weights)
        if self.calibration is not None:
            key["calibration"] = [self.calibration.a, self.calibration.b]
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
        return f"features-{digest}"

    def score(self, features: dict[str, float]) -> float:
        return sum(w * features.get(k, 0.0) for k, w in self.weights.items())

    def rank(self, candidates: list[Candidate]) -> list[Candidate]:
        """Candidates by raw weighted sum (what LLM methods measure their margins in)."""
        for c in candidates:
            c.score = round(self.score(c.features), 6)
        return sorted(candidates, key=lambda c: (c.score, c.features.get("popularity", 0.0)), reverse=True)

    def probabilities(self, ranked: list[Candidate]) -> list[Candidate]:
        """The raw sums of ranked candidates replaced by their calibrated probabilities (the order stays)."""
        if self.calibration is not None:
            for c in ranked:
                c.score = round(self.calibration.probability(c.score), 6)
        return ranked

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        return Ranking(self.probabilities(self.rank(candidates)))

    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        return [self.rerank(m, c) for m, c in items]


register_method(Method("features", lambda b: FeatureReranker.from_file(b.weights), "fitted weights, no NIL", order=10,
                       trainer=Trainer(later("kg.linkers.run:fit_features"), later("kg.linkers.run:features_line"))))
