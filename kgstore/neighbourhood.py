"""Who is connected to whom among a set of entities: what collective disambiguation reads from the graph.

Two reads, each one parameterised query per call however many entities are asked about: the relationships
between the entities themselves (one hop, either direction), and each entity's outgoing neighbours (so two
entities that point at the same thing, such as two players of one club, are two hops apart). Outgoing edges
only, because incoming edges of a hub (every human born in a country) are many and say little; and no
instance-of / subclass-of edges, since sharing the class "human" relates nobody.
"""

from __future__ import annotations

from collections.abc import Iterable

from kgstore.graph import GraphStore

CLASS_EDGES = ["P31", "P279"]

EDGES_QUERY = """
MATCH (a:Entity)-[r]->(b:Entity)
WHERE a.qid IN $qids AND b.qid IN $qids AND a.qid <> b.qid AND NOT type(r) IN $skip
RETURN a.qid AS a, b.qid AS b
"""
OUT_QUERY = """
MATCH (a:Entity)-[r]->(b:Entity)
WHERE a.qid IN $qids AND NOT type(r) IN $skip
RETURN a.qid AS a, collect(b.qid) AS out
"""


def edges_among(graph: GraphStore, qids: Iterable[str]) -> set[frozenset[str]]:
    """Unordered pairs of the given entities joined by a relationship."""
    qids = sorted(set(qids))
    if len(qids) < 2:
        return set()
    return {frozenset((r["a"], r["b"])) for r in graph.read(EDGES_QUERY, qids=qids, skip=CLASS_EDGES)}


def out_neighbours(graph: GraphStore, qids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each entity's outgoing neighbours (entities without any are absent)."""
    qids = sorted(set(qids))
    if not qids:
        return {}
    return {r["a"]: frozenset(r["out"]) for r in graph.read(OUT_QUERY, qids=qids, skip=CLASS_EDGES)}
