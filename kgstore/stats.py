"""Counts and backend facts behind `kg status`."""

from __future__ import annotations

from typing import Any

from kg.kgstore.config import Config, redact_url
from kg.kgstore.graph import GraphStore
from kg.kgstore.vectors import VectorStore

# `entities` are the ones ingested, which `kg index` gives a vector each; `stubs` are claim targets the input
# referred to but did not hold (no label, no vector), counted apart so they do not look like missing vectors.
COUNTS = {
    "entities": "MATCH (e:Entity) WHERE e.stub = false RETURN count(e) AS n",
    "stubs": "MATCH (e:Entity) WHERE e.stub IS NULL OR e.stub <> false RETURN count(e) AS n",
    "relationships": "MATCH (:Entity)-[r]->(:Entity) RETURN count(r) AS n",
    "documents": "MATCH (d:Document) RETURN count(d) AS n",
    "mentions": "MATCH (m:Mention) RETURN count(m) AS n",
    "links": "MATCH (:Mention)-[r:REFERS_TO]->(:Entity) RETURN count(r) AS n",
}


def status(config: Config, graph: GraphStore, vectors: VectorStore) -> dict[str, Any]:
    info = graph.server_info()
    counts = {name: graph.count(q) for name, q in COUNTS.items()}
    counts["vectors"] = vectors.count(config.qdrant.collection)
    return {
        "home": str(config.home),
        "graph": {
            "kind": "embedded ArcadeDB (Bolt)" if graph.embedded else "bolt server",
            "uri": redact_url(graph.uri),
            "database": graph.database,
            "server": info.agent,
            "bolt": info.protocol,
        },
        "vectors": {
            "kind": "qdrant local mode" if vectors.local else "qdrant server",
            "location": redact_url(vectors.location),
            "version": vectors.version(),
            "collection": config.qdrant.collection,
        },
        "counts": counts,
    }
