"""Evaluation datasets by name: each module of this package registers the datasets it reads (a new dataset is one
new file here); `kg eval`/`kg train` take a registered name or a file a registered file kind accepts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kg.kgstore.errors import InputError
from kg.kgstore.registry import Registry
from kg.linkers.evaluation.data_paths import DataPaths
from kg.linkers.evaluation.elevant import Article
from kg.linkers.records import BadLine, Document, GivenCandidatesMention


@dataclass
class Dataset:
    name: str
    split: str | None
    documents: Callable[[], Iterator[Document | BadLine]]
    kb: Path | None  # the KB slice to ingest when it is not in the graph yet (None: the user's KB)
    given: Callable[[], Iterator[GivenCandidatesMention]] | None = None  # given-candidates protocol
    articles: Callable[[], Iterator[Article]] | None = None  # span-level protocol (ELEVANT benchmarks)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    load: Callable[[str | None, int | None, DataPaths], Dataset]  # (split, limit, where the data is) -> Dataset
    help: str
    splits: bool = False  # has train/dev/test splits (--split)
    order: int = 100


@dataclass(frozen=True)
class DatasetFiles:
    """Datasets given as a path: `accepts(name)` says whether `load` reads it."""

    kind: str
    accepts: Callable[[str], bool]
    load: Callable[[str, int | None, DataPaths], Dataset]  # (path, limit, where the data is) -> Dataset
    order: int = 100


_DATASETS: Registry[DatasetSpec] = Registry("dataset", __name__)
_FILES: dict[str, DatasetFiles] = {}
register_dataset = _DATASETS.register
datasets = _DATASETS.entries


def register_dataset_files(files: DatasetFiles) -> DatasetFiles:
    _FILES[files.kind] = files
    return files


def with_splits() -> tuple[str, ...]:
    """The datasets --split chooses among."""
    return tuple(name for name, spec in datasets().items() if spec.splits)


def limited(items: Iterator, limit: int | None) -> Iterator:
    for n, item in enumerate(items):
        if limit is not None and n >= limit:
            return
        yield item


def load_dataset(name: str, split: str | None = None, limit: int | None = None,
                 data: DataPaths | None = None) -> Dataset:
    """`data`: where the benchmarks are (`data_paths(config)`; None: the defaults beside the working directory)."""
    data = data if data is not None else DataPaths()
    spec = datasets().get(name)
    if spec is not None:
        return spec.load(split, limit, data)
    for files in sorted(_FILES.values(), key=lambda f: f.order):
        if files.accepts(name):
            return files.load(name, limit, data)
    raise InputError(f"unknown dataset {name!r}: use one of {', '.join(datasets())}, "
                     + ", ".join(f.kind for f in sorted(_FILES.values(), key=lambda f: f.order)))
