"""Who is connected to whom among a set of entities: what collective disambiguation reads from the graph.

One read per batch of entities not seen before, however many are asked about: each entity's outgoing neighbours.
The relationships among a set of entities (one hop, either direction) follow from them, and so do the entities that
point at the same thing (two players of one club are two hops apart). Outgoing edges only, because incoming edges of
a hub (every human born in a country) are many and say little; and no instance-of / subclass-of edges, since sharing
the class "human" relates nobody.

A link job asks about the same popular entities in document after document, so the neighbours read are kept (up to
a bound, least recently used out first) for ten minutes at most: a relationship written by another process is seen
by a job (or `kg serve`'s long-lived linker) at most that much later.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable

from kg.kgstore.graph import GraphStore
from kg.kgstore.profiling import stage

CLASS_EDGES = ["P31", "P279"]
CACHE_ENTITIES = 200_000  # entities whose neighbours are kept (a few tens of MB)
CACHE_SECONDS = 600.0  # then everything is read afresh

OUT_QUERY = """
MATCH (a:Entity)-[r]->(b:Entity)
WHERE a.qid IN $qids AND NOT type(r) IN $skip
RETURN a.qid AS a, collect(b.qid) AS out
"""


class Neighbourhood:
    def __init__(self, graph: GraphStore, limit: int = CACHE_ENTITIES, max_age: float = CACHE_SECONDS):
        self.graph = graph
        self.limit = limit
        self.max_age = max_age
        self._out: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._since = time.monotonic()
        self.reads = 0  # graph queries made (for tests and benchmarks)

    def out(self, qids: Iterable[str]) -> dict[str, frozenset[str]]:
        """Each entity's outgoing neighbours (entities without any are absent)."""
        if time.monotonic() - self._since > self.max_age:
            self._out.clear()
            self._since = time.monotonic()
        wanted = sorted(set(qids))
        missing = [q for q in wanted if q not in self._out]
        if missing:
            self.reads += 1
            with stage("graph: neighbours"):
                found = {r["a"]: frozenset(r["out"])
                         for r in self.graph.read(OUT_QUERY, qids=missing, skip=CLASS_EDGES)}
            for q in missing:
                self._out[q] = found.get(q, frozenset())
        out = {}
        for q in wanted:
            self._out.move_to_end(q)
            if self._out[q]:
                out[q] = self._out[q]
        while len(self._out) > self.limit:
            self._out.popitem(last=False)
        return out

    def edges_among(self, qids: Iterable[str], out: dict[str, frozenset[str]] | None = None) -> set[frozenset[str]]:
        """Unordered pairs of the given entities joined by a relationship (`out`: their neighbours, if read)."""
        wanted = set(qids)
        targets = self.out(wanted) if out is None else out
        return {frozenset((a, b)) for a in wanted for b in targets.get(a, ()) if b in wanted and b != a}
