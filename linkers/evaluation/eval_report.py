"""A `kg eval --report` file read back for people: every case with its error category, text, gold and prediction.

Span-level reports (ELEVANT's benchmarks) carry their categories (`linkers.evaluation.elevant`); mention-level reports
(WikiMEL, WikiDiverse, corpus files) list wrong mentions with their traces, categorised here by the same names
where they mean the same, plus `not_retrieved` (the gold entity was not among the candidates: a retrieval error,
not a ranking one).

Since format 2 a report also carries what a reader needs with no KB at hand (`readable`): `documents`, the text of
every document with a case, and `entities`, the label and first type of every gold or predicted entity. Older
reports load without them (their cases then show no sentence and no type).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.kgstore.cards import labels_and_types
from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore
from kg.linkers.corpus import NIL

REPORT_FORMAT = 2
UNKNOWN = frozenset({NIL, "<NIL>", "<NO_MAPPING>", "Unknown", ""})  # no entity: as ELEVANT's UNKNOWN_IDS


@dataclass
class ReportCase:
    category: str
    text: str | None  # the mention's surface
    gold: str | None
    predicted: str | None
    document: str | None = None
    span: tuple[int, int] | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)  # qid, label, score, from the trace
    tp: int = 0  # what the case counted for precision and recall
    fp: int = 0
    fn: int = 0
    index: int = 0  # its place in the report: the case's id on the pages

    @property
    def key(self) -> tuple[str | None, tuple[int, int] | None]:
        """What identifies the mention across runs on the same data: its document and span."""
        return (self.document, self.span)


@dataclass
class EvalReport:
    name: str
    kind: str  # "spans" or "mentions"
    metrics: dict[str, Any]
    cases: list[ReportCase]
    complete: bool = False  # every case is listed (`--report-all`), not only the wrong ones
    documents: dict[str, str] = field(default_factory=dict)  # id -> text (format 2)
    entities: dict[str, dict[str, str | None]] = field(default_factory=dict)  # qid -> label, type (format 2)

    def categories(self) -> dict[str, int]:
        return dict(Counter(c.category for c in self.cases).most_common())

    def entity_type(self, case: ReportCase) -> str | None:
        """The type a case is grouped by: its gold entity's, else (a spurious or NIL-gold link) its prediction's."""
        for qid in (case.gold, case.predicted):
            if qid and qid not in UNKNOWN and qid in self.entities:
                return self.entities[qid].get("type")
        return None


def readable(graph: GraphStore, texts: dict[str, str], qids: set[str | None]) -> dict[str, Any]:
    """What makes a report readable on its own (format 2): the given documents' texts (those with a case) and the
    label and first type of each entity named."""
    return {"format": REPORT_FORMAT, "documents": texts,
            "entities": labels_and_types(graph, [q for q in qids if q and q not in UNKNOWN])}


def mention_counts(gold: str | None, predicted: str | None) -> tuple[int, int, int]:
    """(tp, fp, fn) of a mention-level result, as ELEVANT's IGNORED mode counts a prediction on a gold span."""
    known_gold, linked = gold not in UNKNOWN and gold is not None, predicted not in UNKNOWN and predicted is not None
    if known_gold and predicted == gold:
        return 1, 0, 0
    return 0, int(linked), int(known_gold)


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
    documents = {str(k): v for k, v in (data.get("documents") or {}).items() if isinstance(v, str)}
    entities = {str(k): v for k, v in (data.get("entities") or {}).items() if isinstance(v, dict)}
    if isinstance(data.get("cases"), list):
        cases = [ReportCase(c.get("category", "?"), c.get("text"), c.get("gold"), c.get("predicted"),
                            str(c.get("article")), (c["span"][0], c["span"][1]) if c.get("span") else None,
                            _candidates(c.get("trace")), c.get("tp", 0), c.get("fp", 0), c.get("fn", 0), i)
                 for i, c in enumerate(x for x in data["cases"] if isinstance(x, dict))]
        # --report-all lists the correct ones too (format 1 did not say so: a correct case shows it)
        complete = bool(data.get("all_cases", any(c.category == "correct" for c in cases)))
        return EvalReport(Path(path).name, "spans", data["metrics"], cases, complete, documents, entities)
    mentions = data.get("errors", data.get("mentions"))
    if not isinstance(mentions, list):
        raise InputError(f"{path} is not a `kg eval --report` file (no `cases`, `errors` or `mentions` list)")
    cases = [ReportCase(mention_category(m.get("gold"), m.get("qid"), m.get("retrieved") or []), m.get("surface"),
                        m.get("gold"), m.get("qid") or NIL, m.get("doc_id"),
                        (m["start"], m["end"]) if m.get("start") is not None else None, _candidates(m),
                        *mention_counts(m.get("gold"), m.get("qid") or NIL), i)
             for i, m in enumerate(x for x in mentions if isinstance(x, dict))]
    return EvalReport(Path(path).name, "mentions", data["metrics"], cases, "mentions" in data, documents, entities)


def _candidates(result: dict | None) -> list[dict[str, Any]]:
    if not isinstance(result, dict):
        return []
    return [{"qid": c.get("qid"), "label": c.get("label"), "score": c.get("score")}
            for c in result.get("candidates") or [] if isinstance(c, dict)]
