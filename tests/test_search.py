"""`kg search` and the Searcher API over the Wikidata fixtures, indexed once with the real MiniLM model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from index_helpers import WIKIDATA, cli_env, ingest_files, server_config

from kg.cli.main import cli
from kg.indexers.index import Indexer
from kg.kgstore.config import Config, load_config
from kg.kgstore.errors import ConfigError
from kg.kgstore.graph import GraphStore
from kg.kgstore.search import Searcher
from kg.kgstore.vector_backends import GrpcBackend, HttpBackend
from kg.kgstore.vectors import VectorStore
from kg.linkers.candidates.names import NameLookup


@pytest.fixture(scope="module")
def indexed(servers, graph_driver, tmp_path_factory) -> Config:
    """The fixtures ingested and indexed once for the module (indexing with MiniLM is the slow part)."""
    graph_driver.execute_query("MATCH (n) DETACH DELETE n", database_=servers.graph_database)
    home = tmp_path_factory.mktemp("search-home")
    config = server_config(servers, home)
    with GraphStore.from_config(config) as graph:
        ingest_files(graph, home, WIKIDATA / "wd_Q42.json", WIKIDATA / "sample_wikidata_items.json.bz2")
        vectors = VectorStore.from_config(config)
        Indexer(config, graph, vectors).run()
    yield config
    vectors.delete_collection(config.qdrant.collection)
    vectors.close()


@pytest.fixture(scope="module")
def searcher(indexed: Config) -> Searcher:
    vectors = VectorStore.from_config(indexed)
    yield Searcher(indexed, vectors)
    vectors.close()


def _search(config: Config, *args: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["search", *args, "--json"], env=cli_env(config))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_finds_douglas_adams_by_name_misspelt_name_and_description(indexed: Config) -> None:
    exact = _search(indexed, "Douglas Adams", "--by", "name")
    assert exact[0]["qid"] == "Q42" and exact[0]["match"] == "exact" and exact[0]["score"] == 1.0
    misspelt = _search(indexed, "Duglas Adams", "--by", "name", "--top-k", "3")
    assert len(misspelt) == 3 and misspelt[0]["qid"] == "Q42" and misspelt[0]["match"] == "fuzzy"
    assert misspelt[0]["score"] > misspelt[1]["score"] + 0.2
    by_text = _search(indexed, "English writer of humorous science fiction novels", "--by", "text", "-k", "5")
    assert by_text[0]["qid"] == "Q42"


def test_cli_table_output(indexed: Config) -> None:
    result = CliRunner().invoke(cli, ["search", "douglas noel adams", "-k", "2"], env=cli_env(indexed))
    assert result.exit_code == 0, result.output
    header, first = result.output.splitlines()[:2]
    assert header.split() == ["RANK", "QID", "LABEL", "SCORE", "MATCH", "DESCRIPTION"]
    assert first.split()[:6] == ["1", "Q42", "Douglas", "Adams", "1.000", "exact"]


def test_by_name_hits_carry_the_payload(searcher: Searcher) -> None:
    hit = NameLookup(searcher).by_name("DOUGLAS N. ADAMS", top_k=1)[0]  # an alias, in another case and punctuation
    assert (hit.qid, hit.label, hit.match, hit.score) == ("Q42", "Douglas Adams", "exact", 1.0)
    assert hit.payload["types"] == ["Q5"] and hit.payload["popularity"] > 100
    assert "Douglas Noël Adams" in hit.payload["aliases"] and hit.payload["description"] == "author and humorist"
    assert NameLookup(searcher).by_name("  ?! ") == []


def test_word_overlap_and_life_span_come_from_the_index(searcher: Searcher) -> None:
    """The words index scores the rare words a context shares with an entity's description and attributes, on the
    server; the entity's own name does not count, and `lived` holds its years from P569/P570."""
    hit = NameLookup(searcher).by_name("Douglas Adams", top_k=1)[0]
    assert hit.payload["lived"] == [1952, 2001]
    found = searcher.word_overlaps_many(
        ["the humorist Adams read his radio play", "Douglas Adams", "the humorist read", ""],
        [["Q42", "Q31"], ["Q42"], ["Q42"], ["Q42"]], own=["Adams", "Douglas Adams", "humorist"])
    assert set(found[0]) == {"Q42"} and found[0]["Q42"] > 0  # "humorist"; Belgium shares nothing
    assert found[1:] == [{}, {}, {}]  # its name alone, or only the mention's own word, or no text: no overlap


def test_by_name_finds_other_fixture_entities_from_partial_names(searcher: Searcher) -> None:
    hits = NameLookup(searcher).by_name("Kaliningrad", top_k=3)
    assert hits[0].label == "Kaliningrad Oblast" and hits[0].match == "fuzzy"


