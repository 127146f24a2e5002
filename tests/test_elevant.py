"""ELEVANT-compatible span scorer: reproduces ELEVANT's published scores of the released predictions
(../shared/data/el-text) and checks each of its rules on small hand-made articles. No servers needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg.kgstore.errors import InputError
from kg.linkers.evaluation.elevant import (
    Article,
    GoldLabel,
    Prediction,
    disambiguation_accuracy,
    disambiguation_spans,
    read_benchmark,
    read_linked_articles,
    score,
    word_boundary,
)

EL = Path(__file__).resolve().parents[2] / "shared" / "data" / "el-text"
needs_data = pytest.mark.skipif(not EL.is_dir(), reason=f"shared el-text data not found at {EL}")

# README.md of el-text: published micro-F1, IGNORED mode, all mentions.
PUBLISHED_F1 = {
    ("refined__aida_", "oke-2015-train"): 60.8, ("refined__aida_", "oke-2016-train"): 64.2,
    ("refined__aida_", "derczynski"): 51.7,
    ("rel__2014_", "oke-2015-train"): 55.9, ("rel__2014_", "oke-2016-train"): 61.2, ("rel__2014_", "derczynski"): 42.5,
    ("baseline", "oke-2015-train"): 53.8, ("baseline", "oke-2016-train"): 56.6, ("baseline", "derczynski"): 35.3,
}


def _released(system: str, benchmark: str) -> tuple[list[Article], dict[str, list[Prediction]], dict]:
    articles = list(read_benchmark(EL / "benchmarks" / f"{benchmark}.benchmark.jsonl"))
    predictions = read_linked_articles(EL / "released" / f"{system}.{benchmark}.linked_articles.jsonl")
    expected = json.loads((EL / "released" / f"{system}.{benchmark}.eval_results.json").read_text())
    return articles, predictions, expected


@needs_data
@pytest.mark.parametrize(("system", "benchmark"), sorted(PUBLISHED_F1))
def test_reproduces_elevant_published_scores(system: str, benchmark: str) -> None:
    articles, predictions, expected = _released(system, benchmark)
    assert set(predictions) == {a.id for a in articles}
    s = score(articles, predictions)
    want = expected["IGNORED"]["mention_types"]["all"]
    assert abs(100 * s.f1 - 100 * want["f1"]) < 0.5
    assert abs(100 * s.precision - 100 * want["precision"]) < 0.5
    assert abs(100 * s.recall - 100 * want["recall"]) < 0.5
    assert abs(100 * s.f1 - PUBLISHED_F1[system, benchmark]) < 0.5
    # The port is exact: same counts, and ELEVANT's wrong-disambiguation errors are our wrong_entity cases.
    assert (s.tp, s.fp, s.fn) == (want["true_positives"], want["false_positives"], want["false_negatives"])
    errors = expected["IGNORED"]["error_categories"]
    assert s.categories["wrong_entity"] == errors["wrong_disambiguation"]["all"]["errors"]
    # Categories partition the counts.
    c = s.categories
    assert c["correct"] == s.tp
    assert c["missed_mention"] + c["wrong_entity"] + c["wrongly_nil"] == s.fn
    assert c["wrong_entity"] + c["linked_nil"] + c["spurious_mention"] == s.fp
    assert len(s.cases) == sum(c.values())
    assert s.to_json()["f1"] == s.f1


@needs_data
@pytest.mark.parametrize(("system", "benchmark"), sorted(PUBLISHED_F1))
def test_reproduces_elevant_required_mode(system: str, benchmark: str) -> None:
    articles, predictions, expected = _released(system, benchmark)
    s = score(articles, predictions, mode="REQUIRED")
    want = expected["REQUIRED"]["mention_types"]["all"]
    assert (s.tp, s.fp, s.fn) == (want["true_positives"], want["false_positives"], want["false_negatives"])


@needs_data
def test_benchmark_reader_structure() -> None:
    articles = list(read_benchmark(EL / "benchmarks" / "oke-2015-train.benchmark.jsonl"))
    assert len(articles) == 95
    labels = [lab for a in articles for lab in a.labels]
    assert len(labels) == 341
    assert all(a.text[lab.start:lab.end] for a in articles for lab in a.labels)
    assert sum(lab.is_nil for lab in labels) == 40  # 36 <NIL> + 4 <NO_MAPPING>
    assert sum(lab.parent is not None for lab in labels) == 1
    # gold spans given: ReFinED's spans are not the gold ones, so its accuracy there is below 1
    arts, preds, _ = _released("refined__aida_", "oke-2015-train")
    correct, total, acc = disambiguation_accuracy(arts, preds)
    assert total == sum(len(disambiguation_spans(a)) for a in arts) == 300  # ELEVANT's ground_truth count
    assert 0 < correct < total and acc == correct / total


# ---------------------------------------------------------------------------------------------- hand-made rules

TEXT = "Barack Obama met Angela Merkel in Berlin on Monday."
#       0         1         2         3         4         5
#       0123456789012345678901234567890123456789012345678901


def _art(labels: list[GoldLabel], text: str = TEXT, span: tuple[int, int] | None = None) -> Article:
    return Article("a", "", text, span or (0, len(text)), labels)


def _lab(i: int, start: int, end: int, qid: str, **kw: object) -> GoldLabel:
    return GoldLabel(i, start, end, qid, **kw)  # type: ignore[arg-type]


def _score(labels: list[GoldLabel], preds: list[Prediction], **kw: object):
    art = kw.pop("article", None) or _art(labels)  # type: ignore[arg-type]
    return score([art], {"a": preds}, **kw)  # type: ignore[arg-type]


OBAMA, MERKEL, BERLIN = _lab(0, 0, 12, "Q76"), _lab(1, 17, 30, "Q567"), _lab(2, 34, 40, "Q64")


def test_basic_categories() -> None:
    s = _score([OBAMA, MERKEL, BERLIN, _lab(3, 44, 50, "Q105")],
               [Prediction(0, 12, "Q76"), Prediction(17, 30, "Q1"), Prediction(34, 40, "NIL"),
                Prediction(13, 16, "Q2")])
    assert (s.tp, s.fp, s.fn) == (1, 2, 3)
    assert {(c.start, c.category) for c in s.cases} == {
        (0, "correct"), (17, "wrong_entity"), (34, "wrongly_nil"), (44, "missed_mention"), (13, "spurious_mention")}
    wrong = next(c for c in s.cases if c.category == "wrong_entity")
    assert (wrong.text, wrong.gold, wrong.predicted, wrong.fp, wrong.fn) == ("Angela Merkel", "Q567", "Q1", 1, 1)
    assert s.precision == 1 / 3 and s.recall == 1 / 4
    assert s.to_json(cases=True)["cases"][0]["article"] == "a"


def test_spans_match_exactly_or_at_word_boundaries() -> None:
    text = "Obama's visit."
    assert word_boundary((0, 5), text) == (0, 7)
    art = _art([_lab(0, 0, 7, "Q76")], text)
    assert _score([], [Prediction(0, 5, "Q76")], article=art).tp == 1
    # a partial span inside a word that does not expand to the gold span is a miss plus a spurious prediction
    s = _score([], [Prediction(0, 12, "Q76")], article=_art([_lab(0, 0, 6, "Q76")], "Barack Obama"))
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)


def test_evaluation_span_limits_false_positives_only() -> None:
    art = _art([OBAMA], span=(0, 31))
    s = _score([], [Prediction(0, 12, "Q76"), Prediction(17, 30, "Q567"), Prediction(34, 40, "Q64")], article=art)
    assert (s.tp, s.fp, s.fn) == (1, 1, 0)  # Berlin lies outside the evaluation span: not counted
    assert [c.category for c in s.cases if c.fp] == ["spurious_mention"]
    assert [lab.id for lab in disambiguation_spans(_art([OBAMA, BERLIN], span=(0, 31)))] == [0]


def test_optional_labels_are_never_required() -> None:
    opt = _lab(0, 34, 40, "Q64", optional=True)
    assert (lambda s: (s.tp, s.fp, s.fn))(_score([opt], [])) == (0, 0, 0)
    assert (lambda s: (s.tp, s.fp, s.fn))(_score([opt], [Prediction(34, 40, "Q64")])) == (0, 0, 0)
    s = _score([opt], [Prediction(34, 40, "Q1")])
    assert (s.tp, s.fp, s.fn) == (0, 1, 0) and s.cases[0].category == "wrong_entity"
    assert (lambda s: (s.tp, s.fp, s.fn))(_score([opt], [Prediction(34, 40, "NIL")])) == (0, 0, 0)
    desc = _lab(0, 34, 40, "Q64", desc=True)
    assert (lambda s: (s.tp, s.fp, s.fn))(_score([desc], [])) == (0, 0, 0)
    assert disambiguation_spans(_art([opt, desc])) == []


def test_nil_labels_ignored_unless_linked_to_an_entity() -> None:
    for nil in ("<NIL>", "<NO_MAPPING>", "Unknown"):
        lab = _lab(0, 34, 40, nil)
        assert lab.is_nil and not lab.is_entity
        assert (lambda s: (s.tp, s.fp, s.fn))(_score([lab], [])) == (0, 0, 0)
        assert (lambda s: (s.tp, s.fp, s.fn))(_score([lab], [Prediction(34, 40, "NIL")])) == (0, 0, 0)
        s = _score([lab], [Prediction(34, 40, "Q64")])
        assert (s.tp, s.fp, s.fn) == (0, 1, 0) and s.cases[0].category == "linked_nil"
    # a NIL prediction on no gold span is ignored too
    assert (lambda s: (s.tp, s.fp, s.fn))(_score([], [Prediction(13, 16, "NIL")])) == (0, 0, 0)
    # REQUIRED mode: NIL must be found and predicted as NIL
    lab = _lab(0, 34, 40, "<NIL>")
    assert (lambda s: (s.tp, s.fp, s.fn))(_score([lab], [Prediction(34, 40, "NIL")], mode="REQUIRED")) == (1, 0, 0)
    assert (lambda s: (s.tp, s.fp, s.fn))(_score([lab], [], mode="REQUIRED")) == (0, 0, 1)
    with pytest.raises(InputError):
        _score([lab], [], mode="BOTH")


def test_datetime_and_quantity_labels_are_optional() -> None:
    for kind in ("DATETIME", "QUANTITY"):
        lab = _lab(0, 44, 50, kind, types=(kind,))
        assert lab.is_value and not lab.is_entity and lab.is_optional
        assert (lambda s: (s.tp, s.fp, s.fn))(_score([lab], [])) == (0, 0, 0)
        assert (lambda s: (s.tp, s.fp, s.fn))(_score([lab], [Prediction(44, 50, "Q105")])) == (0, 1, 0)
        # a predicted entity ELEVANT knows to be a date/quantity is accepted
        s = _score([lab], [Prediction(44, 50, "Q105")], value_types={"Q105": kind})
        assert (s.tp, s.fp, s.fn) == (0, 0, 0)


UNI = "University of Freiburg is old."


def _nested() -> list[GoldLabel]:
    return [_lab(0, 0, 22, "Q1", children=(1,)), _lab(1, 14, 22, "Q2", parent=0)]


def test_parent_and_child_count_as_one_unit() -> None:
    art = _art(_nested(), UNI)

    def counts(preds: list[Prediction]) -> tuple[int, int, int]:
        s = _score([], preds, article=art)
        return s.tp, s.fp, s.fn

    assert counts([Prediction(0, 22, "Q1")]) == (1, 0, 0)  # parent right: the child is not required
    assert counts([Prediction(14, 22, "Q2")]) == (1, 0, 0)  # child right: counts for the group
    assert counts([]) == (0, 0, 1)  # one miss for the group, not two
    assert counts([Prediction(14, 22, "Q3")]) == (0, 1, 1)
    assert counts([Prediction(0, 22, "Q3")]) == (0, 1, 1)
    s = _score([], [Prediction(0, 22, "Q3")], article=art)
    assert [c.category for c in s.cases] == ["wrong_entity"]
    assert [lab.id for lab in disambiguation_spans(art)] == [0]


def test_disambiguation_accuracy_on_gold_spans() -> None:
    art = _art([OBAMA, MERKEL, BERLIN, _lab(3, 44, 50, "<NIL>")])
    preds = {"a": [Prediction(0, 12, "Q76"), Prediction(17, 30, "Q567"), Prediction(34, 40, "Q1"),
                   Prediction(44, 50, "NIL")]}
    assert [lab.id for lab in disambiguation_spans(art)] == [0, 1, 2]
    assert disambiguation_accuracy([art], preds) == (2, 3, 2 / 3)


def test_readers_report_file_and_line(tmp_path: Path) -> None:
    good = {"id": 7, "title": "t", "text": "Obama", "evaluation_span": [0, 5],
            "labels": [{"id": 0, "span": [0, 5], "entity_id": "Q76", "name": "Obama", "type": "Q5"}]}
    bench = tmp_path / "x.benchmark.jsonl"
    bench.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(InputError, match=r"x\.benchmark\.jsonl:2"):
        list(read_benchmark(bench))
    bench.write_text(json.dumps(good) + "\n" + json.dumps({"id": 8, "title": "", "labels": []}) + "\n")
    with pytest.raises(InputError, match=r"x\.benchmark\.jsonl:2: .*'text'"):
        list(read_benchmark(bench))
    bad_span = dict(good, labels=[dict(good["labels"][0], span=[0, 9])])
    bench.write_text(json.dumps(bad_span) + "\n")
    with pytest.raises(InputError, match=r":1: label 0 span"):
        list(read_benchmark(bench))
    bench.write_text(json.dumps(good) + "\n")
    (art,) = read_benchmark(bench)
    assert art.id == "7" and art.labels[0].types == ("Q5",) and art.labels[0].is_entity

    linked = tmp_path / "s.linked_articles.jsonl"
    linked.write_text(json.dumps({"id": 7, "text": "Obama", "entity_mentions": [
        {"span": [0, 5], "id": "Q76"}, {"span": [0, 2], "id": "<NIL>"}, {"span": [1, 2]}]}) + "\n")
    assert read_linked_articles(linked) == {"7": [Prediction(0, 5, "Q76"), Prediction(0, 2, "NIL"),
                                                 Prediction(1, 2, "NIL")]}
    linked.write_text(json.dumps({"id": 7, "entity_mentions": [{"id": "Q1"}]}) + "\n")
    with pytest.raises(InputError, match=r"s\.linked_articles\.jsonl:1"):
        read_linked_articles(linked)
    with pytest.raises(InputError, match="cannot read"):
        read_linked_articles(tmp_path / "missing.jsonl")
