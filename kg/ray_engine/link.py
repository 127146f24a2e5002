"""`kg link --engine ray`: the corpus read here by the local engine's parser, its documents linked by a pool of Ray
actors that each build the Linker once (its models, its connections to the stores), and the results counted here
as the local engine counts them."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from kg.context import StoreContext
from kg.kgstore.config import Config
from kg.kgstore.links import linked_documents
from kg.linkers.pipeline import LinkOptions, MentionResult
from kg.linkers.records import Document
from kg.linkers.run import Stores, build_linker, require_kb, run_corpus
from kg.ray_engine import ITEM, RayOptions, dataset_of, map_with_pool, ready, session, unpickled


class LinkWorker:
    """One actor of the pool: a Linker built once; each batch of documents linked (and written back, in one
    transaction per batch, by the local engine's idempotent write)."""

    def __init__(self, config: Config, options: LinkOptions, resume: bool) -> None:
        self.context = StoreContext(config)
        stores = Stores(config, self.context.graph(), self.context.vectors())
        self.graph = stores.graph
        self.linker = build_linker(stores, options, options.detector if options.detect else None)
        _ = self.linker.context_encoder  # the models load now, once per actor
        self.resume = resume

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """One row per document, in order: None for a document this run already linked (--resume); the batch's
        results on its first linked document's row and [] on the others (one link_batch call per batch)."""
        docs: list[Document] = [pickle.loads(b) for b in batch[ITEM]]
        run_id = self.linker.run_id()
        done = linked_documents(self.graph, [d.id for d in docs], run_id) if self.resume else set()
        todo = [d for d in docs if d.id not in done]
        results = self.linker.link_batch(todo) if todo else []
        rows: list[Any] = []
        for doc in docs:
            if doc.id in done:
                rows.append(None)
            else:
                rows.append(results)
                results = []
        return {ITEM: [pickle.dumps(r) for r in rows], "run_id": [run_id] * len(docs)}


def link_on_ray(config: Config, stores: Callable[[], Stores], linking: LinkOptions, corpus: list[Path], *,
                options: RayOptions, resume: bool = False, out: Path | None = None,
                explain: bool = False, on_result: Callable[[MentionResult], None] | None = None) -> dict[str, Any]:
    """`kg link`'s run with the linking done on Ray; the summary has the local engine's fields (`llm` is None: each
    actor counts its own LLM calls). Refused, saying what to do, without Ray or on the embedded stores."""
    ready(config)
    require_kb(stores())
    run_ids: list[str] = []

    def link(docs: Iterator[Document], counts: dict[str, int]) -> Iterable[tuple[int, list[MentionResult]]]:
        with session(options) as ray:
            ds = dataset_of(ray, docs, options.chunk)
            if ds is None:
                return
            rows = map_with_pool(ray, ds, LinkWorker, options, LinkOptions.batch_docs,
                                 {"config": config, "options": linking, "resume": resume})
            for row in rows:
                run_ids[:] = [row["run_id"]]
                results = unpickled(row)
                if results is None:
                    counts["already_linked"] += 1
                else:
                    yield 1, results

    summary = run_corpus(corpus, link, resume=resume, out=out, explain=explain, on_result=on_result)
    return {**summary, "run_id": run_ids[0] if run_ids else None, "written": linking.write, "llm": None, "engine": "ray"}
