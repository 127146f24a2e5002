"""`kg ingest` end to end against the real graph server, on the real Wikidata fixtures."""

import bz2
import json
from pathlib import Path

from click.testing import CliRunner

from kg.cli.main import cli
from kg.indexers.ingest import IngestOptions, ingest
from kg.indexers.sources import iter_raw, parse_batch
from kg.kgstore.entity_writes import HASH_QUERY, prepare, write_entities
from kg.kgstore.graph import GraphStore
from kg.kgstore.migrate import ensure_schema
from kg.kgstore.model import EntityRecord

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WD = DATA / "wikidata"


def snapshot(graph: GraphStore) -> tuple[list, list]:
    """Everything ingest writes, in a comparable form."""
    nodes = graph.read(
        "MATCH (e:Entity) RETURN e.qid AS qid, e.label AS label, e.aliases AS aliases, e.hash AS hash, "
        "e.stub AS stub, e.attributes_json AS attrs ORDER BY qid"
    )
    rels = graph.read("MATCH (a:Entity)-[r]->(b:Entity) RETURN a.qid AS s, type(r) AS t, r.pid AS pid, b.qid AS o")
    return nodes, sorted((r["s"], r["t"], r["pid"], r["o"]) for r in rels)


def entity_count(graph: GraphStore) -> int:
    return graph.count("MATCH (e:Entity) WHERE e.stub = false RETURN count(e)")


def test_q42_has_exactly_what_its_json_holds(graph: GraphStore) -> None:
    doc = json.loads((WD / "wd_Q42.json").read_text())
    summary = ingest(graph, WD / "wd_Q42.json", IngestOptions(workers=1))
    assert summary.status == "ok" and summary.entities == 1
    [e] = graph.read("MATCH (e:Entity {qid: 'Q42'}) RETURN e {.*} AS e")
    e = e["e"]
    assert e["label"] == doc["labels"]["en"]["value"] == "Douglas Adams"
    assert e["description"] == doc["descriptions"]["en"]["value"]
    assert set(e["aliases"]) >= {a["value"] for a in doc["aliases"]["en"]}
    assert e["sitelinks"] == len(doc["sitelinks"])
    assert e["wikipedia_title"] == doc["sitelinks"]["enwiki"]["title"]
    p18 = [c["mainsnak"]["datavalue"]["value"] for c in doc["claims"]["P18"]]
    assert e["images"][: len(p18)] == p18
    expected = {
        (pid, c["mainsnak"]["datavalue"]["value"]["id"])
        for pid, claims in doc["claims"].items()
        for c in claims
        if c["mainsnak"]["snaktype"] == "value" and c["mainsnak"]["datatype"] in ("wikibase-item", "wikibase-property")
    }
    got = graph.read("MATCH (:Entity {qid: 'Q42'})-[r]->(b:Entity) RETURN type(r) AS t, r.pid AS pid, b.qid AS o")
    assert {(r["pid"], r["o"]) for r in got} == expected
    assert all(r["t"] == r["pid"] for r in got)
    assert ("P31", "Q5") in expected
    attrs = json.loads(e["attributes_json"])
    assert attrs["P569"] == ["1952-03-11"]  # date of birth, a literal claim


def test_sample_dump_stream_and_lexeme(graph: GraphStore) -> None:
    s = ingest(graph, WD / "sample_wikidata_items.json.bz2", IngestOptions(workers=2))
    assert (s.entities, s.errors, s.status) == (100, 0, "ok")
    assert entity_count(graph) == 100
    s = ingest(graph, WD / "short_stream.json.bz2", IngestOptions(workers=2))
    ids = {json.loads(line.rstrip(",\n"))["id"] for line in bz2.open(WD / "short_stream.json.bz2", "rt") if line.strip()}
    assert s.lines_read == 635 and s.errors == 0
    assert graph.count("MATCH (e:Entity) WHERE e.stub = false AND e.qid IN $ids RETURN count(e)", ids=sorted(ids)) == len(ids)
    s = ingest(graph, WD / "wd_L3354.json", IngestOptions(workers=1))
    assert (s.skipped, s.entities, s.status) == (1, 0, "ok")


def test_reingest_changes_nothing_and_newer_dump_updates(graph: GraphStore, tmp_path: Path) -> None:
    path = WD / "sample_wikidata_items.json.bz2"
    ingest(graph, path, IngestOptions(workers=1))
    before = snapshot(graph)
    again = ingest(graph, path, IngestOptions(workers=1))
    assert (again.entities, again.unchanged) == (0, 100)
    assert snapshot(graph) == before

    lines = bz2.open(path, "rt").read().splitlines()
    doc = json.loads(lines[1].rstrip(","))
    qid = doc["id"]
    doc["labels"]["en"]["value"] = "Renamed entity"
    dropped = sorted(doc["claims"])[0]
    del doc["claims"][dropped]
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(doc))
    s = ingest(graph, newer, IngestOptions(workers=1))
    assert s.entities == 1
    assert graph.read("MATCH (e:Entity {qid: $q}) RETURN e.label AS l", q=qid) == [{"l": "Renamed entity"}]
    left = graph.read("MATCH (:Entity {qid: $q})-[r]->() WHERE r.pid = $p RETURN count(r) AS n", q=qid, p=dropped)
    assert left == [{"n": 0}]


