"""The evaluation view's code on small reports written the way `kg eval --report` writes span-level ones (ELEVANT's
scorer's cases, `MentionCase.to_json`), with no KB: colours, comparison, filters, and escaping in the pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg.cli.web.pages import templates
from kg.kgstore.errors import InputError
from kg.linkers.evaluation import report_view as view
from kg.linkers.evaluation.elevant import Article, GoldLabel, Prediction, score
from kg.linkers.evaluation.eval_report import REPORT_FORMAT, load_report

TEXT = "<b>Paris</b> met Obama & Berlin."


def _at(surface: str) -> tuple[int, int]:
    return TEXT.index(surface), TEXT.index(surface) + len(surface)


def _run(tmp_path: Path, name: str, predictions: list[tuple[str, str]]) -> Path:
    """A report of one article (gold: Paris Q90, Obama Q76, Berlin NIL) as `kg eval --report --report-all`."""
    gold = [GoldLabel(i, *_at(s), q) for i, (s, q) in enumerate((("Paris", "Q90"), ("Obama", "Q76"),
                                                                  ("Berlin", "<NIL>")))]
    scores = score([Article("a1", "t", TEXT, (0, len(TEXT)), gold)],
                   {"a1": [Prediction(*_at(s), q) for s, q in predictions]})
    path = tmp_path / name
    path.write_text(json.dumps({
        "metrics": {**scores.to_json(), "protocol": {"dataset": "tiny", "method": name}}, "all_cases": True,
        "cases": [c.to_json() for c in scores.cases], "format": REPORT_FORMAT, "documents": {"a1": TEXT},
        "entities": {"Q90": {"label": "Paris", "type": "city"}, "Q76": {"label": "Obama <i>", "type": "human"},
                     "Q64": {"label": "Berlin", "type": "city"}}}))
    return path


@pytest.fixture
def runs(tmp_path: Path):
    # A: Paris right, Obama wrongly NIL, Berlin (gold NIL) linked; B: Paris wrong, Obama right, "met" spurious
    a = load_report(_run(tmp_path, "a.json", [("Paris", "Q90"), ("Obama", "NIL"), ("Berlin", "Q64")]))
    b = load_report(_run(tmp_path, "b.json", [("Paris", "Q167646"), ("Obama", "Q76"), ("met", "Q5")]))
    return a, b


def test_each_side_of_a_case_gets_its_colour(runs) -> None:
    a, b = runs
    by_text = {c.text: view.marks(c) for c in a.cases}
    assert by_text == {"Paris": ("tp", "tp"), "Obama": ("wnil", "wnil"), "Berlin": ("nil", "fp")}
    assert {c.text: view.marks(c) for c in b.cases if c.category != "correct"} == {
        "Paris": ("fn", "fp"), "met": (None, "fp")}


def test_two_runs_are_compared_mention_by_mention(runs) -> None:
    a, b = runs
    cmp = view.compare(a, b)
    names = {g: [p.case.text for p in pairs] for g, pairs in cmp.groups().items()}
    assert names == {"fixed": ["Obama", "Berlin"], "broken": ["Paris", "met"], "differently": [], "same": []}
    fixed_obama = cmp.fixed[0]
    assert fixed_obama.a.category == "wrongly_nil" and fixed_obama.b.category == "correct"
    assert next(p for p in cmp.broken if p.case.text == "met").a is None  # A made no prediction there
    assert cmp.same_data


def test_figures_filter_their_cases_and_a_bad_filter_is_named(runs) -> None:
    a, _ = runs
    assert [c.text for c in view.CaseFilter(count="fp").cases(a)] == ["Berlin"]
    assert [c.text for c in view.CaseFilter(type_="human").cases(a)] == ["Obama"]
    assert view.type_breakdown(a) == {"city": {"correct": 1, "linked_nil": 1}, "human": {"wrongly_nil": 1}}
    s = view.run_scores(a)
    assert (s.tp, s.fp, s.fn) == (1, 1, 1) and s.precision == 0.5 and s.recall == 0.5
    with pytest.raises(InputError, match="count: 'xx'"):
        view.CaseFilter(count="xx").check()
    with pytest.raises(InputError, match="unknown document 'zz'"):
        view.annotated(a, "zz")


def test_the_annotated_article_escapes_the_text_and_labels(runs) -> None:
    a, _ = runs
    doc = view.annotated(a, "a1")
    assert "".join(p.text for p in doc.gold) == TEXT == "".join(p.text for p in doc.predicted)
    html = templates.get_template("report_document.html").render(report=a, doc=doc, explanations=view.EXPLANATIONS,
                                                                  legend=view.MARKS)
    assert "<b>Paris" not in html and "&lt;b&gt;" in html and "Obama &lt;i&gt;" in html
    assert 'class="am am-wnil" id="m-1"' in html  # the gold mention, the target of the case list's link
