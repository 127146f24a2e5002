"""Text benchmarks in ELEVANT's JSONL (raw text linked end to end, spans scored by ELEVANT's rules), and corpus
JSONL files whose mentions carry gold QIDs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

from kg.kgstore.errors import InputError
from kg.linkers.corpus import read_corpus
from kg.linkers.evaluation.data_paths import DataPaths
from kg.linkers.evaluation.datasets import (
    Dataset,
    DatasetFiles,
    DatasetSpec,
    limited,
    register_dataset,
    register_dataset_files,
)
from kg.linkers.evaluation.elevant import Article, read_benchmark
from kg.linkers.postprocess.coref import PRONOUNS
from kg.linkers.records import NIL, Document, Mention

BENCHMARK_SUFFIX = ".benchmark.jsonl"


ELEVANT = ("oke-2015-train", "oke-2016-train", "derczynski", "news-fair-v2-dev", "wiki-fair-v2-dev")
HALVES = ("a", "b")


def training_document(article: Article) -> Document:
    """A benchmark article as training data (`kg train --also`): every label a mention, its gold the QID (NIL for
    an entity outside the KB); labels that count neither way in ELEVANT (optional, nested, dates and amounts) and
    pronouns (coreference, which no reranker decides) carry no gold, so training judges them neither way."""
    mentions = []
    for lab in sorted(article.labels, key=lambda lab: lab.start):
        surface = article.text[lab.start:lab.end]
        judged = lab.parent is None and not lab.is_optional and not PRONOUNS.fullmatch(surface)
        gold = (NIL if lab.is_nil else lab.entity_id) if judged else None
        mentions.append(Mention(f"{article.id}#{lab.start}-{lab.end}", lab.start, lab.end, surface, gold=gold))
    return Document(str(article.id), article.text, mentions=mentions)


def half_of(text: str) -> str:
    """"a" or "b": a fixed half of a benchmark's documents by a hash of the text (the same sentence in two
    benchmarks lands in the same half), for two-fold cross-validation when a benchmark is also trained on."""
    return HALVES[hashlib.sha1(text.encode("utf-8")).digest()[0] % 2]


def split_half(name: str) -> tuple[str, str | None]:
    """"oke-2016-train:a" -> ("oke-2016-train", "a"); a name without a half -> (name, None)."""
    base, sep, half = name.rpartition(":")
    return (base, half) if sep and half in HALVES and (base in ELEVANT or base.endswith(BENCHMARK_SUFFIX)) \
        else (name, None)


def _benchmark(path: Path, name: str, limit: int | None, half: str | None = None) -> Dataset:
    if not path.exists():
        raise InputError(f"benchmark file not found: {path}; set KG_EL_DATA to the folder that holds "
                         "benchmarks/NAME.benchmark.jsonl")

    def articles() -> Iterator[Article]:
        return limited((a for a in read_benchmark(path) if half is None or half_of(a.text) == half), limit)

    return Dataset(name if half is None else f"{name}:{half}", None, lambda: map(training_document, articles()),
                   kb=None, articles=articles)


def _load(name: str, limit: int | None, data: DataPaths) -> Dataset:
    """A benchmark by registered name (ELEVANT's benchmark files under the `data.el_text` folder's benchmarks/) or
    by file path, whole or one half of it (NAME:a, NAME:b)."""
    base, half = split_half(name)
    if base in ELEVANT:
        return _benchmark(data.el_text / "benchmarks" / f"{base}{BENCHMARK_SUFFIX}", base, limit, half)
    return _benchmark(Path(base), Path(base).name, limit, half)


def _named(name: str) -> Callable[[str | None, int | None, DataPaths], Dataset]:
    return lambda split, limit, data: _load(name, limit, data)


for _order, _name in enumerate(ELEVANT, 10):
    register_dataset(DatasetSpec(_name, _named(_name), "ELEVANT benchmark under KG_EL_DATA", order=_order))

register_dataset_files(DatasetFiles(f"an ELEVANT *{BENCHMARK_SUFFIX} file",
                                    lambda name: name.endswith(BENCHMARK_SUFFIX), _load, order=0))
register_dataset_files(DatasetFiles("either half of one (NAME:a, NAME:b: for two-fold cross-validation)",
                                    lambda name: split_half(name)[1] is not None, _load, order=1))
register_dataset_files(DatasetFiles(
    "or a corpus JSONL with gold QIDs", lambda name: Path(name).exists(),
    lambda name, limit, data: Dataset(Path(name).name, None, lambda: limited(read_corpus([Path(name)]), limit),
                                      kb=None),
    order=10))
