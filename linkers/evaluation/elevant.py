"""ELEVANT-compatible span-level entity-linking scorer and benchmark reader.

Why: the text benchmarks in ../shared/data/el-text (OKE 2015/2016, Derczynski) come with published ELEVANT scores
of ReFinED, REL and a prior baseline. Comparing against them is only fair when our scores follow ELEVANT's rules
exactly, so this module ports ELEVANT's case generation and counting (github.com/ad-freiburg/elevant, commit
8df933fa: src/elevant/evaluation/case_generator.py, case.py, evaluator.py, groundtruth_label.py) rather than
approximating them. The default mode is ELEVANT's "IGNORED" mode (its published "all" micro scores): unknown
entities (NIL) are neither required nor rewarded.

ELEVANT's rules, as implemented here (per article):

- Spans match exactly or after expansion to word boundaries (`word_boundary`: a span grows left and right over
  alphanumerics and ``'"_``), on both the gold and the predicted side.
- Gold labels are all evaluated; the evaluation span only limits which *unmatched predictions* count as false
  positives (ELEVANT assumes benchmark labels lie inside it).
- A gold label counts for recall iff it is a known entity (not ``<NIL>``/``<NO_MAPPING>``, not a DATETIME or
  QUANTITY type) and not optional (``optional``, ``desc``, DATETIME and QUANTITY labels are optional).
  Predicted QID == gold QID: TP. Wrong QID: FN + FP. Predicted NIL: FN (IGNORED) or FN + FP (REQUIRED).
  No prediction: FN.
- NIL gold labels: a QID prediction on them is a FP; a NIL prediction or none is ignored (IGNORED mode).
- Optional labels: a correct (or, for DATETIME/QUANTITY, same-typed) prediction is ignored, a wrong QID is a
  FP, no prediction is ignored unless the label has non-optional children (then FN).
- Predictions on no gold span inside the evaluation span: FP if they are QIDs (NIL predictions ignored in
  IGNORED mode).
- Nested labels (``parent``/``children``): a root and its descendants count as one unit. A root correctly
  linked counts alone; otherwise descendants that were predicted get "factor" 1 and the root takes FN if any
  counted descendant is FN, TP if all are TP. Only root labels contribute TP/FN; every case with factor 1
  contributes its FP.

Error categories (for reports; each counted case gets one): ``correct``, ``missed_mention`` (a required gold
entity with no prediction on its span), ``wrong_entity`` (right span, wrong QID), ``wrongly_nil`` (right span,
NIL predicted for a QID), ``linked_nil`` (a NIL gold span linked to a QID), ``spurious_mention`` (a prediction
on no gold span).

Disambiguation-only evaluation (gold spans given): `disambiguation_spans` gives the labels to link and
`disambiguation_accuracy` the share linked to the gold QID. Feeding one prediction per gold span to `score`
gives the ELEVANT figure for that setting.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.kgstore.errors import InputError
from kg.linkers.records import NIL

__all__ = [
    "CATEGORIES",
    "Article",
    "GoldLabel",
    "MentionCase",
    "Prediction",
    "SpanScores",
    "disambiguation_accuracy",
    "disambiguation_spans",
    "read_benchmark",
    "read_linked_articles",
    "score",
    "word_boundary",
]

IGNORED = "IGNORED"
REQUIRED = "REQUIRED"
MODES = (IGNORED, REQUIRED)
DATETIME = "DATETIME"
QUANTITY = "QUANTITY"
OTHER = "OTHER"
# ELEVANT's unknown ids; "Unknown" and "NIL" are what its converters turn into <NIL>, so they are read as NIL too.
UNKNOWN_IDS = frozenset({"<NIL>", "<NO_MAPPING>", "Unknown", NIL, ""})
CATEGORIES = ("correct", "missed_mention", "wrong_entity", "wrongly_nil", "linked_nil", "spurious_mention")

Span = tuple[int, int]
TP, FP, FN = "TP", "FP", "FN"


class _Placed:
    """What gold labels and predictions share: a character span and an entity id that may be unknown."""

    start: int
    end: int
    entity_id: str

    @property
    def span(self) -> Span:
        return (self.start, self.end)

    @property
    def is_nil(self) -> bool:
        """An entity outside the KB (<NIL>, <NO_MAPPING>): ignored in IGNORED mode unless linked to a QID."""
        return self.entity_id in UNKNOWN_IDS


@dataclass
class GoldLabel(_Placed):
    """One ELEVANT ground-truth label; `types` are the `|`-separated `type` field (QIDs, DATETIME, QUANTITY...)."""

    id: int
    start: int
    end: int
    entity_id: str
    name: str = ""
    types: tuple[str, ...] = (OTHER,)
    optional: bool = False
    parent: int | None = None
    children: tuple[int, ...] = ()
    coref: bool | None = None
    desc: bool = False

    @property
    def is_value(self) -> bool:
        """A DATETIME or QUANTITY label: never required, as ELEVANT decides from its type."""
        return DATETIME in self.types or QUANTITY in self.types

    @property
    def is_entity(self) -> bool:
        """ELEVANT's "known entity id": a KB entity, not NIL and not a date or quantity."""
        return not self.is_nil and not self.is_value

    @property
    def is_optional(self) -> bool:
        """ELEVANT's `is_optional`: explicitly optional, descriptive, or a date/quantity."""
        return self.optional or self.desc or self.is_value


