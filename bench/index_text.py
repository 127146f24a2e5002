"""Text indexing benchmark: `kg index --text` against the bare encoder's encode() on the same texts, same run.

Builds a KB of real entities (label, description, aliases from ../shared/data/kb/fb15k-wikidata), ingests it into
an empty graph, then alternates, --rounds times:
  1. bare: SentenceTransformer.encode() over exactly the texts the indexer encodes (read back from the graph),
  2. pipeline: the whole text index run (graph pages, hash checks, encoding, Qdrant writes) into a fresh collection,
and prints both rates per round, the ratio pipeline/bare of the medians and of the best rounds (target >= 0.8),
and the time of a second, incremental run (it must encode nothing).

    python bench/index_text.py --entities 3000 --qdrant-url http://127.0.0.1:6333 --graph-uri bolt://127.0.0.1:7687

The graph must hold no entities (the rate is measured over the bench's own ones): give --graph-uri a scratch
database, or leave it out to use a temporary embedded server. Settings also come from KG_QDRANT_URL,
KG_QDRANT_GRPC_PORT, KG_GRAPH_URI, KG_GRAPH_USER, KG_GRAPH_PASSWORD.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kg.indexers.index import EntityRow, Indexer, IndexOptions, row_text  # noqa: E402
from kg.indexers.ingest import IngestOptions, ingest  # noqa: E402
from kg.kgstore.config import load_config  # noqa: E402
from kg.kgstore.embedded import stop_server  # noqa: E402
from kg.kgstore.encoders import text_encoder_from_config  # noqa: E402
from kg.kgstore.entities import entity_pages  # noqa: E402
from kg.kgstore.graph import GraphStore  # noqa: E402
from kg.kgstore.migrate import ensure_schema  # noqa: E402
from kg.kgstore.vectors import VectorStore  # noqa: E402

FB15K = Path(__file__).resolve().parents[2] / "shared/data/kb/fb15k-wikidata/FB15k-237_entity2wikidata.json"


def write_kb(path: Path, n: int) -> int:
    """Custom-entity JSONL of the first n FB15k entities that have a Wikidata id and a label."""
    entities = json.loads(FB15K.read_text(encoding="utf-8"))
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for e in entities.values():
            qid, label = e.get("wikidata_id"), e.get("label")
            if not qid or not label or not qid.startswith("Q"):
                continue
            doc = {"qid": qid, "label": label, "description": e.get("description") or None,
                   "aliases": [a for a in e.get("alternatives") or [] if a and a != label]}
            out.write(json.dumps({k: v for k, v in doc.items() if v}) + "\n")
            written += 1
            if written == n:
                break
    return written


def graph_texts(graph: GraphStore) -> list[str]:
    """The texts the indexer will encode, read with its own page query."""
    texts = []
    for rows in entity_pages(graph, 2000):
        texts += [t for t in (row_text(EntityRow.from_record(r)) for r in rows) if t]
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entities", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--qdrant-url", default=os.environ.get("KG_QDRANT_URL"))
    ap.add_argument("--qdrant-grpc-port", type=int, default=int(os.environ.get("KG_QDRANT_GRPC_PORT", "6334")))
    ap.add_argument("--graph-uri", default=os.environ.get("KG_GRAPH_URI"))
    ap.add_argument("--graph-user", default=os.environ.get("KG_GRAPH_USER", "root"))
    ap.add_argument("--graph-password", default=os.environ.get("KG_GRAPH_PASSWORD"))
    args = ap.parse_args()
    if not args.qdrant_url:
        sys.exit("give --qdrant-url (or KG_QDRANT_URL): the benchmark measures against a Qdrant server")

    home = Path(tempfile.mkdtemp(prefix="kg-bench-text-"))
    config = load_config(overrides={
        "home": home, "graph.uri": args.graph_uri, "graph.user": args.graph_user,
        "graph.password": args.graph_password, "qdrant.url": args.qdrant_url,
        "qdrant.grpc_port": args.qdrant_grpc_port, "qdrant.collection": "bench_text_" + uuid.uuid4().hex[:8],
    }, env={})
    graph, vectors = GraphStore.from_config(config), VectorStore.from_config(config)
    ensure_schema(graph)
    if graph.count("MATCH (e:Entity) RETURN count(e) AS n"):
        sys.exit("the graph already holds entities: point --graph-uri at an empty database (or omit it)")
    kb = home / "kb.jsonl"
    n = write_kb(kb, args.entities)
    started = time.perf_counter()
    ingest(graph, kb, IngestOptions(workers=1, errors_path=home / "errors.jsonl"))
    print(f"ingested {n} FB15k entities in {time.perf_counter() - started:.1f} s")

    encoder = text_encoder_from_config(config)
    texts = graph_texts(graph)
    encoder.model.encode(texts[:256], batch_size=args.batch_size)  # warm-up, for both sides
    print(f"{len(texts)} texts, mean {statistics.mean(len(t) for t in texts):.0f} chars; model {encoder.name}")
    options = IndexOptions(indexes=("text",), explicit=True, page_size=args.page_size,
                           text_batch_size=args.batch_size, recreate=True)
    bare_rates, pipe_rates = [], []
    try:
        for r in range(1, args.rounds + 1):
            t0 = time.perf_counter()
            encoder.model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
            bare = len(texts) / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            summary = Indexer(config, graph, vectors, options, text_encoder=encoder).run()
            pipe = summary.indexes["text"].encoded / (time.perf_counter() - t0)
            assert summary.indexes["text"].encoded == len(texts), summary
            bare_rates.append(bare)
            pipe_rates.append(pipe)
            print(f"round {r}: bare encode() {bare:7.1f} texts/s   kg index --text {pipe:7.1f} entities/s   "
                  f"ratio {pipe / bare:.3f}")
        t0 = time.perf_counter()
        incremental = IndexOptions(indexes=("text",), explicit=True)
        again = Indexer(config, graph, vectors, incremental, text_encoder=encoder).run()
        print(f"incremental re-run: encoded {again.encoded} of {again.entities} in {time.perf_counter() - t0:.2f} s")
        bare_m, pipe_m = statistics.median(bare_rates), statistics.median(pipe_rates)
        print(f"median: bare {bare_m:.1f}/s, pipeline {pipe_m:.1f}/s, ratio {pipe_m / bare_m:.3f} (target >= 0.8)")
        print(f"best:   bare {max(bare_rates):.1f}/s, pipeline {max(pipe_rates):.1f}/s, "
              f"ratio {max(pipe_rates) / max(bare_rates):.3f} (least disturbed by other load on the machine)")
    finally:
        vectors.delete_collection(config.qdrant.collection)
        graph.write("MATCH (e:Entity) DETACH DELETE e")
        graph.close()
        vectors.close()
        if config.graph.embedded:
            stop_server(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
