"""Write-back of linking results: Document, Mention and REFERS_TO edges, idempotent per method.

Ids are stable (document id, mention id from the span) and the run id is derived from the settings, so linking
the same corpus again with the same settings changes nothing; a changed decision replaces the method's edge.
A document id reused for a different text or image (a `.txt` file's id is its name) replaces the document: its
old mentions and their links of every method go in the same transaction, so no mention points into a text it was
not cut from.

Each mention keeps the ranking that decided it (`ranking_json`: top candidates, scores, features, NIL threshold
and decision), written in the same transaction as its status and edge, so explain shows what happened.

A link is only counted as written when its edge was: a QID the graph no longer holds (the vector index is older
than a deletion) leaves the mention NIL, with the QID in `missing_qid`, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from neo4j import ManagedTransaction

from kg.kgstore.graph import GraphStore

GROUP_BYTES = 4 << 20  # with one document of up to 8 MiB (a corpus text's limit) a message stays < 12 MiB
# before DOCS_QUERY: the mentions of a document whose content changed were cut from the old content
STALE_QUERY = """
UNWIND $docs AS d
MATCH (doc:Document {id: d.id})
WHERE coalesce(doc.text, '') <> coalesce(d.text, '') OR coalesce(doc.image, '') <> coalesce(d.image, '')
OPTIONAL MATCH (doc)-[:HAS_MENTION]->(x:Mention)
DETACH DELETE x
RETURN count(DISTINCT doc) AS replaced
"""
DOCS_QUERY = """
UNWIND $docs AS d
MERGE (doc:Document {id: d.id})
SET doc.text = d.text, doc.image = d.image, doc.source = d.source, doc.meta_json = d.meta_json, doc.run_id = $run_id
"""
MENTIONS_QUERY = """
UNWIND $mentions AS m
MATCH (doc:Document {id: m.doc_id})
MERGE (x:Mention {id: m.id})
SET x.doc_id = m.doc_id, x.surface = m.surface, x.start = m.start, x.end = m.end, x.box = m.box,
    x.image = m.image, x.status = m.status, x.missing_qid = null, x.ranking_json = m.ranking_json
MERGE (doc)-[:HAS_MENTION]->(x)
"""
# a mention's previous edge of this method that now points elsewhere (or the mention became NIL) goes
CLEAR_QUERY = """
UNWIND $mentions AS m
MATCH (x:Mention {id: m.id})-[r:REFERS_TO]->(e:Entity)
WHERE r.method = $method AND (m.qid IS NULL OR e.qid <> m.qid)
DELETE r
"""
LINKS_QUERY = """
UNWIND $links AS l
MATCH (x:Mention {id: l.id})
MATCH (e:Entity {qid: l.qid})
MERGE (x)-[r:REFERS_TO {method: $method}]->(e)
ON CREATE SET r.created_at = datetime()
SET r.score = l.score, r.rank = 1, r.run_id = $run_id, r.models = $models
RETURN collect(l.id) AS written
"""
# a mention whose entity is not in the graph got no edge: it is no link
MISSING_QUERY = """
UNWIND $missing AS l
MATCH (x:Mention {id: l.id})
SET x.status = 'NIL', x.missing_qid = l.qid
"""


@dataclass
class WriteResult:
    """What a write-back did: `linked` holds the ids of the mentions whose REFERS_TO edge was written."""

    replaced: int = 0  # documents that replaced a different text or image stored under the same id
    linked: set[str] = field(default_factory=set)

    def add(self, other: WriteResult) -> None:
        self.replaced += other.replaced
        self.linked |= other.linked


def write_results(graph: GraphStore, docs: Sequence[dict[str, Any]], mentions: Sequence[dict[str, Any]],
                  method: str, run_id: str, models: list[str]) -> WriteResult:
    """Documents in groups of at most GROUP_BYTES of text, one transaction each (a document lands whole with its
    mentions): ArcadeDB refuses a Bolt message over 16 MiB, and the driver then waits for ever."""
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for m in mentions:
        by_doc.setdefault(m["doc_id"], []).append(m)
    group: list[dict[str, Any]] = []
    size = 0
    result = WriteResult()
    for doc in docs:
        group.append(doc)
        size += len((doc.get("text") or "").encode("utf-8", "surrogatepass")) + sum(
            512 + len((m.get("ranking_json") or "").encode("utf-8")) for m in by_doc.get(doc["id"], ()))
        if size >= GROUP_BYTES:
            result.add(_write_group(graph, group, [m for d in group for m in by_doc.pop(d["id"], [])], method,
                                    run_id, models))
            group, size = [], 0
    rest = [m for ms in by_doc.values() for m in ms]
    if group or rest:
        result.add(_write_group(graph, group, rest, method, run_id, models))
    return result


def _write_group(graph: GraphStore, docs: list[dict[str, Any]], mentions: list[dict[str, Any]], method: str,
                 run_id: str, models: list[str]) -> WriteResult:
    links = [{"id": m["id"], "qid": m["qid"], "score": m["score"]} for m in mentions if m["qid"]]

    def work(tx: ManagedTransaction) -> WriteResult:
        replaced = tx.run(STALE_QUERY, docs=docs).single(strict=True)["replaced"] if docs else 0
        tx.run(DOCS_QUERY, docs=docs, run_id=run_id).consume()
        tx.run(MENTIONS_QUERY, mentions=mentions).consume()
        tx.run(CLEAR_QUERY, mentions=[{"id": m["id"], "qid": m["qid"]} for m in mentions], method=method).consume()
        written: set[str] = set()
        if links:
            row = tx.run(LINKS_QUERY, links=links, method=method, run_id=run_id, models=models).single()
            written = set(row["written"]) if row else set()
            missing = [link for link in links if link["id"] not in written]
            if missing:
                tx.run(MISSING_QUERY, missing=missing).consume()
        return WriteResult(replaced, written)

    return graph.write_fn(work)


def linked_documents(graph: GraphStore, doc_ids: list[str], run_id: str) -> set[str]:
    """Documents this run already wrote (for --resume)."""
    rows = graph.read("UNWIND $ids AS i MATCH (d:Document {id: i}) WHERE d.run_id = $run RETURN d.id AS id",
                      ids=doc_ids, run=run_id)
    return {r["id"] for r in rows}
