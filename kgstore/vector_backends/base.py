"""The operations kg asks of a vector store, and the rows they answer with.

Every caller goes through `kgstore.vectors.VectorStore`, which holds one `VectorBackend`: local mode
(`local.py`), a Qdrant server over HTTP (`http.py`) or over gRPC (`grpc.py`). Requests are written in
qdrant-client's models (`models.QueryRequest`, `models.PointStruct`), the vocabulary all three share; answers
are plain rows, so no caller sees which transport served them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from qdrant_client import models

from kg.kgstore.vector_backends.layout import Layout

PointId = models.ExtendedPointId  # int or UUID string (qdrant-client may hand back a UUID)
Fields = Sequence[str] | bool  # payload fields or named vectors to return: a list of names, all (True) or none


class ScoredRow(NamedTuple):
    """One point a query found. A tuple, since the linkers read thousands per batch."""

    id: PointId
    score: float
    payload: dict[str, Any]


class StoredRow(NamedTuple):
    """One point read by id: the payload fields and named vectors asked for (sparse ones as `models.SparseVector`)."""

    id: PointId
    payload: dict[str, Any]
    vectors: dict[str, Any]


class VectorBackend(Protocol):
    """One way of talking to Qdrant. `local`: no payload indexes and a size past which it is slow."""

    local: bool
    location: str  # where it is, for messages (a path, or the URL without credentials)
    layout: Layout  # how it creates collections

    def close(self) -> None: ...

    def version(self) -> str: ...

    def collections(self) -> list[str]: ...

    def collection_exists(self, name: str) -> bool: ...

    def create_collection(self, name: str, dense: Mapping[str, int], sparse: Sequence[str], sparse_idf: bool) -> None:
        """Named dense vectors (cosine) of the given sizes and named sparse vectors (IDF-weighted if asked)."""

    def delete_collection(self, name: str) -> None: ...

    def collection_status(self, name: str) -> str:
        """"green" once the server has finished optimising (indexing) what was written."""

    def hnsw_m(self, name: str) -> int | None:
        """The collection's HNSW graph degree (0: no graph is built)."""

    def set_hnsw_m(self, name: str, m: int) -> None:
        """Change the graph degree; the server rebuilds the graph in the background."""

    def dense_sizes(self, name: str) -> dict[str, int] | None:
        """Named dense vectors and their sizes; None for a collection with one unnamed vector."""

    def sparse_names(self, name: str) -> set[str]:
        """Named sparse vectors."""

    def payload_indexes(self, name: str) -> set[str]:
        """Payload fields that have an index."""

    def create_payload_index(self, name: str, field: str, schema: Any) -> None: ...

    def count(self, name: str) -> int: ...

    def upsert(self, name: str, points: Sequence[models.PointStruct]) -> None: ...

    def update(self, name: str, new: Sequence[models.PointStruct], vectors: Mapping[PointId, dict[str, Any]],
               payloads: Mapping[PointId, dict[str, Any]]) -> None:
        """In one request: insert `new` points whole, replace some named vectors and set some payload fields of
        existing points (other vectors and fields are kept)."""

    def retrieve(self, name: str, ids: Sequence[PointId], payload: Fields = True,
                 vectors: Fields = False) -> list[StoredRow]:
        """The points with these ids that exist, in no promised order."""

    def scroll(self, name: str, after: PointId | None, limit: int, payload: Fields = True
               ) -> tuple[list[StoredRow], PointId | None]:
        """Up to `limit` points in id order from `after` (None: the first) on, without vectors, and the id to
        continue from (None after the last): a walk over every point that holds one page in memory."""

    def delete(self, name: str, ids: Sequence[PointId]) -> None:
        """Delete these points (ids that do not exist are no error)."""

    def query_batch(self, name: str, requests: Sequence[models.QueryRequest]) -> list[list[ScoredRow]]:
        """One answer per request (dense, sparse, filtered or ordered by a payload field), in one round trip."""