@dataclass
class Article:
    """One benchmark document: text, the character span that is evaluated, and its gold labels."""

    id: str
    title: str
    text: str
    evaluation_span: Span
    labels: list[GoldLabel] = field(default_factory=list)


@dataclass(frozen=True)
class Prediction(_Placed):
    """A predicted mention: character span and a QID, or NIL for a detected mention linked to nothing."""

    start: int
    end: int
    entity_id: str


@dataclass
class MentionCase:
    """One counted evaluation case, for a `--report`: what was expected, what came, and what it counted as."""

    article_id: str
    start: int
    end: int
    text: str
    gold: str | None  # gold entity id (NIL for unknown), None for a spurious prediction
    predicted: str | None  # predicted id, or None when no prediction matched the span
    category: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"article": self.article_id, "span": [self.start, self.end], "text": self.text, "gold": self.gold,
                "predicted": self.predicted, "category": self.category, "tp": self.tp, "fp": self.fp, "fn": self.fn}


@dataclass
class SpanScores:
    """Micro-averaged span-level linking scores, error-category counts and the cases behind them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    mode: str = IGNORED
    articles: int = 0
    categories: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    cases: list[MentionCase] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_json(self, cases: bool = False) -> dict[str, Any]:
        """Figures for `--json`; `cases=True` adds every counted case (errors and correct ones)."""
        data: dict[str, Any] = {
            "mode": self.mode, "articles": self.articles, "true_positives": self.tp, "false_positives": self.fp,
            "false_negatives": self.fn, "ground_truth": self.tp + self.fn, "precision": self.precision,
            "recall": self.recall, "f1": self.f1, "categories": dict(self.categories)}
        if cases:
            data["cases"] = [c.to_json() for c in self.cases]
        return data

    def errors(self) -> list[MentionCase]:
        return [c for c in self.cases if c.category != "correct"]


# ---------------------------------------------------------------------------------------------------- readers


def _label_from_json(data: Mapping[str, Any]) -> GoldLabel:
    span = data["span"]
    start, end = int(span[0]), int(span[1])
    entity_id = str(data["entity_id"])
    types = tuple(str(data.get("type") or OTHER).split("|"))
    if entity_id in (DATETIME, QUANTITY) and entity_id not in types:
        types = (*types, entity_id)  # ELEVANT's converters always give such labels the same type
    children = data.get("children") or ()
    parent = data.get("parent")
    return GoldLabel(id=int(data["id"]), start=start, end=end, entity_id=entity_id, name=str(data.get("name") or ""),
                     types=types, optional=bool(data.get("optional", False)),
                     parent=None if parent is None else int(parent), children=tuple(int(c) for c in children),
                     coref=data.get("coref"), desc=bool(data.get("desc", False)))


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        fh = open(path, encoding="utf8")  # noqa: SIM115 (the `with` below closes it; an open error is an InputError)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
            if not isinstance(data, dict):
                raise InputError(f"{path}:{n}: expected a JSON object per line, got {type(data).__name__}")
            yield n, data


def read_benchmark(path: Path) -> Iterator[Article]:
    """Articles of an ELEVANT `*.benchmark.jsonl` (also reads the `labels` of a `*.linked_articles.jsonl`)."""
    path = Path(path)
    for n, data in _json_lines(path):
        try:
            text = data["text"]
            if not isinstance(text, str):
                raise TypeError("'text' is not a string")
            ev = data.get("evaluation_span") or (0, len(text))
            labels = [_label_from_json(lab) for lab in data.get("labels") or ()]
            article = Article(id=str(data["id"]), title=str(data.get("title") or ""), text=text,
                              evaluation_span=(int(ev[0]), int(ev[1])), labels=labels)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise InputError(f"{path}:{n}: malformed ELEVANT benchmark article: {what}") from exc
        ids = [lab.id for lab in labels]
        if len(set(ids)) != len(ids):
            raise InputError(f"{path}:{n}: label ids are not unique in article {article.id}")
        known = set(ids)
        for lab in labels:
            if not 0 <= lab.start <= lab.end <= len(text):
                raise InputError(f"{path}:{n}: label {lab.id} span {list(lab.span)} lies outside the text "
                                 f"({len(text)} characters)")
            if (lab.parent is not None and lab.parent not in known) or not known.issuperset(lab.children):
                raise InputError(f"{path}:{n}: label {lab.id} refers to a parent or child label that does not exist")
        yield article


def read_linked_articles(path: Path) -> dict[str, list[Prediction]]:
    """Predictions of an ELEVANT `*.linked_articles.jsonl`, keyed by article `id` (as a string).

    Each `entity_mentions` item has `span` and `id` (a QID, or <NIL>/<NO_MAPPING>/missing, read as NIL).
    """
    path = Path(path)
    out: dict[str, list[Prediction]] = {}
    for n, data in _json_lines(path):
        try:
            key = str(data["id"])
            preds = []
            for m in data.get("entity_mentions") or ():
                entity_id = m.get("id")
                entity_id = NIL if entity_id is None or entity_id in UNKNOWN_IDS else str(entity_id)
                preds.append(Prediction(int(m["span"][0]), int(m["span"][1]), entity_id))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise InputError(f"{path}:{n}: malformed ELEVANT linked article: {what}") from exc
        if key in out:
            raise InputError(f"{path}:{n}: article id {key} appears twice")
        out[key] = preds
    return out


# ---------------------------------------------------------------------------------------------------- scoring


def word_boundary(span: Span, text: str) -> Span:
    """ELEVANT's span expansion to word boundaries (case_generator.word_boundary), so "Albert" matches "Albert's"."""
    start, end = span
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "'\"_"):
        start -= 1
    while end < len(text) - 1 and (text[end].isalnum() or text[end] in "'\"_"):
        end += 1
    if start < len(text) and text[start] == '"' and '"' not in text[start + 1:end]:
        start += 1
    return start, end


