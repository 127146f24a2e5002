"""Evaluation datasets by name: built-in MEL benchmarks (with their KB slice) or a corpus JSONL with gold QIDs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from kgstore.errors import InputError
from linkers.elevant import Article, read_benchmark
from linkers.corpus import (BadLine, Document, GivenCandidatesMention, read_corpus, read_i2cr_fixture,
                            read_wikidiverse, read_wikimel)

BUILTIN = ("wikimel", "wikidiverse")
GIVEN = ("i2cr-wikidiverse",)  # datasets that bring their own candidates per mention
# End-to-end text benchmarks in ELEVANT's JSONL (spans scored by ELEVANT's rules), under el_text_root()
ELEVANT = ("oke-2015-train", "oke-2016-train", "derczynski")
BENCHMARK_SUFFIX = ".benchmark.jsonl"


@dataclass
class Dataset:
    name: str
    split: str | None
    documents: Callable[[], Iterator[Document | BadLine]]
    kb: Path | None  # the KB slice to ingest when it is not in the graph yet (None: the user's KB)
    given: Callable[[], Iterator[GivenCandidatesMention]] | None = None  # given-candidates protocol
    articles: Callable[[], Iterator[Article]] | None = None  # span-level protocol (ELEVANT benchmarks)


def mel_root() -> Path:
    """Where the MEL datasets live: $KG_MEL_DATA, else ../shared/data/mel beside the working directory."""
    env = os.environ.get("KG_MEL_DATA")
    return Path(env) if env else Path.cwd().parent / "shared" / "data" / "mel"


def el_text_root() -> Path:
    """Where the text-linking benchmarks live: $KG_EL_DATA, else ../shared/data/el-text beside the working
    directory (ELEVANT's benchmark files under benchmarks/)."""
    env = os.environ.get("KG_EL_DATA")
    return Path(env) if env else Path.cwd().parent / "shared" / "data" / "el-text"


def load_dataset(name: str, split: str | None = None, limit: int | None = None, root: Path | None = None) -> Dataset:
    root = root or mel_root()
    if name == "wikimel":
        d = root / "wikimel"
        _check(d, "Wikidata-MEL.json")
        return Dataset(name, split, lambda: read_wikimel(d, split, limit), kb=d)
    if name == "wikidiverse":
        d = root / "wikidiverse"
        _check(d, "WikiDiverse.json")
        return Dataset(name, split, lambda: read_wikidiverse(d, split, limit), kb=None)
    if name == "i2cr-wikidiverse":
        d = root / "i2cr-wikidiverse"
        _check(d, "WikiDiverse_testset_label.json")

        def given() -> Iterator[GivenCandidatesMention]:
            for n, m in enumerate(read_i2cr_fixture(d)):
                if limit is not None and n >= limit:
                    return
                yield m
        return Dataset(name, "test", lambda: iter(()), kb=None, given=given)
    if name in ELEVANT or name.endswith(BENCHMARK_SUFFIX):
        path = el_text_root() / "benchmarks" / f"{name}{BENCHMARK_SUFFIX}" if name in ELEVANT else Path(name)
        if not path.exists():
            raise InputError(f"benchmark file not found: {path}; set KG_EL_DATA to the folder that holds "
                             "benchmarks/NAME.benchmark.jsonl")

        def articles() -> Iterator[Article]:
            for n, article in enumerate(read_benchmark(path)):
                if limit is not None and n >= limit:
                    return
                yield article
        return Dataset(name if name in ELEVANT else path.name, None, lambda: iter(()), kb=None, articles=articles)
    path = Path(name)
    if path.exists():
        def docs() -> Iterator[Document | BadLine]:
            for n, item in enumerate(read_corpus([path])):
                if limit is not None and n >= limit:
                    return
                yield item
        return Dataset(path.name, split, docs, kb=None)
    raise InputError(f"unknown dataset {name!r}: use one of {', '.join(BUILTIN + GIVEN + ELEVANT)}, an ELEVANT "
                     f"*{BENCHMARK_SUFFIX} file, or a corpus JSONL with gold QIDs")


def _check(d: Path, marker: str) -> None:
    if not (d / marker).exists():
        raise InputError(f"dataset files not found: {d / marker} is missing; set KG_MEL_DATA to the folder that "
                         "holds wikimel/ and wikidiverse/")
