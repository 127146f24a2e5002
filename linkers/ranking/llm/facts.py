"""A few facts per entity for LLM prompts (KAR): description, types, then the first attributes and relations, each
as "property: value" (the graph reads are kgstore.cards primitives; what a prompt shows is decided here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kg.kgstore.cards import entity_summaries, first_relations, labels_for
from kg.kgstore.graph import GraphStore

MAX_VALUE_CHARS = 120  # an attribute's values, joined, are cut here: a prompt line stays short


@dataclass
class EntityFacts:
    qid: str
    label: str | None
    description: str | None
    types: list[str] = field(default_factory=list)  # type labels
    facts: list[tuple[str, str]] = field(default_factory=list)  # (property label, value or target label)

    def line(self) -> str:
        """One line for a prompt: description, types, then property: value pairs."""
        parts = [self.description or ""]
        if self.types:
            parts.append("type: " + ", ".join(self.types))
        parts += [f"{p}: {v}" for p, v in self.facts]
        return "; ".join(p for p in parts if p)


def entity_facts(graph: GraphStore, qids: list[str], max_facts: int = 6) -> dict[str, EntityFacts]:
    """Facts for many entities in three reads; attributes first (names, dates), then relations."""
    summaries = entity_summaries(graph, qids)
    if not summaries:
        return {}
    rels = first_relations(graph, [s.qid for s in summaries], max_facts)
    keys = {k for s in summaries for k in s.attributes} | {pid for v in rels.values() for pid, _ in v}
    names = labels_for(graph, sorted(keys | {t for s in summaries for t in s.types}))
    out: dict[str, EntityFacts] = {}
    for s in summaries:
        facts = [(names.get(k, k), "; ".join(map(str, v))[:MAX_VALUE_CHARS]) for k, v in sorted(s.attributes.items())
                 if k != "summary" and v]
        facts += [(names.get(pid, pid), target) for pid, target in rels.get(s.qid, []) if target]
        out[s.qid] = EntityFacts(s.qid, s.label, s.description, [names.get(t, t) for t in s.types],
                                 facts[:max_facts])
    return out
