"""`kg query mentions|documents|cooccur|path|cypher` end to end against the real graph server.

The linked-mention layer is written here directly, in the shape `kg link` writes it:
(:Document)-[:HAS_MENTION]->(:Mention)-[:REFERS_TO {score, rank, method, run_id}]->(:Entity), rank 1 = chosen.
"""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from kg.cli.main import cli, main
from kg.kgstore.console import parse_params, write_clauses
from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore
from kg.kgstore.linked import mark_snippet
from kg.kgstore.migrate import ensure_schema

FILL = "the quick brown fox jumps over the lazy dog and keeps running far away "  # 72 characters
D1 = FILL + "Alpha met Beta at the harbour, " + FILL
D2 = "Alpha and Gamma."
D3 = "Beta, Alpha; Alpha again\nand Beta. Alfa too."

ENTITIES = [
    {"qid": "Q1", "label": "Alpha", "kind": "item"},
    {"qid": "Q2", "label": "Beta", "kind": "item"},
    {"qid": "Q3", "label": "Gamma", "kind": "item"},
    {"qid": "Q4", "label": "Delta", "kind": "item"},
    {"qid": "Q5", "label": "Epsilon", "kind": "item"},
    {"qid": "Q6", "label": "Zeta", "kind": "item"},
    {"qid": "P10", "label": "linked to", "kind": "property"},
    {"qid": "P20", "label": "part of", "kind": "property"},
]
# Claims: Q1 -P10-> Q2 <-P20- Q3 -P10-> Q4 -P30-> Q5 (P30 has no property entity); Q6 stands alone.
CLAIMS = {"P10": [("Q1", "Q2"), ("Q3", "Q4")], "P20": [("Q3", "Q2")], "P30": [("Q4", "Q5")]}
CLAIM_QUERIES = {  # relationship types are literals in the query text, every value a parameter
    "P10": "UNWIND $pairs AS p MATCH (a:Entity {qid: p[0]}), (b:Entity {qid: p[1]}) CREATE (a)-[:P10 {pid: $pid}]->(b)",
    "P20": "UNWIND $pairs AS p MATCH (a:Entity {qid: p[0]}), (b:Entity {qid: p[1]}) CREATE (a)-[:P20 {pid: $pid}]->(b)",
    "P30": "UNWIND $pairs AS p MATCH (a:Entity {qid: p[0]}), (b:Entity {qid: p[1]}) CREATE (a)-[:P30 {pid: $pid}]->(b)",
}


