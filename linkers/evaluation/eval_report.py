"""A `kg eval --report` file read back for people: every case with its error category, text, gold and prediction.

Span-level reports (ELEVANT's benchmarks) carry their categories (`linkers.evaluation.elevant`); mention-level reports
(WikiMEL, WikiDiverse, corpus files) list wrong mentions with their traces, categorised here by the same names
where they mean the same, plus `not_retrieved` (the gold entity was not among the candidates: a retrieval error,
not a ranking one).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.kgstore.errors import InputError
from kg.linkers.corpus import NIL


@dataclass
class ReportCase:
    category: str
    text: str | None  # the mention's surface
    gold: str | None
    predicted: str | None
    document: str | None = None
    span: tuple[int, int] | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)  # qid, label, score, from the trace


@dataclass
class EvalReport:
    name: str
    kind: str  # "spans" or "mentions"
    metrics: dict[str, Any]
    cases: list[ReportCase]

    def categories(self) -> dict[str, int]:
        return dict(Counter(c.category for c in self.cases).most_common())


def mention_category(gold: str | None, predicted: str | None, retrieved: list[str]) -> str:
    """What kind of mistake a mention-level result is (or `correct`)."""
    predicted = predicted or NIL
    if predicted == gold:
        return "correct"
    if gold == NIL:
        return "linked_nil"
    if gold not in retrieved:
        return "not_retrieved"
    return "wrongly_nil" if predicted == NIL else "wrong_entity"


def load_report(path: Path) -> EvalReport:
    """Either report shape `kg eval --report` writes; a file that is neither is an InputError naming it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the evaluation report {path}: {exc}; give a file `kg eval --report` wrote") \
            from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f"{path} is not a `kg eval --report` file (no `metrics` object)")
    if isinstance(data.get("cases"), list):
        cases = [ReportCase(c.get("category", "?"), c.get("text"), c.get("gold"), c.get("predicted"),
                            str(c.get("article")), tuple(c["span"]) if c.get("span") else None,
                            _candidates(c.get("trace")))
                 for c in data["cases"]]
        return EvalReport(Path(path).name, "spans", data["metrics"], cases)
    mentions = data.get("errors", data.get("mentions"))
    if not isinstance(mentions, list):
        raise InputError(f"{path} is not a `kg eval --report` file (no `cases`, `errors` or `mentions` list)")
    cases = [ReportCase(mention_category(m.get("gold"), m.get("qid"), m.get("retrieved") or []), m.get("surface"),
                        m.get("gold"), m.get("qid") or NIL, m.get("doc_id"),
                        (m["start"], m["end"]) if m.get("start") is not None else None, _candidates(m))
             for m in mentions if isinstance(m, dict)]
    return EvalReport(Path(path).name, "mentions", data["metrics"], cases)


def _candidates(result: dict | None) -> list[dict[str, Any]]:
    if not isinstance(result, dict):
        return []
    return [{"qid": c.get("qid"), "label": c.get("label"), "score": c.get("score")}
            for c in result.get("candidates") or [] if isinstance(c, dict)]
