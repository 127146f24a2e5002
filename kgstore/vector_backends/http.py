"""A Qdrant server over its REST API (KG_QDRANT_PREFER_GRPC=false, or where the gRPC port is closed)."""

from __future__ import annotations

from qdrant_client import QdrantClient

from kg.kgstore.config import Config, reveal
from kg.kgstore.vector_backends.client import TIMEOUT, ClientBackend
from kg.kgstore.vector_backends.layout import Layout


class HttpBackend(ClientBackend):
    @classmethod
    def open(cls, config: Config, url: str, location: str) -> HttpBackend:
        client = QdrantClient(url=url, api_key=reveal(config.qdrant.api_key), prefer_grpc=False, timeout=TIMEOUT)
        return cls(client, location, Layout.from_config(config.qdrant))
