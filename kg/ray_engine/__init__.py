"""Ray Data as kg's batch engine (`kg link/index --engine ray`): the same Linker and Indexer code, run as Ray Data
stages over partitions by a pool of actors that each load the models and connect to the stores once.

Ray is an optional extra; without it `--engine ray` says how to install it. The workers run in other processes,
and on a cluster on other machines, so each opens its own connections to the configured graph and Qdrant servers:
the embedded stores under the data directory (a graph server this process starts and stops, Qdrant's local mode)
cannot be shared, and `--engine ray` refuses them. Every write goes through the store code the local engine uses,
idempotent by mention id and point id, so a task that Ray retries after a failure writes nothing twice.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kg.kgstore.chunks import chunked
from kg.kgstore.config import Config
from kg.kgstore.errors import ConfigError

INSTALL_HINT = 'pip install "kg[ray]" (Ray Data 2.60.0; install the same kg and Ray on every node of a cluster)'
ITEM = "item"  # the column holding one pickled input (a Document, a page of entities) or its pickled result


@dataclass(frozen=True)
class RayOptions:
    """Where the stages run: `address` None starts a local Ray on this machine for the run (or uses the one this
    process already started); "auto" or "ray://host:10001" attaches to a running cluster."""

    address: str | None = None
    workers: int = 2  # actors in the pool, each holding its own models and store connections
    chunk: int = 10_000  # inputs handed to Ray's object store at a time by this process


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (the [data] part of the extra)
    except ImportError:
        raise ConfigError(f"--engine ray needs Ray Data, which is not installed: {INSTALL_HINT}") from None
    return ray


def require_servers(config: Config) -> None:
    """The workers connect to the stores themselves: refuse the embedded ones, saying what to configure."""
    missing = []
    if config.graph.embedded:
        missing.append("the graph is the embedded server under the data directory: set KG_GRAPH_URI (or "
                       "--graph-uri) to a bolt:// or neo4j:// server that every Ray node can reach")
    if config.qdrant.embedded:
        missing.append("Qdrant runs in local mode under the data directory: set KG_QDRANT_URL (or --qdrant-url) "
                       "to a Qdrant server that every Ray node can reach")
    if missing:
        raise ConfigError("--engine ray runs kg in other processes (and machines), which cannot share the embedded "
                          "stores: " + "; ".join(missing))


def ready(config: Config) -> None:
    """Refuses, before any store is opened or started, what `--engine ray` cannot run: no Ray, embedded stores."""
    import_ray()
    require_servers(config)


@contextmanager
def session(options: RayOptions) -> Iterator[Any]:
    """The `ray` module with a session: this process's own if it has one, else one started (and stopped after)."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    try:
        if options.address:
            ray.init(address=options.address, **kwargs)
        else:
            ray.init(num_cpus=max(1, options.workers), **kwargs)
    except ConnectionError as exc:
        raise ConfigError(f"--address {options.address}: no Ray cluster answers there ({exc}); start one with "
                          "`ray start --head` or leave --address out to run Ray on this machine") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def dataset_of(ray: Any, items: Iterable[Any], chunk: int) -> Any:
    """A Ray dataset of `items`, one pickled item per row, handed to the object store `chunk` at a time (this
    process never holds more than a chunk; the object store spills to disk). None when there are no items."""
    parts = [ray.data.from_items([{ITEM: pickle.dumps(x)} for x in group]) for group in chunked(items, chunk)]
    if not parts:
        return None
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


def map_with_pool(ray: Any, ds: Any, worker: type, options: RayOptions, batch_size: int,
                  constructor: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The rows `worker` makes of `ds`'s batches, in input order: one actor per `options.workers`, each built
    once with `constructor` (so models load once per actor), one CPU each."""
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    mapped = ds.map_batches(worker, fn_constructor_kwargs=constructor, batch_size=batch_size, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=max(1, options.workers)), num_cpus=1)
    yield from mapped.iter_rows()


def unpickled(row: dict[str, Any]) -> Any:
    return pickle.loads(row[ITEM])
