"""Reads of what linking wrote: an entity's mentions (with snippets), its documents, the entities it co-occurs with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kg.kgstore.cards import EntityRef, entity_refs
from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore

# What `kg link` writes: (:Document)-[:HAS_MENTION]->(:Mention)-[:REFERS_TO {score, rank, method, run_id}]->(:Entity).
# A mention "mentions" an entity when its rank-1 (chosen) edge points at it and the mention is not NIL; when
# several runs left rank-1 edges between the same mention and entity, the best-scored one stands for the mention.

CONTEXT_CHARS = 60  # characters of document text either side of a mention in a snippet

LINKED = "r.rank = 1 AND (m.status IS NULL OR m.status <> 'NIL')"
MENTIONS_QUERY = f"""
MATCH (e:Entity {{qid: $qid}})<-[r:REFERS_TO]-(m:Mention)
WHERE {LINKED}
WITH m, r ORDER BY r.score DESC
WITH m, collect(r)[0] AS best
OPTIONAL MATCH (d:Document)-[:HAS_MENTION]->(m)
RETURN coalesce(d.id, m.doc_id) AS doc_id, m.id AS mention_id, m.surface AS surface, m.start AS span_start,
       m.end AS span_end, m.box AS box, m.image AS image, best.score AS score, best.method AS method,
       best.run_id AS run_id
ORDER BY score IS NULL, score DESC, doc_id, span_start, mention_id
LIMIT $limit
"""
DOC_TEXTS_QUERY = "UNWIND $ids AS id MATCH (d:Document {id: id}) RETURN d.id AS id, d.text AS text"
DOCUMENTS_QUERY = f"""
MATCH (e:Entity {{qid: $qid}})<-[r:REFERS_TO]-(m:Mention)
WHERE {LINKED}
OPTIONAL MATCH (d:Document)-[:HAS_MENTION]->(m)
WITH d, coalesce(d.id, m.doc_id) AS doc_id, count(DISTINCT m) AS mentions, max(r.score) AS best_score
RETURN doc_id, d.source AS source, d.image AS image, mentions, best_score
ORDER BY mentions DESC, best_score IS NULL, best_score DESC, doc_id
LIMIT $limit
"""
ENTITY_DOCS_COUNT_QUERY = f"""
MATCH (e:Entity {{qid: $qid}})<-[r:REFERS_TO]-(m:Mention)<-[:HAS_MENTION]-(d:Document)
WHERE {LINKED}
RETURN count(DISTINCT d) AS n
"""
COOCCUR_QUERY = f"""
MATCH (e:Entity {{qid: $qid}})<-[r:REFERS_TO]-(m:Mention)<-[:HAS_MENTION]-(d:Document)
WHERE {LINKED}
WITH DISTINCT d
MATCH (d)-[:HAS_MENTION]->(m:Mention)-[r:REFERS_TO]->(o:Entity)
WHERE {LINKED} AND o.qid <> $qid
WITH o, count(DISTINCT d) AS shared, count(DISTINCT m) AS mentions
RETURN o.qid AS qid, o.label AS label, shared AS shared_documents, mentions
ORDER BY shared_documents DESC, mentions DESC, qid
LIMIT $limit
"""


@dataclass
class MentionHit:
    doc_id: str | None
    mention_id: str | None
    surface: str | None
    start: int | None
    end: int | None
    snippet: str | None  # `…before [[surface]] after…`; None when the mention has no text span (image regions)
    score: float | None
    method: str | None
    run_id: str | None = None
    box: Any = None
    image: str | None = None


@dataclass
class EntityMentions:
    entity: EntityRef
    mentions: list[MentionHit]


@dataclass
class DocumentHit:
    doc_id: str | None
    mentions: int
    best_score: float | None
    source: str | None = None
    image: str | None = None


@dataclass
class EntityDocuments:
    entity: EntityRef
    documents: list[DocumentHit]


@dataclass
class Cooccurrence:
    qid: str
    label: str | None
    shared_documents: int
    mentions: int  # its linked mentions in those shared documents


@dataclass
class EntityCooccurrences:
    entity: EntityRef
    documents: int  # documents the entity is mentioned in
    entities: list[Cooccurrence]


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"limit must be a positive integer, not {limit!r}")
    return limit


def mark_snippet(text: str | None, start: int | None, end: int | None, width: int = CONTEXT_CHARS) -> str | None:
    """`…before [[surface]] after…`: the mention's span of `text` marked, with up to `width` characters either side
    (whitespace collapsed; an ellipsis where the text goes on). None when there is no text or no usable span."""
    if text is None or start is None or end is None:
        return None
    try:
        start, end = int(start), int(end)
    except (TypeError, ValueError):
        return None
    if not 0 <= start <= end <= len(text):
        return None
    lo, hi = max(0, start - width), min(len(text), end + width)

    def clean(s: str) -> str:
        return re.sub(r"\s+", " ", s)

    before = clean(text[lo:start]).lstrip()
    after = clean(text[end:hi]).rstrip()
    marked = f"{before}[[{clean(text[start:end])}]]{after}"
    return ("…" if lo > 0 else "") + marked + ("…" if hi < len(text) else "")


def entity_mentions(graph: GraphStore, qid: str, limit: int = 20, width: int = CONTEXT_CHARS) -> EntityMentions:
    """Where an entity is mentioned: its linked (rank-1, non-NIL) mentions by score, best first, with snippets."""
    [entity] = entity_refs(graph, [qid])
    rows = graph.read(MENTIONS_QUERY, qid=qid, limit=_check_limit(limit))
    doc_ids = sorted({r["doc_id"] for r in rows if r["doc_id"] is not None and r["span_start"] is not None})
    texts = {r["id"]: r["text"] for r in graph.read(DOC_TEXTS_QUERY, ids=doc_ids)} if doc_ids else {}
    hits = [
        MentionHit(
            doc_id=r["doc_id"], mention_id=r["mention_id"], surface=r["surface"], start=r["span_start"],
            end=r["span_end"], snippet=mark_snippet(texts.get(r["doc_id"]), r["span_start"], r["span_end"], width),
            score=r["score"], method=r["method"], run_id=r["run_id"], box=r["box"], image=r["image"],
        )
        for r in rows
    ]
    return EntityMentions(entity, hits)


def entity_documents(graph: GraphStore, qid: str, limit: int = 20) -> EntityDocuments:
    """Documents mentioning an entity: number of its linked mentions in each and the best score, most mentions first."""
    [entity] = entity_refs(graph, [qid])
    rows = graph.read(DOCUMENTS_QUERY, qid=qid, limit=_check_limit(limit))
    return EntityDocuments(entity, [
        DocumentHit(doc_id=r["doc_id"], mentions=int(r["mentions"]), best_score=r["best_score"], source=r["source"],
                    image=r["image"])
        for r in rows
    ])


def cooccurring_entities(graph: GraphStore, qid: str, limit: int = 20) -> EntityCooccurrences:
    """Entities linked in the same documents as `qid`, by number of shared documents (then mentions)."""
    [entity] = entity_refs(graph, [qid])
    documents = graph.count(ENTITY_DOCS_COUNT_QUERY, qid=qid)
    rows = graph.read(COOCCUR_QUERY, qid=qid, limit=_check_limit(limit)) if documents else []
    return EntityCooccurrences(entity, documents, [
        Cooccurrence(qid=r["qid"], label=r["label"], shared_documents=int(r["shared_documents"]),
                     mentions=int(r["mentions"]))
        for r in rows
    ])
