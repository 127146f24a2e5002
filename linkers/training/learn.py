"""Fitting the learned reranker (`kg train --reranker learned`): examples from linking a training split twice
(mentions detected, and the gold spans given), LightGBM with early stopping on the dev split, and the NIL
thresholds that maximise F1 on the dev split.

A detected span that matches no gold span (or a NIL gold) is an example whose every candidate is wrong: that is
what teaches the model which spans are not worth linking. One annotated mention in `SIMULATE` whose gold is among
its candidates is also added without the gold, whose right answer is then none, so that NIL also means "not in the
KB". With `span_model` (`kg train --span-model`), two models instead (`linkers.ranking.learned`): the entity model
learns from annotated and simulated mentions only, the span model from every detected span whether it matches a
gold span.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from kg.kgstore.chunks import chunked
from kg.kgstore.files import atomic_write
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.detection.keyphrases import Keyphrases
from kg.linkers.features.scalar import OVERLAP
from kg.linkers.pipeline import Linker, MentionResult
from kg.linkers.postprocess import coref
from kg.linkers.ranking.base import MentionInput
from kg.linkers.ranking.learned import (
    ALL_FEATURES,
    ENTITY_FEATURES,
    SPAN_FEATURES,
    Ensemble,
    best_threshold,
    mention_rows,
    span_row,
)
from kg.linkers.records import NIL, Document

PARAMS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20, "feature_fraction": 0.9,
    "bagging_fraction": 0.9, "bagging_freq": 1, "lambda_l2": 1.0, "seed": 13, "deterministic": True, "num_threads": 2,
    "verbose": -1}
ROUNDS = 600
EARLY_STOP = 40
SEEDS = 3  # boosters averaged (Ensemble), each with its own bagging seed
SIMULATE = 4  # one annotated mention in this many also makes a simulated out-of-KB example (its gold removed)


@dataclass
class Examples:
    """Candidate rows with labels, grouped by mention; per mention whether it was detected, whether it is an
    annotated mention (a given span, or a detected one matching a gold span), its gold, and its span row."""

    rows: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)
    gold_known: list[bool] = field(default_factory=list)  # a (non-NIL) gold entity is behind this mention
    annotated: list[bool] = field(default_factory=list)  # the span is a gold span (the entity model learns from it)
    simulated: list[bool] = field(default_factory=list)  # a copy of an annotated mention without its gold
    spans: list[np.ndarray] = field(default_factory=list)  # the span model's row (SPAN_FEATURES)
    missed: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})  # gold mentions never detected
    weights: list[float] = field(default_factory=list)  # per mention: how much its rows count in training

    def add(self, result: MentionResult, gold: str | None, weight: float = 1.0, annotated: bool = True,
            simulated: bool = False) -> None:
        rows, qids, span = result_rows(result)
        self.rows.append(rows)
        self.labels.append(np.array([1.0 if gold and q == gold else 0.0 for q in qids]))
        self.detected.append(result.detector is not None)
        self.gold_known.append(bool(gold and gold != NIL))
        self.annotated.append(annotated)
        self.simulated.append(simulated)
        self.spans.append(span)
        self.weights.append(weight)

    def add_out_of_kb(self, result: MentionResult, gold: str | None, weight: float = 1.0,
                      every: int = SIMULATE) -> None:
        """For one annotated mention in `every` (0: none) whose gold is a candidate: the same mention as if its
        entity were not in the KB (the gold taken out of its candidates; none of the rest is right)."""
        if not every or not gold or gold == NIL or gold not in result.retrieved:
            return
        if int(hashlib.sha1(result.mention_id.encode()).hexdigest(), 16) % every:
            return
        self.add(replace(result, candidates=[c for c in result.candidates if c["qid"] != gold],
                         retrieved=[q for q in result.retrieved if q != gold]), NIL, weight, simulated=True)

    def matrix(self, which: list[int], columns: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate rows (those `columns`), labels and row weights of the mentions `which` that have candidates."""
        keep = [i for i in which if len(self.rows[i])]
        if not keep:
            return np.zeros((0, len(columns))), np.zeros(0), np.zeros(0)
        return (np.vstack([self.rows[i] for i in keep])[:, columns], np.concatenate([self.labels[i] for i in keep]),
                np.concatenate([np.full(len(self.rows[i]), self.weights[i]) for i in keep]))

    def entity_mentions(self) -> list[int]:
        return [i for i, a in enumerate(self.annotated) if a]

    def span_mentions(self) -> list[int]:
        return [i for i, (d, s) in enumerate(zip(self.detected, self.simulated)) if d and not s and len(self.rows[i])]

    @property
    def mentions(self) -> int:
        return len(self.rows)


