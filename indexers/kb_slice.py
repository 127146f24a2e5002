"""A benchmark's KB slice loaded on demand: ingested when the graph lacks it, then indexed (a no-op when current)."""

from __future__ import annotations

from pathlib import Path

from kg.indexers.index import Indexer
from kg.indexers.ingest import IngestOptions, ingest
from kg.kgstore.config import Config
from kg.kgstore.entities import count_from_source
from kg.kgstore.graph import GraphStore
from kg.kgstore.progress import progress, progress_bar
from kg.kgstore.vectors import VectorStore


def ensure_kb_slice(config: Config, graph: GraphStore, vectors: VectorStore, dataset: str, kb: Path) -> None:
    if not count_from_source(graph, kb.name):
        progress(f"the graph lacks the {dataset} KB slice: ingesting it from {kb} (once)")
        with progress_bar(desc=f"ingest {kb.name}", unit=" lines") as bar:
            ingest(graph, kb, IngestOptions(errors_path=config.home / "ingest-errors" / f"{dataset}.jsonl"),
                   lambda lines, entities: bar.update(lines - bar.n))
    indexer = Indexer(config, graph, vectors)
    with progress_bar(total=indexer.total(), desc="index", unit=" entities") as bar:
        indexer.run(lambda n, summary: bar.update(n))
