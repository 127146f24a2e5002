"""Entity cards behind `kg query entity`, labels and summaries by id, outgoing relations of many entities, and
entity references checked to exist."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore

CARD_QUERY = """
MATCH (e:Entity {qid: $qid})
RETURN e.qid AS qid, e.kind AS kind, e.label AS label, e.description AS description, e.aliases AS aliases,
       e.labels_json AS labels_json, e.wikipedia_title AS wikipedia_title, e.wikipedia_url AS wikipedia_url,
       e.sitelinks AS sitelinks, e.images AS images, e.image_urls AS image_urls, e.types AS types,
       e.subclass_of AS subclass_of, e.attributes_json AS attributes_json, e.stub AS stub
"""
RELATIONS_QUERY = """
MATCH (e:Entity {qid: $qid})-[r]->(b:Entity)
RETURN r.pid AS pid, b.qid AS target, b.label AS target_label
ORDER BY pid, target
LIMIT $limit
"""
LABELS_QUERY = "UNWIND $ids AS id MATCH (e:Entity {qid: id}) RETURN e.qid AS qid, e.label AS label"
ENTITY_REFS_QUERY = LABELS_QUERY
TYPED_QUERY = "UNWIND $ids AS id MATCH (e:Entity {qid: id}) RETURN e.qid AS qid, e.label AS label, e.types AS types"
DESCRIPTIONS_QUERY = """
UNWIND $ids AS id MATCH (e:Entity {qid: id}) RETURN e.qid AS qid, e.label AS label, e.description AS description
"""
SUMMARIES_QUERY = """
UNWIND $ids AS id
MATCH (e:Entity {qid: id})
RETURN e.qid AS qid, e.label AS label, e.description AS description, e.types AS types,
       e.attributes_json AS attributes_json
"""
FIRST_RELATIONS_QUERY = """
UNWIND $ids AS id
MATCH (e:Entity {qid: id})-[r]->(b:Entity)
WHERE r.pid IS NOT NULL
WITH e, r, b ORDER BY r.pid, b.qid
WITH e.qid AS qid, collect({pid: r.pid, target: b.label}) AS rels
RETURN qid, rels[0..$limit] AS rels
"""


@dataclass
class EntityCard:
    qid: str
    label: str | None
    description: str | None
    kind: str | None = None
    aliases: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    wikipedia_title: str | None = None
    wikipedia_url: str | None = None
    sitelinks: int = 0
    types: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)
    relations: list[dict[str, Any]] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)
    stub: bool = False


def labels_for(graph: GraphStore, ids: list[str]) -> dict[str, str]:
    """Labels of entities and properties by id (property labels come from property entities or a label table)."""
    if not ids:
        return {}
    return {r["qid"]: r["label"] for r in graph.read(LABELS_QUERY, ids=sorted(set(ids))) if r["label"]}


def descriptions_for(graph: GraphStore, ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """(label, description) of entities by QID; ids not in the graph are left out."""
    if not ids:
        return {}
    return {r["qid"]: (r["label"], r["description"]) for r in graph.read(DESCRIPTIONS_QUERY, ids=sorted(set(ids)))}


def labels_and_types(graph: GraphStore, ids: list[str]) -> dict[str, dict[str, str | None]]:
    """Label and first type's label of entities by QID (what an eval report shows and groups errors by); ids not
    in the graph are left out."""
    if not ids:
        return {}
    rows = graph.read(TYPED_QUERY, ids=sorted(set(ids)))
    firsts = {r["qid"]: (list(r["types"] or []) or [None])[0] for r in rows}
    names = labels_for(graph, [t for t in firsts.values() if t])
    return {r["qid"]: {"label": r["label"], "type": names.get(firsts[r["qid"]]) or firsts[r["qid"]]} for r in rows}


@dataclass
class EntitySummary:
    """An entity's label, description, type ids and attributes (property id -> values), read for many at once."""

    qid: str
    label: str | None
    description: str | None
    types: list[str]
    attributes: dict[str, list[Any]]


def entity_summaries(graph: GraphStore, ids: list[str]) -> list[EntitySummary]:
    """The entities of `ids` that the graph holds (unknown ids are left out), in one query."""
    if not ids:
        return []
    return [EntitySummary(r["qid"], r["label"], r["description"], list(r["types"] or []),
                          json.loads(r["attributes_json"] or "{}"))
            for r in graph.read(SUMMARIES_QUERY, ids=sorted(set(ids)))]


def first_relations(graph: GraphStore, ids: list[str], limit: int) -> dict[str, list[tuple[str, str | None]]]:
    """Each entity's first `limit` outgoing relations as (property id, target label), by property then target."""
    if not ids:
        return {}
    return {r["qid"]: [(x["pid"], x["target"]) for x in r["rels"]]
            for r in graph.read(FIRST_RELATIONS_QUERY, ids=sorted(set(ids)), limit=limit)}


def entity_card(graph: GraphStore, qid: str, max_relations: int = 500) -> EntityCard:
    rows = graph.read(CARD_QUERY, qid=qid)
    if not rows:
        raise InputError(f"unknown entity {qid!r}: it is not in the graph (ingest it first, or check the id)")
    e = rows[0]
    rels = graph.read(RELATIONS_QUERY, qid=qid, limit=max_relations)
    attributes = json.loads(e["attributes_json"] or "{}")
    names = labels_for(graph, [r["pid"] for r in rels] + list(attributes) + list(e["types"] or []))
    images = list(e["images"] or [])
    urls = list(e["image_urls"] or [])
    return EntityCard(
        qid=e["qid"], label=e["label"], description=e["description"], kind=e["kind"],
        aliases=list(e["aliases"] or []), labels=json.loads(e["labels_json"] or "{}"),
        wikipedia_title=e["wikipedia_title"], wikipedia_url=e["wikipedia_url"], sitelinks=e["sitelinks"] or 0,
        types=[{"qid": t, "label": names.get(t)} for t in e["types"] or []],
        images=[{"file": f, "url": urls[i] if i < len(urls) else f} for i, f in enumerate(images)],
        relations=[{"pid": r["pid"], "property": names.get(r["pid"]), "target": r["target"],
                    "target_label": r["target_label"]} for r in rels],
        attributes=[{"key": k, "property": names.get(k), "values": v} for k, v in sorted(attributes.items())],
        stub=bool(e["stub"]),
    )


@dataclass
class EntityRef:
    qid: str
    label: str | None


def entity_refs(graph: GraphStore, qids: list[str]) -> list[EntityRef]:
    found = {r["qid"]: r["label"] for r in graph.read(ENTITY_REFS_QUERY, ids=sorted(set(qids)))}
    for qid in qids:
        if qid not in found:
            raise InputError(f"unknown entity {qid!r}: it is not in the graph (ingest it first, or check the id)")
    return [EntityRef(q, found[q]) for q in qids]