def test_context_search_within_a_name_keeps_the_entities_of_that_name_closest_to_the_context(searcher: Searcher
                                                                                               ) -> None:
    vectors = searcher.text_encoder.encode(["a region of Russia on the Baltic Sea", "English writer"])
    hits = searcher.by_vector_in_names_many("text", vectors, ["Kaliningrad", None], 5)
    assert hits[1] == []  # no name: no query
    labels = [h.label or "" for h in hits[0]]
    assert labels and all("kaliningrad" in label.lower() for label in labels), labels
    assert hits[0][0].match == "named text" and [h.score for h in hits[0]] == sorted((h.score for h in hits[0]),
                                                                                      reverse=True)
    plain = searcher.by_vector_many("text", vectors[:1], 5)[0]
    assert any("kaliningrad" not in (h.label or "").lower() for h in plain)  # the name did the narrowing
    assert searcher.by_vector_in_names_many("text", vectors[:1], ["Zyzzyvaqq"], 5) == [[]]


def test_by_vector_and_vectors_of_serve_precomputed_vectors(searcher: Searcher) -> None:
    stored = searcher.vectors_of(["Q42", "Q1049", "Q999999999"], "text")
    assert set(stored) == {"Q42", "Q1049"} and len(stored["Q42"]) == searcher.text_encoder.dim
    [hits] = searcher.by_vector_many("text", [stored["Q42"]], top_k=2, match="text")
    assert hits[0].qid == "Q42" and hits[0].score > 0.999 and hits[0].match == "text"
    assert searcher.vectors_of([], "text") == {}


def test_image_search_without_image_model_explains(searcher: Searcher) -> None:
    with pytest.raises(ConfigError, match="image search needs an image model; no image model configured"):
        searcher.by_image_text("a photo")


def test_missing_collection_says_to_run_index(indexed: Config, tmp_path: Path) -> None:
    config = load_config(overrides={"home": tmp_path, "qdrant.url": indexed.qdrant.url,
                                    "qdrant.grpc_port": indexed.qdrant.grpc_port,
                                    "qdrant.collection": "t_never_indexed"}, env={})
    with pytest.raises(ConfigError, match="collection 't_never_indexed' does not exist .*run `kg index` first"):
        NameLookup(Searcher(config, VectorStore.from_config(config))).by_name("Douglas Adams")


def _rows(hit_lists) -> list:
    return [[(h.qid, h.label, h.score, h.match, h.payload) for h in hits] for hits in hit_lists]


def test_exact_only_names_skip_the_fuzzy_lookup(searcher: Searcher) -> None:
    """Detected mentions are KB names: only entities with exactly that name, scored 1."""
    names = ["Douglas Adams", "Duglas Adams", "Kaliningrad"]
    exact = NameLookup(searcher).by_name_many(names, 5, exact_only=[True, True, True])
    wide = NameLookup(searcher).by_name_many(names, 5)
    assert [(h.qid, h.score, h.match) for h in exact[0]] == [("Q42", 1.0, "exact")]
    assert _rows(exact)[0][0] == _rows(wide)[0][0]  # the exact hit as the fuzzy path has it
    assert len(wide[0]) > 1  # ...which adds near names
    assert exact[1] == [] and wide[1][0].qid == "Q42"  # a misspelling is no KB name: only fuzzy finds it
    # a form is looked up fuzzily when any of its texts asks for it
    mixed = NameLookup(searcher).by_name_many(["Douglas Adams", "douglas adams"], 5, exact_only=[True, False])
    assert _rows(mixed) == _rows(wide[:1]) * 2


def test_grpc_fast_path_answers_as_http(searcher: Searcher) -> None:
    """Server mode sends the linkers' batches straight over gRPC; qdrant-client's HTTP path must agree exactly."""
    assert isinstance(searcher.vectors.backend, GrpcBackend)
    http = VectorStore.from_config(replace(searcher.config, qdrant=replace(searcher.config.qdrant, prefer_grpc=False)))
    assert isinstance(http.backend, HttpBackend)
    plain = Searcher(searcher.config, http, text_encoder=searcher.text_encoder)
    names = ["Douglas Adams", "Duglas Adams", "Kaliningrad", "douglas adams", "?!", "Q42 nothing like it"]
    for fields in (None, ["qid", "label", "names", "popularity"]):
        assert _rows(NameLookup(searcher).by_name_many(names, 5, fields)) == _rows(NameLookup(plain).by_name_many(names, 5, fields))
        exact = [True, False, True, True, True, False]
        assert (_rows(NameLookup(searcher).by_name_many(names, 5, fields, exact_only=exact))
                == _rows(NameLookup(plain).by_name_many(names, 5, fields, exact_only=exact)))
    vectors = searcher.text_encoder.encode(["English writer of science fiction", "a city in Russia"])
    dense = searcher.by_vector_many("text", vectors, 3, "text")
    assert _rows(dense) == _rows(plain.by_vector_many("text", vectors, 3, "text"))
    qids = [["Q42", "Q1049", "Q999999999"], ["Q1049"]]
    # gRPC carries floats as float32, JSON prints them shortest: equal to float32 precision
    fast, slow = searcher.similarities_many("text", vectors, qids), plain.similarities_many("text", vectors, qids)
    assert [sorted(d) for d in fast] == [sorted(d) for d in slow] == [["Q1049", "Q42"], ["Q1049"]]
    assert all(a == pytest.approx(b, rel=1e-6) for a, b in zip(fast, slow))
    fast_vectors, slow_vectors = (s.vectors_of(["Q42", "Q1049"], "text") for s in (searcher, plain))
    assert sorted(fast_vectors) == sorted(slow_vectors) == ["Q1049", "Q42"]
    assert all(np.allclose(fast_vectors[q], slow_vectors[q], rtol=1e-6) for q in fast_vectors)
    http.close()


