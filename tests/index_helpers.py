"""Shared by the index and search tests: fixture paths, KG_* environments for the CLI, ingest via the real pipeline."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from kg.indexers.ingest import IngestOptions, ingest
from kg.kgstore.config import Config, load_config
from kg.kgstore.graph import GraphStore
from kg.kgstore.migrate import ensure_schema

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WIKIDATA = SHARED / "wikidata"
WIKIMEL_IMAGES = SHARED / "mel" / "wikimel" / "images"


def server_config(servers: Any, home: Path, prefix: str = "t_") -> Config:
    """A Config for the test servers (conftest's `servers`), with its own home and a fresh Qdrant collection."""
    return load_config({
        "home": home, "graph.uri": servers.graph_uri, "graph.user": servers.graph_user,
        "graph.password": servers.graph_password, "graph.database": servers.graph_database,
        "qdrant.url": servers.qdrant_url, "qdrant.grpc_port": servers.qdrant_grpc_port,
        "qdrant.collection": prefix + uuid.uuid4().hex[:8],
    }, env={})


def cli_env(cfg: Config) -> dict[str, str]:
    env = {
        "KG_HOME": str(cfg.home), "KG_GRAPH_URI": cfg.graph.uri, "KG_GRAPH_USER": cfg.graph.user,
        "KG_GRAPH_PASSWORD": cfg.graph.password.reveal(), "KG_GRAPH_DATABASE": cfg.graph.database,
        "KG_QDRANT_URL": cfg.qdrant.url, "KG_QDRANT_GRPC_PORT": str(cfg.qdrant.grpc_port),
        "KG_COLLECTION": cfg.qdrant.collection,
    }
    return {k: v for k, v in env.items() if v is not None}


def ingest_files(graph: GraphStore, tmp_path: Path, *paths: Path) -> None:
    ensure_schema(graph)
    for path in paths:
        summary = ingest(graph, path, IngestOptions(workers=1, errors_path=tmp_path / "errors.jsonl"))
        assert summary.status == "ok" and summary.errors == 0, summary


def indexed_kb(servers: Any, graph_driver: Any, tmp: Path, entities: list[dict], prefix: str) -> Config:
    """An empty graph, then `entities` (custom JSONL) ingested and indexed (text + names) into a fresh collection:
    the small KBs the CLI and kg serve tests link against."""
    from kg.indexers.index import Indexer, IndexOptions
    from kg.kgstore.vectors import VectorStore

    graph_driver.execute_query("MATCH (n) DETACH DELETE n", database_=servers.graph_database)
    cfg = server_config(servers, tmp / "home", prefix)
    path = tmp / "kb.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entities))
    vectors = VectorStore.from_config(cfg)
    with GraphStore.from_config(cfg) as graph:
        ingest_files(graph, tmp, path)
        Indexer(cfg, graph, vectors, IndexOptions(indexes=("text", "names"))).run()
    vectors.close()
    return cfg


def wikimel_kb_slice(dest: Path, gold_docs: int = 100, size: int = 3000, extra: tuple[str, ...] = ()) -> int:
    """A WikiMEL KB slice in `dest/wikimel/` (the layout `kg ingest` and `kg eval wikimel` read): the gold entities
    of the first `gold_docs` dev captions and `extra`, every entity sharing a name word with one of them (the
    candidates that make linking hard), then the KB's entities in file order up to `size`. Returns its size.

    The whole 18,880-entity KB takes minutes to ingest and index on a busy machine; whole-KB figures come from
    `kg eval wikimel` and bench/, not from a timed test."""
    from kg.linkers.evaluation.benchmarks import read_wikimel

    src = SHARED / "mel" / "wikimel"
    names = json.loads((src / "qid2ne.json").read_text())
    abstracts = json.loads((src / "qid2abs.json").read_text())
    keep = dict.fromkeys(m.gold for d in read_wikimel(src, "dev", gold_docs) for m in d.mentions if m.gold in names)
    keep.update(dict.fromkeys(q for q in extra if q in names))
    words = lambda name: {w for w in re.findall(r"\w+", name.lower()) if len(w) > 3}  # noqa: E731
    gold_words = set().union(*(words(names[q]) for q in keep))
    keep.update(dict.fromkeys(q for q, name in names.items() if words(name) & gold_words))
    for q in names:
        if len(keep) >= size:
            break
        keep.setdefault(q)
    out = dest / "wikimel"
    out.mkdir(parents=True)
    (out / "qid2ne.json").write_text(json.dumps({q: names[q] for q in keep}))
    (out / "qid2abs.json").write_text(json.dumps({q: abstracts[q] for q in keep if q in abstracts}))
    return len(keep)
