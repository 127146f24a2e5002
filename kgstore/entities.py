"""Entity reads: keyset pages over the KB's entities (the one way to walk them), counts, in-degrees, fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from kg.kgstore.graph import GraphStore

# The properties a page may return; a column name is formatted into Cypher, so only these are accepted.
ENTITY_COLUMNS = ("qid", "kind", "label", "description", "aliases", "sitelinks", "images", "image_urls", "types",
                  "attributes_json", "describe", "priors_json", "hash")
# A page is read in two steps, each an index range scan over the qid index that costs the page (plus the stubs
# interleaved in its range), never the KB: the first `$n` non-stub QIDs above the cursor, then the entities between
# the cursor and the last of them. ArcadeDB's planner drops the qid index when `e.stub = false` sits in the MATCH's
# WHERE, and it sorts the whole range after the cursor for `ORDER BY e.qid LIMIT $n` (4.2 s a page at 1M entities,
# README "Scale benchmark"); so the stub test comes after a WITH, and the bounded range is sorted here, not there.
PAGE_KEYS_QUERY = """
MATCH (e:Entity)
WHERE e.qid > $after
WITH e WHERE e.stub = false
RETURN e.qid AS qid
LIMIT $n
"""
PAGE_QUERY = """
MATCH (e:Entity)
WHERE e.qid > $after AND e.qid <= $last
WITH e WHERE e.stub = false
RETURN {columns}
"""
COUNT_QUERY = "MATCH (e:Entity) WHERE e.stub = false RETURN count(e) AS n"
# Which of these QIDs are (non-stub) entities: one look-up in the qid index each.
EXISTING_QUERY = "UNWIND $qids AS q MATCH (e:Entity {qid: q}) WHERE e.stub = false RETURN collect(q) AS qids"
SOURCE_COUNT_QUERY = "MATCH (e:Entity) WHERE e.source = $source RETURN count(e) AS n"
# In-degree over the KB's relationships: a popularity prior computed in the graph (OpenTapioca uses PageRank
# over the same edges) for entities whose sitelink count is unknown.
DEGREE_QUERY = """
UNWIND $qids AS q
MATCH (e:Entity {qid: q})
OPTIONAL MATCH (e)<-[r]-(s:Entity)
RETURN q AS qid, count(r) AS n
"""


def read_entity_page(graph: GraphStore, after: str, n: int, columns: Sequence[str] = ENTITY_COLUMNS
                     ) -> list[dict[str, Any]]:
    """Up to `n` non-stub entities with a QID above `after`, in QID order."""
    unknown = set(columns) - set(ENTITY_COLUMNS)
    if unknown or "qid" not in columns:
        raise ValueError(f"entity page columns must include qid and come from ENTITY_COLUMNS: {sorted(unknown)}")
    if n <= 0:
        return []
    query = PAGE_QUERY.format(columns=", ".join(f"e.{c} AS {c}" for c in columns))
    while keys := graph.read(PAGE_KEYS_QUERY, after=after, n=n):
        last = max(k["qid"] for k in keys)
        # every non-stub entity in (after, last]: at least the n keys, so its first n in QID order are the page's,
        # whatever order the server scanned the keys in
        if rows := graph.read(query, after=after, last=last):
            return sorted(rows, key=lambda r: r["qid"])[:n]
        after = last  # all of them became stubs or were deleted in between: nothing lies in that range
    return []


def entity_pages(graph: GraphStore, page_size: int, columns: Sequence[str] = ENTITY_COLUMNS
                 ) -> Iterator[list[dict[str, Any]]]:
    after = ""
    while rows := read_entity_page(graph, after, page_size, columns):
        yield rows
        after = rows[-1]["qid"]


def count_entities(graph: GraphStore) -> int:
    return graph.count(COUNT_QUERY)


def existing_entities(graph: GraphStore, qids: Sequence[str]) -> set[str]:
    """The QIDs of `qids` that are entities of the KB (stubs and deleted ones are not)."""
    if not qids:
        return set()
    rows = graph.read(EXISTING_QUERY, qids=list(qids))
    return set(rows[0]["qids"]) if rows else set()


def has_entities(graph: GraphStore) -> bool:
    """Whether anything was ingested (cheaper than counting)."""
    return bool(graph.read("MATCH (e:Entity) WHERE e.stub = false RETURN e.qid AS qid LIMIT 1"))


def count_from_source(graph: GraphStore, source: str) -> int:
    """Entities ingested from the input named `source` (a file or directory name)."""
    return graph.count(SOURCE_COUNT_QUERY, source=source)


def in_degrees(graph: GraphStore, qids: list[str]) -> dict[str, int]:
    return {d["qid"]: int(d["n"] or 0) for d in graph.read(DEGREE_QUERY, qids=qids)}


def entity_names(graph: GraphStore, page_size: int = 5000) -> Iterator[tuple[str, str]]:
    """(name, QID) for every label and alias of every entity."""
    for rows in entity_pages(graph, page_size, ("qid", "label", "aliases")):
        for r in rows:
            for name in [r["label"], *(r["aliases"] or [])]:
                if name:
                    yield name, r["qid"]


def kb_fingerprint(graph: GraphStore, page: int = 20000) -> tuple[int, str]:
    """(entities, a digest of their QIDs and content hashes): unlike a count, it changes when an entity's names do,
    so caches built from the KB's names (the gazetteer) are rebuilt after an edit that keeps the count."""
    digest, n = hashlib.blake2b(digest_size=16), 0
    for rows in entity_pages(graph, page, ("qid", "hash")):
        for r in rows:
            digest.update(f"{r['qid']}\t{r['hash']}\n".encode())
        n += len(rows)
    return n, digest.hexdigest()
