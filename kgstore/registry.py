"""Named entries (linking methods, KB formats, datasets, mention detectors) that the modules of one package
register when imported; the package's modules are imported on the first read, so a new entry is one new file."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, Protocol, TypeVar


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str):
        self.kind = kind  # what an entry is, for the error on a second registration
        self.package = package  # whose modules register entries
        self._entries: dict[str, T] = {}
        self._discovered = False

    def register(self, entry: T) -> T:
        if entry.name in self._entries and self._entries[entry.name] != entry:
            raise ValueError(f"{self.kind} {entry.name!r} is registered twice")
        self._entries[entry.name] = entry
        return entry

    def entries(self) -> dict[str, T]:
        """Every entry, in help order (`order`, then name)."""
        if not self._discovered:
            self._discovered = True
            package = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{self.package}.{info.name}")
        return dict(sorted(self._entries.items(), key=lambda kv: (getattr(kv[1], "order", 100), kv[0])))
