"""Evaluation metrics for `kg eval`: Hits@k, MRR, candidate recall, NIL scores, per-type H@1.

One `Scored` per gold mention: its gold ("NIL" when the entity is not in the KB; None when unknown, which
leaves it out of every score), the final ranking, the candidates retrieval gave before reranking, the final
prediction (an entity id or "NIL") and the gold entity's types.

Definitions (n = mentions with a gold):

- Hits@k and MRR score the ranking the system commits to: the prediction first, then the rest of `ranked`
  (when the prediction is "NIL", "NIL" comes first). So Hits@1 is "prediction == gold"; a mention whose gold
  is NIL counts as a hit at every k (and reciprocal rank 1) iff it was predicted NIL.
- recall@K measures retrieval alone: the share of mentions with a non-NIL gold whose gold is among the first
  K retrieved candidates (NIL golds have nothing to retrieve and are left out). Reported for K = 1, 5, 10 and
  the configured K (`recall@k`, with `k`).
- NIL precision / recall / F1: a "NIL" prediction is correct when the gold is NIL; None when undefined (no
  NIL predicted, or no NIL gold).
- per type: n and Hits@1 for each type of the gold entity; a mention counts in each of its types.

Results are compared only under the same protocol (dataset, split, KB size, candidate set size), which the
caller fills with `protocol` and which is printed and written with the metrics.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kg.kgstore.errors import InputError
from kg.linkers.records import NIL

__all__ = ["NIL", "Evaluator", "Metrics", "Scored", "dumps", "evaluate", "protocol", "render_table"]

HITS_AT = (1, 3, 5)
RECALL_AT = (1, 5, 10)


@dataclass
class Scored:
    gold: str | None  # entity id, "NIL", or None (unknown: not scored)
    ranked: list[str]  # candidate ids after reranking, best first
    retrieved: list[str]  # candidate ids before reranking, best first
    predicted: str  # entity id or "NIL"
    types: list[str] = field(default_factory=list)


@dataclass
class Metrics:
    n: int
    hits: dict[int, float]  # k -> Hits@k
    mrr: float
    recall: dict[int, float]  # K -> candidate recall@K
    k: int  # the configured candidate set size
    n_retrievable: int  # mentions with a non-NIL gold (the recall denominator)
    n_nil_gold: int
    n_nil_predicted: int
    nil_precision: float | None
    nil_recall: float | None
    nil_f1: float | None
    per_type: dict[str, dict[str, float]]  # type -> {"n", "hits@1"}
    unscored: int  # mentions without a gold

    def to_json(self, protocol: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `kg eval --json` object: hits@1/3/5, mrr, recall@1/5/10, recall@k (at `k`), n, and the rest."""
        out: dict[str, Any] = {f"hits@{k}": v for k, v in self.hits.items()}
        out["mrr"] = self.mrr
        out.update({f"recall@{k}": self.recall[k] for k in RECALL_AT})
        out["recall@k"] = self.recall[self.k]
        out.update({
            "k": self.k, "n": self.n, "n_retrievable": self.n_retrievable, "n_nil_gold": self.n_nil_gold,
            "n_nil_predicted": self.n_nil_predicted, "nil_precision": self.nil_precision,
            "nil_recall": self.nil_recall, "nil_f1": self.nil_f1, "unscored": self.unscored,
            "per_type": self.per_type, "protocol": dict(protocol or {}),
        })
        return out


def protocol(dataset: str, split: str | None, kb_size: int | None, candidates: int | None,
             **extra: Any) -> dict[str, Any]:
    """The evaluation protocol printed with the metrics: what makes two results comparable."""
    return {"dataset": dataset, "split": split, "kb_size": kb_size, "candidates": candidates, **extra}


