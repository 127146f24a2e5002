"""What `kg serve`'s evaluation pages show of `kg eval --report` files, as ELEVANT's evaluation web app shows its
runs: annotated articles (gold and prediction side by side, coloured TP / FP / FN / wrongly NIL), error categories
explained and split by entity type, a P/R/F1 table across runs, and two runs compared mention by mention. Every
figure is a filter of cases (`CaseFilter`), so the pages can link each figure to the cases behind it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from kg.kgstore.errors import InputError
from kg.linkers.evaluation.eval_report import UNKNOWN, EvalReport, ReportCase

EXPLANATIONS = {
    "correct": "linked to the gold entity",
    "wrong_entity": "the right span, linked to another entity",
    "not_retrieved": "the gold entity was not among the candidates: retrieval missed it, so ranking could not help",
    "wrongly_nil": "the right span left NIL (unlinked) although its gold entity is in the KB",
    "missed_mention": "a gold entity's span got no prediction: the detector did not find it",
    "spurious_mention": "a link on text that no gold label covers",
    "linked_nil": "a span whose entity is not in the KB (gold NIL) linked to an entity",
}
MARKS = {  # the colour classes of the annotated article, with the legend's words
    "tp": "TP: linked to the gold entity",
    "fp": "FP: a wrong link",
    "fn": "FN: a gold entity not linked to",
    "wnil": "wrongly NIL: left unlinked though its entity is in the KB",
    "nil": "gold NIL: the entity is not in the KB",
}
COUNTS = ("tp", "fp", "fn")


def known(qid: str | None) -> bool:
    return qid is not None and qid not in UNKNOWN


def marks(case: ReportCase) -> tuple[str | None, str | None]:
    """The colour class of a case's gold mention and of its predicted mention (None: that side has none)."""
    if case.category == "correct":
        return "tp", "tp"
    linked = known(case.predicted)
    gold = None if case.gold is None else "fn" if known(case.gold) else "nil"
    if gold == "fn" and case.predicted is not None and not linked:
        gold = "wnil"
    predicted = None if case.predicted is None else "fp" if linked else "wnil" if known(case.gold) else None
    return gold, predicted


@dataclass(frozen=True)
class CaseFilter:
    """The cases behind a figure: by category, by entity type, by what they counted (tp/fp/fn), by document."""

    category: str = ""
    type_: str = ""
    count: str = ""
    document: str = ""

    def check(self) -> CaseFilter:
        if self.count and self.count not in COUNTS:
            raise InputError(f"count: {self.count!r} is none of {', '.join(COUNTS)}")
        return self

    def keeps(self, report: EvalReport, case: ReportCase) -> bool:
        return ((not self.category or case.category == self.category)
                and (not self.type_ or report.entity_type(case) == self.type_)
                and (not self.count or getattr(case, self.count) > 0)
                and (not self.document or case.document == self.document))

    def cases(self, report: EvalReport) -> list[ReportCase]:
        return [c for c in report.cases if self.keeps(report, c)]


def context(report: EvalReport, case: ReportCase, width: int = 70) -> tuple[str, str, str] | None:
    """The text around a case's span (before, surface, after), cut at `width` characters a side; None without
    the document's text (a format-1 report) or a span."""
    text = report.documents.get(case.document or "")
    if text is None or case.span is None or not 0 <= case.span[0] <= case.span[1] <= len(text):
        return None
    start, end = case.span
    before, after = text[max(0, start - width):start], text[end:end + width]
    return (("…" if start > width else "") + before, text[start:end], after + ("…" if end + width < len(text) else ""))


@dataclass
class Piece:
    text: str
    case: ReportCase | None = None
    mark: str | None = None


@dataclass
class Annotated:
    """One document of a run with its gold layer and its prediction layer."""

    id: str
    text: str
    gold: list[Piece]
    predicted: list[Piece]
    cases: list[ReportCase]
    previous: str | None = None
    next: str | None = None


def layer(text: str, placed: list[tuple[ReportCase, str]]) -> list[Piece]:
    """The text cut at the cases' spans, in order; overlapping or out-of-range spans are left unmarked."""
    out: list[Piece] = []
    at = 0
    for case, mark in sorted(placed, key=lambda p: (p[0].span or (0, 0))[0]):
        start, end = case.span or (0, 0)
        if start < at or end > len(text) or start >= end:
            continue
        if start > at:
            out.append(Piece(text[at:start]))
        out.append(Piece(text[start:end], case, mark))
        at = end
    if at < len(text):
        out.append(Piece(text[at:]))
    return out


