"""Name lookup benchmark: `Searcher.by_name` (exact + fuzzy, rescored) latency on >= 100k entities, Qdrant server.

Entities: the real FB15k-237 Wikidata entities (label + aliases, ../shared/data/kb/fb15k-wikidata) and WikiMEL's KB
names (../shared/data/mel/wikimel/qid2ne.json), topped up to --entities with synthetic ones whose names recombine
words of the real labels under renumbered ids (so n-gram statistics stay those of real names). Points are built
with the indexer's own name functions and upserted into a fresh collection of a Qdrant server; after indexing
settles, it runs --queries lookups (real labels, real aliases, and labels with one typo), and prints p50/p95/p99
latency (target p50 < 20 ms) and how often the intended entity is first / in the top 10.

    python bench/name_lookup.py --entities 120000 --qdrant-url http://127.0.0.1:6333 --qdrant-grpc-port 6334
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qdrant_client import models  # noqa: E402

from kg.kgstore.config import load_config  # noqa: E402
from kg.kgstore.entity_index import NAMES, NAMES_FIELD, ensure_entity_collection  # noqa: E402
from kg.kgstore.model import point_id  # noqa: E402
from kg.kgstore.names import entity_vector, name_forms  # noqa: E402
from kg.kgstore.search import Searcher  # noqa: E402
from kg.kgstore.vectors import VectorStore  # noqa: E402
from kg.linkers.candidates.names import NameLookup  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FB15K = DATA / "kb" / "fb15k-wikidata" / "FB15k-237_entity2wikidata.json"
WIKIMEL = DATA / "mel" / "wikimel" / "qid2ne.json"
SYNTHETIC_BASE = 900_000_000  # synthetic entities get Q-ids above every real one


def real_entities() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for e in json.loads(FB15K.read_text(encoding="utf-8")).values():
        qid, label = e.get("wikidata_id"), e.get("label")
        if qid and label and qid.startswith("Q"):
            out[qid] = {"qid": qid, "label": label, "aliases": [a for a in e.get("alternatives") or [] if a != label]}
    for qid, label in json.loads(WIKIMEL.read_text(encoding="utf-8")).items():
        out.setdefault(qid, {"qid": qid, "label": label, "aliases": []})
    return out


def synthetic(real: list[dict], n: int, rng: random.Random) -> list[dict]:
    words = [e["label"].split() for e in real]
    out = []
    for i in range(n):
        a, b = rng.choice(words), rng.choice(words)
        out.append({"qid": f"Q{SYNTHETIC_BASE + i}", "label": " ".join(a[:max(1, len(a) - 1)] + b[-1:]), "aliases": []})
    return out


def point(e: dict, popularity: int) -> models.PointStruct:
    forms = name_forms(e["label"], e["aliases"])
    vector = entity_vector(forms)
    return models.PointStruct(
        id=point_id(e["qid"]),
        vector={NAMES: models.SparseVector(indices=vector.indices, values=vector.values)},
        payload={"qid": e["qid"], "label": e["label"], "aliases": e["aliases"], NAMES_FIELD: forms,
                 "types": [], "popularity": popularity},
    )


def typo(text: str, rng: random.Random) -> str:
    words = text.split()
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w, j = words[i], rng.randrange(1, len(words[i]) - 1)
    kind = rng.choice(["delete", "substitute", "transpose", "insert"])
    if kind == "delete":
        w = w[:j] + w[j + 1:]
    elif kind == "substitute":
        w = w[:j] + rng.choice("aeioulnrst") + w[j + 1:]
    elif kind == "transpose":
        w = w[:j - 1] + w[j] + w[j - 1] + w[j + 1:]
    else:
        w = w[:j] + rng.choice("aeioulnrst") + w[j:]
    words[i] = w
    return " ".join(words)


def wait_green(vectors: VectorStore, name: str, timeout: float = 600) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if vectors.collection_status(name) == models.CollectionStatus.GREEN.value:
            return time.perf_counter() - started
        time.sleep(0.5)
    raise SystemExit(f"collection {name} did not finish optimising in {timeout} s")


def measure(names: NameLookup, queries: list[tuple[str, str, str]], top_k: int,
            ) -> tuple[list[float], dict[str, list[tuple[bool, bool]]]]:
    """Latency (ms) of each (kind, text, intended qid) lookup after 20 warm-up ones, and per kind whether the
    intended entity came first / in the top k."""
    for _, text, _ in queries[:20]:
        names.by_name(text, top_k)  # warm-up
    latencies: list[float] = []
    found: dict[str, list[tuple[bool, bool]]] = {}
    for kind, text, qid in queries:
        t0 = time.perf_counter()
        hits = names.by_name(text, top_k)
        latencies.append((time.perf_counter() - t0) * 1000)
        qids = [h.qid for h in hits]
        found.setdefault(kind, []).append((qids[:1] == [qid], qid in qids))
    return latencies, found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entities", type=int, default=120_000)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--qdrant-url", default=os.environ.get("KG_QDRANT_URL"))
    ap.add_argument("--qdrant-grpc-port", type=int, default=int(os.environ.get("KG_QDRANT_GRPC_PORT", "6334")))
    args = ap.parse_args()
    if not args.qdrant_url:
        sys.exit("give --qdrant-url (or KG_QDRANT_URL): the target is measured against a Qdrant server")
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="kg-bench-names-"))
    config = load_config(overrides={
        "home": home, "qdrant.url": args.qdrant_url,
        "qdrant.grpc_port": args.qdrant_grpc_port, "qdrant.collection": "bench_names_" + uuid.uuid4().hex[:8],
    }, env={})
    vectors = VectorStore.from_config(config)

    real = list(real_entities().values())[: args.entities]
    entities = real + synthetic(real, args.entities - len(real), rng)
    popularity = {e["qid"]: int(rng.paretovariate(1.2)) for e in entities}
    ensure_entity_collection(vectors, config.qdrant.collection, text_dim=384, image_dim=None)
    try:
        started = time.perf_counter()
        for i in range(0, len(entities), 2000):
            batch = [point(e, popularity[e["qid"]]) for e in entities[i:i + 2000]]
            vectors.upsert(config.qdrant.collection, batch)
        upserted = time.perf_counter() - started
        settle = wait_green(vectors, config.qdrant.collection)
        count = vectors.count(config.qdrant.collection)
        print(f"{count:,} entities ({len(real):,} real, {count - len(real):,} synthetic): upserted in "
              f"{upserted:.1f} s, index settled {settle:.1f} s later")

        third = args.queries // 3
        with_alias = [e for e in real if e["aliases"]]
        queries = [("label", e["label"], e["qid"]) for e in rng.sample(real, third)]
        queries += [("alias", rng.choice(e["aliases"]), e["qid"]) for e in rng.sample(with_alias, third)]
        queries += [("typo", typo(e["label"], rng), e["qid"]) for e in rng.sample(real, args.queries - 2 * third)]
        latencies, found = measure(NameLookup(Searcher(config, vectors)), queries, args.top_k)
        cuts = statistics.quantiles(latencies, n=100)
        print(f"by_name latency over {len(latencies)} queries (top {args.top_k}): p50 {cuts[49]:.2f} ms  "
              f"p95 {cuts[94]:.2f} ms  p99 {cuts[98]:.2f} ms  mean {statistics.mean(latencies):.2f} ms  "
              "(target p50 < 20 ms)")
        for kind, results in found.items():
            first = sum(a for a, _ in results) / len(results)
            top = sum(b for _, b in results) / len(results)
            print(f"  {kind:<5} queries {len(results):>4}: intended entity first {first:.1%}, "
                  f"in top {args.top_k} {top:.1%}")
        print("  (a label or alias shared by several entities can rank another first: in top-k is the fair measure)")
    finally:
        vectors.delete_collection(config.qdrant.collection)
        vectors.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