class AnotherWriterCommitsAfterTheLookup(GraphStore):
    """In the first attempt, another writer commits some of the batch's entities and claim targets (as stubs)
    between the batch's hash lookup and its CREATEs."""

    attempts = 0
    racing_qids: list[str] = []

    def write_fn(self, fn):
        store = self

        class Tx:
            def __init__(self, tx):
                self.tx = tx

            def run(self, query, **params):
                result = self.tx.run(query, **params)
                if query != HASH_QUERY or store.attempts > 1:
                    return result
                row = result.single(strict=True)
                store.other.write("UNWIND $qids AS q CREATE (:Entity {qid: q, stub: true})", qids=store.racing_qids)
                return type("Done", (), {"single": lambda self, strict=False: row})()

        def attempt(tx):
            store.attempts += 1
            return fn(Tx(tx))

        return super().write_fn(attempt)


def test_entities_another_writer_created_meanwhile_are_updated_not_duplicated(graph: GraphStore, graph_config) -> None:
    path = WD / "sample_wikidata_items.json.bz2"
    ingest(graph, path, IngestOptions(workers=1))
    clean = snapshot(graph)
    graph.write("MATCH (n) DETACH DELETE n")
    entities = [prepare(item) for _, item in parse_batch("wikidata-dump", list(iter_raw(path, "wikidata-dump")))
                if isinstance(item, EntityRecord)]
    racing = AnotherWriterCommitsAfterTheLookup.from_config(graph_config)
    racing.other = graph
    racing.racing_qids = [entities[0].qid, entities[1].qid, entities[0].claims[0][1]]
    try:
        result = write_entities(racing, entities, source=path.name)
    finally:
        racing.close()
    assert racing.attempts >= 2  # the first attempt failed on the unique qid and was retried
    assert (result.written, result.relationships) == (100, len(clean[1]))
    assert snapshot(graph) == clean


