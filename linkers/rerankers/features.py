"""The default, LLM-free method: a weighted sum of features, weights fitted on a training split (`kg train`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from kgstore.errors import InputError
from linkers.candidates import Candidate
from linkers.features import FEATURES
from linkers.rerankers.base import MentionInput, Ranking
from linkers.rerankers.registry import Method, register_method

DEFAULT_WEIGHTS = "default.json"


@dataclass
class FeatureReranker:
    weights: dict[str, float]
    nil_threshold: float | None = None  # fitted default; `--nil-threshold` overrides
    meta: dict = field(default_factory=dict)
    name: str = "features"

    @classmethod
    def from_file(cls, path: Path | None = None) -> "FeatureReranker":
        source = path or Path(__file__).resolve().parents[1] / "weights" / DEFAULT_WEIGHTS
        try:
            data = json.loads(Path(source).read_text())
            weights = {k: float(v) for k, v in data["weights"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{source}: not a weights file ({exc}); create one with `kg train`") from exc
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise InputError(f"{source}: unknown feature(s) {', '.join(sorted(unknown))}; known: {', '.join(FEATURES)}")
        return cls(weights, data.get("nil_threshold"), data.get("meta", {}))

    def version(self) -> str:
        digest = hashlib.sha1(json.dumps(self.weights, sort_keys=True).encode()).hexdigest()[:8]
        return f"features-{digest}"

    def score(self, features: dict[str, float]) -> float:
        return sum(w * features.get(k, 0.0) for k, w in self.weights.items())

    def rank(self, candidates: list[Candidate]) -> list[Candidate]:
        for c in candidates:
            c.score = round(self.score(c.features), 6)
        return sorted(candidates, key=lambda c: (c.score, c.features.get("popularity", 0.0)), reverse=True)

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        return Ranking(self.rank(candidates))

    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        return [self.rerank(m, c) for m, c in items]


register_method(Method("features", lambda b: FeatureReranker.from_file(b.weights), "fitted weights, no NIL", order=10))
