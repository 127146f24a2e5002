"""Fitting the learned reranker (`kg train --reranker learned`): examples from linking a training split twice
(mentions detected, and the gold spans given), LightGBM with early stopping on the dev split, and the NIL
thresholds that maximise F1 on the dev split.

A detected span that matches no gold span (or a NIL gold) is an example whose every candidate is wrong: that is
what teaches the model which spans are not worth linking.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from kgstore.chunks import chunked
from kgstore.files import atomic_write
from linkers import coref
from linkers.candidates import Candidate
from linkers.features import OVERLAP
from linkers.keyphrases import Keyphrases
from linkers.records import NIL, Document
from linkers.pipeline import Linker, MentionResult
from linkers.rerankers.base import MentionInput
from linkers.rerankers.learned import ALL_FEATURES, Ensemble, best_threshold, mention_rows

PARAMS = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20,
          "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1, "lambda_l2": 1.0, "seed": 13,
          "deterministic": True, "num_threads": 2, "verbose": -1}
ROUNDS = 600
EARLY_STOP = 40
SEEDS = 3  # boosters averaged (Ensemble), each with its own bagging seed


@dataclass
class Examples:
    """Candidate rows with labels, grouped by mention; per mention whether it was detected and its gold."""

    rows: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)
    gold_known: list[bool] = field(default_factory=list)  # a (non-NIL) gold entity is behind this mention
    missed: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})  # gold mentions never detected
    weights: list[float] = field(default_factory=list)  # per mention: how much its rows count in training

    def add(self, result: MentionResult, gold: str | None, weight: float = 1.0) -> None:
        rows, qids = result_rows(result)
        self.rows.append(rows)
        self.labels.append(np.array([1.0 if gold and q == gold else 0.0 for q in qids]))
        self.detected.append(result.detector is not None)
        self.gold_known.append(bool(gold and gold != NIL))
        self.weights.append(weight)

    def matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, labels and row weights of every mention with candidates."""
        keep = [i for i, r in enumerate(self.rows) if len(r)]
        if not keep:
            return np.zeros((0, len(ALL_FEATURES))), np.zeros(0), np.zeros(0)
        return (np.vstack([self.rows[i] for i in keep]), np.concatenate([self.labels[i] for i in keep]),
                np.concatenate([np.full(len(self.rows[i]), self.weights[i]) for i in keep]))

    @property
    def mentions(self) -> int:
        return len(self.rows)


def result_rows(r: MentionResult) -> tuple[np.ndarray, list[str]]:
    """The learned model's rows for a linked mention, rebuilt from its result (candidates in retrieval order)."""
    by_qid = {c["qid"]: c for c in r.candidates}
    cands = [Candidate(q, by_qid[q]["label"], features=dict(by_qid[q]["features"])) for q in r.retrieved if q in by_qid]
    mention = MentionInput(r.mention_id, r.surface, "", detector=r.detector, ner_label=r.ner_label,
                           keyphrase=r.keyphrase)
    return mention_rows(mention, cands), [c.qid for c in cands]


def collect(linker: Linker, documents: Iterable[Document], detect: bool, into: Examples,
            progress: Callable[[int], None] | None = None, weight: float = 1.0) -> None:
    """Link `documents` (detected spans when `detect`, else their gold spans) and add every mention as examples
    (`weight`: how much they count against the other documents': a small in-domain set among a large one). The
    linker also computes the words overlap, which the learned model reads and the features method does not."""
    linker.extra_inputs.add(OVERLAP)
    for batch in chunked(documents, linker.options.batch_docs):
        gold = {d.id: {(m.start, m.end): m.gold for m in d.mentions or [] if m.start is not None} for d in batch}
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
            into.add(r, spans.get((r.start, r.end)), weight)
        if detect:
            into.missed[True] += sum(1 for d in batch for span, g in gold[d.id].items()
                                     if g and g != NIL and span not in found.get(d.id, set()))
        if progress:
            progress(len(batch))


