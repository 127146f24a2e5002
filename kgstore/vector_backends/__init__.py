"""The vector store's backends: local mode, a Qdrant server over HTTP, and over gRPC (`base.VectorBackend`).

`open_backend` picks one from the configuration: no KG_QDRANT_URL is local mode under KG_HOME; a URL is a
server, reached over gRPC unless KG_QDRANT_PREFER_GRPC is false. Only these modules hold a `QdrantClient`.
"""

from __future__ import annotations

from urllib.parse import urlparse

from kgstore.config import Config, redact_url
from kgstore.errors import VectorStoreError
from kgstore.vector_backends.base import Fields, PointId, ScoredRow, StoredRow, VectorBackend
from kgstore.vector_backends.grpc import GrpcBackend
from kgstore.vector_backends.http import HttpBackend
from kgstore.vector_backends.local import LocalBackend

__all__ = ["Fields", "PointId", "ScoredRow", "StoredRow", "VectorBackend", "GrpcBackend", "HttpBackend",
           "LocalBackend", "open_backend"]


def open_backend(config: Config) -> VectorBackend:
    """The backend the configuration names; a server is asked for its collections once, so that a wrong URL or a
    stopped server is reported here rather than by the first query."""
    if not config.qdrant.url:
        return LocalBackend.open(config.home / "qdrant")
    shown = redact_url(config.qdrant.url)
    parsed = urlparse(config.qdrant.url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise VectorStoreError(f"KG_QDRANT_URL {shown!r} is not an http(s) URL")
    backend: VectorBackend
    if config.qdrant.prefer_grpc:
        backend, where = GrpcBackend.open(config, shown), f"{shown} (gRPC port {config.qdrant.grpc_port})"
    else:
        backend, where = HttpBackend.open(config, shown), f"{shown} (HTTP)"
    try:
        backend.collections()
    except Exception as exc:  # grpc and http raise unrelated types
        raise VectorStoreError(
            f"cannot reach Qdrant at {where}: {exc.__class__.__name__}; is the server running? Unset "
            "KG_QDRANT_URL to use local mode"
        ) from exc
    return backend
