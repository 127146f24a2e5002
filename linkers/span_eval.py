"""End-to-end evaluation the way the text-linking field measures it: link raw text (mentions detected, or the gold
spans given), then score spans and QIDs by ELEVANT's rules (`linkers.elevant`).

Benchmarks come as ELEVANT's JSONL (`Article`) or as a corpus JSONL whose mentions carry `gold`; both become
`Article`s, so one scorer serves both.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from linkers.records import NIL, Document, Mention
from linkers.elevant import Article, GoldLabel, Prediction, SpanScores, disambiguation_accuracy, \
    disambiguation_spans, score
from linkers.pipeline import Linker, MentionResult

SPAN_MODES = ("detect", "gold")


@dataclass
class SpanEvaluation:
    scores: SpanScores
    spans: str  # "detect" or "gold"
    mentions: int
    seconds: float
    accuracy: tuple[int, int, float] | None = None  # gold spans: (correct, total, share)
    results: list[MentionResult] = field(default_factory=list)

    def to_json(self, cases: bool = False) -> dict[str, Any]:
        data = self.scores.to_json(cases=cases)
        data.update({"spans": self.spans, "mentions": self.mentions, "seconds": round(self.seconds, 2),
                     "documents_per_s": round(self.scores.articles / self.seconds, 1) if self.seconds else None})
        if self.accuracy is not None:
            correct, total, share = self.accuracy
            data["disambiguation"] = {"correct": correct, "total": total, "accuracy": share}
        return data


def article_from_document(doc: Document) -> Article:
    """A corpus document with gold mentions as an ELEVANT article (gold NIL is ELEVANT's `<NIL>`)."""
    labels = [GoldLabel(i, m.start, m.end, "<NIL>" if m.gold == NIL else m.gold, m.surface)
              for i, m in enumerate(m for m in doc.mentions or [] if m.start is not None and m.gold is not None)]
    return Article(doc.id, doc.id, doc.text, (0, len(doc.text)), labels)


def document_of(article: Article, gold_spans: bool) -> Document:
    """The text to link: without mentions (detect them), or with the gold spans that count for recall."""
    if not gold_spans:
        return Document(str(article.id), article.text, mentions=None)
    mentions = [Mention(f"{article.id}#{lab.start}-{lab.end}", lab.start, lab.end, article.text[lab.start:lab.end],
                        gold=lab.entity_id) for lab in disambiguation_spans(article)]
    return Document(str(article.id), article.text, mentions=mentions)


def evaluate(linker: Linker, articles: Iterable[Article], *, gold_spans: bool = False,
             progress: Any = None) -> SpanEvaluation:
    """Link every article (nothing written) and score the predicted spans against the gold labels."""
    keyed = {str(a.id): a for a in articles}
    predictions: dict[str, list[Prediction]] = {}
    results: list[MentionResult] = []
    started = time.perf_counter()
    for batch, out in linker.link_batches(document_of(a, gold_spans) for a in keyed.values()):
        for r in out:
            if r.start is None or r.end is None:
                continue
            predictions.setdefault(r.doc_id, []).append(Prediction(r.start, r.end, r.qid or NIL))
        results += out
        if progress is not None:
            progress.update(len(batch))
    seconds = time.perf_counter() - started
    scores = score(keyed.values(), predictions)
    accuracy = disambiguation_accuracy(keyed.values(), predictions) if gold_spans else None
    return SpanEvaluation(scores, "gold" if gold_spans else "detect", len(results), seconds, accuracy, results)


def render(ev: SpanEvaluation, protocol: dict[str, Any]) -> str:
    s = ev.scores
    lines = [f"{protocol.get('dataset')}: {s.articles:,} documents, {ev.mentions:,} mentions linked "
             f"({'gold spans given' if ev.spans == 'gold' else 'mentions detected'}), ELEVANT rules, "
             f"{s.mode} mode",
             f"  precision {s.precision:6.1%}   recall {s.recall:6.1%}   F1 {s.f1:6.1%}   "
             f"(TP {s.tp:,}  FP {s.fp:,}  FN {s.fn:,})"]
    if ev.accuracy is not None:
        correct, total, share = ev.accuracy
        lines.append(f"  disambiguation accuracy {share:6.1%} ({correct:,} of {total:,} gold spans)")
    lines.append("  cases: " + "  ".join(f"{k} {v:,}" for k, v in s.categories.items()))
    lines.append("  protocol: " + ", ".join(f"{k} {v}" for k, v in protocol.items() if v is not None))
    return "\n".join(lines)
