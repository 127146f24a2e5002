"""`kg export neo4j-bulk` against `kg ingest` of the same dumps into the real graph server: the files must hold
the same entities, properties, content hashes, stubs and relationships, and a graph loaded from them must let a
later `kg ingest` skip what did not change."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kg.cli.main import cli
from kg.indexers.bulk_export import ARRAY_DELIMITER, NODE_HEADER, REL_HEADER, _Ids
from kg.indexers.ingest import IngestOptions, ingest
from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore, validate_rel_type
from kg.kgstore.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "kb" / "fb15k-sample.jsonl.gz"  # what the README's first command ingests
WD = ROOT.parent / "shared" / "data" / "wikidata"
WD_DUMP = WD / "sample_wikidata_items.json.bz2"  # a real dump excerpt, with stubs
REPEATS = WD / "short_stream.json.bz2"  # 634 lines, 574 items: 39 come in several versions (the bench dumps' source)


def csv_rows(text: str) -> list[list[str | None]]:
    """RFC 4180 as neo4j-admin reads it: a quoted field is a string (even ""), an unquoted empty one is null."""
    rows: list[list[str | None]] = []
    row: list[str | None] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            j, parts = i + 1, []
            while True:
                k = text.index('"', j)
                parts.append(text[j:k])
                if text[k + 1:k + 2] == '"':
                    parts.append('"')
                    j = k + 2
                else:
                    break
            row.append("".join(parts))
            i = k + 1
        else:
            k = min((p for p in (text.find(",", i), text.find("\n", i)) if p >= 0), default=n)
            row.append(text[i:k] or None)
            i = k
        if i < n and text[i] == "\n":
            rows.append(row)
            row = []
        i += 1
    return rows


def typed(header: list[str], row: list[str | None]) -> dict[str, Any]:
    """A CSV row as the properties neo4j-admin stores: typed, nulls absent."""
    out: dict[str, Any] = {}
    for column, value in zip(header, row, strict=True):
        name, _, kind = column.partition(":")
        if value is None or not name:
            continue
        if kind.endswith("[]"):
            out[name] = value.split(ARRAY_DELIMITER)
        elif kind == "long":
            out[name] = int(value)
        elif kind == "boolean":
            out[name] = value == "true"
        else:
            out[name] = value
    return out


def read_export(out: Path) -> tuple[dict[str, dict], list[tuple], list[str]]:
    """(qid -> node properties, sorted (start, type, pid, end), stub qids) from the exported files."""
    node_header = (out / "entities.header.csv").read_text().strip().split(",")
    rel_header = (out / "relationships.header.csv").read_text().strip().split(",")
    assert node_header == NODE_HEADER and rel_header == REL_HEADER
    assert node_header[:2] == ["qid:ID(Entity)", ":LABEL"] and "aliases:string[]" in node_header
    assert rel_header[:3] == [":START_ID(Entity)", ":END_ID(Entity)", ":TYPE"]
    nodes: dict[str, dict] = {}
    stubs = []
    for name in ("entities.csv.gz", "stubs.csv.gz"):
        for row in csv_rows(gzip.open(out / name, "rt", encoding="utf-8").read()):
            assert row[1] == "Entity"  # the :LABEL column
            props = typed(node_header, row)
            assert props["qid"] not in nodes, "one row per entity"
            nodes[props["qid"]] = props
            if name == "stubs.csv.gz":
                stubs.append(props["qid"])
    rels = sorted((r[0], r[2], r[3], r[1]) for r in csv_rows(gzip.open(out / "relationships.csv.gz", "rt").read()))
    return nodes, rels, stubs


def graph_state(graph: GraphStore) -> tuple[dict[str, dict], list[tuple]]:
    """What `kg ingest` stored, as the export would write it (neo4j-admin stores no empty list: absent)."""
    nodes = {}
    for r in graph.read("MATCH (e:Entity) RETURN e {.*} AS e"):
        props = {k: v for k, v in r["e"].items() if v != []}
        nodes[props["qid"]] = props
    rels = graph.read("MATCH (a:Entity)-[r]->(b:Entity) RETURN a.qid AS s, type(r) AS t, r.pid AS pid, b.qid AS o")
    return nodes, sorted((r["s"], r["t"], r["pid"], r["o"]) for r in rels)


def export(tmp_path: Path, *dumps: Path) -> tuple[Path, dict]:
    out = tmp_path / "bulk"
    result = CliRunner().invoke(cli, ["export", "neo4j-bulk", *map(str, dumps), "--out", str(out), "--json",
                                      "--workers", "1"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.output)


@pytest.mark.parametrize("dump", [SAMPLE, WD_DUMP, REPEATS], ids=["sample-kb", "wikidata-dump", "repeated-items"])
def test_export_matches_ingest(graph: GraphStore, tmp_path: Path, dump: Path) -> None:
    out, summary = export(tmp_path, dump)
    nodes, rels, stubs = read_export(out)
    ingested = ingest(graph, dump, IngestOptions(workers=1, errors_path=tmp_path / "errors.jsonl"))
    assert ingested.status == "ok" and summary["status"] == "ok"
    graph_nodes, graph_rels = graph_state(graph)

    assert summary["entities"] == ingested.entities == len(nodes) - len(stubs)
    assert summary["relationships"] == ingested.relationships == len(rels) == len(graph_rels)
    assert set(nodes) == set(graph_nodes)  # the same entity QIDs, stubs included
    assert rels == graph_rels  # the same relationships: (start, type, pid, end)
    assert {q: p.get("hash") for q, p in nodes.items()} == {q: p.get("hash") for q, p in graph_nodes.items()}
    assert sorted(stubs) == sorted(q for q, p in graph_nodes.items() if p["stub"])
    assert nodes == graph_nodes  # every property, typed as kg ingest stores it
    if dump == WD_DUMP:
        assert stubs and all(nodes[q] == {"qid": q, "stub": True} for q in stubs)
    assert summary["command"].startswith("neo4j-admin database import full neo4j --array-delimiter=U+001F")


def load_like_neo4j_admin(graph: GraphStore, out: Path) -> None:
    """Creates the exported nodes and relationships as neo4j-admin would (no schema, no migration record): the
    import tool itself is Neo4j's, which cannot run here."""
    nodes, rels, _ = read_export(out)
    graph.write("UNWIND $rows AS r CREATE (e:Entity) SET e = r", rows=list(nodes.values()))
    by_type: dict[str, list] = {}
    for s, t, pid, o in rels:
        by_type.setdefault(t, []).append({"s": s, "o": o, "pid": pid})
    for t, rows in by_type.items():
        graph.write("UNWIND $rows AS r MATCH (a:Entity {qid: r.s}), (b:Entity {qid: r.o}) "
                    f"CREATE (a)-[:{validate_rel_type(t)} {{pid: r.pid}}]->(b)", rows=rows)