@dataclass
class _Case:
    label: GoldLabel | None
    pred: Prediction | None
    span: Span
    factor: int = 1
    has_non_optional_children: bool = False
    child_types: set[str] | None = None
    types: list[str] = field(default_factory=list)


class _ArticleScorer:
    """ELEVANT's CaseGenerator for one article and one mode (only the parts linking scores depend on)."""

    def __init__(self, article: Article, predictions: Sequence[Prediction], mode: str,
                 value_types: Mapping[str, str]) -> None:
        self.article, self.mode, self.value_types = article, mode, value_types
        self.text = article.text
        # ELEVANT keeps one mention per span (the last one) and adds spans expanded to word boundaries, which
        # override an exact span they collide with.
        self.preds: dict[Span, Prediction] = {}
        for p in predictions:
            self.preds[p.span] = p
        self.all_preds = dict(self.preds)
        self.all_preds.update({word_boundary(s, self.text): p for s, p in self.preds.items()})
        self.labels = {lab.id: lab for lab in article.labels}
        self.factors: dict[int, int] = {}

    def _pred_for(self, label: GoldLabel) -> Prediction | None:
        if label.span in self.all_preds:
            return self.all_preds[label.span]
        return self.all_preds.get(word_boundary(label.span, self.text))

    def _factor(self, label_id: int, siblings: bool = False) -> int:
        """ELEVANT's recursively_determine_factor: which labels of a nested group are counted (factor 1)."""
        label = self.labels[label_id]
        pred = self._pred_for(label)
        if pred is not None and (label.entity_id == pred.entity_id or (label.is_nil and pred.is_nil)):
            if not siblings:
                self.factors[label_id] = 1
            return 1
        biggest = 0
        for child in label.children:
            biggest = max(biggest, self._factor(child))
        if label.parent is None:
            factor = 1 if biggest == 0 else 0
            if not siblings:
                self.factors[label_id] = factor
            return factor
        factor = 0
        parent = self.labels[label.parent]
        if pred is not None and biggest == 0 and \
                word_boundary(parent.span, self.text) != word_boundary(label.span, self.text):
            factor = 1
        elif pred is None and not siblings and biggest == 0:
            for sibling in parent.children:
                if sibling != label_id and self._factor(sibling, siblings=True) > 0:
                    factor = 1
                    break
        if not siblings:
            self.factors[label_id] = factor
        return max(biggest, factor)

    def _has_non_optional_child(self, label: GoldLabel) -> bool:
        for child_id in label.children:
            child = self.labels[child_id]
            if not child.is_optional or self._has_non_optional_child(child):
                return True
        return False

    def _same_value_type(self, label: GoldLabel, pred: Prediction) -> bool:
        """ELEVANT's is_true_quantity_or_datetime: a date/quantity label predicted as an entity of that type."""
        ptype = self.value_types.get(pred.entity_id) or (pred.entity_id if pred.entity_id in (DATETIME, QUANTITY)
                                                         else None)
        return ptype is not None and ptype in label.types and label.is_value

    def _eval_types(self, c: _Case) -> list[str]:
        """ELEVANT's Case._get_linking_eval_type, case by case (gold / prediction)."""
        ignored = self.mode == IGNORED
        if c.factor == 0:
            if c.child_types is None:
                return []
            if FN in c.child_types:
                return [FN]
            if c.child_types == {TP}:
                return [TP]
            return []
        lab, pred = c.label, c.pred
        if lab is None:
            if pred is None or (ignored and pred.is_nil):
                return []
            return [FP]
        if pred is None:
            if lab.is_optional and not c.has_non_optional_children:
                return []
            if ignored and not lab.is_entity:
                return []
            return [FN]
        if lab.is_optional:
            if not pred.is_nil:
                if (lab.is_entity and lab.entity_id == pred.entity_id) or self._same_value_type(lab, pred):
                    return []
                return [FP]
            if not lab.is_nil and not ignored:
                return [FP]
            return []
        if lab.is_entity:
            if not pred.is_nil:
                return [TP] if lab.entity_id == pred.entity_id else [FN, FP]
            return [FN] if ignored else [FN, FP]
        if not pred.is_nil:
            return [FP] if ignored else [FN, FP]
        return [] if ignored else [TP]

    def _child_types(self, label: GoldLabel, cases: Mapping[int, _Case]) -> set[str]:
        out: set[str] = set()
        for child_id in label.children:
            out |= self._child_types(self.labels[child_id], cases)
            child = cases[child_id]
            if child.factor != 0:
                out |= set(child.types)
        return out

    def cases(self) -> list[_Case]:
        roots = sorted((lab for lab in self.article.labels if lab.parent is None), key=lambda lab: lab.id)
        nested = sorted((lab for lab in self.article.labels if lab.parent is not None), key=lambda lab: lab.id)
        gold_cases: dict[int, _Case] = {}
        for lab in roots + nested:
            factor = self._factor(lab.id) if lab.parent is None else self.factors.get(lab.id, 0)
            c = _Case(lab, self._pred_for(lab), lab.span, factor=factor)
            c.types = self._eval_types(c)
            gold_cases[lab.id] = c
        gold_spans = {lab.span for lab in self.article.labels}
        gold_spans |= {word_boundary(lab.span, self.text) for lab in self.article.labels}
        ev_start, ev_end = self.article.evaluation_span
        spurious = []
        for span in sorted(self.preds):
            if span in gold_spans or word_boundary(span, self.text) in gold_spans:
                continue
            if span[0] >= ev_start and span[1] <= ev_end:
                c = _Case(None, self.preds[span], span)
                c.types = self._eval_types(c)
                spurious.append(c)
        for c in gold_cases.values():  # ELEVANT's reevaluate_root_gt_cases
            gold = c.label
            assert gold is not None
            if gold.parent is None and gold.children:
                if gold.is_optional:
                    c.has_non_optional_children = self._has_non_optional_child(gold)
                    c.types = self._eval_types(c)
                if c.factor == 0:
                    c.child_types = self._child_types(gold, gold_cases)
                    c.types = self._eval_types(c)
        return list(gold_cases.values()) + spurious


