"""The vector store: the one API kg uses for vectors, in front of local mode, a Qdrant server over HTTP or gRPC.

Server mode (KG_QDRANT_URL, gRPC preferred) is the home of any real KB; local mode (a path under KG_HOME) keeps
small KBs working with nothing to install, and warns once when a collection outgrows it. The backends
(`kgstore.vector_backends`) say how each request travels; what kg does with them (create a collection once,
add missing payload indexes, warn in local mode) is decided here, once for all three.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from qdrant_client import models

from kg.kgstore.config import Config
from kg.kgstore.vector_backends import Fields, PointId, ScoredRow, StoredRow, VectorBackend, open_backend
from kg.kgstore.vector_backends.layout import HNSW_M

log = logging.getLogger(__name__)
LOCAL_MODE_LIMIT = 20_000


class VectorStore:
    def __init__(self, backend: VectorBackend):
        self.backend = backend
        self._warned: set[str] = set()

    @classmethod
    def from_config(cls, config: Config) -> VectorStore:
        return cls(open_backend(config))

    @property
    def local(self) -> bool:
        return self.backend.local

    @property
    def location(self) -> str:
        return self.backend.location

    def close(self) -> None:
        self.backend.close()

    def version(self) -> str:
        return self.backend.version()

    def collections(self) -> list[str]:
        return self.backend.collections()

    def collection_exists(self, name: str) -> bool:
        return self.backend.collection_exists(name)

    def ensure_collection(self, name: str, dense: Mapping[str, int], sparse: Sequence[str] = (), *,
                          sparse_idf: bool = False, payload_indexes: Mapping[str, Any] | None = None) -> bool:
        """Create the collection with named dense (cosine) and sparse vectors and its payload indexes if it does
        not exist yet; True if it was created."""
        if self.backend.collection_exists(name):
            return False
        self.backend.create_collection(name, dense, sparse, sparse_idf)
        for field, schema in (payload_indexes or {}).items():
            self.backend.create_payload_index(name, field, schema)
        return True

    def ensure_payload_indexes(self, name: str, payload_indexes: Mapping[str, Any]) -> None:
        """Add the payload indexes a collection lacks (Qdrant builds them over the stored points)."""
        have = self.backend.payload_indexes(name)
        for field, schema in payload_indexes.items():
            if field not in have:
                self.backend.create_payload_index(name, field, schema)

    def delete_collection(self, name: str) -> None:
        self.backend.delete_collection(name)

    def defer_hnsw(self, name: str) -> bool:
        """With [qdrant] defer_hnsw, stop building the collection's HNSW graph (m=0) for a bulk upload; True if so.
        Searches stay exact meanwhile (a full scan), only slower."""
        if self.local or not self.backend.layout.defer_hnsw:
            return False
        if self.backend.hnsw_m(name) != 0:
            self.backend.set_hnsw_m(name, 0)
        return True

    def restore_hnsw(self, name: str) -> bool:
        """Give a collection left at m=0 (by a deferred build, even one whose run was killed) its graph back;
        True if it was deferred. The server builds the graph in the background."""
        if self.local or self.backend.hnsw_m(name) != 0:
            return False
        self.backend.set_hnsw_m(name, HNSW_M)
        return True

    def collection_status(self, name: str) -> str:
        return self.backend.collection_status(name)

    def dense_sizes(self, name: str) -> dict[str, int] | None:
        """Named dense vectors of a collection and their sizes; None if it has one unnamed vector."""
        return self.backend.dense_sizes(name)

    def sparse_names(self, name: str) -> set[str]:
        """Named sparse vectors of a collection."""
        return self.backend.sparse_names(name)

    def upsert(self, name: str, points: Sequence[models.PointStruct]) -> None:
        self.backend.upsert(name, points)
        self._warn_if_large(name)

    def update(self, name: str, new: Sequence[models.PointStruct] = (),
               vectors: Mapping[PointId, dict[str, Any]] | None = None,
               payloads: Mapping[PointId, dict[str, Any]] | None = None) -> None:
        """One request: `new` points whole, and named vectors and payload fields of existing points replaced."""
        if not (new or vectors or payloads):
            return
        self.backend.update(name, new, vectors or {}, payloads or {})
        if new:
            self._warn_if_large(name)

    def retrieve(self, name: str, ids: Sequence[PointId], payload: Fields = True,
                 vectors: Fields = False) -> list[StoredRow]:
        return self.backend.retrieve(name, ids, payload, vectors) if ids else []

    def scroll(self, name: str, page_size: int, payload: Fields = True) -> Iterator[list[StoredRow]]:
        """Every point of the collection, in pages of `page_size` in id order (payload fields only, no vectors)."""
        after: PointId | None = None
        while True:
            rows, after = self.backend.scroll(name, after, page_size, payload)
            if rows:
                yield rows
            if after is None:
                return

    def delete(self, name: str, ids: Sequence[PointId]) -> None:
        if ids:
            self.backend.delete(name, ids)

    def query_batch(self, name: str, requests: Sequence[models.QueryRequest]) -> list[list[ScoredRow]]:
        return self.backend.query_batch(name, requests) if requests else []

    def query(self, name: str, request: models.QueryRequest) -> list[ScoredRow]:
        return self.backend.query_batch(name, [request])[0]

    def count(self, name: str) -> int:
        if not self.backend.collection_exists(name):
            return 0
        return self.backend.count(name)

    def _warn_if_large(self, name: str) -> None:
        if not self.local or name in self._warned:
            return
        n = self.count(name)
        if n > LOCAL_MODE_LIMIT:
            self._warned.add(name)
            log.warning(
                "collection %s holds %d points in Qdrant local mode, which is slow past ~%d: run a Qdrant server "
                "and set KG_QDRANT_URL", name, n, LOCAL_MODE_LIMIT,
            )
