"""Raw ranking scores as probabilities (linkers.ranking.calibration): the logistic fit, and the features method returning
its calibrated probability with the ranking unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.ranking.base import MentionInput
from kg.linkers.ranking.calibration import Calibration, fit_logistic
from kg.linkers.ranking.features import FeatureReranker
from kg.linkers.training.train import TrainingMention, calibrate


def test_the_logistic_fit_recovers_the_parameters_it_was_sampled_from() -> None:
    rng = np.random.default_rng(7)
    scores = rng.uniform(-4, 6, 40_000)
    labels = rng.random(40_000) < 1 / (1 + np.exp(-(1.5 * scores - 2.0)))
    a, b = fit_logistic(scores, labels)
    assert a == pytest.approx(1.5, abs=0.1) and b == pytest.approx(-2.0, abs=0.1)


def test_the_features_method_returns_calibrated_probabilities_in_the_same_order(tmp_path) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"weights": {"name": 2.0, "context": 1.0}, "calibration": {"a": 2.0, "b": -3.0}}))
    reranker = FeatureReranker.from_file(path)
    cands = [Candidate(q, q, {}, features={"name": n, "context": c})
             for q, n, c in (("Q1", 0.2, 0.1), ("Q2", 1.0, 0.9), ("Q3", 0.6, -0.2))]
    ranked = reranker.rerank(MentionInput("m", "x", "x"), cands).candidates
    assert [c.qid for c in ranked] == ["Q2", "Q3", "Q1"]  # by raw sum: 2.9, 1.0, 0.5
    assert [c.score for c in ranked] == pytest.approx([Calibration(2.0, -3.0, "").probability(s) for s in (2.9, 1.0, 0.5)],
                                                      abs=1e-6)
    assert all(0.0 <= c.score <= 1.0 for c in ranked)


def test_the_shipped_weights_carry_a_fitted_calibration() -> None:
    shipped = FeatureReranker.from_file()
    assert shipped.calibration is not None and shipped.calibration.a > 0 and "dev" in shipped.calibration.fitted_on


def test_kg_train_fits_a_calibration_where_a_higher_sum_means_likelier_right() -> None:
    data = [TrainingMention("Q1", [("Q1", {"name": 1.0}), ("Q2", {"name": 0.3})]),
            TrainingMention("Q3", [("Q3", {"name": 0.9}), ("Q4", {"name": 0.4}), ("Q5", {"name": 0.1})]),
            TrainingMention("Q6", [("Q6", {"name": 0.5}), ("Q7", {"name": 0.6})])]
    fitted = calibrate(data, {"name": 2.0}, "toy train")
    assert fitted.a > 0 and fitted.probability(2.0) > fitted.probability(0.2)
