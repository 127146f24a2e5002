"""Alias priors in the graph: each entity's `priors_json` ({normal form: count}) and the files already counted."""

from __future__ import annotations

import json

from neo4j import ManagedTransaction

from kg.kgstore.graph import GraphStore

MAX_COUNT = 1 << 62  # int64 in the graph
READ_QUERY = "UNWIND $qids AS q MATCH (e:Entity {qid: q}) WHERE e.stub = false RETURN e.qid AS qid, e.priors_json AS priors"
WRITE_QUERY = "UNWIND $rows AS r MATCH (e:Entity {qid: r.qid}) SET e.priors_json = r.priors"
SEEN_QUERY = "MATCH (f:PriorFile {digest: $digest}) RETURN count(f) AS n"
MARK_QUERY = "MERGE (f:PriorFile {digest: $digest}) SET f.path = $path, f.rows = $rows, f.updated_at = datetime()"


def prior_file_seen(graph: GraphStore, digest: str) -> bool:
    return bool(graph.count(SEEN_QUERY, digest=digest))


def mark_prior_file(graph: GraphStore, digest: str, path: str, rows: int) -> None:
    graph.write(MARK_QUERY, digest=digest, path=path, rows=rows)


def add_priors(graph: GraphStore, counts: dict[str, dict[str, int]]) -> set[str]:
    """Add `counts` ({qid: {form: count}}) to the stored priors in one transaction; returns the QIDs updated
    (the others name no entity the graph holds)."""
    def work(tx: ManagedTransaction) -> set[str]:
        found = {r["qid"]: json.loads(r["priors"] or "{}") for r in tx.run(READ_QUERY, qids=list(counts))}
        rows = []
        for qid, stored in found.items():
            for form, c in counts[qid].items():
                stored[form] = min(MAX_COUNT, stored.get(form, 0) + c)
            rows.append({"qid": qid, "priors": json.dumps(stored, sort_keys=True, ensure_ascii=False)})
        tx.run(WRITE_QUERY, rows=rows).consume()
        return set(found)

    return graph.write_fn(work)
