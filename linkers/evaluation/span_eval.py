"""End-to-end evaluation the way the text-linking field measures it: link raw text (mentions detected, or the gold
spans given), then score spans and QIDs by ELEVANT's rules (`linkers.evaluation.elevant`).

Benchmarks come as ELEVANT's JSONL (`Article`) or as a corpus JSONL whose mentions carry `gold`; both become
`Article`s, so one scorer serves both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kg.linkers.evaluation.elevant import (
    Article,
    GoldLabel,
    Prediction,
    SpanScores,
    disambiguation_accuracy,
    disambiguation_spans,
    score,
)
from kg.linkers.pipeline import Linker, MentionResult
from kg.linkers.postprocess import coref
from kg.linkers.records import NIL, Document, Mention

SPAN_MODES = ("detect", "gold")


@dataclass
class SpanEvaluation:
    scores: SpanScores
    spans: str  # "detect" or "gold"
    mentions: int
    seconds: float
    accuracy: tuple[int, int, float] | None = None  # gold spans: (correct, total, share)
    results: list[MentionResult] = field(default_factory=list)
    diagnosis: dict[str, Any] = field(default_factory=dict)  # see `diagnose`

    def to_json(self, cases: bool = False) -> dict[str, Any]:
        data = self.scores.to_json(cases=cases)
        data.update({"spans": self.spans, "mentions": self.mentions, "seconds": round(self.seconds, 2),
                     "documents_per_s": round(self.scores.articles / self.seconds, 1) if self.seconds else None})
        if self.accuracy is not None:
            correct, total, share = self.accuracy
            data["disambiguation"] = {"correct": correct, "total": total, "accuracy": share}
        if self.diagnosis:
            data["diagnosis"] = self.diagnosis
        return data


def article_from_document(doc: Document) -> Article:
    """A corpus document with gold mentions as an ELEVANT article (gold NIL is ELEVANT's `<NIL>`)."""
    placed = [(m.start, m.end, m.gold, m.surface) for m in doc.mentions or []
              if m.start is not None and m.end is not None and m.gold is not None]  # a start comes with an end
    labels = [GoldLabel(i, start, end, "<NIL>" if gold == NIL else gold, surface)
              for i, (start, end, gold, surface) in enumerate(placed)]
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


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(start < span[1] and span[0] < end and (start, end) != span for start, end in others)


def diagnose(scores: SpanScores, results: list[MentionResult],
             in_kb: Callable[[set[str]], set[str]] | None = None) -> dict[str, Any]:
    """What the error categories are made of, so that a fix can aim at one cause.

    - `candidate_recall`: of the gold mentions with a QID whose exact span was linked (detected or given; pronouns,
      which take their antecedent's entity, aside), the share whose gold was among the candidates: what candidate
      generation gets right, whatever the ranking.
    - `wrongly_nil`: a right span left unlinked, by where the gold stood: never a candidate (and, with `in_kb`,
      how many of those are in the KB at all), or ranked r-th and scored under the NIL threshold.
    - `wrong_entity`: a right span linked to another entity, with the gold among the candidates or not.
    - `missed_mention` and `spurious_mention`: a span boundary error (another span overlaps it) or not; spurious
      ones capitalised (title-case words taken for names) or not.
    """
    by_span = {(r.doc_id, r.start, r.end): r for r in results if r.start is not None}
    spans: dict[str, list[tuple[int, int]]] = {}
    gold_spans: dict[str, list[tuple[int, int]]] = {}
    for result in results:
        if result.start is not None and result.end is not None:
            spans.setdefault(result.doc_id, []).append((result.start, result.end))
    for c in scores.cases:
        if c.gold is not None:
            gold_spans.setdefault(c.article_id, []).append((c.start, c.end))
    linked = found = 0
    nil: dict[str, int] = {}
    wrong = {"gold_not_candidate": 0, "gold_ranked_lower": 0}
    not_candidate: list[str] = []  # the gold of each wrongly NIL case whose gold was no candidate
    missed = {"span_boundary": 0, "not_detected": 0}
    spurious = {"span_boundary": 0, "capitalised": 0, "lowercase": 0}
    for c in scores.cases:
        r = by_span.get((c.article_id, c.start, c.end))
        if c.gold not in (None, NIL) and (c.tp or c.fn) and r is not None and r.detector != coref.DETECTOR:
            linked += 1
            found += c.gold in r.retrieved or c.gold in {x["qid"] for x in r.candidates}
        if c.category == "wrongly_nil":
            ranked = [x["qid"] for x in r.candidates] if r is not None else []
            if r is None:
                key = "other_span"
            elif c.gold in ranked:
                rank = ranked.index(c.gold) + 1
                key = "gold_rank_1" if rank == 1 else "gold_rank_2_3" if rank <= 3 else "gold_rank_4_plus"
            else:
                key = "gold_not_candidate"
                not_candidate.append(str(c.gold))
            nil[key] = nil.get(key, 0) + 1
        elif c.category == "wrong_entity" and r is not None:
            wrong["gold_ranked_lower" if c.gold in {x["qid"] for x in r.candidates} else "gold_not_candidate"] += 1
        elif c.category == "missed_mention":
            missed["span_boundary" if _overlaps((c.start, c.end), spans.get(c.article_id, [])) else "not_detected"] += 1
        elif c.category == "spurious_mention":
            if _overlaps((c.start, c.end), gold_spans.get(c.article_id, [])):
                spurious["span_boundary"] += 1
            else:
                spurious["capitalised" if c.text[:1].isupper() else "lowercase"] += 1
    out: dict[str, Any] = {
        "candidate_recall": {"gold_mentions_linked_at_their_span": linked, "gold_among_candidates": found,
                             "share": round(found / linked, 4) if linked else None},
        "wrongly_nil": nil, "wrong_entity": wrong, "missed_mention": missed, "spurious_mention": spurious}
    if in_kb is not None and not_candidate:
        known = in_kb(set(not_candidate))
        out["wrongly_nil"]["gold_not_candidate_but_in_kb"] = sum(1 for q in not_candidate if q in known)
    return out


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
    d = ev.diagnosis
    if d:
        recall = d["candidate_recall"]
        if recall["share"] is not None:
            lines.append(f"  candidate recall {recall['share']:6.1%} (gold among the candidates of "
                         f"{recall['gold_among_candidates']:,} of the {recall['gold_mentions_linked_at_their_span']:,} "
                         "gold mentions linked at their exact span)")
        for key in ("wrongly_nil", "wrong_entity", "missed_mention", "spurious_mention"):
            if any(d[key].values()):
                lines.append(f"  {key}: " + "  ".join(f"{k} {v:,}" for k, v in d[key].items() if v))
    lines.append("  protocol: " + ", ".join(f"{k} {v}" for k, v in protocol.items() if v is not None))
    return "\n".join(lines)