class Evaluator:
    """Accumulates `Scored` mentions one at a time (evaluation streams), then `metrics()`."""

    def __init__(self, k: int = 10) -> None:
        if k < 1:
            raise InputError(f"candidate set size (top-k) must be at least 1, got {k}")
        self.k = k
        self.n = self.unscored = self.retrievable = 0
        self.hits = dict.fromkeys(HITS_AT, 0)
        self.rr = 0.0
        self.recalled = dict.fromkeys(sorted({*RECALL_AT, k}), 0)
        self.nil_gold = self.nil_predicted = self.nil_correct = 0
        self.types: dict[str, list[int]] = {}  # type -> [n, hits@1]

    def add(self, s: Scored) -> None:
        if s.gold is None:
            self.unscored += 1
            return
        self.n += 1
        rank = _rank(s)
        for k in HITS_AT:
            self.hits[k] += int(rank is not None and rank <= k)
        self.rr += 1 / rank if rank else 0.0
        is_nil_gold, is_nil_pred = s.gold == NIL, s.predicted == NIL
        self.nil_gold += int(is_nil_gold)
        self.nil_predicted += int(is_nil_pred)
        self.nil_correct += int(is_nil_gold and is_nil_pred)
        if not is_nil_gold:
            self.retrievable += 1
            for k in self.recalled:
                self.recalled[k] += int(s.gold in s.retrieved[:k])
        for t in dict.fromkeys(s.types):
            counts = self.types.setdefault(t, [0, 0])
            counts[0] += 1
            counts[1] += int(rank == 1)

    def metrics(self) -> Metrics:
        precision = _ratio(self.nil_correct, self.nil_predicted)
        recall = _ratio(self.nil_correct, self.nil_gold)
        f1 = None
        if precision is not None and recall is not None:
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return Metrics(
            n=self.n,
            hits={k: _ratio(v, self.n) or 0.0 for k, v in self.hits.items()},
            mrr=self.rr / self.n if self.n else 0.0,
            recall={k: _ratio(v, self.retrievable) or 0.0 for k, v in self.recalled.items()},
            k=self.k,
            n_retrievable=self.retrievable,
            n_nil_gold=self.nil_gold,
            n_nil_predicted=self.nil_predicted,
            nil_precision=precision,
            nil_recall=recall,
            nil_f1=f1,
            per_type={t: {"n": n, "hits@1": h / n} for t, (n, h) in sorted(self.types.items())},
            unscored=self.unscored,
        )


def evaluate(scored: Iterable[Scored], k: int = 10) -> Metrics:
    ev = Evaluator(k)
    for s in scored:
        ev.add(s)
    return ev.metrics()


def _rank(s: Scored) -> int | None:
    """1-based rank of the gold in the committed ranking (prediction first), None when absent."""
    if s.predicted == NIL:
        return 1 if s.gold == NIL else _position([r for r in s.ranked if r != NIL], s.gold, offset=1)
    if s.gold == NIL:
        return None
    if s.predicted == s.gold:
        return 1
    return _position([r for r in s.ranked if r not in (s.predicted, NIL)], s.gold, offset=1)


def _position(items: list[str], item: str | None, offset: int) -> int | None:
    try:
        return items.index(item) + 1 + offset  # type: ignore[arg-type]
    except ValueError:
        return None


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def render_table(metrics: Metrics, protocol: Mapping[str, Any] | None = None, types: int = 10) -> str:
    """Plain-text report: the protocol, the metrics, and the `types` most frequent types' H@1."""
    lines = []
    for key, value in (protocol or {}).items():
        lines.append(f"{key:<14} {'-' if value is None else value}")
    if lines:
        lines.append("")
    rows = [(f"Hits@{k}", _fmt(v)) for k, v in metrics.hits.items()]
    rows.append(("MRR", _fmt(metrics.mrr)))
    rows += [(f"recall@{k}", _fmt(metrics.recall[k])) for k in sorted({*RECALL_AT, metrics.k})]
    rows += [("NIL precision", _fmt(metrics.nil_precision)), ("NIL recall", _fmt(metrics.nil_recall)),
             ("NIL F1", _fmt(metrics.nil_f1))]
    rows += [("n", str(metrics.n)), ("n (non-NIL gold)", str(metrics.n_retrievable)),
             ("n (NIL gold)", str(metrics.n_nil_gold))]
    if metrics.unscored:
        rows.append(("no gold (skipped)", str(metrics.unscored)))
    width = max(len(name) for name, _ in rows)
    lines += [f"{name:<{width}}  {value:>6}" for name, value in rows]
    top = sorted(metrics.per_type.items(), key=lambda kv: (-kv[1]["n"], kv[0]))[:types]
    if top:
        tw = max(len("type"), *(len(t) for t, _ in top))
        lines += ["", f"{'type':<{tw}}  {'n':>6}  {'Hits@1':>6}"]
        lines += [f"{t:<{tw}}  {int(v['n']):>6}  {_fmt(v['hits@1']):>6}" for t, v in top]
        if len(metrics.per_type) > types:
            lines.append(f"({len(metrics.per_type) - types} more types in --json output)")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def dumps(metrics: Metrics, protocol: Mapping[str, Any] | None = None) -> str:
    """`metrics.to_json(protocol)` as JSON text (keys in a stable order)."""
    return json.dumps(metrics.to_json(protocol), indent=2, ensure_ascii=False)
