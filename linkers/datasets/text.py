"""Text benchmarks in ELEVANT's JSONL (raw text linked end to end, spans scored by ELEVANT's rules), and corpus
JSONL files whose mentions carry gold QIDs."""

from __future__ import annotations

import os
from pathlib import Path

from kgstore.errors import InputError
from linkers.corpus import read_corpus
from linkers.datasets import Dataset, DatasetFiles, DatasetSpec, limited, register_dataset, register_dataset_files
from linkers.elevant import read_benchmark

BENCHMARK_SUFFIX = ".benchmark.jsonl"


def el_text_root() -> Path:
    """Where the text-linking benchmarks live: $KG_EL_DATA, else ../shared/data/el-text beside the working
    directory (ELEVANT's benchmark files under benchmarks/)."""
    env = os.environ.get("KG_EL_DATA")
    return Path(env) if env else Path.cwd().parent / "shared" / "data" / "el-text"


def _benchmark(path: Path, name: str, limit: int | None) -> Dataset:
    if not path.exists():
        raise InputError(f"benchmark file not found: {path}; set KG_EL_DATA to the folder that holds "
                         "benchmarks/NAME.benchmark.jsonl")
    return Dataset(name, None, lambda: iter(()), kb=None, articles=lambda: limited(read_benchmark(path), limit))


def _named(name: str):
    return lambda split, limit, root: _benchmark(el_text_root() / "benchmarks" / f"{name}{BENCHMARK_SUFFIX}",
                                                 name, limit)


for _order, _name in enumerate(("oke-2015-train", "oke-2016-train", "derczynski"), 10):
    register_dataset(DatasetSpec(_name, _named(_name), "ELEVANT benchmark under KG_EL_DATA", order=_order))

register_dataset_files(DatasetFiles(
    f"an ELEVANT *{BENCHMARK_SUFFIX} file", lambda name: name.endswith(BENCHMARK_SUFFIX),
    lambda name, limit: _benchmark(Path(name), Path(name).name, limit), order=0))
register_dataset_files(DatasetFiles(
    "or a corpus JSONL with gold QIDs", lambda name: Path(name).exists(),
    lambda name, limit: Dataset(Path(name).name, None, lambda: limited(read_corpus([Path(name)]), limit), kb=None),
    order=10))
