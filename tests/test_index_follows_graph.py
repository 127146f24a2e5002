"""The index follows the graph (issue 27): after entities are deleted or edited in the graph, `kg index` deletes
and refreshes their points, `kg link` counts only the links it wrote, `kg status` tells stubs from entities, and
linking against an empty KB says so. All through the CLI, on the real test servers, with the real MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from index_helpers import cli_env

from kg.cli.main import cli
from kg.kgstore.config import Config
from kg.kgstore.graph import GraphStore
from kg.kgstore.model import point_id
from kg.kgstore.vectors import VectorStore

KB = [
    {"qid": "Q2263", "label": "Tom Hanks", "description": "American actor and filmmaker", "sitelinks": 120,
     "relations": [{"pid": "P19", "target": "Q49218"}]},  # born in Concord, California: not in the KB, a stub
    {"qid": "Q42", "label": "Douglas Adams", "description": "English writer and humorist", "sitelinks": 107},
    {"qid": "Q1339", "label": "Johann Sebastian Bach", "description": "German composer", "sitelinks": 200},
]
TEXT = "Tom Hanks read Douglas Adams while Johann Sebastian Bach played."


@pytest.fixture
def kb(graph_config: Config, clean_graph, tmp_path: Path):
    """The three entities ingested and indexed through the CLI; yields (env, graph, vectors)."""
    env = cli_env(graph_config)
    path = tmp_path / "kb.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in KB), encoding="utf-8")
    runner = CliRunner()
    for args in (["ingest", str(path)], ["index"]):
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
    graph, vectors = GraphStore.from_config(graph_config), VectorStore.from_config(graph_config)
    yield env, graph, vectors
    vectors.delete_collection(graph_config.qdrant.collection)
    graph.close()
    vectors.close()


def _kg(env: dict[str, str], *args: str) -> dict | list:
    result = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _corpus(tmp_path: Path) -> Path:
    spans = [(TEXT.index(name), TEXT.index(name) + len(name))
             for name in ("Tom Hanks", "Douglas Adams", "Johann Sebastian Bach")]
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps({"id": "d1", "text": TEXT, "mentions": [{"start": s, "end": e} for s, e in spans]})
                    + "\n", encoding="utf-8")
    return path


def _edges(graph: GraphStore) -> int:
    return graph.count("MATCH (:Mention)-[r:REFERS_TO]->(:Entity) RETURN count(r) AS n")


def test_index_deletes_and_refreshes_then_search_link_and_status_agree(kb, graph_config: Config,
                                                                       tmp_path: Path) -> None:
    env, graph, vectors = kb
    collection = graph_config.qdrant.collection
    assert _kg(env, "search", "Tom Hanks")[0]["qid"] == "Q2263"
    _kg(env, "query", "cypher", "--write", "MATCH (e:Entity {qid: 'Q2263'}) DETACH DELETE e")
    _kg(env, "query", "cypher", "--write", "MATCH (e:Entity {qid: 'Q42'}) SET e.description = 'author of the Guide'")

    summary = _kg(env, "index", "--page-size", "1")  # pages of one: the deleted point is met mid-walk
    assert "Q2263" not in [h["qid"] for h in _kg(env, "search", "Tom Hanks")]
    assert vectors.retrieve(collection, [point_id("Q2263")]) == []
    (q42,) = vectors.retrieve(collection, [point_id("Q42")])
    assert q42.payload["description"] == "author of the Guide"
    assert _kg(env, "search", "Douglas Adams")[0]["payload"]["description"] == "author of the Guide"
    assert summary["deleted"] == 1 and summary["indexes"]["text"]["encoded"] == 1
    again = _kg(env, "index")
    assert again["deleted"] == 0 and sum(i["encoded"] for i in again["indexes"].values()) == 0  # nothing stale is left: a rerun changes nothing

    linked = _kg(env, "link", str(_corpus(tmp_path)))
    assert linked["linked"] == _edges(graph) and linked["linked"] + linked["nil"] == linked["mentions"] == 3
    assert linked["missing_entity"] == 0  # the index offered no entity the graph lacks

    status = _kg(env, "status")["counts"]
    assert (status["entities"], status["stubs"], status["vectors"]) == (2, 1, 2)


def test_link_counts_only_the_links_it_wrote(kb, tmp_path: Path) -> None:
    """A stale index still offers an entity deleted from the graph: no edge can point at it, so it is no link."""
    env, graph, _ = kb
    _kg(env, "query", "cypher", "--write", "MATCH (e:Entity {qid: 'Q2263'}) DETACH DELETE e")
    out = tmp_path / "out.jsonl"
    summary = _kg(env, "link", str(_corpus(tmp_path)), "--out", str(out))
    assert summary["linked"] == _edges(graph) == 2
    assert summary["missing_entity"] == 1 and summary["mentions"] == 3
    rows = graph.read("MATCH (m:Mention) OPTIONAL MATCH (m)-[r:REFERS_TO]->() "
                      "RETURN m.surface AS surface, m.status AS status, m.missing_qid AS missing, count(r) AS edges "
                      "ORDER BY surface")
    assert [(r["surface"], r["status"], r["missing"], r["edges"]) for r in rows] == [
        ("Douglas Adams", "linked", None, 1), ("Johann Sebastian Bach", "linked", None, 1),
        ("Tom Hanks", "NIL", "Q2263", 0)]  # unlinked, and which entity the stale index offered
    hanks = next(json.loads(line) for line in out.read_text().splitlines() if "Tom Hanks" in line)
    assert hanks["qid"] == "NIL"  # what the graph holds, not what the stale index offered


def test_status_counts_stubs_apart_from_entities(kb) -> None:
    env, _, _ = kb
    counts = _kg(env, "status")["counts"]
    assert (counts["entities"], counts["stubs"], counts["vectors"]) == (3, 1, 3)
    shown = CliRunner().invoke(cli, ["status"], env=env).output
    assert "stubs" in shown and "claim targets not ingested" in shown


@pytest.mark.parametrize("command", ["link", "eval"])
def test_linking_against_an_empty_kb_fails_with_a_message(command: str, graph_config: Config, clean_graph,
                                                         tmp_path: Path) -> None:
    env = cli_env(graph_config)
    indexed = CliRunner().invoke(cli, ["index"], env=env)  # an empty graph indexes into an empty collection
    assert indexed.exit_code == 0, indexed.output
    args = ["link", str(_corpus(tmp_path))] if command == "link" else ["eval", str(_corpus_with_gold(tmp_path))]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code != 0
    assert "nothing ingested: run kg ingest first" in str(result.exception)


def _corpus_with_gold(tmp_path: Path) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"id": "g1", "text": TEXT, "mentions": [{"start": 0, "end": 9, "gold": "Q2263"}]})
                    + "\n", encoding="utf-8")
    return path
