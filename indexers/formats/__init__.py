"""KB input formats by name: each module of this package registers the formats it reads, so a new format is one
new file here. `kg ingest --format`'s choices and the format errors' lists come from this registry.

A format says how to read an input into (line number, raw entity text) pairs (`read`; default: one entity per
line), how to turn one raw text into an EntityRecord (`parse`), and, for a format the built-in content rules of
`indexers.sources` do not know, how to recognise its first non-blank line (`sniff`).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from kgstore.errors import InputError
from kgstore.model import EntityRecord


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


_FORMATS: dict[str, KBFormat] = {}
_discovered = False


def register_format(fmt: KBFormat) -> KBFormat:
    if fmt.name in _FORMATS and _FORMATS[fmt.name] != fmt:
        raise ValueError(f"KB format {fmt.name!r} is registered twice")
    _FORMATS[fmt.name] = fmt
    return fmt


def kb_formats() -> dict[str, KBFormat]:
    global _discovered
    if not _discovered:
        _discovered = True
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(_FORMATS.items(), key=lambda kv: (kv[1].order, kv[0])))


def get_format(name: str) -> KBFormat:
    found = kb_formats().get(name)
    if found is None:
        raise InputError(f"unknown --format {name!r}. {known_formats()}.")
    return found


def known_formats() -> str:
    return f"Known formats: {', '.join(kb_formats())}"
