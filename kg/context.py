"""The resolved configuration and lazily opened stores that the API, the CLI and `kg serve` share (opened on first
use, so a command or a call that needs only one store never connects to the other)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kg.kgstore.config import Config
from kg.kgstore.graph import GraphStore
from kg.kgstore.private import private_home
from kg.kgstore.vectors import VectorStore


@dataclass
class StoreContext:
    config: Config
    _graph: GraphStore | None = field(default=None, repr=False)
    _vectors: VectorStore | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        private_home(self.config.home)  # an existing KG_HOME that others may enter is narrowed to 0700

    def graph(self, *, migrate: bool = True) -> GraphStore:
        """The graph store, with pending migrations applied first (commands need the schema)."""
        if self._graph is None:
            self._graph = GraphStore.from_config(self.config)
            if migrate:
                from kg.kgstore.migrate import ensure_schema

                ensure_schema(self._graph)
        return self._graph

    def vectors(self) -> VectorStore:
        if self._vectors is None:
            self._vectors = VectorStore.from_config(self.config)
        return self._vectors

    def close(self) -> None:
        """Closes the stores opened (idempotent: a later call opens them again)."""
        if self._graph is not None:
            self._graph.close()
            self._graph = None
        if self._vectors is not None:
            self._vectors.close()
            self._vectors = None
