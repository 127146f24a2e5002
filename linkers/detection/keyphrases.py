"""Keyphraseness (link probability): how often a surface, where a text has it, is a linked gold mention; learned
from training documents with gold spans by `kg train --reranker learned` and shipped inside the learned model.

A NER model finds names, not the lowercase concepts a benchmark may link ("poet", "professor") nor a title it
may link where the text capitalises it ("President"); the gazetteer finds them among thousands of common words
nobody links ("official", "video"). The hybrid detector keeps such a KB name only where its keyphraseness says
it is usually linked, and every mention carries its keyphraseness into the learned reranker as a feature, so the
model also learns which names a set's annotators leave unlinked ("B.A.", "Physics").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kg.linkers.detection.detect import alias_key
from kg.linkers.records import NIL, Document

KEEP = 0.5  # a span the detector would otherwise drop is kept from this keyphraseness up


class _Gazetteer(Protocol):
    def detect(self, text: str) -> list[tuple[int, int, str]]:
        ...


@dataclass
class Keyphrases:
    """Weighted counts per normalised surface: its occurrences, and those that are linked gold mentions."""

    linked: dict[str, float] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)

    def score(self, surface: str) -> float | None:
        """linked / seen for the surface's key; None when training never saw it."""
        key = alias_key(surface)
        seen = self.seen.get(key)
        return self.linked.get(key, 0.0) / seen if seen else None

    def keeps(self, surface: str) -> bool:
        found = self.score(surface)
        return found is not None and found >= KEEP

    def add(self, text: str, gold: dict[tuple[int, int], bool], gazetteer: _Gazetteer, weight: float = 1.0) -> None:
        """Count one training text: every KB-name match of the gazetteer and every gold span is an occurrence;
        `gold` maps a gold span to whether it is linked (a known entity, not NIL)."""
        spans = {(s, e) for s, e, _ in gazetteer.detect(text)} | set(gold)
        for s, e in spans:
            key = alias_key(text[s:e])
            if not key:
                continue
            self.seen[key] = self.seen.get(key, 0.0) + weight
            if gold.get((s, e)):
                self.linked[key] = self.linked.get(key, 0.0) + weight

    def __len__(self) -> int:
        return len(self.seen)

    def __add__(self, other: Keyphrases) -> Keyphrases:
        """The counts of both (the table of two halves of a training set from the tables of each)."""
        def summed(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
            return {k: a.get(k, 0.0) + b.get(k, 0.0) for k in a.keys() | b.keys()}

        return Keyphrases(summed(self.linked, other.linked), summed(self.seen, other.seen))

    def to_json(self) -> dict[str, Any]:
        return {"linked": {k: round(v, 3) for k, v in sorted(self.linked.items())},
                "seen": {k: round(v, 3) for k, v in sorted(self.seen.items())}}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Keyphrases | None:
        if not data:
            return None
        return cls({k: float(v) for k, v in data.get("linked", {}).items()},
                   {k: float(v) for k, v in data.get("seen", {}).items()})


def learn(documents: Iterable[tuple[Document, float]], gazetteer: _Gazetteer) -> Keyphrases:
    """From (document with gold mentions, weight) pairs; a mention without a gold answer (a benchmark's optional
    label, a pronoun) counts neither way."""
    table = Keyphrases()
    for doc, weight in documents:
        gold = {(m.start, m.end): m.gold != NIL for m in doc.mentions or []
                if m.start is not None and m.end is not None and m.gold is not None}
        table.add(doc.text, gold, gazetteer, weight)
    return table
