"""qdrant-client's own API, which local mode and the HTTP transport share (the gRPC backend builds on it too)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qdrant_client import QdrantClient, models

from kg.kgstore.vector_backends.base import Fields, PointId, ScoredRow, StoredRow
from kg.kgstore.vector_backends.layout import Layout

TIMEOUT = 60  # seconds per request, both transports: a large upsert or payload index build takes a while


class ClientBackend:
    """A `VectorBackend` over one `QdrantClient`; subclasses say how it is opened."""

    local = False

    def __init__(self, client: QdrantClient, location: str, layout: Layout | None = None):
        self.client = client
        self.location = location
        self.layout = layout or Layout()

    def close(self) -> None:
        self.client.close()

    def version(self) -> str:
        try:
            return str(self.client.info().version)
        except Exception:  # noqa: BLE001 - version is informational only
            return "unknown"

    def collections(self) -> list[str]:
        return [c.name for c in self.client.get_collections().collections]

    def collection_exists(self, name: str) -> bool:
        return self.client.collection_exists(name)

    def create_collection(self, name: str, dense: Mapping[str, int], sparse: Sequence[str], sparse_idf: bool) -> None:
        modifier = models.Modifier.IDF if sparse_idf else None
        self.client.create_collection(
            name,
            vectors_config={k: self.layout.vector_params(v) for k, v in dense.items()},
            sparse_vectors_config={k: models.SparseVectorParams(modifier=modifier) for k in sparse} or None,
            **self.layout.create_options(),
        )

    def delete_collection(self, name: str) -> None:
        self.client.delete_collection(name)

    def collection_status(self, name: str) -> str:
        return str(self.client.get_collection(name).status.value)

    def hnsw_m(self, name: str) -> int | None:
        return self.client.get_collection(name).config.hnsw_config.m

    def set_hnsw_m(self, name: str, m: int) -> None:
        self.client.update_collection(name, hnsw_config=models.HnswConfigDiff(m=m))

    def dense_sizes(self, name: str) -> dict[str, int] | None:
        params = self.client.get_collection(name).config.params.vectors
        if not isinstance(params, dict):
            return None
        return {k: v.size for k, v in params.items()}

    def sparse_names(self, name: str) -> set[str]:
        return set(self.client.get_collection(name).config.params.sparse_vectors or {})

    def payload_indexes(self, name: str) -> set[str]:
        return set(self.client.get_collection(name).payload_schema or {})

    def create_payload_index(self, name: str, field: str, schema: Any) -> None:
        self.client.create_payload_index(name, field, field_schema=schema, wait=True)

    def count(self, name: str) -> int:
        return self.client.count(name, exact=True).count

    def upsert(self, name: str, points: Sequence[models.PointStruct]) -> None:
        self.client.upsert(name, points=list(points), wait=True)

    def update(self, name: str, new: Sequence[models.PointStruct], vectors: Mapping[PointId, dict[str, Any]],
               payloads: Mapping[PointId, dict[str, Any]]) -> None:
        operations = update_operations(new, vectors, payloads)
        if operations:
            self.client.batch_update_points(name, update_operations=operations, wait=True)

    def retrieve(self, name: str, ids: Sequence[PointId], payload: Fields = True,
                 vectors: Fields = False) -> list[StoredRow]:
        points = self.client.retrieve(name, ids=list(ids), with_payload=_selector(payload),
                                      with_vectors=_selector(vectors))
        return [StoredRow(p.id, p.payload or {}, p.vector if isinstance(p.vector, dict) else {}) for p in points]

    def scroll(self, name: str, after: PointId | None, limit: int, payload: Fields = True
               ) -> tuple[list[StoredRow], PointId | None]:
        points, following = self.client.scroll(name, limit=limit, offset=after, with_payload=_selector(payload),
                                               with_vectors=False)
        return [StoredRow(p.id, p.payload or {}, {}) for p in points], following

    def delete(self, name: str, ids: Sequence[PointId]) -> None:
        self.client.delete(name, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def query_batch(self, name: str, requests: Sequence[models.QueryRequest]) -> list[list[ScoredRow]]:
        return [[ScoredRow(p.id, float(p.score), p.payload or {}) for p in r.points]
                for r in self.client.query_batch_points(name, requests=list(requests))]


def _selector(fields: Fields) -> bool | list[str]:
    return fields if isinstance(fields, bool) else list(fields)


def update_operations(new: Sequence[models.PointStruct], vectors: Mapping[PointId, dict[str, Any]],
                      payloads: Mapping[PointId, dict[str, Any]]) -> list[Any]:
    """One batch of writes: the new points, the changed vectors, and each changed payload."""
    operations: list[Any] = []
    if new:
        operations.append(models.UpsertOperation(upsert=models.PointsList(points=list(new))))
    if vectors:
        operations.append(models.UpdateVectorsOperation(update_vectors=models.UpdateVectors(
            points=[models.PointVectors(id=pid, vector=v) for pid, v in vectors.items()])))
    operations += [models.SetPayloadOperation(set_payload=models.SetPayload(payload=p, points=[pid]))
                   for pid, p in payloads.items()]
    return operations
