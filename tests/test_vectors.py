"""Vector store against the real Qdrant server, and local mode with the same code."""

import logging

import pytest
from qdrant_client import models

from kg.kgstore import vectors as vectors_mod
from kg.kgstore.config import load_config
from kg.kgstore.errors import VectorStoreError
from kg.kgstore.model import point_id
from kg.kgstore.vector_backends import HttpBackend
from kg.kgstore.vectors import VectorStore


def _points(n: int, start: int = 1) -> list[models.PointStruct]:
    return [
        models.PointStruct(id=point_id(f"Q{i}"), vector={"text": [1.0, float(i % 7), 0.5, 0.0]}, payload={"qid": f"Q{i}"})
        for i in range(start, start + n)
    ]


def _round_trip(store: VectorStore, name: str) -> None:
    store.ensure_collection(name, {"text": 4})
    store.ensure_collection(name, {"text": 4})  # idempotent
    store.upsert(name, _points(50))
    store.upsert(name, _points(50))  # same ids: idempotent
    assert store.count(name) == 50
    hits = store.query(name, models.QueryRequest(query=[1.0, 3.0, 0.5, 0.0], using="text", limit=3, with_payload=True))
    assert hits[0].payload["qid"] in {"Q3", "Q10", "Q17", "Q24", "Q31", "Q38", "Q45"}
    got = store.retrieve(name, [point_id("Q42")])
    assert got[0].payload == {"qid": "Q42"}


def test_server_mode_round_trip(graph_config) -> None:
    store = VectorStore.from_config(graph_config)
    assert not store.local
    try:
        _round_trip(store, graph_config.qdrant.collection)
        assert store.version().startswith("1.16")
    finally:
        store.delete_collection(graph_config.qdrant.collection)
        store.close()


def test_local_mode_same_code_and_size_warning(tmp_path, monkeypatch, caplog) -> None:
    cfg = load_config({"home": tmp_path}, env={})
    store = VectorStore.from_config(cfg)
    assert store.local
    _round_trip(store, "local_t")
    monkeypatch.setattr(vectors_mod, "LOCAL_MODE_LIMIT", 60)
    with caplog.at_level(logging.WARNING, logger="kg.kgstore.vectors"):
        store.upsert("local_t", _points(20, start=100))
        store.upsert("local_t", _points(5, start=200))
    warnings = [r for r in caplog.records if "local mode" in r.getMessage()]
    assert len(warnings) == 1  # once, not on every upsert
    store.close()


def test_point_ids_are_derived_from_qids() -> None:
    assert point_id("Q42") == 42
    assert point_id("P31") != point_id("Q31")
    assert point_id("acme:widget") == point_id("acme:widget") != point_id("acme:gadget")


def test_unreachable_qdrant_is_a_clear_error(tmp_path) -> None:
    cfg = load_config({"home": tmp_path, "qdrant.url": "http://127.0.0.1:9"}, env={})
    with pytest.raises(VectorStoreError, match="cannot reach Qdrant at http://127.0.0.1:9"):
        VectorStore.from_config(cfg)


def test_server_mode_over_http_when_grpc_is_not_preferred(graph_config, tmp_path) -> None:
    """KG_QDRANT_PREFER_GRPC=false reaches the server over HTTP alone (a wrong gRPC port does not matter then)."""
    cfg = load_config({"home": tmp_path}, env={"KG_QDRANT_URL": graph_config.qdrant.url, "KG_QDRANT_GRPC_PORT": "9",
                                               "KG_QDRANT_PREFER_GRPC": "false"})
    store = VectorStore.from_config(cfg)
    assert isinstance(store.backend, HttpBackend)
    try:
        _round_trip(store, graph_config.qdrant.collection)
    finally:
        store.delete_collection(graph_config.qdrant.collection)
        store.close()
    with pytest.raises(VectorStoreError, match=r"cannot reach Qdrant at http://127.0.0.1:9 \(HTTP\)"):
        VectorStore.from_config(load_config({"home": tmp_path, "qdrant.url": "http://127.0.0.1:9",
                                             "qdrant.prefer_grpc": False}, env={}))
