"""The three vector backends (local mode, a Qdrant server over HTTP and over gRPC) answer the same sequence of
operations with the same results, on the real server and in local mode; and the local-mode warning fires through
the real indexing path."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from index_helpers import WIKIDATA, ingest_files, server_config
from qdrant_client import models

from kg.indexers.index import Indexer, IndexOptions
from kg.kgstore import names as name_index
from kg.kgstore import vectors as vectors_mod
from kg.kgstore.config import load_config
from kg.kgstore.graph import GraphStore
from kg.kgstore.model import point_id
from kg.kgstore.vector_backends import GrpcBackend, HttpBackend, LocalBackend
from kg.kgstore.vectors import VectorStore

BACKENDS = {"local": LocalBackend, "http": HttpBackend, "grpc": GrpcBackend}
LABELS = ["Douglas Adams", "Pablo Neruda", "Jan Neruda", "Kaliningrad", "Adams County", "John Adams",
          "Neruda Street", "Douglas fir", "Ada Lovelace", "Adam Smith", "Königsberg", "Dublin"]
NEW_VECTOR = [0.0, -1.0, 2.0, 3.0]  # Q1's text vector after the update (near no other point's)
PAYLOAD_INDEXES = {
    "qid": models.PayloadSchemaType.KEYWORD,
    "names": models.PayloadSchemaType.KEYWORD,
    "popularity": models.PayloadSchemaType.INTEGER,
    "label": models.TextIndexParams(type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD,
                                    lowercase=True),
}


def _store(kind: str, servers: Any, tmp_path: Path) -> VectorStore:
    if kind == "local":
        return VectorStore.from_config(load_config({"home": tmp_path / "home"}, env={}))
    config = server_config(servers, tmp_path / "home")
    return VectorStore.from_config(replace(config, qdrant=replace(config.qdrant, prefer_grpc=kind == "grpc")))


def _dense(i: int) -> list[float]:
    return [1.0, float(i % 5), float(i % 3) - 1.0, 0.5 * i]


def _sparse(text: str) -> models.SparseVector:
    v = name_index.entity_vector(name_index.name_forms(text, []))
    return models.SparseVector(indices=v.indices, values=v.values)


def _point(i: int, label: str) -> models.PointStruct:
    return models.PointStruct(
        id=point_id(f"Q{i}"), vector={"text": _dense(i), "names": _sparse(label)},
        payload={"qid": f"Q{i}", "label": label, "names": name_index.name_forms(label, []), "popularity": 10 * i},
    )


def _rows(rows: list) -> list[tuple]:
    """(id, score to 4 places, payload): gRPC carries scores as float32, JSON as float64."""
    return [(r.id, round(r.score, 4), r.payload) for r in rows]


def _sequence(store: VectorStore, name: str) -> dict[str, Any]:
    """Every operation kg uses, in the order indexing and linking use them; what each answered."""
    out: dict[str, Any] = {}
    out["created"] = store.ensure_collection(name, {"text": 4}, ["names"], sparse_idf=True,
                                             payload_indexes=PAYLOAD_INDEXES)
    out["created again"] = store.ensure_collection(name, {"text": 4}, ["names"], sparse_idf=True)
    out["listed"] = name in store.collections()
    out["sizes"] = store.dense_sizes(name)
    out["sparse names"] = sorted(store.sparse_names(name))
    store.upsert(name, [_point(i, label) for i, label in enumerate(LABELS, start=1)])
    out["count"] = store.count(name)
    store.update(name, new=[_point(13, "Douglas Adams")],  # a namesake, more popular
                 vectors={point_id("Q1"): {"text": NEW_VECTOR}},
                 payloads={point_id("Q2"): {"popularity": 999}})
    out["count after update"] = store.count(name)
    got = store.retrieve(name, [point_id(q) for q in ("Q1", "Q2", "Q13", "Q404")], ["qid", "popularity"], ["text"])
    out["retrieved"] = sorted((p.id, p.payload, [round(x, 5) for x in p.vectors["text"]]) for p in got)
    everything = store.retrieve(name, [point_id("Q4")], vectors=True)
    out["retrieved whole"] = [(p.id, p.payload, sorted(p.vectors)) for p in everything]
    dense = models.QueryRequest(query=_dense(8), using="text", limit=4, with_payload=["qid"])
    query = name_index.query_vector("douglas adams")
    sparse = models.QueryRequest(query=models.SparseVector(indices=query.indices, values=query.values),
                                 using="names", limit=5, with_payload=["qid", "label"])
    filtered = models.QueryRequest(query=_dense(3), using="text", limit=10, with_payload=["qid"], filter=models.Filter(
        must=[models.FieldCondition(key="popularity", range=models.Range(gte=50, lte=120))]))
    exact = models.QueryRequest(
        filter=models.Filter(must=[models.FieldCondition(key="names", match=models.MatchValue(value="douglas adams"))]),
        limit=5, with_payload=["qid", "popularity"],
        query=models.OrderByQuery(order_by=models.OrderBy(key="popularity", direction=models.Direction.DESC)))
    label = models.QueryRequest(
        filter=models.Filter(must=[models.FieldCondition(key="label", match=models.MatchText(text="Neruda"))]),
        limit=10, with_payload=["label"])
    by_id = models.QueryRequest(query=_dense(2), using="text", limit=5, with_payload=False, filter=models.Filter(
        must=[models.HasIdCondition(has_id=[point_id("Q2"), point_id("Q5"), point_id("Q404")])]))
    out["dense"] = _rows(store.query(name, dense))
    out["sparse"] = _rows(store.query(name, sparse))
    out["filtered"] = _rows(store.query(name, filtered))
    out["exact, most popular first"] = [(r.id, r.payload) for r in store.query(name, exact)]
    out["label text"] = sorted((r.id, r.payload["label"]) for r in store.query(name, label))
    out["by id"] = _rows(store.query(name, by_id))
    sparse_by_id = models.QueryRequest(  # the words overlap's shape: a sparse query scored on given points only
        query=models.SparseVector(indices=query.indices, values=query.values), using="names", limit=3,
        with_payload=False, filter=models.Filter(must=[models.HasIdCondition(
            has_id=[point_id("Q6"), point_id("Q13"), point_id("Q4")])]))
    out["sparse by id"] = _rows(store.query(name, sparse_by_id))
    batch = store.query_batch(name, [dense, sparse, filtered, exact, label, by_id])
    out["batch"] = [_rows(batch[0]), _rows(batch[1]), _rows(batch[2]), [(r.id, r.payload) for r in batch[3]],
                    sorted((r.id, r.payload["label"]) for r in batch[4]), _rows(batch[5])]
    store.delete_collection(name)
    out["exists after delete"] = store.collection_exists(name)
    out["count after delete"] = store.count(name)
    return out


@pytest.fixture(scope="module")
def answers(servers, tmp_path_factory) -> dict[str, dict[str, Any]]:
    out = {}
    for kind, backend in BACKENDS.items():
        store = _store(kind, servers, tmp_path_factory.mktemp(kind))
        assert type(store.backend) is backend
        try:
            out[kind] = _sequence(store, "t_backends_" + kind)
        finally:
            if store.collection_exists("t_backends_" + kind):
                store.delete_collection("t_backends_" + kind)
            store.close()
    return out


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_server_backends_answer_as_local_mode(answers: dict[str, dict[str, Any]], kind: str) -> None:
    local, server = answers["local"], answers[kind]
    for step in local:
        assert server[step] == local[step], step


def test_the_answers_are_the_right_ones(answers: dict[str, dict[str, Any]]) -> None:
    """Agreement alone would pass three equally wrong backends: the answers checked against what was written."""
    a = answers["grpc"]
    assert a["created"] and not a["created again"] and a["listed"] and a["sizes"] == {"text": 4}
    assert a["count"] == 12 and a["count after update"] == 13
    q1, q2, q13 = a["retrieved"]  # Q404 does not exist
    assert q1[:2] == (point_id("Q1"), {"qid": "Q1", "popularity": 10})
    norm = sum(x * x for x in NEW_VECTOR) ** 0.5  # cosine collections store unit vectors
    assert q1[2] == [round(x / norm, 5) for x in NEW_VECTOR]  # the updated vector
    assert q2[1] == {"qid": "Q2", "popularity": 999} and q13[1] == {"qid": "Q13", "popularity": 130}
    assert a["retrieved whole"] == [(point_id("Q4"), {"qid": "Q4", "label": "Kaliningrad", "names": ["kaliningrad"],
                                                      "popularity": 40}, ["names", "text"])]
    assert [r[2]["qid"] for r in a["dense"][:1]] == ["Q8"] and a["dense"][0][1] == pytest.approx(1.0, abs=1e-4)
    assert {r[2]["qid"] for r in a["sparse"][:2]} == {"Q1", "Q13"}
    assert {r[2]["qid"] for r in a["filtered"]} == {"Q5", "Q6", "Q7", "Q8", "Q9", "Q10", "Q11", "Q12"}
    assert a["exact, most popular first"] == [(point_id("Q13"), {"qid": "Q13", "popularity": 130}),
                                             (point_id("Q1"), {"qid": "Q1", "popularity": 10})]
    assert [label for _, label in a["label text"]] == ["Pablo Neruda", "Jan Neruda", "Neruda Street"]
    assert sorted(r[0] for r in a["by id"]) == [point_id("Q2"), point_id("Q5")]
    assert a["sparse names"] == ["names"]
    assert [r[0] for r in a["sparse by id"]] == [point_id("Q13"), point_id("Q6")]  # Kaliningrad shares no 3-gram
    assert a["batch"] == [a["dense"], a["sparse"], a["filtered"], a["exact, most popular first"], a["label text"],
                          a["by id"]]
    assert not a["exists after delete"] and a["count after delete"] == 0


def test_payload_indexes_on_a_server_and_none_in_local_mode(servers, tmp_path: Path) -> None:
    """A collection made without an index gets it from `ensure_payload_indexes`; local mode has none to make."""
    for kind in BACKENDS:
        store = _store(kind, servers, tmp_path / kind)
        name = "t_indexes_" + kind
        try:
            store.ensure_collection(name, {"text": 4}, payload_indexes={"qid": models.PayloadSchemaType.KEYWORD})
            store.ensure_payload_indexes(name, PAYLOAD_INDEXES)
            assert store.backend.payload_indexes(name) == (set() if kind == "local" else set(PAYLOAD_INDEXES))
            assert store.version() == "local mode" if kind == "local" else store.version().startswith("1.16")
        finally:
            store.delete_collection(name)
            store.close()


def test_local_mode_warning_fires_through_indexing(graph_config, clean_graph, tmp_path: Path, monkeypatch,
                                                   caplog) -> None:
    """`kg index` writes through `VectorStore.update`, so a local collection past the limit warns, once."""
    local = replace(graph_config, qdrant=replace(graph_config.qdrant, url=None))
    monkeypatch.setattr(vectors_mod, "LOCAL_MODE_LIMIT", 40)
    with GraphStore.from_config(local) as graph:
        ingest_files(graph, tmp_path, WIKIDATA / "sample_wikidata_items.json.bz2")
        vectors = VectorStore.from_config(local)
        try:
            assert vectors.local
            with caplog.at_level(logging.WARNING, logger="kg.kgstore.vectors"):
                Indexer(local, graph, vectors, IndexOptions(indexes=("names",), explicit=True, page_size=25)).run()
            assert vectors.count(local.qdrant.collection) == 100
        finally:
            vectors.close()
    warnings = [r.getMessage() for r in caplog.records if "local mode" in r.getMessage()]
    assert len(warnings) == 1 and f"collection {local.qdrant.collection} holds 50 points" in warnings[0]
