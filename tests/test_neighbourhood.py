"""The graph neighbours coherence reads: one query per batch of entities not met before, the pairs among a set
derived from them, class edges left out, and a bounded cache (real graph server)."""

from __future__ import annotations

import json
from pathlib import Path

from index_helpers import ingest_files

from kg.kgstore.graph import GraphStore
from kg.kgstore.neighbourhood import Neighbourhood

ENTITIES = [
    {"qid": "Q1", "label": "One", "relations": [{"pid": "P54", "target": "Q2"}, {"pid": "P31", "target": "Q3"}]},
    {"qid": "Q2", "label": "Two", "relations": [{"pid": "P17", "target": "Q4"}]},
    {"qid": "Q3", "label": "Class"},
    {"qid": "Q4", "label": "Four", "relations": [{"pid": "P47", "target": "Q2"}]},
    {"qid": "Q5", "label": "Alone"},
]


def test_neighbours_are_read_once_and_pairs_follow_from_them(graph: GraphStore, tmp_path: Path) -> None:
    kb = tmp_path / "kb.jsonl"
    kb.write_text("".join(json.dumps(e) + "\n" for e in ENTITIES), encoding="utf-8")
    ingest_files(graph, tmp_path, kb)
    near = Neighbourhood(graph)
    assert near.out(["Q1", "Q2", "Q5"]) == {"Q1": {"Q2"}, "Q2": {"Q4"}}  # no P31 edge; Q5 has none
    assert near.reads == 1
    # Q1-Q2 one way, Q2-Q4 both ways: two pairs; the class Q3 is related to nobody
    assert near.edges_among(["Q1", "Q2", "Q3", "Q4", "Q5"]) == {frozenset(("Q1", "Q2")), frozenset(("Q2", "Q4"))}
    assert near.reads == 2  # only Q3 and Q4 were new
    near.edges_among(["Q4", "Q1"])
    assert near.reads == 2  # everything known: no query
    small = Neighbourhood(graph, limit=2)
    small.out(["Q1", "Q2", "Q4"])
    small.out(["Q4"])
    assert small.reads == 1
    small.out(["Q1"])  # evicted (least recently used): read again
    assert small.reads == 2
    stale = Neighbourhood(graph, max_age=0.0)  # past its age everything is read afresh
    stale.out(["Q1"])
    stale.out(["Q1"])
    assert stale.reads == 2
