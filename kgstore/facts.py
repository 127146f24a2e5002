"""A few facts per entity for LLM prompts (KAR): description, types, the first relations and attributes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kg.kgstore.cards import labels_for
from kg.kgstore.graph import GraphStore

# A few facts per entity for prompts (KAR): description, types and the first relations and attributes by property.
FACTS_QUERY = """
UNWIND $ids AS id
MATCH (e:Entity {qid: id})
RETURN e.qid AS qid, e.label AS label, e.description AS description, e.types AS types,
       e.attributes_json AS attributes_json
"""
FACT_RELATIONS_QUERY = """
UNWIND $ids AS id
MATCH (e:Entity {qid: id})-[r]->(b:Entity)
WHERE r.pid IS NOT NULL
WITH e, r, b ORDER BY r.pid, b.qid
WITH e.qid AS qid, collect({pid: r.pid, target: b.label}) AS rels
RETURN qid, rels[0..$limit] AS rels
"""


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
    """Facts for many entities in two queries; attributes first (names, dates), then relations."""
    ids = sorted(set(qids))
    if not ids:
        return {}
    rows = graph.read(FACTS_QUERY, ids=ids)
    rels = {r["qid"]: r["rels"] for r in graph.read(FACT_RELATIONS_QUERY, ids=ids, limit=max_facts)}
    attributes = {r["qid"]: json.loads(r["attributes_json"] or "{}") for r in rows}
    keys = {k for a in attributes.values() for k in a} | {x["pid"] for v in rels.values() for x in v}
    names = labels_for(graph, sorted(keys | {t for r in rows for t in r["types"] or []}))
    out: dict[str, EntityFacts] = {}
    for r in rows:
        facts = [(names.get(k, k), "; ".join(map(str, v))[:120]) for k, v in sorted(attributes[r["qid"]].items())
                 if k != "summary" and v]
        facts += [(names.get(x["pid"], x["pid"]), x["target"]) for x in rels.get(r["qid"], []) if x["target"]]
        out[r["qid"]] = EntityFacts(r["qid"], r["label"], r["description"],
                                    [names.get(t, t) for t in r["types"] or []], facts[:max_facts])
    return out
