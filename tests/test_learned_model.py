"""A learned model reads the feature columns it was fitted on, by name: a model fitted before a feature existed
loads and ranks, and asks the linker for no input it does not read (no servers: a tiny booster built here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kgstore.errors import InputError
from linkers.candidates import Candidate
from linkers.features import OVERLAP
from linkers.rerankers.base import MentionInput
from linkers.rerankers.learned import ALL_FEATURES, LearnedReranker


def _model(tmp_path, features: tuple[str, ...], columns: int | None = None):
    import lightgbm

    rng = np.random.default_rng(0)
    x = rng.random((300, columns or len(features)))
    y = (x[:, features.index("name")] > 0.5).astype(float)  # the name decides
    booster = lightgbm.train({"objective": "binary", "verbose": -1, "num_threads": 1}, lightgbm.Dataset(x, y), 20)
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"features": list(features), "models": [booster.model_to_string()],
                                "nil_detected": 0.3, "nil_given": None, "meta": {}}))
    return path


def test_an_older_model_reads_its_own_columns_and_wants_no_overlap(tmp_path) -> None:
    older = tuple(k for k in ALL_FEATURES if k not in (OVERLAP, "overlap_gap"))
    model = LearnedReranker.from_file(_model(tmp_path, older))
    assert model.features == older and model.wants == ()
    cands = [Candidate("Q1", "a", features={"name": 0.9, OVERLAP: 0.0}),
             Candidate("Q2", "b", features={"name": 0.1, OVERLAP: 1.0})]
    ranking = model.rerank(MentionInput("m", "Paris", "Paris"), cands)
    assert [c.qid for c in ranking.candidates] == ["Q1", "Q2"]
    assert LearnedReranker.from_file(_model(tmp_path, ALL_FEATURES)).wants == (OVERLAP,)


def test_a_model_whose_trees_and_features_disagree_asks_for_a_refit(tmp_path) -> None:
    with pytest.raises(InputError, match="its trees read 25 columns, its features are name, and .*; refit it"):
        LearnedReranker.from_file(_model(tmp_path, ("name",), columns=25))
    with pytest.raises(InputError, match="refit it"):
        LearnedReranker.from_file(_model(tmp_path, ("name", "sparkle")))
