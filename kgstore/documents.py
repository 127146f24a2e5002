"""Read-side queries over linked documents (what `kg link` writes): one document with its mentions and chosen
links, and the documents page by page. Keyset pagination on the document id keeps a page a few index scans and
look-ups, however many documents the graph holds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore

DOCUMENT_QUERY = """
MATCH (d:Document {id: $id})
RETURN d.id AS id, d.text AS text, d.image AS image, d.source AS source, d.meta_json AS meta_json,
       d.run_id AS run_id
"""
# every mention of the document with its rank-1 edges (several methods may have left one each) and the ranking
# its last write stored
DOCUMENT_MENTIONS_QUERY = """
MATCH (d:Document {id: $id})-[:HAS_MENTION]->(m:Mention)
OPTIONAL MATCH (m)-[r:REFERS_TO]->(e:Entity)
WHERE r.rank = 1
WITH m, r, e ORDER BY r.score DESC
WITH m, collect({qid: e.qid, label: e.label, description: e.description, score: r.score, method: r.method,
                 run_id: r.run_id}) AS links
RETURN m.id AS id, m.surface AS surface, m.start AS start, m.end AS end, m.box AS box, m.status AS status,
       m.missing_qid AS missing_qid, m.ranking_json AS ranking_json, links
ORDER BY start, id
"""
LINK_FIELDS = ("qid", "label", "description", "score", "method", "run_id")
# A page is read without sorting the documents after the cursor (`WITH d ORDER BY d.id LIMIT $limit` made ArcadeDB
# sort all of them for each page): the next `$limit` ids, then every id up to the last of them (both index range
# scans, as for entity pages in kgstore/entities.py), then those documents by id (one index look-up each; ArcadeDB
# does not plan a range MATCH followed by an OPTIONAL MATCH with the index).
DOCUMENTS_KEYS_QUERY = "MATCH (d:Document) WHERE d.id > $after RETURN d.id AS id LIMIT $limit"
DOCUMENTS_RANGE_QUERY = "MATCH (d:Document) WHERE d.id > $after AND d.id <= $last RETURN d.id AS id"
DOCUMENTS_PAGE_QUERY = """
UNWIND $ids AS i
MATCH (d:Document {id: i})
OPTIONAL MATCH (d)-[:HAS_MENTION]->(m:Mention)
WITH d, count(m) AS mentions
RETURN d.id AS id, d.source AS source, substring(coalesce(d.text, ''), 0, $preview) AS preview,
       size(coalesce(d.text, '')) AS chars, mentions
ORDER BY id
"""
DOCUMENTS_COUNT_QUERY = "MATCH (d:Document) RETURN count(d) AS n"


@dataclass
class DocumentMention:
    id: str
    surface: str | None
    start: int | None
    end: int | None
    box: Any
    status: str | None
    qid: str | None  # None: NIL or not linked
    label: str | None = None
    description: str | None = None
    score: float | None = None
    method: str | None = None
    run_id: str | None = None
    ranking: dict[str, Any] | None = None  # the stored ranking that decided it (stored_ranking); None: older write


@dataclass
class LinkedDocument:
    id: str
    text: str | None
    image: str | None
    source: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    mentions: list[DocumentMention] = field(default_factory=list)


@dataclass
class DocumentRow:
    id: str
    source: str | None
    preview: str
    chars: int
    mentions: int


def linked_document(graph: GraphStore, doc_id: str) -> LinkedDocument:
    """A document with its mentions in text order, each with the entity its best rank-1 link chose."""
    rows = graph.read(DOCUMENT_QUERY, id=doc_id)
    if not rows:
        raise InputError(f"unknown document {doc_id!r}: it is not in the graph (`kg link` writes documents)")
    d = rows[0]
    mentions = [_mention(r) for r in graph.read(DOCUMENT_MENTIONS_QUERY, id=doc_id)]
    return LinkedDocument(d["id"], d["text"], d["image"], d["source"], json.loads(d["meta_json"] or "{}"),
                          d["run_id"], mentions)


def _mention(row: dict[str, Any]) -> DocumentMention:
    """A mention with the link its stored ranking chose (that method's edge), else its best-scored edge; NIL
    when its status says so. The stored ranking's decision follows the status (a link whose entity was gone at
    write time is NIL, its QID kept as `missing_qid`)."""
    ranking = json.loads(row["ranking_json"]) if row["ranking_json"] else None
    links = [link for link in row["links"] or [] if link and link.get("qid")]
    link = next((x for x in links if ranking and x.get("method") == ranking.get("method")), links[0] if links else {})
    m = DocumentMention(row["id"], row["surface"], row["start"], row["end"], row["box"], row["status"],
                        **{k: link.get(k) for k in LINK_FIELDS}, ranking=ranking)
    if m.status == "NIL":
        m.qid = m.label = m.description = m.score = m.method = None
        if ranking and ranking.get("status") != "NIL":
            ranking.update(status="NIL", missing_qid=row["missing_qid"])
    return m


def documents_page(graph: GraphStore, after: str = "", limit: int = 50, preview: int = 160) -> list[DocumentRow]:
    """Documents in id order after `after` (the last id of the previous page)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InputError(f"limit must be an integer from 1 to 1000, not {limit!r}")
    keys = graph.read(DOCUMENTS_KEYS_QUERY, after=after, limit=limit)
    if not keys:
        return []
    # the ids in (after, last] hold the `limit` read, so their first `limit` in id order are the page's
    ids = sorted(r["id"] for r in graph.read(DOCUMENTS_RANGE_QUERY, after=after, last=max(k["id"] for k in keys)))
    return [DocumentRow(r["id"], r["source"], r["preview"], int(r["chars"]), int(r["mentions"]))
            for r in graph.read(DOCUMENTS_PAGE_QUERY, ids=ids[:limit], preview=preview)]


def document_count(graph: GraphStore) -> int:
    return graph.count(DOCUMENTS_COUNT_QUERY)
