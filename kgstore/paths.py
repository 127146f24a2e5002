"""Shortest paths between entities over claim relationships, behind `kg query path`."""

from __future__ import annotations

from dataclasses import dataclass

from kg.kgstore.cards import EntityRef, entity_refs, labels_for
from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore

MAX_PATH_HOPS = 10  # the largest --max-hops accepted (the only value ever formatted into Cypher)
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


def shortest_path(graph: GraphStore, source: str, target: str, max_hops: int = 4) -> EntityPath:
    """A shortest path between two entities over claim relationships (either direction), up to `max_hops` claims."""
    if isinstance(max_hops, bool) or not isinstance(max_hops, int) or not 1 <= max_hops <= MAX_PATH_HOPS:
        raise InputError(f"max hops must be an integer from 1 to {MAX_PATH_HOPS}, not {max_hops!r}")
    a, b = entity_refs(graph, [source, target])
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