def _category(c: _Case, tp: int, fp: int, fn: int) -> str:
    lab, pred = c.label, c.pred
    if lab is None:
        return "spurious_mention"
    if tp and not fp and not fn:
        return "correct"
    if pred is None or (c.factor == 0 and fn):
        if pred is not None and not fp:  # a nested group counted through its children; the root was predicted
            return "wrongly_nil" if pred.is_nil else "wrong_entity"
        return "missed_mention"
    if lab.is_nil and not pred.is_nil:
        return "linked_nil"
    if pred.is_nil:
        return "wrongly_nil" if not lab.is_nil else "missed_mention"
    return "wrong_entity"


def score(articles: Iterable[Article], predictions: Mapping[str, Sequence[Prediction]], *, mode: str = IGNORED,
          value_types: Mapping[str, str] | None = None) -> SpanScores:
    """Micro TP/FP/FN over all articles by ELEVANT's rules (its "all" mention-type figures) plus error cases.

    `predictions` maps article id to its predicted mentions (articles without an entry have none). `mode` is
    ELEVANT's evaluation mode: IGNORED (published; NIL gold and NIL predictions ignored) or REQUIRED.
    `value_types` maps predicted QIDs that are dates or quantities to "DATETIME"/"QUANTITY" (ELEVANT takes this
    from its Wikidata mappings); it only matters for optional DATETIME/QUANTITY gold labels.
    """
    if mode not in MODES:
        raise InputError(f"unknown ELEVANT evaluation mode {mode!r}: use IGNORED or REQUIRED")
    out = SpanScores(mode=mode)
    for article in articles:
        out.articles += 1
        preds = predictions.get(article.id, ())
        for c in _ArticleScorer(article, preds, mode, value_types or {}).cases():
            root = c.label is None or c.label.parent is None
            tp = int(TP in c.types and root)
            fn = int(FN in c.types and root)
            fp = int(FP in c.types and c.factor != 0)
            if not (tp or fp or fn):
                continue
            out.tp += tp
            out.fp += fp
            out.fn += fn
            category = _category(c, tp, fp, fn)
            out.categories[category] += 1
            start, end = c.span
            out.cases.append(MentionCase(
                article_id=article.id, start=start, end=end, text=article.text[start:end],
                gold=None if c.label is None else (NIL if c.label.is_nil else c.label.entity_id),
                predicted=None if c.pred is None else c.pred.entity_id, category=category, tp=tp, fp=fp, fn=fn))
    return out


