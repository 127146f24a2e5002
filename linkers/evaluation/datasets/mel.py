"""The multimodal benchmarks: WikiMEL and WikiDiverse (KB retrieval), and I2CR's WikiDiverse test set (given
candidates)."""

from __future__ import annotations

from pathlib import Path

from kg.kgstore.errors import InputError
from kg.linkers.evaluation.benchmarks import read_i2cr_fixture, read_wikidiverse, read_wikimel
from kg.linkers.evaluation.data_paths import DataPaths
from kg.linkers.evaluation.datasets import Dataset, DatasetSpec, limited, register_dataset


def _check(d: Path, marker: str) -> None:
    if not (d / marker).exists():
        raise InputError(f"dataset files not found: {d / marker} is missing; set KG_MEL_DATA to the folder that "
                         "holds wikimel/ and wikidiverse/")


def _wikimel(split: str | None, limit: int | None, data: DataPaths) -> Dataset:
    d = data.mel / "wikimel"
    _check(d, "Wikidata-MEL.json")
    return Dataset("wikimel", split, lambda: read_wikimel(d, split, limit), kb=d)


def _wikidiverse(split: str | None, limit: int | None, data: DataPaths) -> Dataset:
    d = data.mel / "wikidiverse"
    _check(d, "WikiDiverse.json")
    return Dataset("wikidiverse", split, lambda: read_wikidiverse(d, split, limit), kb=None)


def _i2cr(split: str | None, limit: int | None, data: DataPaths) -> Dataset:
    d = data.mel / "i2cr-wikidiverse"
    _check(d, "WikiDiverse_testset_label.json")
    return Dataset("i2cr-wikidiverse", "test", lambda: iter(()), kb=None,
                   given=lambda: limited(read_i2cr_fixture(d), limit))


register_dataset(DatasetSpec("wikimel", _wikimel, "KB retrieval; its KB slice is loaded when the graph lacks it",
                             splits=True, order=0))
register_dataset(DatasetSpec("wikidiverse", _wikidiverse, "KB retrieval on the user's KB", splits=True, order=1))
register_dataset(DatasetSpec("i2cr-wikidiverse", _i2cr, "given candidates: 10 per mention with image clues",
                             order=2))
