"""A learned model reads the feature columns it was fitted on, by name: a model fitted before a feature existed
loads and ranks, and asks the linker for no input it does not read (no servers: a tiny booster built here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kg.kgstore.errors import InputError
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.features.scalar import OVERLAP
from kg.linkers.ranking.base import MentionInput
from kg.linkers.ranking.learned import ALL_FEATURES, LearnedReranker


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


def test_an_annotated_mention_also_teaches_nil_as_if_its_entity_were_not_in_the_kb() -> None:
    """The NIL simulation: one annotated mention in SIMULATE whose gold is a candidate is added again without its
    gold, all of its rows negative; the entity model learns from both, the thresholds from real mentions only."""
    from kg.linkers.pipeline import MentionResult
    from kg.linkers.training.learn import SIMULATE, Examples

    def result(i: int) -> MentionResult:
        cands = [{"qid": q, "label": q, "score": 0.0, "features": {"name": n, "exact": float(n == 1.0)},
                  "sources": {}} for q, n in (("Q1", 1.0), ("Q2", 0.9), ("Q3", 0.5))]
        return MentionResult(f"d#{i}", f"d#{i}", "Paris", 0, 5, None, None, None, cands, ["Q1", "Q2", "Q3"],
                             detector="ner")

    ex = Examples()
    for i in range(200):
        ex.add(result(i), "Q1")
        ex.add_out_of_kb(result(i), "Q1")
    ex.add_out_of_kb(result(999), "Q9")  # gold not among the candidates: nothing to take out
    ex.add_out_of_kb(result(998), "NIL")
    simulated = [i for i, s in enumerate(ex.simulated) if s]
    assert 200 / SIMULATE / 2 < len(simulated) < 200 / SIMULATE * 2  # about one in SIMULATE, chosen by a hash
    for i in simulated:
        assert len(ex.rows[i]) == 2 and not ex.labels[i].any() and not ex.gold_known[i] and ex.annotated[i]
    assert all(ex.labels[i][0] == 1.0 for i, s in enumerate(ex.simulated) if not s)
    assert len(ex.entity_mentions()) == len(ex.rows) and set(ex.span_mentions()).isdisjoint(simulated)
