"""Writes EntityRecords into the graph: nodes by UNWIND+MERGE, entity-valued claims as relationships typed by PID.

Unchanged entities (same content hash) are skipped before any write, so re-ingesting a file changes nothing and
costs one lookup per batch; a changed entity has its outgoing claims replaced, so a newer dump updates it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from neo4j import ManagedTransaction

from kgstore.graph import GraphStore, validate_rel_type
from kgstore.model import EntityRecord

NODE_QUERY = """
UNWIND $rows AS r
MERGE (e:Entity {qid: r.qid})
SET e.kind = r.kind, e.label = r.label, e.description = r.description, e.aliases = r.aliases,
    e.labels_json = r.labels_json, e.wikipedia_title = r.wikipedia_title, e.wikipedia_url = r.wikipedia_url,
    e.sitelinks = r.sitelinks, e.images = r.images, e.image_urls = r.image_urls, e.types = r.types,
    e.subclass_of = r.subclass_of, e.attributes_json = r.attributes_json, e.modified = r.modified,
    e.hash = r.hash, e.source = $source, e.stub = false
RETURN r.qid AS qid, elementId(e) AS eid
"""
HASH_QUERY = "UNWIND $qids AS q MATCH (e:Entity {qid: q}) RETURN e.qid AS qid, e.hash AS hash"
CLEAR_CLAIMS_QUERY = "UNWIND $qids AS q MATCH (e:Entity {qid: q})-[r]->(:Entity) DELETE r"
TARGETS_QUERY = """
UNWIND $qids AS q
MERGE (b:Entity {qid: q}) ON CREATE SET b.stub = true
RETURN q AS qid, elementId(b) AS eid
"""
# Endpoints are matched by the element ids the two queries above returned: a direct lookup, about twice as fast as
# matching on qid again. CREATE is safe: a written entity's outgoing claims were just cleared (or never existed).
# The pid goes in the CREATE pattern: a separate SET costs ArcadeDB 15-25% more CPU per relationship.
REL_QUERY = """
UNWIND $rows AS r
MATCH (a) WHERE elementId(a) = r.s
MATCH (b) WHERE elementId(b) = r.t
CREATE (a)-[:%s {pid: $pid}]->(b)
"""


@dataclass
class WriteResult:
    written: int = 0
    unchanged: int = 0
    relationships: int = 0


def node_row(rec: EntityRecord) -> dict[str, Any]:
    return {
        "qid": rec.qid,
        "kind": rec.kind,
        "label": rec.label,
        "description": rec.description,
        "aliases": rec.aliases,
        "labels_json": json.dumps(rec.labels, ensure_ascii=False),
        "wikipedia_title": rec.wikipedia_title,
        "wikipedia_url": rec.wikipedia_url,
        "sitelinks": rec.sitelinks,
        "images": rec.images,
        "image_urls": rec.image_urls,
        "types": rec.types,
        "subclass_of": rec.subclass_of,
        "attributes_json": json.dumps(rec.attributes, ensure_ascii=False, sort_keys=True),
        "modified": rec.modified,
        "hash": rec.content_hash(),
    }


def write_entities(graph: GraphStore, records: Sequence[EntityRecord], source: str) -> WriteResult:
    """Write one batch in one transaction: a batch lands whole or not at all."""
    result = WriteResult()
    if not records:
        return result
    latest: dict[str, EntityRecord] = {r.qid: r for r in records}  # a file may repeat an entity: last one wins
    rows = [node_row(r) for r in latest.values()]
    known = {r["qid"]: r["hash"] for r in graph.read(HASH_QUERY, qids=list(latest))}
    changed = [row for row in rows if known.get(row["qid"]) != row["hash"]]
    result.unchanged = len(rows) - len(changed)
    if not changed:
        return result
    claims = [(row["qid"], rel.pid, rel.target) for row in changed for rel in latest[row["qid"]].relations]
    replaced = [row["qid"] for row in changed if row["qid"] in known]

    def work(tx: ManagedTransaction) -> None:
        if replaced:
            tx.run(CLEAR_CLAIMS_QUERY, qids=replaced).consume()
        eids = {r["qid"]: r["eid"] for r in tx.run(NODE_QUERY, rows=changed, source=source)}
        targets = sorted({t for _, _, t in claims} - eids.keys())
        eids.update({r["qid"]: r["eid"] for r in tx.run(TARGETS_QUERY, qids=targets)})
        by_pid: dict[str, list[dict[str, str]]] = defaultdict(list)
        for s, pid, t in claims:
            by_pid[pid].append({"s": eids[s], "t": eids[t]})
        for pid, rel_rows in sorted(by_pid.items()):
            tx.run(REL_QUERY % validate_rel_type(pid), rows=rel_rows, pid=pid).consume()

    graph.write_fn(work)
    result.written = len(changed)
    result.relationships = len(claims)
    return result
