"""The [qdrant] collection layout settings on the real test server (one node), in local mode, and their checks;
the 3-node cluster itself is tests/test_qdrant_cluster.py."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from kg.kgstore.config import load_config
from kg.kgstore.errors import ConfigError, VectorStoreError
from kg.kgstore.vector_backends import Layout
from kg.kgstore.vectors import VectorStore


def _collection(store: VectorStore, name: str) -> dict:
    info = store.backend.client.get_collection(name)  # type: ignore[attr-defined]
    return info.config.model_dump()


def test_defaults_create_the_collection_kg_always_made(graph_config) -> None:
    store = VectorStore.from_config(graph_config)
    name = graph_config.qdrant.collection
    try:
        store.ensure_collection(name, {"text": 4}, ["names"])
        config = _collection(store, name)
        assert config["quantization_config"] is None and config["hnsw_config"]["m"] == 16
        assert config["params"]["shard_number"] == 1 and config["params"]["replication_factor"] == 1
        assert not config["params"]["vectors"]["text"].get("on_disk")
        assert not store.defer_hnsw(name) and not store.restore_hnsw(name)
    finally:
        store.delete_collection(name)
        store.close()


def test_layout_settings_shape_a_new_collection(graph_config, tmp_path) -> None:
    env = {"KG_QDRANT_URL": graph_config.qdrant.url, "KG_QDRANT_GRPC_PORT": str(graph_config.qdrant.grpc_port),
           "KG_COLLECTION": graph_config.qdrant.collection, "KG_QDRANT_SHARD_NUMBER": "3",
           "KG_QDRANT_WRITE_CONSISTENCY_FACTOR": "1", "KG_QDRANT_QUANTIZATION": "INT8", "KG_QDRANT_ALWAYS_RAM": "true",
           "KG_QDRANT_ON_DISK": "true", "KG_QDRANT_ON_DISK_PAYLOAD": "false", "KG_QDRANT_DEFER_HNSW": "true"}
    cfg = load_config({"home": tmp_path}, env=env)
    store = VectorStore.from_config(cfg)
    name = cfg.qdrant.collection
    try:
        store.ensure_collection(name, {"text": 4}, ["names"])
        config = _collection(store, name)
        assert config["params"]["shard_number"] == 3 and config["params"]["on_disk_payload"] is False
        assert config["params"]["vectors"]["text"]["on_disk"] is True
        assert config["quantization_config"]["scalar"] == {"type": "int8", "quantile": None, "always_ram": True}
        assert config["hnsw_config"]["m"] == 0  # created for a bulk upload: no graph yet
        assert store.defer_hnsw(name) and store.backend.hnsw_m(name) == 0
    finally:
        store.close()
    # the run was "killed" before restoring m: a later kg index, even without defer_hnsw, restores it
    later = VectorStore.from_config(dataclasses.replace(cfg, qdrant=dataclasses.replace(cfg.qdrant, defer_hnsw=False)))
    try:
        assert later.restore_hnsw(name) and later.backend.hnsw_m(name) == 16
        assert not later.restore_hnsw(name)  # nothing left to restore
    finally:
        later.delete_collection(name)
        later.close()


@pytest.mark.parametrize(("env", "message"), [
    ({"KG_QDRANT_SHARD_NUMBER": "0"}, r"\[qdrant\] shard_number \(KG_QDRANT_SHARD_NUMBER\) is 0; it must be 1"),
    ({"KG_QDRANT_REPLICATION_FACTOR": "-2"}, r"replication_factor \(KG_QDRANT_REPLICATION_FACTOR\) is -2"),
    ({"KG_QDRANT_QUANTIZATION": "pq"}, r"quantization \(KG_QDRANT_QUANTIZATION\) is 'pq'; use \"int8\""),
])
def test_bad_layout_settings_are_refused_by_name(tmp_path, env, message) -> None:
    with pytest.raises(ConfigError, match=message):
        VectorStore.from_config(load_config({"home": tmp_path, "qdrant.url": "http://127.0.0.1:9"}, env=env))


def test_local_mode_ignores_server_only_settings_and_says_which(tmp_path, caplog) -> None:
    cfg = load_config({"home": tmp_path}, env={"KG_QDRANT_SHARD_NUMBER": "6", "KG_QDRANT_QUANTIZATION": "int8",
                                               "KG_QDRANT_DEFER_HNSW": "true"})
    with caplog.at_level(logging.WARNING, logger="kg.kgstore.vector_backends.layout"):
        store = VectorStore.from_config(cfg)
    try:
        notes = [r.getMessage() for r in caplog.records]
        assert notes == ["Qdrant local mode ignores [qdrant] shard_number, quantization, defer_hnsw: shards, replicas, "
                         "quantisation, on-disk storage and HNSW need a Qdrant server (KG_QDRANT_URL)"]
        assert store.ensure_collection("local_t", {"text": 4}) and not store.defer_hnsw("local_t")
    finally:
        store.close()
    assert Layout().server_only() == []


def test_a_node_list_uses_the_first_that_answers(graph_config, tmp_path, caplog) -> None:
    url = f"http://127.0.0.1:9,{graph_config.qdrant.url}"
    cfg = load_config({"home": tmp_path, "qdrant.url": url, "qdrant.prefer_grpc": False}, env={})
    with caplog.at_level(logging.WARNING, logger="kg.kgstore.vector_backends"):
        store = VectorStore.from_config(cfg)
    assert store.location == graph_config.qdrant.url
    assert any("no answer from http://127.0.0.1:9 (HTTP)" in r.getMessage() for r in caplog.records)
    store.close()
    with pytest.raises(VectorStoreError, match=r"cannot reach Qdrant at http://127.0.0.1:9 \(HTTP\): \w+; "
                                               r"http://127.0.0.1:1 \(HTTP\)"):
        VectorStore.from_config(load_config({"home": tmp_path, "qdrant.url": "http://127.0.0.1:9, http://127.0.0.1:1",
                                             "qdrant.prefer_grpc": False}, env={}))
    with pytest.raises(VectorStoreError, match=r"KG_QDRANT_URL '127.0.0.1:6333' is not an http\(s\) URL"):
        VectorStore.from_config(load_config({"home": tmp_path, "qdrant.url": f"{graph_config.qdrant.url},127.0.0.1:6333"},
                                            env={}))
