"""Raw ranking scores as probabilities: a logistic mapping fitted on a dev split, so that a method whose scorer is
no probability model (the features method's weighted sum, about -1 to +5 with the shipped weights) still returns
scores in [0, 1] that read as "the chance this candidate is the right entity".

The mapping is Platt scaling: p = 1 / (1 + exp(-(a * raw + b))), with a and b fitted by maximum likelihood on
every (candidate score, candidate is the gold entity) pair of a `kg eval --report --report-all` run on a dev split.
It is monotonic, so rankings do not change; it is stored with the weights (`calibration` in the weights file).

    python -m kg.linkers.ranking.calibration REPORT.json WEIGHTS.json   # fit on the report, write into the weights file
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kg.kgstore.errors import InputError
from kg.kgstore.files import atomic_write


@dataclass(frozen=True)
class Calibration:
    a: float
    b: float
    fitted_on: str  # the dev data and how many pairs, for the record

    def probability(self, raw: float) -> float:
        z = self.a * raw + self.b
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    @classmethod
    def from_json(cls, data: Any, source: object) -> Calibration | None:
        if data is None:
            return None
        try:
            return cls(float(data["a"]), float(data["b"]), str(data.get("fitted_on", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: `calibration` must be {{\"a\": number, \"b\": number}} ({exc})") from exc


def fit_logistic(scores: np.ndarray, labels: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """a, b maximising the likelihood of `labels` (0/1) under sigmoid(a * score + b): Newton's method, with a
    tiny ridge so that separable data still gives finite numbers."""
    x = np.column_stack([scores.astype(np.float64), np.ones(len(scores))])
    y = labels.astype(np.float64)
    w = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + 1e-6 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return float(w[0]), float(w[1])


def pairs_of_report(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate's raw score and whether it is the gold entity, from a `--report-all` report."""
    data = json.loads(Path(path).read_text())
    scores, labels = [], []
    for m in data.get("mentions") or []:
        gold = m.get("gold")
        for c in m.get("candidates") or []:
            if gold and c.get("score") is not None:
                scores.append(float(c["score"]))
                labels.append(c.get("qid") == gold)
    if not scores or all(labels) or not any(labels):
        raise InputError(f"{path}: no candidates with scores and gold on both sides to fit on (use --report-all)")
    return np.array(scores), np.array(labels)


def main(report: str, weights: str) -> None:
    scores, labels = pairs_of_report(Path(report))
    a, b = fit_logistic(scores, labels)
    data = json.loads(Path(weights).read_text())
    data["calibration"] = asdict(Calibration(round(a, 4), round(b, 4),
                                             f"{Path(report).name}: {len(scores)} candidate scores"))
    atomic_write(Path(weights), json.dumps(data, indent=2) + "\n")
    print(f"calibration a={a:.4f} b={b:.4f} on {len(scores)} candidate scores ({int(labels.sum())} gold)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