def span(text: str, surface: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return start, start + len(surface)


MENTIONS = [  # id, doc, surface, nth occurrence, status
    ("m1", "d1", "Alpha", 0, "linked"),
    ("m2", "d1", "Beta", 0, "linked"),
    ("m3", "d2", "Alpha", 0, "linked"),
    ("m4", "d2", "Gamma", 0, "linked"),
    ("m5", "d3", "Alpha", 0, "linked"),
    ("m6", "d3", "Alpha", 1, "linked"),
    ("m7", "d3", "Beta", 0, "linked"),
    ("m8", "d3", "Alfa", 0, "NIL"),
]
REFERS = [  # mention, entity, rank, score, method, run
    ("m1", "Q1", 1, 0.90, "text", "run1"),
    ("m1", "Q1", 1, 0.92, "text+image", "run2"),  # a second run: the better edge stands for the mention
    ("m2", "Q2", 1, 0.80, "text", "run1"),
    ("m3", "Q1", 1, 0.95, "text", "run1"),
    ("m3", "Q4", 2, 0.20, "text", "run1"),  # a runner-up candidate: neither a mention of Q4 nor a path
    ("m4", "Q3", 1, 0.70, "text", "run1"),
    ("m5", "Q1", 1, 0.50, "text", "run1"),
    ("m6", "Q1", 1, 0.60, "text", "run1"),
    ("m7", "Q2", 1, 0.85, "text", "run1"),
    ("m8", "Q1", 1, 0.99, "text", "run1"),  # NIL: not a mention of Q1
]


@pytest.fixture
def env(graph_config, clean_graph) -> dict[str, str]:
    with GraphStore.from_config(graph_config) as graph:
        ensure_schema(graph)
        graph.write("UNWIND $rows AS r CREATE (:Entity {qid: r.qid, label: r.label, kind: r.kind})", rows=ENTITIES)
        for pid, pairs in CLAIMS.items():
            graph.write(CLAIM_QUERIES[pid], pairs=[list(p) for p in pairs], pid=pid)
        docs = {"d1": D1, "d2": D2, "d3": D3}
        graph.write("UNWIND $rows AS r CREATE (:Document {id: r.id, text: r.text, source: r.source})",
                    rows=[{"id": k, "text": v, "source": f"test/{k}"} for k, v in docs.items()])
        graph.write(
            "UNWIND $rows AS r MATCH (d:Document {id: r.doc}) "
            "CREATE (d)-[:HAS_MENTION]->(:Mention {id: r.id, doc_id: r.doc, surface: r.surface, start: r.start, "
            "end: r.end, status: r.status})",
            rows=[{"id": m, "doc": d, "surface": s, "start": span(docs[d], s, n)[0], "end": span(docs[d], s, n)[1],
                   "status": st} for m, d, s, n, st in MENTIONS],
        )
        graph.write(
            "UNWIND $rows AS r MATCH (m:Mention {id: r.m}), (e:Entity {qid: r.e}) "
            "CREATE (m)-[:REFERS_TO {rank: r.rank, score: r.score, method: r.method, run_id: r.run, "
            "models: ['test'], created_at: datetime()}]->(e)",
            rows=[{"m": m, "e": e, "rank": rk, "score": sc, "method": me, "run": ru}
                  for m, e, rk, sc, me, ru in REFERS],
        )
    return {"KG_HOME": str(graph_config.home), "KG_GRAPH_URI": graph_config.graph.uri,
            "KG_GRAPH_USER": graph_config.graph.user, "KG_GRAPH_PASSWORD": graph_config.graph.password.reveal(),
            "KG_GRAPH_DATABASE": graph_config.graph.database}


def kg(env: dict[str, str], *args: str) -> str:
    res = CliRunner().invoke(cli, ["query", *args], env=env)
    assert res.exit_code == 0, (res.output, res.exception)
    return res.output


def kg_json(env: dict[str, str], *args: str):
    return json.loads(kg(env, *args, "--json"))


def kg_error(env: dict[str, str], *args: str) -> InputError:
    res = CliRunner().invoke(cli, ["query", *args], env=env, standalone_mode=False)
    assert isinstance(res.exception, InputError), (res.output, res.exception)
    return res.exception


def test_mentions_by_score_with_marked_snippets(env) -> None:
    res = kg_json(env, "mentions", "Q1")
    assert res["entity"] == {"qid": "Q1", "label": "Alpha"}
    hits = res["mentions"]
    assert [(h["mention_id"], h["doc_id"], h["score"]) for h in hits] == [
        ("m3", "d2", 0.95), ("m1", "d1", 0.92), ("m6", "d3", 0.6), ("m5", "d3", 0.5)]
    m3, m1, m6, _ = hits
    assert m1["method"] == "text+image" and m1["run_id"] == "run2"
    start, end = span(D1, "Alpha")
    assert (m1["start"], m1["end"], m1["surface"]) == (start, end, "Alpha")
    assert m1["snippet"] == "…" + D1[start - 60:start].lstrip() + "[[Alpha]]" + D1[end:end + 60].rstrip() + "…"
    assert m3["snippet"] == "[[Alpha]] and Gamma."
    assert m6["snippet"] == "Beta, Alpha; [[Alpha]] again and Beta. Alfa too."  # whitespace collapsed
    assert [h["mention_id"] for h in kg_json(env, "mentions", "Q1", "--limit", "2")["mentions"]] == ["m3", "m1"]
    text = kg(env, "mentions", "Q1")
    lines = text.splitlines()
    assert lines[0].startswith("Mentions of Alpha (Q1)")
    assert lines[1].split()[:3] == ["SCORE", "DOCUMENT", "SURFACE"]
    assert lines[2].startswith("0.950  d2") and "[[Alpha]] and Gamma." in lines[2]
    assert f"{start}-{end}" in lines[3] and "text+image" in lines[3]
    # A known entity with no mentions (Q4 is only a runner-up candidate): an empty result, not an error.
    assert kg_json(env, "mentions", "Q4")["mentions"] == []
    assert "Delta (Q4) has no linked mentions" in kg(env, "mentions", "Q4")


def test_documents_and_cooccurrence(env) -> None:
    docs = kg_json(env, "documents", "Q1")["documents"]
    assert [(d["doc_id"], d["mentions"], d["best_score"]) for d in docs] == [
        ("d3", 2, 0.6), ("d2", 1, 0.95), ("d1", 1, 0.92)]
    assert docs[0]["source"] == "test/d3"
    lines = kg(env, "documents", "Q1").splitlines()
    assert lines[1].split() == ["DOCUMENT", "MENTIONS", "BEST_SCORE", "SOURCE"]
    assert lines[2].split() == ["d3", "2", "0.600", "test/d3"]
    assert kg_json(env, "documents", "Q5")["documents"] == []
    assert "Epsilon (Q5) is not mentioned" in kg(env, "documents", "Q5")

    co = kg_json(env, "cooccur", "Q1")
    assert co["documents"] == 3
    assert [(e["qid"], e["label"], e["shared_documents"], e["mentions"]) for e in co["entities"]] == [
        ("Q2", "Beta", 2, 2), ("Q3", "Gamma", 1, 1)]  # Q4 was only a runner-up: not co-occurring
    assert [e["qid"] for e in kg_json(env, "cooccur", "Q1", "--top", "1")["entities"]] == ["Q2"]
    assert [(e["qid"], e["shared_documents"]) for e in kg_json(env, "cooccur", "Q3")["entities"]] == [("Q1", 1)]
    lines = kg(env, "cooccur", "Q1").splitlines()
    assert "3 document(s) mentioning Alpha (Q1)" in lines[0]
    assert lines[2].split() == ["Q2", "Beta", "2", "2"]
    assert kg_json(env, "cooccur", "Q6") == {"entity": {"qid": "Q6", "label": "Zeta"}, "documents": 0, "entities": []}
    assert "Zeta (Q6) is not mentioned" in kg(env, "cooccur", "Q6")


def test_path_over_claims_with_property_labels(env) -> None:
    # The linking layer offers a 2-step shortcut (Q1 <-REFERS_TO- m3 -REFERS_TO-> Q4): claims only take 3 hops.
    res = kg_json(env, "path", "Q1", "Q4")
    assert res["found"] and res["max_hops"] == 4
    assert [(h["from_qid"], h["pid"], h["property"], h["to_qid"], h["forward"]) for h in res["hops"]] == [
        ("Q1", "P10", "linked to", "Q2", True), ("Q2", "P20", "part of", "Q3", False),
        ("Q3", "P10", "linked to", "Q4", True)]
    assert kg(env, "path", "Q1", "Q4").splitlines()[1:] == [
        "  Alpha (Q1) -[linked to (P10)]-> Beta (Q2)",
        "  Beta (Q2) <-[part of (P20)]- Gamma (Q3)",
        "  Gamma (Q3) -[linked to (P10)]-> Delta (Q4)",
    ]
    reverse = kg_json(env, "path", "Q5", "Q1")  # direction-agnostic
    assert [h["from_qid"] for h in reverse["hops"]] == ["Q5", "Q4", "Q3", "Q2"]
    assert "Epsilon (Q5) <-[P30]- Delta (Q4)" in kg(env, "path", "Q5", "Q1")  # no property entity: the pid
    assert kg_json(env, "path", "Q1", "Q5", "--max-hops", "3") == {
        "source": {"qid": "Q1", "label": "Alpha"}, "target": {"qid": "Q5", "label": "Epsilon"}, "max_hops": 3,
        "found": False, "hops": []}
    assert "No path between Alpha (Q1) and Zeta (Q6) within 4 hops" in kg(env, "path", "Q1", "Q6")
    assert "no-such" in str(kg_error(env, "path", "Q1", "no-such"))
    bad = CliRunner().invoke(cli, ["query", "path", "Q1", "Q4", "--max-hops", "0"], env=env)
    assert bad.exit_code == 2 and "--max-hops" in bad.output


def test_cypher_read_write_and_errors(env) -> None:
    rows = kg_json(env, "cypher", "MATCH (e:Entity) WHERE e.kind = $kind RETURN e.qid AS qid, e.label AS label "
                   "ORDER BY qid LIMIT $n", "--param", "kind=property", "--param", "n=5")
    assert rows == [{"qid": "P10", "label": "linked to"}, {"qid": "P20", "label": "part of"}]
    one = "MATCH (e:Entity {qid: $q}) RETURN e.qid AS qid, e.label AS label"
    lines = kg(env, "cypher", one, "-p", "q=Q1").splitlines()
    assert lines[0].split() == ["QID", "LABEL"] and lines[1].split() == ["Q1", "Alpha"]
    # A write keyword inside a string literal, a comment or a property name is not a write.
    assert kg_json(env, "cypher", "// CREATE nothing\nRETURN 'CREATE (x)' AS s") == [{"s": "CREATE (x)"}]

    create = "CREATE (t:Scratch {name: $name}) RETURN t.name AS name"
    refused = kg_error(env, "cypher", create, "--param", "name=x")
    assert "CREATE" in str(refused) and "--write" in str(refused)
    assert "DELETE, DETACH" in str(kg_error(env, "cypher", "match (n) detach delete n"))
    count = "MATCH (t:Scratch) RETURN count(t) AS n"
    assert kg_json(env, "cypher", count) == [{"n": 0}]  # never sent
    assert kg_json(env, "cypher", create, "--param", "name=x", "--write") == [{"name": "x"}]
    assert kg_json(env, "cypher", count) == [{"n": 1}]

    bad = kg_error(env, "cypher", "MATCH (n RETURN n")
    assert str(bad).startswith("the graph server rejected the query: ") and len(str(bad)) > 40
    assert "syntax" in str(bad).lower() or "invalid input" in str(bad).lower()
    assert "bad parameter" in str(kg_error(env, "cypher", "RETURN 1", "--param", "novalue"))


def test_the_kg_entry_point_prints_errors_without_a_traceback(env, monkeypatch, capsys) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for args, message in ((["cypher", "MATCH (n RETURN n"], "error: the graph server rejected the query: "),
                          (["mentions", "Q999999"], "error: unknown entity 'Q999999'")):
        monkeypatch.setattr(sys, "argv", ["kg", "query", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and "Traceback" not in err


def test_unknown_entities_are_clear_errors(env) -> None:
    for args in (["mentions", "Q999999"], ["documents", "Q999999"], ["cooccur", "Q999999"], ["path", "Q999999", "Q1"]):
        err = kg_error(env, *args)
        assert "unknown entity 'Q999999': it is not in the graph" in str(err)


def test_helpers_without_a_server() -> None:
    assert write_clauses("MATCH (n) WHERE n.name = 'SET' RETURN n.set, $create") == []
    assert write_clauses("match (n) detach delete n") == ["DELETE", "DETACH"]
    assert write_clauses("MATCH (n) CALL { WITH n SET n.x = 1 } IN  TRANSACTIONS") == ["IN TRANSACTIONS", "SET"]
    assert write_clauses("LOAD CSV FROM 'file:///x' AS row RETURN row") == ["LOAD CSV"]
    assert write_clauses("/* MERGE */ MATCH (`create`) RETURN \"REMOVE\"") == []
    assert write_clauses("MATCH (n) REMOVE n:X") == ["REMOVE"]
    assert write_clauses("DROP INDEX x") == ["DROP"]
    assert parse_params(["a=1", "b=x y", "c=[1, \"2\"]", "d={\"k\": true}", "e=", "f=a=b"]) == {
        "a": 1, "b": "x y", "c": [1, "2"], "d": {"k": True}, "e": "", "f": "a=b"}
    with pytest.raises(InputError):
        parse_params(["1x=2"])
    assert mark_snippet("abc Alpha def", 4, 9) == "abc [[Alpha]] def"
    assert mark_snippet("x" * 100 + "Alpha" + "y" * 100, 100, 105, width=3) == "…xxx[[Alpha]]yyy…"
    assert mark_snippet("short", 3, 99) is None and mark_snippet(None, 0, 1) is None