@pytest.fixture
def bare_graph(graph_config, clean_graph):
    """The emptied database without the schema: what neo4j-admin leaves behind."""
    store = GraphStore.from_config(graph_config)
    yield store
    store.close()


def test_a_bulk_loaded_graph_takes_later_dumps_incrementally(bare_graph: GraphStore, tmp_path: Path) -> None:
    out, summary = export(tmp_path, WD_DUMP)
    load_like_neo4j_admin(bare_graph, out)
    assert [m.version for m in migrate(bare_graph)] == [1]  # `kg migrate` after the load: constraints on the data

    same = ingest(bare_graph, WD_DUMP, IngestOptions(workers=1, errors_path=tmp_path / "e1.jsonl"))
    assert same.status == "ok" and same.entities == 0 and same.unchanged == summary["entities"]

    # a newer dump: one entity's label changed, everything else the same
    lines = bz2.open(WD_DUMP, "rt", encoding="utf-8").read().splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("{"))
    doc = json.loads(lines[i].rstrip(","))
    doc["labels"]["en"] = {"language": "en", "value": "Renamed in the newer dump"}
    lines[i] = json.dumps(doc) + ","
    newer = tmp_path / "newer.json.bz2"
    newer.write_bytes(bz2.compress("\n".join(lines).encode()))
    changed = ingest(bare_graph, newer, IngestOptions(workers=1, errors_path=tmp_path / "e2.jsonl"))
    assert changed.status == "ok" and changed.entities == 1 and changed.unchanged == summary["entities"] - 1
    [row] = bare_graph.read("MATCH (e:Entity {qid: $q}) RETURN e.label AS label", q=doc["id"])
    assert row["label"] == "Renamed in the newer dump"


def test_bad_lines_and_repeated_entities_are_recorded(tmp_path: Path) -> None:
    dump = tmp_path / "custom.jsonl"
    dump.write_text('{"qid": "Q1", "label": "one"}\n{"qid": "Q1", "label": "again"}\nnot json\n'
                    '{"qid": "Q2", "label": "two", "aliases": ["a\\u001fb"]}\n', encoding="utf-8")
    out = tmp_path / "bulk"
    result = CliRunner().invoke(cli, ["export", "neo4j-bulk", str(dump), "--out", str(out), "--json",
                                      "--format", "custom-jsonl"])
    assert result.exit_code == 3, result.output
    summary = json.loads(result.output)
    assert summary["entities"] == 1 and summary["errors"] == 2
    reasons = {r["line"]: r["reason"] for r in map(json.loads, Path(summary["errors_file"]).read_text().splitlines())}
    assert set(reasons) == {3, 4} and "U+001F" in reasons[4]
    nodes, _, _ = read_export(out)
    assert nodes["Q1"]["label"] == "again" and "Q2" not in nodes  # the last version wins, as in kg ingest

    again = CliRunner().invoke(cli, ["export", "neo4j-bulk", str(dump), "--out", str(out)])
    assert isinstance(again.exception, InputError)  # `kg` prints it as "error: ..." and exits 1
    assert "already holds an export" in str(again.exception)  # an export is never overwritten


def test_id_set_finds_stubs_in_both_id_kinds() -> None:
    seen, targets = _Ids(), _Ids()
    for q in ("Q1", "Q9", "Q300", "P31", "my:id"):
        assert seen.add(q) and not seen.add(q)
    for q in ("Q1", "Q2", "Q300", "Q123456789", "Q999999999999", "P31", "P279", "other"):
        targets.add(q)
    assert targets.minus(seen) == ["Q2", "Q123456789", "P279", "Q999999999999", "other"]
