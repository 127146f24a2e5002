"""The vector store's backends: local mode, a Qdrant server over HTTP, and over gRPC (`base.VectorBackend`).

`open_backend` picks one from the configuration: no KG_QDRANT_URL is local mode under KG_HOME; a URL (or a
comma-separated list of a cluster's nodes, the first that answers) is a server, reached over gRPC unless
KG_QDRANT_PREFER_GRPC is false. Only these modules hold a `QdrantClient`.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from kg.kgstore.config import Config, redact_url
from kg.kgstore.errors import VectorStoreError
from kg.kgstore.vector_backends.base import Fields, PointId, ScoredRow, StoredRow, VectorBackend
from kg.kgstore.vector_backends.grpc import GrpcBackend
from kg.kgstore.vector_backends.http import HttpBackend
from kg.kgstore.vector_backends.layout import Layout
from kg.kgstore.vector_backends.local import LocalBackend

log = logging.getLogger(__name__)
__all__ = ["Fields", "PointId", "ScoredRow", "StoredRow", "VectorBackend", "GrpcBackend", "HttpBackend",
           "LocalBackend", "Layout", "open_backend"]


def open_backend(config: Config) -> VectorBackend:
    """The backend the configuration names. KG_QDRANT_URL may list a cluster's nodes, comma-separated: kg talks to
    the first that answers (any node of a cluster routes every request), so one node down does not stop it. Each
    is asked for its collections once, so that a wrong URL or a stopped server is reported here rather than by the
    first query."""
    if not config.qdrant.url:
        Layout.from_config(config.qdrant).note_local()
        return LocalBackend.open(config.home / "qdrant")
    urls = [u.strip() for u in config.qdrant.url.split(",") if u.strip()]
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise VectorStoreError(f"KG_QDRANT_URL {redact_url(url)!r} is not an http(s) URL (several nodes are "
                                   "separated by commas)")
    if not urls:
        raise VectorStoreError("KG_QDRANT_URL names no server; unset it to use local mode")
    failures = []
    for url in urls:
        shown = redact_url(url)
        backend: VectorBackend
        if config.qdrant.prefer_grpc:
            backend, where = GrpcBackend.open(config, url, shown), f"{shown} (gRPC port {config.qdrant.grpc_port})"
        else:
            backend, where = HttpBackend.open(config, url, shown), f"{shown} (HTTP)"
        try:
            backend.collections()
        except Exception as exc:  # grpc and http raise unrelated types
            backend.close()
            failures.append(f"{where}: {exc.__class__.__name__}")
            continue
        if failures:
            log.warning("Qdrant: using %s; no answer from %s", where, "; ".join(failures))
        return backend
    raise VectorStoreError(
        f"cannot reach Qdrant at {'; '.join(failures)}; is the server running? Unset KG_QDRANT_URL to use local mode"
    )