# ------------------------------------------------------------------------------------ disambiguation only


def disambiguation_spans(article: Article) -> list[GoldLabel]:
    """Gold labels a gold-spans-given (disambiguation-only) evaluation should link.

    These are the labels that can count for recall in ELEVANT: top-level (no parent), a known entity (a QID, not
    NIL, DATETIME or QUANTITY) and not optional. ELEVANT does not restrict gold labels to the evaluation span; the
    labels are assumed to lie inside it, and this keeps only those that do.
    """
    ev_start, ev_end = article.evaluation_span
    return [lab for lab in sorted(article.labels, key=lambda lab: lab.id)
            if lab.parent is None and lab.is_entity and not lab.is_optional
            and ev_start <= lab.start and lab.end <= ev_end]


def disambiguation_accuracy(articles: Iterable[Article],
                            predictions: Mapping[str, Sequence[Prediction]]) -> tuple[int, int, float]:
    """(correct, total, accuracy) over `disambiguation_spans`: a span is correct when the prediction on it (exact
    span, or matching after word-boundary expansion as in `score`) has the gold QID."""
    correct = total = 0
    for article in articles:
        lookup = _ArticleScorer(article, predictions.get(article.id, ()), IGNORED, {})
        for lab in disambiguation_spans(article):
            total += 1
            pred = lookup._pred_for(lab)
            if pred is not None and pred.entity_id == lab.entity_id:
                correct += 1
    return correct, total, (correct / total if total else 0.0)

