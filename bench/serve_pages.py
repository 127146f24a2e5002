"""How fast `kg serve`'s pages answer with many linked documents, on the stores configured by KG_* (the demo's).

Links the sample news corpus once (nothing written), then writes N copies of its documents with their linked
mentions under fresh ids (`bench-page-…`, through the same write-back `kg link` uses), times the pages and API
calls a person browsing would make (median of 5 after one warm-up), and deletes the copies again.

    python -m bench.serve_pages [--documents 10000] [--keep]      (from the repository root)
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from bench.serve import records, start_server
from kg.cli.context import AppContext
from kg.cli.web.service import KgService
from kg.kgstore.config import load_config
from kg.linkers.writeback import write_results

PREFIX = "bench-page-"


def write_copies(n: int) -> tuple[str, str]:
    """N documents shaped as `kg link` writes them; returns (a linked QID, a document id)."""
    app = AppContext(load_config())
    service = KgService(app)
    linker = service.linker(service.link_options())
    bodies = records(spans=False)
    docs = [service.document({**b, "id": f"src-{i}"}) for i, b in enumerate(bodies)]
    results = linker.link_batch(docs)
    qids = [r.qid for r in results if r.qid]
    done, started = 0, time.perf_counter()
    while done < n:
        doc_rows, mention_rows = [], []
        for k in range(min(500, n - done)):
            i = done + k
            src = docs[i % len(docs)]
            doc_id = f"{PREFIX}{i:06d}"
            doc_rows.append({"id": doc_id, "text": src.text, "image": None, "source": "bench", "meta_json": None})
            mention_rows += [{"id": f"{doc_id}#{r.start}-{r.end}", "doc_id": doc_id, "surface": r.surface,
                              "start": r.start, "end": r.end, "box": None, "image": None,
                              "status": "NIL" if r.qid is None else "linked", "qid": r.qid, "score": r.score}
                             for r in results if r.doc_id == src.id]
        write_results(app.graph(), doc_rows, mention_rows, linker.reranker.name, "bench-pages", linker.models())
        done += len(doc_rows)
    print(f"wrote {n:,} documents ({len(results) * n // len(docs):,} mentions) in {time.perf_counter() - started:.0f} s")
    app.close()
    most = max(set(qids), key=qids.count)
    return most, f"{PREFIX}{n // 2:06d}"


def delete_copies() -> None:
    app = AppContext(load_config())
    graph = app.graph()
    while graph.write("MATCH (d:Document) WHERE d.id STARTS WITH $p WITH d LIMIT 1000 "
                      "OPTIONAL MATCH (d)-[:HAS_MENTION]->(m:Mention) DETACH DELETE d, m RETURN count(*) AS n",
                      p=PREFIX)[0]["n"]:
        pass
    app.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--documents", type=int, default=10000)
    ap.add_argument("--keep", action="store_true", help="keep the copies in the graph")
    args = ap.parse_args()
    qid, doc_id = write_copies(args.documents)
    proc, url = start_server()
    try:
        paths = ["/ui", "/ui/documents", f"/ui/documents?after={PREFIX}{args.documents // 2:06d}",
                 f"/ui/documents/{doc_id}", f"/documents/{doc_id}", f"/ui/entities/{qid}",
                 f"/entities/{qid}/mentions", "/ui/search?q=obama", "/search?q=obama"]
        print(f"{'path':<58}{'ms (median of 5)':>18}  bytes")
        with httpx.Client(base_url=url, timeout=120) as http:
            for path in paths:
                res = http.get(path)
                res.raise_for_status()
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    http.get(path).raise_for_status()
                    times.append(time.perf_counter() - t0)
                print(f"{path:<58}{statistics.median(times) * 1e3:>18.1f}  {len(res.content):,}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if not args.keep:
            delete_copies()


if __name__ == "__main__":
    main()