def annotated(report: EvalReport, doc_id: str) -> Annotated:
    if doc_id not in report.documents:
        raise InputError(f"unknown document {doc_id!r} in report {report.name}: "
                         + ("it has no case there" if report.documents else
                            "the report stores no document texts (write it again with this version's `kg eval "
                            "--report`)"))
    text = report.documents[doc_id]
    cases = [c for c in report.cases if c.document == doc_id]
    both = [(c, marks(c)) for c in cases if c.span is not None]
    ids = list(report.documents)
    at = ids.index(doc_id)
    return Annotated(doc_id, text, layer(text, [(c, m[0]) for c, m in both if m[0]]),
                     layer(text, [(c, m[1]) for c, m in both if m[1]]), cases,
                     ids[at - 1] if at > 0 else None, ids[at + 1] if at + 1 < len(ids) else None)


def type_breakdown(report: EvalReport) -> dict[str, dict[str, int]]:
    """Category counts by entity type (types known from the report's entities), most cases first."""
    by: dict[str, Counter[str]] = {}
    for c in report.cases:
        type_ = report.entity_type(c)
        if type_:
            by.setdefault(type_, Counter())[c.category] += 1
    return {t: dict(n) for t, n in sorted(by.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))}


@dataclass
class RunScores:
    """A run's row of the table across runs: counts and P/R/F1 (None where the report cannot tell)."""

    name: str
    kind: str
    dataset: str | None
    method: str | None
    tp: int | None
    fp: int | None
    fn: int | None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    hits1: float | None = None


def run_scores(report: EvalReport) -> RunScores:
    """Span reports carry ELEVANT's counts; mention reports are counted from their cases (ELEVANT's IGNORED
    mode on gold spans), which needs every case (`--report-all`): one of wrong cases only knows no TP."""
    m, proto = report.metrics, report.metrics.get("protocol") or {}
    name, kind, dataset, method = report.name, report.kind, proto.get("dataset"), proto.get("method")
    hits1 = m.get("hits@1")
    if report.kind == "spans" and isinstance(m.get("true_positives"), int):
        tp, fp, fn = m["true_positives"], m["false_positives"], m["false_negatives"]
    elif report.complete:
        tp, fp, fn = (sum(getattr(c, k) for c in report.cases) for k in COUNTS)
    else:
        return RunScores(name, kind, dataset, method, None, sum(c.fp for c in report.cases),
                         sum(c.fn for c in report.cases), hits1=hits1)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return RunScores(name, kind, dataset, method, tp, fp, fn, p, r, 2 * p * r / (p + r) if p + r else 0.0, hits1)


@dataclass
class Pair:
    """One mention in two runs; a side is None where that run lists no case for it (it got it right)."""

    a: ReportCase | None
    b: ReportCase | None

    @property
    def case(self) -> ReportCase:
        return self.a or self.b  # type: ignore[return-value]  # a pair has at least one side


@dataclass
class Comparison:
    a: EvalReport
    b: EvalReport
    fixed: list[Pair] = field(default_factory=list)  # wrong in A, right in B
    broken: list[Pair] = field(default_factory=list)  # right in A, wrong in B
    differently: list[Pair] = field(default_factory=list)  # wrong in both, not the same way
    same: list[Pair] = field(default_factory=list)  # wrong in both the same way
    same_data: bool = True

    def groups(self) -> dict[str, list[Pair]]:
        return {"fixed": self.fixed, "broken": self.broken, "differently": self.differently, "same": self.same}


GROUPS = {"fixed": "fixed by B (wrong in A, right in B)", "broken": "broken by B (right in A, wrong in B)",
          "differently": "both wrong, differently", "same": "both wrong, the same way"}


def _key(case: ReportCase) -> tuple[str, tuple[int, int], str]:
    """Document, span and (for a mention with no span) surface: sorts in the documents' reading order."""
    return (case.document or "", case.span or (-1, -1), case.text or "" if case.span is None else "")


def compare(a: EvalReport, b: EvalReport) -> Comparison:
    """Every mention wrong in either run, grouped by what B did to it; a mention a run does not list (its report
    keeps wrong cases only, or the run made no prediction there) is right in that run."""
    wrong_a = {_key(c): c for c in a.cases if c.category != "correct"}
    wrong_b = {_key(c): c for c in b.cases if c.category != "correct"}
    all_a, all_b = {_key(c): c for c in a.cases}, {_key(c): c for c in b.cases}
    out = Comparison(a, b, same_data=(a.metrics.get("protocol") or {}).get("dataset")
                     == (b.metrics.get("protocol") or {}).get("dataset"))
    for key in sorted(wrong_a.keys() | wrong_b.keys()):
        x, y = wrong_a.get(key), wrong_b.get(key)
        if x and y:
            same = (x.category, x.predicted) == (y.category, y.predicted)
            (out.same if same else out.differently).append(Pair(x, y))
        elif x:
            out.fixed.append(Pair(x, all_b.get(key)))
        else:
            out.broken.append(Pair(all_a.get(key), y))
    return out
