"""`--engine ray` on a local Ray (2 CPUs, one session for the module) against the real test servers, on the shipped
3,000-entity sample KB: the same links and vectors as the local engine, nothing duplicated when a batch runs again,
and the refusals (embedded stores, Ray missing, options without --engine ray)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from index_helpers import cli_env, server_config

from kg.cli.main import cli
from kg.kgstore.config import load_config
from kg.kgstore.errors import ConfigError
from kg.ray_engine import RayOptions, import_ray, require_servers

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_KB = ROOT / "samples" / "kb" / "fb15k-sample.jsonl.gz"
NEWS = ROOT / "samples" / "corpus" / "news.jsonl"
COUNTS = ("MATCH (d:Document) WITH count(d) AS docs MATCH (m:Mention) WITH docs, count(m) AS mentions "
          "MATCH (:Mention)-[r:REFERS_TO]->() RETURN docs, mentions, count(r) AS links")


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    """One local Ray for the module (its start-up costs about 10 s); the engine uses it rather than its own."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def kb(servers, graph_driver, tmp_path_factory):
    """The sample KB ingested and indexed (text and names) by the local engine; the CLI's environment."""
    graph_driver.execute_query("MATCH (n) DETACH DELETE n", database_=servers.graph_database)
    env = cli_env(server_config(servers, tmp_path_factory.mktemp("ray_kb") / "home", "t_ray_"))
    for args in (["ingest", str(SAMPLE_KB), "--workers", "1"], ["index", "--text", "--names"]):
        _kg(env, *args)
    return env


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The sample news (given spans) and two documents whose mentions the detector finds, in the workers too."""
    path = tmp_path_factory.mktemp("ray_corpus") / "news.jsonl"
    detect = [{"id": "d1", "text": "Germany and France signed the agreement in Paris."},
              {"id": "d2", "text": "Tom Hanks met Steven Spielberg in Berlin."}]
    path.write_text(NEWS.read_text() + "".join(json.dumps(d) + "\n" for d in detect))
    return path


def _kg(env: dict[str, str], *args: str) -> dict:
    res = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _links(path: Path) -> list[tuple]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [(r["doc_id"], r["start"], r["end"], r["qid"], round(r["score"], 4) if r["score"] is not None else None)
            for r in rows]


def _graph_counts(servers, graph_driver) -> dict:
    records, _, _ = graph_driver.execute_query(COUNTS, database_=servers.graph_database)
    return dict(records[0])


def test_an_address_where_no_ray_runs_is_named(kb, corpus) -> None:
    # first in the module: the module's own Ray session (which the engine would use) is not started yet
    res = CliRunner().invoke(cli, ["link", str(corpus), "--engine", "ray", "--address", "auto"], env=kb)
    assert isinstance(res.exception, ConfigError), res.output
    assert "--address auto: no Ray cluster answers there" in str(res.exception)


def test_link_on_ray_writes_the_links_of_the_local_engine_and_nothing_twice(servers, graph_driver, ray_session, kb,
                                                                            corpus, tmp_path: Path) -> None:
    local = _kg(kb, "link", str(corpus), "--out", str(tmp_path / "local.jsonl"))
    after_local = _graph_counts(servers, graph_driver)
    assert after_local["docs"] == 10 and after_local["links"] > 20, after_local

    on_ray = _kg(kb, "link", str(corpus), "--engine", "ray", "--out", str(tmp_path / "ray.jsonl"))
    assert on_ray["engine"] == "ray" and on_ray["run_id"] == local["run_id"]
    for key in ("documents", "mentions", "linked", "nil", "bad_lines"):
        assert on_ray[key] == local[key], (key, on_ray, local)
    assert _links(tmp_path / "ray.jsonl") == _links(tmp_path / "local.jsonl")
    assert {"d1", "d2"} <= {doc for doc, *_ in _links(tmp_path / "ray.jsonl")}  # detected in the actors
    # the same mention ids and run: Ray's write-back merged onto the local engine's, a second Ray run (every batch
    # retried) too
    assert _graph_counts(servers, graph_driver) == after_local
    again = _kg(kb, "link", str(corpus), "--engine", "ray", "--ray-workers", "1")
    assert again["mentions"] == local["mentions"]
    assert _graph_counts(servers, graph_driver) == after_local

    resumed = _kg(kb, "link", str(corpus), "--engine", "ray", "--resume")
    assert resumed["already_linked"] == 10 and resumed["documents"] == 0, resumed


def _points(servers, collection: str) -> dict:
    from qdrant_client import QdrantClient

    client = QdrantClient(url=servers.qdrant_url)
    points, _ = client.scroll(collection, limit=10_000, with_payload=True, with_vectors=True)
    client.close()
    return {p.id: p for p in points}


def test_index_on_ray_writes_the_vectors_of_the_local_engine_once(servers, ray_session, kb) -> None:
    env = {**kb, "KG_COLLECTION": kb["KG_COLLECTION"] + "_ray"}
    summary = _kg(env, "index", "--text", "--names", "--engine", "ray", "--page-size", "500")
    assert summary["entities"] == 3000 and summary["pages"] == 6
    assert summary["indexes"]["text"]["encoded"] + summary["indexes"]["text"]["skipped"].get(
        "no label or description", 0) == 3000, summary
    local, on_ray = _points(servers, kb["KG_COLLECTION"]), _points(servers, env["KG_COLLECTION"])
    assert on_ray.keys() == local.keys() and len(local) == 3000
    for pid, point in local.items():
        other = on_ray[pid]
        assert other.payload == point.payload, pid
        assert other.vector["names"] == point.vector["names"], pid
        assert np.allclose(other.vector["text"], point.vector["text"], atol=1e-4), pid

    again = _kg(env, "index", "--text", "--names", "--engine", "ray")  # every page done again: nothing changes
    assert (again["indexes"]["text"]["encoded"], again["indexes"]["names"]["encoded"]) == (0, 0), again
    assert again["indexes"]["text"]["unchanged"] == summary["indexes"]["text"]["encoded"]
    assert len(_points(servers, env["KG_COLLECTION"])) == 3000


def _entities(servers, graph_driver) -> tuple[dict, int]:
    records, _, _ = graph_driver.execute_query("MATCH (e:Entity) RETURN e.qid AS qid, e.hash AS hash",
                                               database_=servers.graph_database)
    rels, _, _ = graph_driver.execute_query("MATCH (:Entity)-[r]->(:Entity) RETURN count(r) AS n",
                                            database_=servers.graph_database)
    return {r["qid"]: r["hash"] for r in records}, rels[0]["n"]


def test_ray_tasks_parse_the_chunks_of_the_local_parser(ray_session) -> None:
    from kg.indexers.ingest import IngestOptions, _parsed_chunks
    from kg.indexers.sources import detect_format, iter_raw
    from kg.ray_engine.ingest import parsed_chunks_on_ray

    fmt, opts = detect_format(SAMPLE_KB), IngestOptions(workers=1)
    on_ray = list(parsed_chunks_on_ray(RayOptions(workers=2))(fmt, iter_raw(SAMPLE_KB, fmt), opts))
    local = list(_parsed_chunks(fmt, iter_raw(SAMPLE_KB, fmt), opts))
    assert len(on_ray) == 15 and on_ray == local  # 3,000 lines in chunks of 200, in file order


def test_ingest_on_ray_writes_the_graph_of_the_local_engine(servers, graph_driver, ray_session, kb) -> None:
    # last of the tests on the sample: the graph the local engine ingested is compared, then replaced
    local, local_rels = _entities(servers, graph_driver)
    assert len(local) >= 3000 and local_rels > 0
    graph_driver.execute_query("MATCH (n) DETACH DELETE n", database_=servers.graph_database)
    summary = _kg(kb, "ingest", str(SAMPLE_KB), "--engine", "ray", "--batch-size", "500")
    assert summary["entities"] == 3000 and summary["errors"] == 0, summary
    assert _entities(servers, graph_driver) == (local, local_rels)  # the same entities, stubs, hashes, relationships
    again = _kg(kb, "ingest", str(SAMPLE_KB), "--engine", "ray")
    assert (again["entities"], again["unchanged"]) == (0, 3000), again
    assert _entities(servers, graph_driver) == (local, local_rels)


def test_ray_refuses_the_embedded_stores_saying_what_to_configure(tmp_path: Path) -> None:
    cfg = load_config({"home": tmp_path / "home"}, env={})
    with pytest.raises(ConfigError) as err:
        require_servers(cfg)
    assert "KG_GRAPH_URI" in str(err.value) and "KG_QDRANT_URL" in str(err.value)
    for args in (["link", str(NEWS)], ["index"]):
        res = CliRunner().invoke(cli, [*args, "--engine", "ray"], env={"KG_HOME": str(tmp_path / "home")})
        assert isinstance(res.exception, ConfigError) and "cannot share the embedded stores" in str(res.exception)
    assert not list((tmp_path / "home").rglob("*"))  # refused before any store was opened or started


def test_ray_options_need_the_ray_engine(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["link", str(NEWS), "--address", "auto"], env={"KG_HOME": str(tmp_path / "home")})
    assert res.exit_code == 2 and "add --engine ray" in res.output, res.output
    assert RayOptions().address is None  # the default runs a local Ray, never someone's cluster


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where the extra is not installed
    with pytest.raises(ConfigError) as err:
        import_ray()
    assert 'pip install "kg[ray]"' in str(err.value)
