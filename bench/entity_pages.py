"""Seconds per entity page read (issue #29): what `kg index` pays per page before any encoding, on the graph that
kg's settings name (KG_GRAPH_URI etc.), at cursors spread over the KB.

It times kg's reader (`read_entity_page`: the next n non-stub QIDs, then that bounded range, both index range scans)
against the single query it replaced (stubs skipped in the MATCH's WHERE, `ORDER BY e.qid LIMIT $n`), which ArcadeDB
answers with a label scan and a sort of every entity after the cursor. Run it on a KB of two sizes (for instance
bench/scale.py's --keep dumps ingested with `kg ingest`): a page that costs the same at both is what keeps `kg index`
linear in the KB.

    python bench/entity_pages.py [--page 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg.indexers.index import INDEX_COLUMNS  # noqa: E402
from kg.kgstore.config import load_config  # noqa: E402
from kg.kgstore.entities import count_entities, read_entity_page  # noqa: E402
from kg.kgstore.graph import GraphStore  # noqa: E402

FORMER_QUERY = """
MATCH (e:Entity)
WHERE e.stub = false AND e.qid > $after
RETURN {columns}
ORDER BY e.qid
LIMIT $n
"""
KEYS_QUERY = "MATCH (e:Entity) WHERE e.stub = false RETURN e.qid AS qid"


def best_of(repeat: int, read: Callable[[], list]) -> tuple[float, list]:
    best, rows = float("inf"), []
    for _ in range(repeat):
        t = time.perf_counter()
        rows = read()
        best = min(best, time.perf_counter() - t)
    return best, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--page", type=int, default=1000, help="entities per page (kg index's default page size)")
    ap.add_argument("--repeat", type=int, default=3, help="reads per measurement; the fastest counts")
    args = ap.parse_args()
    graph = GraphStore.from_config(load_config())
    former = FORMER_QUERY.format(columns=", ".join(f"e.{c} AS {c}" for c in INDEX_COLUMNS))
    try:
        read_entity_page(graph, "", args.page, INDEX_COLUMNS)  # the server's first query plans and warms up untimed
        n = count_entities(graph)
        qids = sorted(r["qid"] for r in graph.read(KEYS_QUERY))  # the cursors only; kg's reader needs no key list
        print(f"{n:,} entities; seconds per page of {args.page:,} ({len(INDEX_COLUMNS)} columns), best of "
              f"{args.repeat}")
        for share in (0.0, 0.5, 0.95):
            at = int(share * n)
            after = qids[at - 1] if at else ""
            new, rows = best_of(args.repeat, lambda a=after: read_entity_page(graph, a, args.page, INDEX_COLUMNS))
            old, expected = best_of(args.repeat, lambda a=after: graph.read(former, after=a, n=args.page))
            same = [r["qid"] for r in rows] == [r["qid"] for r in expected]
            print(f"  cursor at {share:4.0%}: reader {new:.3f} s, former query {old:.3f} s, same rows: {same}",
                  flush=True)
    finally:
        graph.close()


if __name__ == "__main__":
    main()