def result_rows(r: MentionResult) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The models' rows for a linked mention, rebuilt from its result (candidates in retrieval order): the entity
    model's (one per candidate, ALL_FEATURES) and the span model's (SPAN_FEATURES)."""
    by_qid = {c["qid"]: c for c in r.candidates}
    cands = [Candidate(q, by_qid[q]["label"], features=dict(by_qid[q]["features"])) for q in r.retrieved if q in by_qid]
    mention = MentionInput(r.mention_id, r.surface, "", detector=r.detector, ner_label=r.ner_label,
                           keyphrase=r.keyphrase)
    return mention_rows(mention, cands), [c.qid for c in cands], span_row(mention, cands)


def collect(linker: Linker, documents: Iterable[Document], detect: bool, into: Examples,
            progress: Callable[[int], None] | None = None, weight: float = 1.0, simulate: int = SIMULATE) -> None:
    """Link `documents` (detected spans when `detect`, else their gold spans) and add every mention as examples
    (`weight`: how much they count against the other documents': a small in-domain set among a large one), and one
    annotated mention in `simulate` again as out of the KB (0: none). The linker also computes the words overlap,
    which the learned model reads and the features method does not."""
    linker.extra_inputs.add(OVERLAP)
    for batch in chunked(documents, linker.options.batch_docs):
        gold: dict[str, dict[tuple[int | None, int | None], str | None]] = {
            d.id: {(m.start, m.end): m.gold for m in d.mentions or [] if m.start is not None} for d in batch}
        # a gold span without a gold answer (a benchmark's optional or nested label) is judged neither way
        docs = [Document(d.id, d.text, d.image, None if detect else [m for m in d.mentions or [] if m.gold is not None],
                         d.meta) for d in batch]
        results = linker.link_batch(docs)
        found: dict[str, set] = {}
        for r in results:
            if r.detector == coref.DETECTOR:
                continue  # a pronoun takes its antecedent's entity: nothing for the reranker to learn
            spans = gold[r.doc_id]
            found.setdefault(r.doc_id, set()).add((r.start, r.end))
            if (r.start, r.end) in spans and spans[(r.start, r.end)] is None:
                continue
            into.add(r, spans.get((r.start, r.end)), weight, annotated=(r.start, r.end) in spans)
            if (r.start, r.end) in spans:
                into.add_out_of_kb(r, spans[(r.start, r.end)], weight, simulate)
        if detect:
            into.missed[True] += sum(1 for d in batch for span, g in gold[d.id].items()
                                     if g and g != NIL and span not in found.get(d.id, set()))
        if progress:
            progress(len(batch))


def fit(train: Examples, dev: Examples, log: Callable[[str], None] = lambda _: None,
        span_model: bool = False) -> tuple[Ensemble, Ensemble | None, dict[str, Any]]:
    """The learned model, stopped early on the dev examples, and the NIL thresholds fitted on dev.

    `span_model`: two models, the entity model on the annotated (and simulated out-of-KB) mentions and the span
    model on the detected spans, the thresholds on their product. Otherwise one model over every mention
    (unannotated detected spans as mentions whose every candidate is wrong; simulated ones too), which reads the
    mention's keyphraseness itself: on the leave-one-out protocol it transferred better (README)."""
    started = time.monotonic()
    features = ENTITY_FEATURES if span_model else ALL_FEATURES
    entity_columns = [ALL_FEATURES.index(k) for k in features]
    which = (train.entity_mentions(), dev.entity_mentions()) if span_model else \
        (list(range(train.mentions)), list(range(dev.mentions)))
    x, y, w = train.matrix(which[0], entity_columns)
    xd, yd, _ = dev.matrix(which[1], entity_columns)
    booster = _boosters(x, y, w, xd, yd, list(features))
    span = None
    if span_model:
        sx, sy, sw = _span_matrix(train)
        sxd, syd, _ = _span_matrix(dev)
        span = _boosters(sx, sy, sw, sxd, syd, list(SPAN_FEATURES)) if len(set(sy)) == 2 and len(set(syd)) == 2 \
            else None
    seconds = time.monotonic() - started
    best = _best(booster, span, dev, entity_columns)
    thresholds, report = {}, {}
    for kind, detected in (("nil_detected", True), ("nil_given", False)):
        tops, missed = _tops(best, dev, detected)
        t, f1 = best_threshold(tops, missed)
        thresholds[kind] = t
        report[kind] = {"threshold": t, "dev_f1": round(f1, 4), "mentions": len(tops), "missed": missed}
    meta = {"rounds": [b.best_iteration or b.current_iteration() for b in booster.boosters],
            "span_rounds": [b.best_iteration or b.current_iteration() for b in span.boosters] if span else None,
            "seconds": round(seconds, 1), "train_rows": int(len(y)), "train_positive": int(y.sum()),
            "dev_rows": int(len(yd)), "train_mentions": train.mentions, "dev_mentions": dev.mentions,
            "simulated_out_of_kb": sum(train.simulated), **report, "dev_hits@1": _hits(best, dev)}
    log(f"fitted {meta['rounds']} entity trees and {meta['span_rounds']} span trees in {seconds:.1f} s; dev Hits@1 "
        f"{meta['dev_hits@1']:.3f}; NIL thresholds {thresholds}")
    return booster, span, {**thresholds, "meta": meta, "features": list(features)}


def _boosters(x: np.ndarray, y: np.ndarray, w: np.ndarray, xd: np.ndarray, yd: np.ndarray,
              names: list[str]) -> Ensemble:
    import lightgbm

    return Ensemble([lightgbm.train(
        {**PARAMS, "seed": PARAMS["seed"] + i}, lightgbm.Dataset(x, y, weight=w, feature_name=names),
        num_boost_round=ROUNDS, valid_sets=[lightgbm.Dataset(xd, yd, feature_name=names)],
        callbacks=[lightgbm.early_stopping(EARLY_STOP, verbose=False)]) for i in range(SEEDS)])


def _span_matrix(ex: Examples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The span model's rows (SPAN_FEATURES), labels (the span is annotated) and weights of the detected spans."""
    which = ex.span_mentions()
    if not which:
        return np.zeros((0, len(SPAN_FEATURES))), np.zeros(0), np.zeros(0)
    return (np.vstack([ex.spans[i] for i in which]), np.array([float(ex.annotated[i]) for i in which]),
            np.array([ex.weights[i] for i in which]))


def _best(booster: Ensemble, span: Ensemble | None, ex: Examples,
          entity_columns: list[int]) -> list[tuple[float, bool] | None]:
    """Per mention, its top score (the entity model's probability, times the span model's for a detected span)
    and whether that top candidate is right (None without candidates); one call of each model for all."""
    scored = [rows[:, entity_columns] for rows in ex.rows if len(rows)]
    probs = booster.predict(np.vstack(scored)) if scored else np.zeros(0)
    which = ex.span_mentions() if span is not None else []
    worth = dict(zip(which, span.predict(np.vstack([ex.spans[i] for i in which])))) \
        if which and span is not None else {}
    out: list[tuple[float, bool] | None] = []
    at = 0
    for m, (rows, labels) in enumerate(zip(ex.rows, ex.labels)):
        if not len(rows):
            out.append(None)
            continue
        p = probs[at:at + len(rows)] * worth.get(m, 1.0)
        at += len(rows)
        i = int(np.argmax(p))
        out.append((float(p[i]), bool(labels[i])))
    return out


def _tops(best: list[tuple[float, bool] | None], ex: Examples,
          detected: bool) -> tuple[list[tuple[float, bool]], int]:
    """(top score, top is right) per real mention of that kind (no simulated one), and the gold mentions that
    cannot be right."""
    tops, missed = [], ex.missed[detected]
    for top, det, known, simulated in zip(best, ex.detected, ex.gold_known, ex.simulated):
        if det != detected or simulated:
            continue
        if top is None:
            missed += known
            continue
        tops.append(top)
        if known and not top[1]:
            missed += 1
    return tops, missed


def _hits(best: list[tuple[float, bool] | None], ex: Examples) -> float:
    """Hits@1 over the given-span mentions with a known gold."""
    given = [top for top, det, known in zip(best, ex.detected, ex.gold_known) if not det and known]
    return sum(1 for top in given if top and top[1]) / len(given) if given else 0.0


def save(path: Path, booster: Ensemble, span: Ensemble | None, fitted: dict[str, Any], protocol: dict[str, Any],
         keyphrases: Keyphrases | None = None) -> None:
    data = {"features": fitted["features"], "nil_detected": fitted["nil_detected"],
            "nil_given": fitted["nil_given"], "nil_gazetteer": fitted.get("nil_gazetteer"), "meta": {**fitted["meta"], **protocol}, "models": booster.model_strings(),
            "span_features": list(SPAN_FEATURES) if span else None,
            "span_models": span.model_strings() if span else None,
            "keyphrases": keyphrases.to_json() if keyphrases else None}
    atomic_write(path, json.dumps(data, indent=1) + "\n")


def documents_only(docs: Iterable[Document], exclude_splits: tuple[str, ...] = ()) -> Iterator[Document]:
    """Documents with gold spans, leaving out those a dataset also lists in other splits (held apart)."""
    for d in docs:
        if exclude_splits and set(d.meta.get("splits") or []) & set(exclude_splits):
            continue
        if d.mentions:
            yield d
