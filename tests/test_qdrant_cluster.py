"""A real 3-node Qdrant cluster (the binary `scripts/services.sh install` caches), loopback only: the KB indexed
into a 6-shard, 2-replica collection (int8 quantised, HNSW deferred) survives one node SIGKILLed mid-`kg index`
and another mid-`kg link`, and ends with the same vectors, search results and links as the single test server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from index_helpers import WIKIDATA, ingest_files
from qdrant_cluster import Node, qdrant_binary, replicas_active, start_cluster, wait_until

from kg.indexers.index import Indexer, IndexOptions
from kg.kgstore.config import Config
from kg.kgstore.encoders.text import text_encoder_from_config
from kg.kgstore.entity_index import NAMES, TEXT, WORDS
from kg.kgstore.search import Searcher
from kg.kgstore.vector_backends import open_backend
from kg.kgstore.vectors import VectorStore
from kg.linkers.pipeline import Linker, LinkOptions
from kg.linkers.records import Document, Mention

pytestmark = [pytest.mark.servers, pytest.mark.skipif(not qdrant_binary().is_file(), reason=f"no Qdrant server binary at {qdrant_binary()}; "
                                "`bash scripts/services.sh install` fetches it")]  # servers: it starts its own

NAMES_LINKED = ["Belgium", "Portugal", "Germany", "Malta", "Oslo", "Bonn", "Lisbon", "Lille", "Laos", "Thailand",
                "Massachusetts", "Israel", "Douglas Adams", "Chile", "Bahrain", "Rennes"]


@pytest.fixture
def cluster(tmp_path: Path):
    nodes = start_cluster(tmp_path / "cluster", 3)
    yield nodes
    for node in nodes:
        node.stop()


def _docs() -> list[Document]:
    docs = []
    for i, name in enumerate(NAMES_LINKED):
        text = f"Yesterday in {name}, reporters met."
        start = text.index(name)
        docs.append(Document(id=f"d{i}", text=text, mentions=[Mention(id=f"d{i}-m0", start=start,
                                                                       end=start + len(name), surface=name)]))
    return docs


def test_a_sharded_replicated_collection_survives_killed_nodes(graph, graph_config: Config, cluster: list[Node],
                                                               tmp_path: Path) -> None:
    ingest_files(graph, tmp_path, WIKIDATA / "wd_Q42.json", WIKIDATA / "sample_wikidata_items.json.bz2")
    encoder = text_encoder_from_config(graph_config)  # loaded once, for both stores
    single = VectorStore.from_config(graph_config)
    Indexer(graph_config, graph, single, text_encoder=encoder).run()

    # kg talks to the first node of the list that answers; node2 is killed mid-index, node1 mid-link
    qdrant = dataclasses.replace(graph_config.qdrant, url=",".join(n.url for n in cluster), grpc_port=cluster[0].grpc,
                                 shard_number=6, replication_factor=2, write_consistency_factor=1,
                                 quantization="int8", defer_hnsw=True)
    cfg = dataclasses.replace(graph_config, qdrant=qdrant)
    name = cfg.qdrant.collection
    vectors = VectorStore.from_config(cfg)
    killed: list[str] = []

    def kill_node2_after_first_page(n: int, summary) -> None:
        if summary.pages == 1:
            assert vectors.backend.hnsw_m(name) == 0  # deferred while uploading
            cluster[2].kill()
            killed.append("index")

    summary = Indexer(cfg, graph, vectors, IndexOptions(page_size=20), text_encoder=encoder).run(
        kill_node2_after_first_page)
    assert killed == ["index"] and summary.pages > 1 and summary.hnsw_restored
    info = cluster[0].get(f"/collections/{name}")
    params = info["config"]["params"]
    assert (params["shard_number"], params["replication_factor"]) == (6, 2)
    assert info["config"]["hnsw_config"]["m"] == 16
    assert info["config"]["quantization_config"]["scalar"]["type"] == "int8"

    ids = [p.id for page in single.scroll(graph_config.qdrant.collection, 200, payload=False) for p in page]
    assert vectors.count(name) == single.count(graph_config.qdrant.collection) == len(ids) > 100
    mine = {r.id: r for r in vectors.retrieve(name, ids, payload=True, vectors=True)}
    theirs = {r.id: r for r in single.retrieve(graph_config.qdrant.collection, ids, payload=True, vectors=True)}
    assert mine.keys() == theirs.keys() == set(ids)
    for pid, row in theirs.items():
        assert mine[pid].payload == row.payload
        assert np.allclose(mine[pid].vectors[TEXT], row.vectors[TEXT], atol=1e-6)
        for sparse in (NAMES, WORDS):
            assert mine[pid].vectors[sparse] == row.vectors[sparse]

    # a list whose first node is down: the next one serves (HTTP here, since every loopback node has its own
    # gRPC port)
    http = open_backend(dataclasses.replace(cfg, qdrant=dataclasses.replace(
        cfg.qdrant, url=f"{cluster[2].url},{cluster[0].url}", prefer_grpc=False)))
    assert http.location == cluster[0].url and http.count(name) == len(ids)
    http.close()

    # node2 back (same storage): its replicas recover; then node1 dies mid-link
    cluster[2].start(cluster[0])
    wait_until("node2's replicas active again", lambda: replicas_active(cluster[0], name), nodes=cluster)
    docs = _docs()
    reference = Searcher(graph_config, single, text_encoder=encoder)
    expected = [r for batch in Linker(reference, LinkOptions(method="features", context="model", write=False,
                                                             batch_docs=4)).link(docs) for r in batch]
    searcher = Searcher(cfg, vectors, text_encoder=encoder)
    results = []
    for batch in Linker(searcher, LinkOptions(method="features", context="model", batch_docs=4),
                        graph=graph).link(docs):
        results += batch
        if not killed[1:]:
            cluster[1].kill()
            killed.append("link")
    assert killed == ["index", "link"]
    assert [(r.mention_id, r.qid) for r in results] == [(r.mention_id, r.qid) for r in expected]
    assert [r.score for r in results] == pytest.approx([r.score for r in expected], abs=1e-4)
    assert sum(r.qid is not None for r in results) >= len(docs) - 2
    written = graph.read("MATCH (d:Document)-[:HAS_MENTION]->(m:Mention)-[:REFERS_TO]->(e:Entity) "
                         "RETURN d.id AS doc, e.qid AS qid")
    assert sorted((w["doc"], w["qid"]) for w in written) == sorted((r.doc_id, r.qid) for r in expected if r.qid)
    for text in ("Lisbon", "Douglas Adams", "country in western Europe"):
        assert [h.qid for h in searcher.by_text(text, top_k=5)] == [h.qid for h in reference.by_text(text, top_k=5)]
    single.delete_collection(graph_config.qdrant.collection)
    single.close()
    vectors.close()
