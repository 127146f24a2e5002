"""Shared by the index and search tests: fixture paths, KG_* environments for the CLI, ingest via the real pipeline."""

from __future__ import annotations

from pathlib import Path

from indexers.ingest import IngestOptions, ingest
from kgstore.config import Config
from kgstore.graph import GraphStore
from kgstore.migrate import ensure_schema

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WIKIDATA = SHARED / "wikidata"
WIKIMEL_IMAGES = SHARED / "mel" / "wikimel" / "images"


def cli_env(cfg: Config) -> dict[str, str]:
    env = {
        "KG_HOME": str(cfg.home), "KG_GRAPH_URI": cfg.graph_uri, "KG_GRAPH_USER": cfg.graph_user,
        "KG_GRAPH_PASSWORD": cfg.graph_password, "KG_GRAPH_DATABASE": cfg.graph_database,
        "KG_QDRANT_URL": cfg.qdrant_url, "KG_QDRANT_GRPC_PORT": str(cfg.qdrant_grpc_port),
        "KG_COLLECTION": cfg.collection,
    }
    return {k: v for k, v in env.items() if v is not None}


def ingest_files(graph: GraphStore, tmp_path: Path, *paths: Path) -> None:
    ensure_schema(graph)
    for path in paths:
        summary = ingest(graph, path, IngestOptions(workers=1, errors_path=tmp_path / "errors.jsonl"))
        assert summary.status == "ok" and summary.errors == 0, summary
