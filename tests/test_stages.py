"""Each kind of stage plugs into a real Linker run (the tiny KB of the kg serve tests on the real servers): the
toy detector, candidate generator, feature extractor, ranker, NIL policy and post-processor of tests/toy_stages.py
and tests/toy_method.py are all called, and what each returns is what the next one sees."""

from __future__ import annotations

import pytest
from index_helpers import indexed_kb
from test_serve import KB
from toy_method import PopularReranker
from toy_stages import LabelLength, NeverLink, Stamp, TableCandidates, WordListDetector


@pytest.fixture(scope="module")
def kb(servers, graph_driver, tmp_path_factory):
    return indexed_kb(servers, graph_driver, tmp_path_factory.mktemp("stages"), KB, "t_stages_")


def test_a_linker_runs_a_toy_stage_of_each_kind(kb) -> None:
    from kg.kgstore.search import Searcher
    from kg.kgstore.vectors import VectorStore
    from kg.linkers.pipeline import Linker, LinkOptions
    from kg.linkers.records import Document

    detector = WordListDetector(["Obama", "Paris", "Berlin"])
    candidates = TableCandidates({"Obama": [("Q76", "Barack Obama")],
                                  "Paris": [("Q167646", "Paris"), ("Q90", "Paris")],
                                  "Berlin": [("Q64", "Berlin")]})
    feature, nil, stamp = LabelLength(), NeverLink({"Berlin"}), Stamp()
    searcher = Searcher(kb, VectorStore.from_config(kb))
    linker = Linker(searcher, LinkOptions(method="features", context="static", write=False, link="all"),
                    detector=detector, reranker=PopularReranker(), candidates=candidates, features=[feature],
                    nil=nil, post=[stamp])
    try:
        text = "Obama flew from Berlin to Paris."
        results = [r for batch in linker.link([Document("d1", text)]) for r in batch]
    finally:
        linker.close()
    assert detector.calls == [[text]] and detector.concepts  # the Linker told it the link policy
    assert candidates.calls == [["Obama", "Berlin", "Paris"]]
    assert feature.calls == 1 and nil.calls == ["Obama", "Berlin", "Paris"] and stamp.calls == 1
    assert [(r.surface, r.detector, r.qid) for r in results] == [("Obama", "words", "Q76"), ("Berlin", "words", None),
                                                                 ("Paris", "words", "Q90")]
    for r in results:
        assert {c["qid"] for c in r.candidates} == {q for q, _ in candidates.table[r.surface]}
        assert all(c["features"]["label_length"] == len(c["label"]) / 10 for c in r.candidates)
        assert r.trace["stages"][1] == "rerank:popular" and r.trace["stamp"] == 3
