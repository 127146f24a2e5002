"""Local mode: qdrant-client keeps the collections in files under KG_HOME, so small KBs need no server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.local.local_collection import LocalCollection

from kg.kgstore.errors import VectorStoreError
from kg.kgstore.private import private_dir, private_umask
from kg.kgstore.vector_backends.base import PointId, ScoredRow
from kg.kgstore.vector_backends.client import ClientBackend
from kg.kgstore.vector_backends.local_index import ATTRIBUTE, LocalIndex


class LocalBackend(ClientBackend):
    """Local mode has no payload indexes (`LocalIndex` stands in for them), and one process at a time.

    qdrant-client creates its files (lock, meta.json, a folder and an SQLite file per collection) when the store is
    opened and a collection created: under a private umask, so that they are the owner's alone. Later writes go
    into those files, and SQLite gives its journal files the database file's mode."""

    local = True

    @classmethod
    def open(cls, path: Path) -> LocalBackend:
        private_dir(path)
        try:
            with private_umask():
                client = QdrantClient(path=str(path))
        except RuntimeError as exc:  # portalocker: another process holds the local store
            raise VectorStoreError(
                f"the local vector store {path} is in use by another kg process; wait for it, or use a Qdrant "
                "server (KG_QDRANT_URL) for concurrent jobs"
            ) from exc
        return cls(client, str(path))

    def version(self) -> str:
        return "local mode"

    def create_collection(self, name: str, dense: Mapping[str, int], sparse: Sequence[str], sparse_idf: bool) -> None:
        with private_umask():
            super().create_collection(name, dense, sparse, sparse_idf)

    def delete_collection(self, name: str) -> None:
        with private_umask():
            super().delete_collection(name)

    def collection_status(self, name: str) -> str:
        return "green"  # writes are searchable at once; there is no optimiser to wait for

    def payload_indexes(self, name: str) -> set[str]:
        return set()

    def create_payload_index(self, name: str, field: str, schema: Any) -> None:
        """Nothing: local mode scans every point for a filter anyway."""

    def query_batch(self, name: str, requests: Sequence[models.QueryRequest]) -> list[list[ScoredRow]]:
        collection = self._collection(name)
        if collection is not None:
            LocalIndex.install(collection)
        return super().query_batch(name, requests)

    # every write drops the collection's indexes (they are rebuilt by the next query)
    def upsert(self, name: str, points: Sequence[models.PointStruct]) -> None:
        try:
            super().upsert(name, points)
        finally:
            self._changed(name)

    def update(self, name: str, new: Sequence[models.PointStruct], vectors: Mapping[PointId, dict[str, Any]],
               payloads: Mapping[PointId, dict[str, Any]]) -> None:
        try:
            super().update(name, new, vectors, payloads)
        finally:
            self._changed(name)

    def delete(self, name: str, ids: Sequence[PointId]) -> None:
        try:
            super().delete(name, ids)
        finally:
            self._changed(name)

    def _collection(self, name: str) -> LocalCollection | None:
        """qdrant-client's in-memory collection behind local mode (None before it is created)."""
        return getattr(self.client._client, "collections", {}).get(name)

    def _changed(self, name: str) -> None:
        collection = self._collection(name)
        index = getattr(collection, ATTRIBUTE, None)
        if index is not None:
            index.reset()
