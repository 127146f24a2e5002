"""The vector store: one implementation over `qdrant-client`, server mode or local mode behind the same API.

Server mode (KG_QDRANT_URL, gRPC preferred) is the home of any real KB; local mode (a path under KG_HOME) keeps
small KBs working with nothing to install, and warns once when a collection outgrows it.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence
from urllib.parse import urlparse

from qdrant_client import QdrantClient, models

from kgstore.config import Config, redact_url, reveal
from kgstore.errors import VectorStoreError

log = logging.getLogger(__name__)
LOCAL_MODE_LIMIT = 20_000


class VectorStore:
    def __init__(self, client: QdrantClient, *, local: bool, location: str):
        self.client = client
        self.local = local
        self.location = location
        self._warned: set[str] = set()

    @classmethod
    def from_config(cls, config: Config) -> "VectorStore":
        if config.qdrant.url:
            shown = redact_url(config.qdrant.url)
            parsed = urlparse(config.qdrant.url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise VectorStoreError(f"KG_QDRANT_URL {shown!r} is not an http(s) URL")
            grpc_port = config.qdrant.grpc_port
            client = QdrantClient(
                url=config.qdrant.url, api_key=reveal(config.qdrant.api_key), prefer_grpc=True, grpc_port=grpc_port,
                timeout=60
            )
            store = cls(client, local=False, location=shown)
            try:
                client.get_collections()
            except Exception as exc:  # grpc and http raise unrelated types
                raise VectorStoreError(
                    f"cannot reach Qdrant at {shown} (gRPC port {grpc_port}): {exc.__class__.__name__}; "
                    "is the server running? Unset KG_QDRANT_URL to use local mode"
                ) from exc
            return store
        path = config.home / "qdrant"
        path.mkdir(parents=True, exist_ok=True)
        try:
            client = QdrantClient(path=str(path))
        except RuntimeError as exc:  # portalocker: another process holds the local store
            raise VectorStoreError(
                f"the local vector store {path} is in use by another kg process; wait for it, or use a Qdrant "
                "server (KG_QDRANT_URL) for concurrent jobs"
            ) from exc
        return cls(client, local=True, location=str(path))

    def close(self) -> None:
        self.client.close()

    def version(self) -> str:
        if self.local:
            return "local mode"
        try:
            return str(self.client.info().version)
        except Exception:  # noqa: BLE001 - version is informational only
            return "unknown"

    def ensure_collection(
        self, name: str, dense: dict[str, int], sparse: Sequence[str] = (), payload_indexes: dict[str, Any] | None = None
    ) -> None:
        """Create the collection with named dense (cosine) and sparse vectors if it does not exist yet."""
        if self.client.collection_exists(name):
            return
        self.client.create_collection(
            name,
            vectors_config={k: models.VectorParams(size=v, distance=models.Distance.COSINE) for k, v in dense.items()},
            sparse_vectors_config={k: models.SparseVectorParams() for k in sparse} or None,
        )
        if not self.local:
            for field, schema in (payload_indexes or {}).items():
                self.client.create_payload_index(name, field, field_schema=schema)

    def upsert(self, name: str, points: list[models.PointStruct]) -> None:
        self.client.upsert(name, points=points, wait=True)
        if self.local and name not in self._warned:
            n = self.count(name)
            if n > LOCAL_MODE_LIMIT:
                self._warned.add(name)
                log.warning(
                    "collection %s holds %d points in Qdrant local mode, which is slow past ~%d: run a Qdrant server "
                    "and set KG_QDRANT_URL", name, n, LOCAL_MODE_LIMIT,
                )

    def count(self, name: str) -> int:
        if not self.client.collection_exists(name):
            return 0
        return self.client.count(name, exact=True).count

    def collections(self) -> list[str]:
        return [c.name for c in self.client.get_collections().collections]