def test_similarities_are_cosines_with_stored_vectors_and_equal_vectors_are_asked_once(searcher: Searcher) -> None:
    vectors = searcher.text_encoder.encode(["English writer of science fiction", "English writer of science fiction",
                                            "a city in Russia"])
    qids = [["Q42", "Q1049", "Q999999999"], ["Q42"], ["Q42", "Q1049"]]
    sims = searcher.similarities_many("text", vectors, qids)
    stored = searcher.vectors_of(["Q42", "Q1049"], "text")
    for vector, these, found in zip(vectors, qids, sims):
        assert set(found) == set(these) - {"Q999999999"}  # no stored vector: absent
        for q in found:
            expected = float(np.dot(vector, stored[q]) / np.linalg.norm(stored[q]))
            assert abs(found[q] - expected) < 1e-5
    assert sims[0]["Q42"] == sims[1]["Q42"] and sims[0]["Q42"] > sims[2]["Q42"]
    assert searcher.similarities_many("text", [], []) == []
    dense = searcher.by_vector_many("text", vectors, 2, "text")
    assert _rows(dense[:1]) == _rows(dense[1:2]) and dense[0][0] is not dense[1][0]  # searched once, copied


def test_lazy_vectors_of_fetches_on_first_read(searcher: Searcher) -> None:
    calls = []
    fetch = searcher.vectors_of
    lazy = searcher.vectors_of(["Q42", "Q999999999"], "text", lazy=True)
    searcher.vectors_of = lambda *a, **k: calls.append(a) or fetch(*a, **k)  # type: ignore[method-assign]
    try:
        assert calls == []
        assert lazy.get("Q999999999") is None and len(lazy["Q42"]) == searcher.text_encoder.dim
        assert list(lazy) == ["Q42"] and len(calls) == 1
    finally:
        del searcher.vectors_of


def test_fusion_interaction_from_the_store_equals_the_one_from_fetched_vectors(searcher: Searcher) -> None:
    """`kg link --method fusion` asks Qdrant for <u, e> instead of fetching every candidate's text vector: the
    scores must be the ones the fetched vectors give."""

    from kg.linkers.pipeline import Linker, LinkOptions
    from kg.linkers.ranking.fusion import SCALARS, FusionReranker
    from kg.linkers.records import Document, Mention

    rng = np.random.default_rng(0)
    dim = searcher.text_encoder.dim
    params = {"w1": rng.normal(size=(len(SCALARS) + 1, 8)).astype(np.float32), "b1": np.zeros(8, np.float32),
              "w2": rng.normal(size=8).astype(np.float32), "b2": np.float32(0.0),
              "p": rng.normal(size=(dim, 4)).astype(np.float32), "q": rng.normal(size=(dim, 4)).astype(np.float32)}
    linker = Linker(searcher, LinkOptions(method="fusion", write=False, context="model"),
                    reranker=FusionReranker(params))
    text = "Douglas Adams, the humorist, wrote The Hitchhiker's Guide to the Galaxy in 1978; he was born in Cambridge."
    at = text.index("Cambridge")
    doc = Document("d1", text, mentions=[Mention("d1#0", 0, 13, "Douglas Adams"),
                                         Mention("d1#1", at, at + 9, "Cambridge")])
    captured = []
    rerank_many = linker.reranker.rerank_many
    linker.reranker.rerank_many = lambda items: captured.extend(items) or rerank_many(items)  # type: ignore
    results = next(linker.link([doc]))
    assert [r.qid for r in results] and len(captured) == 2
    compared = 0
    for (mention, cands), result in zip(captured, results):
        assert mention.interactions is not None and mention.interactions  # computed by the store
        stored = searcher.vectors_of([c.qid for c in cands], "text")
        fetched = replace(mention, interactions=None)  # the scorer then reads the fetched vectors
        raw = np.asarray(FusionReranker(params).scores(fetched, cands), dtype=np.float64)
        probs = np.exp(raw - raw.max()) / np.exp(raw - raw.max()).sum()  # a result's score: the softmax
        expected = dict(zip([c.qid for c in cands], probs))
        for c in result.candidates:
            assert abs(c["score"] - expected[c["qid"]]) < 1e-3
            compared += c["qid"] in stored
    assert compared >= 4
    # the scorer's other inputs: the rare words shared with the entity, and the context's year within its life
    adams = next(c for c in results[0].candidates if c["qid"] == "Q42")["features"]
    assert adams["overlap"] > 0 and adams["era_within"] == 1.0 and adams["era_before"] == adams["era_after"] == 0.0
