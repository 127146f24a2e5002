"""`--engine local|ray`, `--address`, `--ray-workers`: the options that choose where a batch command runs, handed
to the command as one `ray: RayOptions | None` (None: the local engine, the default)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from kg.ray_engine import RayOptions


def engine_options(f: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(f)
    def wrapper(*args: Any, engine: str, address: str | None, ray_workers: int, **kwargs: Any) -> Any:
        if engine != "ray" and (address is not None or ray_workers != RayOptions.workers):
            raise click.UsageError("--address and --ray-workers choose where --engine ray runs; add --engine ray")
        ray = RayOptions(address=address, workers=ray_workers) if engine == "ray" else None
        return f(*args, ray=ray, **kwargs)

    for opt in reversed([
        click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="local: this process; ray: the work spread over Ray's workers (index, link: Ray Data "
                          "actors that each load the models once; ingest: parse tasks). Needs the ray extra, and for "
                          "index and link graph/Qdrant servers every node reaches (README \"Batch work on Ray\")."),
        click.option("--address", metavar="ADDRESS",
                     help="Ray cluster to attach to (auto, or ray://HOST:10001); default: a Ray started on this "
                          "machine for the run."),
        click.option("--ray-workers", type=click.IntRange(1), default=RayOptions.workers, show_default=True,
                     help="Ray workers, one CPU each: actors in the pool (index, link), parse tasks at a time (ingest)."),
    ]):
        wrapper = opt(wrapper)
    return wrapper
