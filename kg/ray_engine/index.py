"""`kg index --engine ray`: this process makes the collection, reads the graph's entities page by page and sweeps
deleted ones as the local engine does; the pages are encoded and upserted by a pool of Ray actors that each load the
encoders once (the local engine's Indexer.index_page: only changed inputs encoded, points written by id)."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kg.context import StoreContext
from kg.indexers.index import MAX_SKIP_EXAMPLES, Indexer, IndexOptions, IndexStats, IndexSummary
from kg.kgstore.config import Config
from kg.ray_engine import ITEM, RayOptions, dataset_of, map_with_pool, session, unpickled


class IndexWorker:
    """One actor of the pool: an Indexer (its encoders, its store connections) built once; each page indexed."""

    def __init__(self, config: Config, options: IndexOptions) -> None:
        self.context = StoreContext(config)
        self.indexer = Indexer(config, self.context.graph(), self.context.vectors(), options)
        self.pool = ThreadPoolExecutor(max(1, options.image_workers))  # image fetches, as the local engine's

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """Per page, the statistics of indexing it ({index: IndexStats})."""
        out = []
        for item in batch[ITEM]:
            self.indexer.summary.indexes = {i: IndexStats() for i in self.indexer.indexes}
            self.indexer.index_page(pickle.loads(item), self.pool)
            out.append(pickle.dumps(self.indexer.summary.indexes))
        return {ITEM: out}


def _add(total: IndexStats, page: IndexStats) -> None:
    total.seen += page.seen
    total.encoded += page.encoded
    total.unchanged += page.unchanged
    total.seconds += page.seconds  # time spent in the actors, added up
    for reason, n in page.skipped.items():
        total.skipped[reason] = total.skipped.get(reason, 0) + n
    total.skip_examples += page.skip_examples[:MAX_SKIP_EXAMPLES - len(total.skip_examples)]


def index_on_ray(indexer: Indexer, ray_options: RayOptions,
                 progress: Callable[[int, IndexSummary], None] | None = None) -> IndexSummary:
    """`indexer.run()` with the pages encoded and written on Ray (call kg.ray_engine.ready first); the summary has
    the local engine's fields."""
    config, options = indexer.config, indexer.options
    started = indexer.start()
    # the workers index what this process settled on (an image index without a model, or a words index the
    # collection predates, already left out)
    worker_options = dataclasses.replace(options, indexes=tuple(indexer.indexes), explicit=False, recreate=False)
    sizes: list[int] = []

    def pages() -> Any:
        for rows in indexer.pages():
            sizes.append(len(rows))
            yield rows

    with session(ray_options) as ray:
        ds = dataset_of(ray, pages(), max(1, ray_options.chunk // options.page_size))  # pages, not entities
        if ds is not None:
            rows = map_with_pool(ray, ds, IndexWorker, ray_options, 1, {"config": config, "options": worker_options})
            for size, row in zip(sizes, rows):
                for name, stats in unpickled(row).items():
                    _add(indexer.summary.indexes[name], stats)
                indexer.counted(size, progress)
    return indexer.finish(started)
