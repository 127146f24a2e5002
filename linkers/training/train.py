"""Fitting the feature reranker's weights on a training split (`kg train`).

The features are few and the objective (Hits@1) is not differentiable, so a coordinate search over a grid of
weights, starting from the BASELINES formula, is simple, fast (thousands of mentions in seconds) and exact.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kg.kgstore.files import atomic_write
from kg.linkers.features.scalar import FEATURES
from kg.linkers.ranking.calibration import Calibration, fit_logistic

GRID = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


@dataclass
class TrainingMention:
    gold: str
    candidates: list[tuple[str, dict[str, float]]]  # (qid, features)


def hits_at_1(data: list[TrainingMention], weights: dict[str, float]) -> float:
    hits = 0
    for m in data:
        if not m.candidates:
            continue
        best = max(m.candidates, key=lambda c: (sum(w * c[1].get(k, 0.0) for k, w in weights.items()),
                                                c[1].get("popularity", 0.0)))
        hits += best[0] == m.gold
    return hits / len(data) if data else 0.0


def fit(data: list[TrainingMention], start: dict[str, float] | None = None, rounds: int = 3) -> tuple[dict[str, float], float]:
    weights = {k: 0.0 for k in FEATURES} | (start or {"name": 2.0, "context": 1.0})
    best = hits_at_1(data, weights)
    for _ in range(rounds):
        improved = False
        for k in FEATURES:
            for value in GRID:
                trial = {**weights, k: value}
                score = hits_at_1(data, trial)
                if score > best + 1e-9:
                    weights, best, improved = trial, score, True
        if not improved:
            break
    return {k: v for k, v in weights.items() if v}, best


def calibrate(data: list[TrainingMention], weights: dict[str, float], name: str) -> Calibration:
    """The weighted sum as a probability: a logistic fitted on every candidate of the training mentions."""
    scores = [sum(w * f.get(k, 0.0) for k, w in weights.items()) for m in data for _, f in m.candidates]
    labels = [qid == m.gold for m in data for qid, _ in m.candidates]
    a, b = fit_logistic(np.array(scores), np.array(labels))
    return Calibration(round(a, 4), round(b, 4), f"{name}: {len(scores)} candidate scores")


def save(path: Path, weights: dict[str, float], meta: dict, calibration: Calibration) -> None:
    atomic_write(path, json.dumps({"weights": weights, "nil_threshold": None, "calibration": asdict(calibration),
                                   "meta": meta}, indent=2) + "\n")
