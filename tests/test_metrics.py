"""Evaluation metrics on hand-computed cases."""

from __future__ import annotations

import json

import pytest

from kg.kgstore.errors import InputError
from kg.linkers.evaluation.metrics import NIL, Scored, dumps, evaluate, protocol, render_table

CASES = [
    # gold at rank 1
    Scored("Q1", ["Q1", "Q2", "Q3"], ["Q2", "Q1", "Q3"], "Q1", ["human"]),
    # gold at rank 3
    Scored("Q5", ["Q4", "Q6", "Q5"], ["Q5", "Q4", "Q6"], "Q4", ["human"]),
    # gold not ranked, not retrieved
    Scored("Q7", ["Q8"], ["Q8"], "Q8", ["city"]),
    # NIL gold, predicted NIL
    Scored(NIL, ["Q9"], ["Q9"], NIL),
    # NIL gold, predicted an entity
    Scored(NIL, ["Q10"], ["Q10"], "Q10"),
    # entity gold at rank 1 of the reranker, but the NIL decision said NIL: rank 2 of the committed ranking
    Scored("Q11", ["Q11", "Q12"], ["Q12", "Q13", "Q14", "Q15", "Q16", "Q11"], NIL, ["city"]),
    # no gold: not scored
    Scored(None, ["Q1"], ["Q1"], "Q1"),
]


def test_hand_computed() -> None:
    m = evaluate(CASES, k=3)
    assert m.n == 6 and m.unscored == 1
    # hits@1: cases 1 and 4 -> 2/6; hits@3: + case 2 (rank 3) + case 6 (rank 2) -> 4/6
    assert m.hits == {1: pytest.approx(2 / 6), 3: pytest.approx(4 / 6), 5: pytest.approx(4 / 6)}
    assert m.mrr == pytest.approx((1 + 1 / 3 + 0 + 1 + 0 + 1 / 2) / 6)
    # recall over the 4 non-NIL golds; retrieved positions: Q1 at 2, Q5 at 1, Q7 never, Q11 at 6
    assert m.n_retrievable == 4
    assert m.recall == {1: pytest.approx(1 / 4), 3: pytest.approx(2 / 4), 5: pytest.approx(2 / 4),
                        10: pytest.approx(3 / 4)}
    # NIL: predicted NIL in cases 4 and 6, correct in case 4; NIL golds: cases 4 and 5
    assert (m.n_nil_predicted, m.n_nil_gold) == (2, 2)
    assert m.nil_precision == pytest.approx(0.5) and m.nil_recall == pytest.approx(0.5)
    assert m.nil_f1 == pytest.approx(0.5)
    assert m.per_type == {"city": {"n": 2, "hits@1": 0.0}, "human": {"n": 2, "hits@1": 0.5}}


def test_json_keys() -> None:
    m = evaluate(CASES, k=3)
    p = protocol("wikimel", "test", kb_size=18880, candidates=3, method="fuzzy")
    out = json.loads(dumps(m, p))
    for key in ("hits@1", "hits@3", "hits@5", "mrr", "recall@1", "recall@5", "recall@10", "recall@k", "n"):
        assert key in out
    assert out["recall@k"] == pytest.approx(0.5) and out["k"] == 3 and out["n"] == 6
    assert out["protocol"] == {"dataset": "wikimel", "split": "test", "kb_size": 18880, "candidates": 3,
                               "method": "fuzzy"}
    assert out["per_type"]["human"] == {"n": 2, "hits@1": 0.5}


def test_undefined_nil_scores_and_empty_input() -> None:
    m = evaluate([Scored("Q1", ["Q1"], ["Q1"], "Q1")])
    assert m.nil_precision is None and m.nil_recall is None and m.nil_f1 is None
    assert m.hits[1] == 1.0 and m.recall[10] == 1.0 and m.per_type == {}
    empty = evaluate([])
    assert empty.n == 0 and empty.mrr == 0.0 and empty.hits[1] == 0.0
    with pytest.raises(InputError, match="at least 1"):
        evaluate([], k=0)


def test_render_table() -> None:
    m = evaluate(CASES, k=3)
    text = render_table(m, protocol("wikimel", "test", 18880, 3))
    lines = text.splitlines()
    assert lines[0].split() == ["dataset", "wikimel"]
    assert any(line.split() == ["Hits@1", "0.333"] for line in lines)
    assert any(line.split() == ["recall@3", "0.500"] for line in lines)
    assert any(line.split() == ["NIL", "F1", "0.500"] for line in lines)
    assert any(line.split() == ["human", "2", "0.500"] for line in lines)
    assert "no gold (skipped)" in text
    assert "-" in render_table(evaluate([Scored("Q1", [], [], "Q1")]))  # undefined NIL scores print as "-"


def test_the_nil_threshold_is_the_middle_of_the_f1_plateau():
    from kg.linkers.ranking.learned import best_threshold

    tops = [(0.1, True), (0.2, False), (0.3, False), (0.4, True), (0.5, True), (0.6, True)]
    # F1 by threshold (5 gold): 0 and 0.1 -> 0.727, 0.2 -> 0.6, 0.3 -> 0.667, 0.4 -> 0.75 (the best), 0.5 -> 0.571
    assert best_threshold(tops, missed=1, plateau=0.0) == (0.4, 0.75)  # the arg-max alone
    assert best_threshold(tops, missed=1, plateau=0.08) == (0.1, 0.75)  # the middle of 0, 0.1 and 0.4
    assert best_threshold(tops, missed=1, plateau=0.2) == (0.3, 0.75)  # of 0, 0.1, 0.2, 0.3, 0.4, 0.5
    assert best_threshold([], missed=3) == (None, 0.0)
