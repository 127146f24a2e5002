"""Read-side graph queries behind `kg query`: what users ask of the graph, each one parameterised Cypher."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kgstore.errors import InputError
from kgstore.graph import GraphStore

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


# ------------------------------------------------------------------------------------------------ entity facts
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


# ------------------------------------------------------------------------------------------------ linked mentions
# What `kg link` writes: (:Document)-[:HAS_MENTION]->(:Mention)-[:REFERS_TO {score, rank, method, run_id}]->(:Entity).
# A mention "mentions" an entity when its rank-1 (chosen) edge points at it and the mention is not NIL; when
# several runs left rank-1 edges between the same mention and entity, the best-scored one stands for the mention.

CONTEXT_CHARS = 60  # characters of document text either side of a mention in a snippet
MAX_PATH_HOPS = 10  # the largest --max-hops accepted (the only value ever formatted into Cypher)

ENTITY_REFS_QUERY = "UNWIND $ids AS id MATCH (e:Entity {qid: id}) RETURN e.qid AS qid, e.label AS label"
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
# Claim relationships only: the type expression keeps the search off the linking layer (ArcadeDB applies it while
# searching, where it applies the WHERE only to the path found); Neo4j also applies the WHERE while searching.
PATH_QUERY = """
MATCH (a:Entity {{qid: $source}}), (b:Entity {{qid: $target}})
MATCH p = shortestPath((a)-[:!REFERS_TO&!HAS_MENTION*..{hops}]-(b))
WHERE all(n IN nodes(p) WHERE n:Entity) AND all(r IN relationships(p) WHERE r.pid IS NOT NULL)
RETURN [n IN nodes(p) | n.qid] AS qids, [n IN nodes(p) | n.label] AS labels,
       [r IN relationships(p) | r.pid] AS pids, [r IN relationships(p) | startNode(r).qid] AS starts
"""


@dataclass
class EntityRef:
    qid: str
    label: str | None


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


@dataclass
class PathHop:
    """One claim on the path, in path order: `from` is the nearer end to the source; `forward` is False when the
    claim points the other way (to -> from)."""

    from_qid: str
    from_label: str | None
    pid: str | None
    property: str | None
    to_qid: str
    to_label: str | None
    forward: bool


@dataclass
class EntityPath:
    source: EntityRef
    target: EntityRef
    max_hops: int
    found: bool
    hops: list[PathHop]


@dataclass
class CypherResult:
    columns: list[str]
    rows: list[dict[str, Any]]
    write: bool = False


def _entity_refs(graph: GraphStore, qids: list[str]) -> list[EntityRef]:
    found = {r["qid"]: r["label"] for r in graph.read(ENTITY_REFS_QUERY, ids=sorted(set(qids)))}
    for qid in qids:
        if qid not in found:
            raise InputError(f"unknown entity {qid!r}: it is not in the graph (ingest it first, or check the id)")
    return [EntityRef(q, found[q]) for q in qids]


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
    [entity] = _entity_refs(graph, [qid])
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
    [entity] = _entity_refs(graph, [qid])
    rows = graph.read(DOCUMENTS_QUERY, qid=qid, limit=_check_limit(limit))
    return EntityDocuments(entity, [
        DocumentHit(doc_id=r["doc_id"], mentions=int(r["mentions"]), best_score=r["best_score"], source=r["source"],
                    image=r["image"])
        for r in rows
    ])


def cooccurring_entities(graph: GraphStore, qid: str, limit: int = 20) -> EntityCooccurrences:
    """Entities linked in the same documents as `qid`, by number of shared documents (then mentions)."""
    [entity] = _entity_refs(graph, [qid])
    documents = graph.count(ENTITY_DOCS_COUNT_QUERY, qid=qid)
    rows = graph.read(COOCCUR_QUERY, qid=qid, limit=_check_limit(limit)) if documents else []
    return EntityCooccurrences(entity, documents, [
        Cooccurrence(qid=r["qid"], label=r["label"], shared_documents=int(r["shared_documents"]),
                     mentions=int(r["mentions"]))
        for r in rows
    ])


def shortest_path(graph: GraphStore, source: str, target: str, max_hops: int = 4) -> EntityPath:
    """A shortest path between two entities over claim relationships (either direction), up to `max_hops` claims."""
    if isinstance(max_hops, bool) or not isinstance(max_hops, int) or not 1 <= max_hops <= MAX_PATH_HOPS:
        raise InputError(f"max hops must be an integer from 1 to {MAX_PATH_HOPS}, not {max_hops!r}")
    a, b = _entity_refs(graph, [source, target])
    if source == target:
        return EntityPath(a, b, max_hops, True, [])
    rows = graph.read(PATH_QUERY.format(hops=int(max_hops)), source=source, target=target)
    if not rows:
        return EntityPath(a, b, max_hops, False, [])
    r = rows[0]
    qids, labels, pids, starts = r["qids"], r["labels"], r["pids"], r["starts"]
    names = labels_for(graph, [p for p in pids if p])
    hops = [
        PathHop(from_qid=qids[i], from_label=labels[i], pid=pids[i], property=names.get(pids[i]) if pids[i] else None,
                to_qid=qids[i + 1], to_label=labels[i + 1], forward=starts[i] == qids[i])
        for i in range(len(pids))
    ]
    return EntityPath(a, b, max_hops, True, hops)


# ------------------------------------------------------------------------------------------------ ad-hoc Cypher
# A `//` comment ends at any line break a parser may honour (a carriage return ends it for Cypher).
_LITERALS = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n\r\v\f\x85\u2028\u2029]*|/\*.*?\*/", re.S
)
_WRITES = re.compile(
    r"(?<![\w.$])(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|DROP|FOREACH|INSERT|LOAD\s+CSV|IN\s+TRANSACTIONS"
    r"|ALTER|GRANT|DENY|REVOKE|RENAME)(?![\w])",
    re.I,
)
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def write_clauses(query: str) -> list[str]:
    """The write (or admin) clauses in a Cypher query, outside string literals, quoted names and comments;
    an approximation that errs on the side of refusing."""
    code = _LITERALS.sub(" ", query)
    return sorted({" ".join(m.group(1).upper().split()) for m in _WRITES.finditer(code)})


def parse_params(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`key=value` pairs -> query parameters; a value that parses as JSON is that JSON value, else the string."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not _PARAM_NAME.fullmatch(key):
            raise InputError(f"bad parameter {pair!r}: write it as name=value (name: letters, digits, _)")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def run_cypher(
    graph: GraphStore, query: str, params: dict[str, Any] | None = None, write: bool = False
) -> CypherResult:
    """Run a user's Cypher query; unless `write`, write clauses are refused and the query runs in a transaction
    that is always rolled back (the server, not only the clause check, keeps the graph unchanged)."""
    from neo4j.exceptions import ClientError, DatabaseError

    if not query.strip():
        raise InputError("empty Cypher query")
    if not write:
        found = write_clauses(query)
        if found:
            raise InputError(
                f"the query has write clauses ({', '.join(found)}) and `kg query cypher` is read-only: pass --write "
                "to let it change the graph"
            )
    try:
        rows = (graph.write if write else graph.read_only)(query, **(params or {}))
    except (ClientError, DatabaseError) as exc:
        message = (exc.message or str(exc)).strip()
        raise InputError(f"the graph server rejected the query: {message}") from exc
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return CypherResult(columns, rows, write)

