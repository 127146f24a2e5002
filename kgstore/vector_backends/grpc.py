"""A Qdrant server over gRPC, the transport kg prefers: bulk upserts and the linkers' batched lookups are fastest.

The reads the linkers make by the thousand (`query_batch`, `retrieve`) go straight to Qdrant's gRPC stubs:
qdrant-client's own path deep-copies every request and converts every payload value through protobuf's JSON
layer, which cost more than the server's work. So do `kg index`'s writes (`upsert`, `update`): before sending,
qdrant-client walks every field of every point looking for documents to embed locally (kg sends vectors, never
documents), which took a third of `kg index`'s own time. Requests are still built as qdrant-client models and
converted by its `RestToGrpc`; payload values are decoded here. Everything else takes qdrant-client's gRPC path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client import grpc as qgrpc
from qdrant_client.conversions.conversion import GrpcToRest, RestToGrpc

from kg.kgstore.config import Config, reveal
from kg.kgstore.vector_backends.base import Fields, PointId, ScoredRow, StoredRow
from kg.kgstore.vector_backends.client import TIMEOUT, ClientBackend, update_operations
from kg.kgstore.vector_backends.layout import Layout


class GrpcBackend(ClientBackend):
    def __init__(self, client: QdrantClient, location: str, layout: Layout | None = None):
        super().__init__(client, location, layout)
        self._points = client.grpc_points  # the Points service stub of the client's channel

    @classmethod
    def open(cls, config: Config, url: str, location: str) -> GrpcBackend:
        client = QdrantClient(url=url, api_key=reveal(config.qdrant.api_key), prefer_grpc=True,
                              grpc_port=config.qdrant.grpc_port, timeout=TIMEOUT)
        return cls(client, location, Layout.from_config(config.qdrant))

    def query_batch(self, name: str, requests: Sequence[models.QueryRequest]) -> list[list[ScoredRow]]:
        response = self._points.QueryBatch(qgrpc.QueryBatchPoints(
            collection_name=name, query_points=[RestToGrpc.convert_query_request(r, name) for r in requests],
        ), timeout=TIMEOUT)
        return [[ScoredRow(_point_id(p.id), p.score, _payload(p.payload)) for p in r.result] for r in response.result]

    def upsert(self, name: str, points: Sequence[models.PointStruct]) -> None:
        self._points.Upsert(qgrpc.UpsertPoints(collection_name=name, wait=True,
                                               points=[RestToGrpc.convert_point_struct(p) for p in points]),
                            timeout=TIMEOUT)

    def update(self, name: str, new: Sequence[models.PointStruct], vectors: Mapping[PointId, dict[str, Any]],
               payloads: Mapping[PointId, dict[str, Any]]) -> None:
        operations = update_operations(new, vectors, payloads)
        if operations:
            self._points.UpdateBatch(qgrpc.UpdateBatchPoints(
                collection_name=name, wait=True,
                operations=[RestToGrpc.convert_update_operation(op) for op in operations]), timeout=TIMEOUT)

    def retrieve(self, name: str, ids: Sequence[PointId], payload: Fields = True,
                 vectors: Fields = False) -> list[StoredRow]:
        response = self._points.Get(qgrpc.GetPoints(
            collection_name=name,
            ids=[qgrpc.PointId(num=i) if isinstance(i, int) else qgrpc.PointId(uuid=str(i)) for i in ids],
            with_payload=RestToGrpc.convert_with_payload_interface(payload if isinstance(payload, bool)
                                                                   else list(payload)),
            with_vectors=RestToGrpc.convert_with_vectors(vectors if isinstance(vectors, bool) else list(vectors)),
        ), timeout=TIMEOUT)
        return [StoredRow(_point_id(p.id), _payload(p.payload), _vectors(p)) for p in response.result]


def _point_id(pid: qgrpc.PointId) -> PointId:
    return pid.num if pid.WhichOneof("point_id_options") == "num" else pid.uuid


def _value(value: qgrpc.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "list_value":  # mostly names: strings read in place, one call less each (thousands per batch)
        return [v.string_value if v.WhichOneof("kind") == "string_value" else _value(v)
                for v in value.list_value.values]
    if kind == "struct_value":
        return {k: _value(v) for k, v in value.struct_value.fields.items()}
    if kind is None or kind == "null_value":
        return None
    return getattr(value, kind)  # string_value, integer_value, double_value, bool_value


def _payload(payload: Any) -> dict[str, Any]:
    return {k: _value(v) for k, v in payload.items()}


def _vectors(point: qgrpc.RetrievedPoint) -> dict[str, Any]:
    if not point.HasField("vectors"):
        return {}
    out = GrpcToRest.convert_vectors_output(point.vectors)
    return out if isinstance(out, dict) else {}
