"""KB input formats by name: each module of this package registers the formats it reads, so a new format is one
new file here. `kg ingest --format`'s choices and the format errors' lists come from this registry.

A format says how to read an input into (line number, raw entity text) pairs (`read`; default: one entity per
line), how to turn one raw text into an EntityRecord (`parse`), and, for a format the built-in content rules of
`indexers.sources` do not know, how to recognise its first non-blank line (`sniff`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kg.kgstore.errors import InputError
from kg.kgstore.model import EntityRecord
from kg.kgstore.registry import Registry


@dataclass(frozen=True)
class KBFormat:
    name: str
    help: str
    # raw entity text (decoded JSON when `json`), languages, fallback language -> record (None: a skipped entity);
    # ValueError names what is wrong with the entity. None: the input holds no entities (alias-counts).
    parse: Callable[[Any, Sequence[str], str | None], EntityRecord | None] | None
    read: Callable[[Path, int], Iterator[tuple[int, str]]] | None = None  # (path, start line); None: line reader
    sniff: Callable[[bytes], bool] | None = None  # the first non-blank line, stripped
    json: bool = True  # parse takes the decoded JSON value of each raw text
    directory: bool = False  # the input is a directory
    order: int = 100


_FORMATS: Registry[KBFormat] = Registry("KB format", __name__)
register_format = _FORMATS.register
kb_formats = _FORMATS.entries


def get_format(name: str) -> KBFormat:
    found = kb_formats().get(name)
    if found is None:
        raise InputError(f"unknown --format {name!r}. {known_formats()}.")
    return found


def known_formats() -> str:
    return f"Known formats: {', '.join(kb_formats())}"