def test_corrupted_lines_are_recorded_and_good_entities_land(graph: GraphStore, tmp_path: Path) -> None:
    lines = bz2.open(WD / "sample_wikidata_items.json.bz2", "rt").read().splitlines()
    bad_lines = {5: lines[5][: len(lines[5]) // 2], 17: "{not json at all,", 40: '{"type": "item"},'}
    for i, text in bad_lines.items():
        lines[i] = text
    corrupt = tmp_path / "corrupt.json.bz2"
    corrupt.write_bytes(bz2.compress("\n".join(lines).encode()))
    errors = tmp_path / "errors.jsonl"
    s = ingest(graph, corrupt, IngestOptions(workers=1, errors_path=errors))
    assert s.status == "partial" and s.errors == 3 and s.entities == 97
    recorded = [json.loads(x) for x in errors.read_text().splitlines()]
    assert sorted(r["line"] for r in recorded) == [i + 1 for i in sorted(bad_lines)]
    assert all(r["reason"] for r in recorded)
    assert entity_count(graph) == 97


def test_truncated_file_then_resume_equals_clean_run(graph: GraphStore, graph_config, tmp_path: Path) -> None:
    full = (WD / "sample_wikidata_items.json.bz2").read_bytes()
    ingest(graph, WD / "sample_wikidata_items.json.bz2", IngestOptions(workers=1))
    clean = snapshot(graph)
    graph.write("MATCH (n) DETACH DELETE n")
    ensure_schema(graph)

    dump = tmp_path / "latest-all.json.bz2"
    dump.write_bytes(full[: len(full) * 6 // 10])
    s = ingest(graph, dump, IngestOptions(workers=1, batch_size=10))
    assert s.status == "failed" and "truncated" in s.fatal and "--resume" in s.fatal
    assert 0 < s.last_committed_line < 101
    assert entity_count(graph) > 0

    dump.write_bytes(full)  # the download completes
    r = ingest(graph, dump, IngestOptions(workers=1, resume=True, batch_size=10))
    assert r.status == "ok" and r.resumed_from_line == s.last_committed_line
    assert r.lines_read < 100
    assert snapshot(graph) == clean


def test_cli_exit_codes_and_messages(graph_config, clean_graph, tmp_path: Path) -> None:
    env = {"KG_HOME": str(graph_config.home), "KG_GRAPH_URI": graph_config.graph.uri,
           "KG_GRAPH_USER": graph_config.graph.user, "KG_GRAPH_PASSWORD": graph_config.graph.password.reveal(),
           "KG_GRAPH_DATABASE": graph_config.graph.database}
    runner = CliRunner()
    ok = runner.invoke(cli, ["ingest", str(WD / "wd_Q42.json"), "--json"], env=env)
    assert ok.exit_code == 0, ok.output
    one = json.loads(ok.stdout)
    assert one["entities"] == 1 and [f["entities"] for f in one["files"]] == [1]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"qid": "Q1", "label": "universe"}) + "\n{oops\n")
    partial = runner.invoke(cli, ["ingest", str(bad), "--format", "custom-jsonl"], env=env)
    assert partial.exit_code == 3 and "bad lines recorded in" in partial.output
    missing = runner.invoke(cli, ["ingest", str(tmp_path / "nope.json")], env=env, standalone_mode=False)
    assert missing.exit_code != 0 and "nope.json" in str(missing.exception)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    res = runner.invoke(cli, ["ingest", str(empty)], env=env, standalone_mode=False)
    assert "empty" in str(res.exception)


def test_custom_entities_and_wikimel_kb_through_the_same_path(graph: GraphStore, tmp_path: Path) -> None:
    custom = tmp_path / "mine.jsonl"
    custom.write_text("\n".join(json.dumps(r) for r in [
        {"id": "acme:widget", "label": "Acme Widget", "aliases": ["the widget"], "description": "a product",
         "relations": [{"pid": "P176", "target": "acme:corp"}]},
        {"id": "acme:corp", "label": "Acme Corporation", "attributes": {"founded": 1947}},
    ]) + "\n")
    s = ingest(graph, custom, IngestOptions(workers=1))
    assert (s.format, s.entities) == ("custom-jsonl", 2)
    assert graph.read("MATCH (:Entity {qid:'acme:widget'})-[r:P176]->(b) RETURN b.label AS l") == [{"l": "Acme Corporation"}]
    s = ingest(graph, DATA / "mel" / "wikimel", IngestOptions(workers=2, limit=500))
    assert s.format == "wikimel-kb" and s.entities == 500


def test_query_entity_reads_attributes_with_property_labels(graph_config, clean_graph) -> None:
    env = {"KG_HOME": str(graph_config.home), "KG_GRAPH_URI": graph_config.graph.uri,
           "KG_GRAPH_USER": graph_config.graph.user, "KG_GRAPH_PASSWORD": graph_config.graph.password.reveal(),
           "KG_GRAPH_DATABASE": graph_config.graph.database}
    runner = CliRunner()
    table = DATA / "mel" / "wikidiverse" / "PID2Label.tsv"
    res = runner.invoke(cli, ["ingest", str(WD / "wd_Q42.json"), str(table), "--json"], env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)  # one object for any number of files: totals, then each file
    assert [s["format"] for s in data["files"]] == ["wikidata-entity", "property-labels"]
    assert data["entities"] == sum(s["entities"] for s in data["files"]) and data["status"] == "ok"
    card = json.loads(runner.invoke(cli, ["query", "entity", "Q42", "--json"], env=env).stdout)
    assert card["label"] == "Douglas Adams" and card["sitelinks"] == 107
    attrs = {a["key"]: a for a in card["attributes"]}
    assert attrs["P1477"]["property"] == "birth name" and attrs["P1477"]["values"] == ["Douglas Noel Adams"]
    rels = {(r["pid"], r["target"]): r for r in card["relations"]}
    assert rels[("P31", "Q5")]["property"] == "instance of"
    text = runner.invoke(cli, ["query", "entity", "Q42"], env=env).output
    assert "birth name (P1477): Douglas Noel Adams" in text
    unknown = runner.invoke(cli, ["query", "entity", "Q999999999"], env=env, standalone_mode=False)
    assert "unknown entity 'Q999999999'" in str(unknown.exception)


def test_a_kb_format_registered_in_one_file_is_detected_and_ingested(graph_config, clean_graph, tmp_path: Path
                                                                     ) -> None:
    import toy_kb_format  # noqa: F401 - registers `toy-pipe`, a format that is this one file

    from kg.kgstore.graph import GraphStore

    kb = tmp_path / "toy.txt"
    kb.write_text("Q901|Toy One|a first toy\nQ902|Toy Two\nnot a toy line\n")
    runner = CliRunner()
    assert "toy-pipe" in runner.invoke(cli, ["ingest", "--help"]).output
    env = {"KG_HOME": str(graph_config.home), "KG_GRAPH_URI": graph_config.graph.uri,
           "KG_GRAPH_USER": graph_config.graph.user, "KG_GRAPH_PASSWORD": graph_config.graph.password.reveal(),
           "KG_GRAPH_DATABASE": graph_config.graph.database}
    res = runner.invoke(cli, ["ingest", str(kb), "--json", "--errors", str(tmp_path / "errors.jsonl")], env=env)
    assert res.exit_code == 3, res.output  # the third line is bad
    (summary,) = json.loads(res.stdout)["files"]
    assert summary["format"] == "toy-pipe" and summary["entities"] == 2 and summary["errors"] == 1
    with GraphStore.from_config(graph_config) as g:
        rows = g.read("MATCH (e:Entity) WHERE e.qid IN ['Q901', 'Q902'] RETURN e.qid AS qid, e.label AS label, "
                      "e.description AS d ORDER BY qid")
    assert rows == [{"qid": "Q901", "label": "Toy One", "d": "a first toy"},
                    {"qid": "Q902", "label": "Toy Two", "d": None}]