def fit(train: Examples, dev: Examples,
        log: Callable[[str], None] = lambda _: None) -> tuple[Ensemble, dict[str, Any]]:
    """LightGBM on the training examples, stopped early on the dev examples; thresholds fitted on dev."""
    import lightgbm

    x, y, w = train.matrix()
    xd, yd, _ = dev.matrix()
    started = time.monotonic()
    names = list(ALL_FEATURES)
    booster = Ensemble([lightgbm.train(
        {**PARAMS, "seed": PARAMS["seed"] + i}, lightgbm.Dataset(x, y, weight=w, feature_name=names),
        num_boost_round=ROUNDS, valid_sets=[lightgbm.Dataset(xd, yd, feature_name=names)],
        callbacks=[lightgbm.early_stopping(EARLY_STOP, verbose=False)]) for i in range(SEEDS)])
    seconds = time.monotonic() - started
    best = _best(booster, dev)
    thresholds, report = {}, {}
    for kind, detected in (("nil_detected", True), ("nil_given", False)):
        tops, missed = _tops(best, dev, detected)
        t, f1 = best_threshold(tops, missed)
        thresholds[kind] = t
        report[kind] = {"threshold": t, "dev_f1": round(f1, 4), "mentions": len(tops), "missed": missed}
    meta = {"rounds": [b.best_iteration or b.current_iteration() for b in booster.boosters],
            "seconds": round(seconds, 1),
            "train_rows": int(len(y)), "train_positive": int(y.sum()), "dev_rows": int(len(yd)),
            "train_mentions": train.mentions, "dev_mentions": dev.mentions, **report,
            "dev_hits@1": _hits(best, dev)}
    log(f"fitted {meta['rounds']} trees in {seconds:.1f} s; dev Hits@1 {meta['dev_hits@1']:.3f}; NIL thresholds "
        f"{thresholds}")
    return booster, {**thresholds, "meta": meta}


def _best(booster: Any, ex: Examples) -> list[tuple[float, bool] | None]:
    """Per mention, its top probability and whether that top candidate is right (None without candidates);
    one model call for all of them."""
    scored = [rows for rows in ex.rows if len(rows)]
    probs = booster.predict(np.vstack(scored)) if scored else np.zeros(0)
    out: list[tuple[float, bool] | None] = []
    at = 0
    for rows, labels in zip(ex.rows, ex.labels):
        if not len(rows):
            out.append(None)
            continue
        p = probs[at:at + len(rows)]
        at += len(rows)
        i = int(np.argmax(p))
        out.append((float(p[i]), bool(labels[i])))
    return out


def _tops(best: list[tuple[float, bool] | None], ex: Examples,
          detected: bool) -> tuple[list[tuple[float, bool]], int]:
    """(top probability, top is right) per mention of that kind, and the gold mentions that cannot be right."""
    tops, missed = [], ex.missed[detected]
    for top, det, known in zip(best, ex.detected, ex.gold_known):
        if det != detected:
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


def save(path: Path, booster: Ensemble, fitted: dict[str, Any], protocol: dict[str, Any],
         keyphrases: Keyphrases | None = None) -> None:
    data = {"features": list(ALL_FEATURES), "nil_detected": fitted["nil_detected"], "nil_given": fitted["nil_given"],
            "meta": {**fitted["meta"], **protocol}, "models": booster.model_strings(),
            "keyphrases": keyphrases.to_json() if keyphrases else None}
    atomic_write(path, json.dumps(data, indent=1) + "\n")


def documents_only(docs: Iterable[Document], exclude_splits: tuple[str, ...] = ()) -> Iterator[Document]:
    """Documents with gold spans, leaving out those a dataset also lists in other splits (held apart)."""
    for d in docs:
        if exclude_splits and set(d.meta.get("splits") or []) & set(exclude_splits):
            continue
        if d.mentions:
            yield d
