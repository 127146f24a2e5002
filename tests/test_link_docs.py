"""Documents in the graph and what long jobs say, on the shipped 3,000-entity sample KB (real servers, real MiniLM):
non-TTY progress lines of `kg ingest` and `kg index`, a reused document id replacing the old mentions, `meta`
kept whole, and a gazetteer rebuilt when an alias changes without changing the entity count."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from index_helpers import cli_env, server_config

from kg.cli.main import cli
from kg.kgstore.config import load_config
from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore

SAMPLE_KB = Path(__file__).resolve().parents[1] / "samples" / "kb" / "fb15k-sample.jsonl.gz"
PROGRESS_LINE = re.compile(r"^kg: (ingest fb15k-sample\.jsonl\.gz|index): [\d,]+(/[\d,]+)? (lines|entities)"
                           r"( \(\d+%\))?, [\d,.]+ (lines|entities)/s, elapsed \d+s")


@pytest.fixture(scope="module")
def sample(servers, graph_driver, tmp_path_factory):
    """The sample KB ingested and indexed through the CLI with a progress line every 0.01 s; (env, stderr lines)."""
    graph_driver.execute_query("MATCH (n) DETACH DELETE n", database_=servers.graph_database)
    cfg = server_config(servers, tmp_path_factory.mktemp("docs") / "home", "t_docs_")
    env = {**cli_env(cfg), "KG_PROGRESS_EVERY": "0.01"}
    runner = CliRunner()
    lines = []
    for args in (["ingest", str(SAMPLE_KB), "--batch-size", "100", "--workers", "1", "--json"],
                 ["index", "--text", "--names", "--json"]):
        res = runner.invoke(cli, args, env=env)
        assert res.exit_code == 0, res.output
        json.loads(res.stdout)  # stdout stays machine-readable
        lines += res.stderr.splitlines()
    return env, lines


def test_long_jobs_print_progress_lines_when_stderr_is_not_a_tty(sample) -> None:
    _, lines = sample
    progress = [line for line in lines if PROGRESS_LINE.match(line)]
    assert any(line.startswith("kg: ingest") for line in progress), lines
    index = [line for line in progress if line.startswith("kg: index")]
    assert any("ETA" in line for line in index), lines  # index knows its total: count/total, rate and ETA
    assert any(line.startswith("kg: index: done: 3,000/3,000 entities") for line in lines), lines
    assert not any("\r" in line for line in lines)  # plain lines for a log file, no bar redrawn with \r


def test_link_progress_knows_the_corpus_size(sample) -> None:
    env, _ = sample
    news = SAMPLE_KB.parents[1] / "corpus" / "news.jsonl"
    n = sum(1 for line in news.read_text().splitlines() if line.strip())
    res = CliRunner().invoke(cli, ["link", str(news), "--no-write", "--json"], env=env)
    assert res.exit_code == 0, res.output
    assert any(re.match(rf"kg: link: {n}/{n} docs \(100%\), [\d.]+ docs/s, elapsed \d+s, ETA 0s", line)
               for line in res.stderr.splitlines()), res.stderr


def test_the_demo_links_plain_unambiguous_names_and_leaves_what_the_kb_lacks_nil(sample, tmp_path: Path) -> None:
    """On the demo KB (which holds Berlin, Germany, France and Paris, and neither Angela Merkel nor Siemens), the
    default `kg link` links the four places and leaves the two others unlinked: an exact, unambiguous KB name is
    linked wherever it occurs, and NIL means "not in the KB"."""
    env, _ = sample
    text = ("Angela Merkel met the board of Siemens in Berlin on Tuesday. "
            "Germany and France signed the agreement in Paris.")
    corpus = tmp_path / "demo.jsonl"
    corpus.write_text(json.dumps({"id": "demo", "text": text}) + "\n")
    out = tmp_path / "demo-links.jsonl"
    res = CliRunner().invoke(cli, ["link", str(corpus), "--no-write", "--out", str(out)], env=env)
    assert res.exit_code == 0, res.output
    found = {r["surface"]: r for r in map(json.loads, out.read_text().splitlines())}
    linked = {s: r["qid"] for s, r in found.items()}
    assert linked["Berlin"] == "Q64" and linked["Germany"] == "Q183", found
    assert linked["France"] == "Q142" and linked["Paris"] == "Q90", found
    assert linked.get("Angela Merkel", "NIL") == "NIL" and linked.get("Siemens", "NIL") == "NIL", found
    assert all(0.0 <= r["score"] <= 1.0 for r in found.values() if r["score"] is not None)


def _link(env, corpus: Path, *args: str) -> dict:
    res = CliRunner().invoke(cli, ["link", str(corpus), "--json", *args], env=env)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _doc_mentions(env, doc_id: str) -> tuple[str, list[dict]]:
    with GraphStore.from_config(load_config(env=env)) as g:
        text = g.read("MATCH (d:Document {id: $id}) RETURN d.text AS t", id=doc_id)[0]["t"]
        rows = g.read("MATCH (:Document {id: $id})-[:HAS_MENTION]->(m:Mention) RETURN m.surface AS surface, "
                      "m.start AS start, m.end AS end", id=doc_id)
    return text, rows


def test_a_reused_document_id_replaces_the_old_mentions_and_links(sample, tmp_path: Path) -> None:
    env, _ = sample
    first, second = tmp_path / "a" / "obama.txt", tmp_path / "b" / "obama.txt"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text("Barack Obama flew to Chicago on Monday.")
    second.write_text("Yesterday in Berlin, Tom Hanks and Steven Spielberg talked about a new drama.")
    _link(env, first)
    text, rows = _doc_mentions(env, "obama")
    assert text == first.read_text() and any(r["surface"] == "Barack Obama" for r in rows)

    _link(env, second)  # the same id: a .txt file's id is its name
    text, rows = _doc_mentions(env, "obama")
    assert text == second.read_text() and rows
    assert all(text[r["start"]:r["end"]] == r["surface"] for r in rows)  # every mention cut from this text
    assert not any(r["surface"] == "Barack Obama" for r in rows)
    res = CliRunner().invoke(cli, ["query", "mentions", "Q76", "--json"], env=env)
    assert all(m["doc_id"] != "obama" for m in json.loads(res.stdout)["mentions"])


def test_document_meta_is_kept_whole(sample, tmp_path: Path) -> None:
    env, _ = sample
    meta = {"date": "2019-05-01", "source": "wire", "tags": ["politics"], "page": 3}
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "m1", "text": "Barack Obama met Tom Hanks.", "meta": meta}) + "\n")
    _link(env, corpus)
    with GraphStore.from_config(load_config(env=env)) as g:
        row = g.read("MATCH (d:Document {id: 'm1'}) RETURN d.meta_json AS meta, d.source AS source")[0]
    assert json.loads(row["meta"]) == meta and row["source"] == "wire"


def test_gazetteer_rebuilt_when_an_alias_changes_but_the_count_does_not(sample, tmp_path: Path) -> None:
    env, _ = sample
    corpus = tmp_path / "g.jsonl"
    corpus.write_text(json.dumps({"id": "g1", "text": "Zorblax Quintavius spoke in Berlin."}) + "\n")
    out = tmp_path / "out.jsonl"
    # the gazetteer detector alone: a NER model would mark the unknown name whatever the KB holds
    _link(env, corpus, "--no-write", "--out", str(out), "--detector", "gazetteer", "--method", "features")
    assert "Zorblax Quintavius" not in {json.loads(x)["surface"] for x in out.read_text().splitlines()}

    kb = tmp_path / "q76.jsonl"  # the same entity, one alias more: the entity count stays the same
    kb.write_text(json.dumps({"qid": "Q76", "label": "Barack Obama", "aliases": ["Zorblax Quintavius"]}) + "\n")
    for args in (["ingest", str(kb)], ["index", "--text", "--names"]):
        res = CliRunner().invoke(cli, args, env=env)
        assert res.exit_code == 0, res.output
    _link(env, corpus, "--no-write", "--out", str(out), "--detector", "gazetteer", "--method", "features")
    linked = {json.loads(x)["surface"]: json.loads(x)["qid"] for x in out.read_text().splitlines()}
    assert linked.get("Zorblax Quintavius") == "Q76"


def _eval_corpus(tmp_path: Path) -> tuple[Path, int]:
    docs = [
        {"id": "e1", "text": "Barack Obama flew to Chicago on Monday.",
         "mentions": [{"start": 0, "end": 12, "gold": "Q76"}, {"start": 21, "end": 28, "gold": "Q1297"},
                      {"surface": "President Obama", "gold": "Q76"}]},  # a benchmark mention the text does not place
        {"id": "e2", "text": "Tom Hanks was in Berlin.", "mentions": [{"start": 0, "end": 9, "gold": "Q2263"},
                                                                     {"start": 17, "end": 23, "gold": "Q64"}]},
    ]
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path, 5


def test_eval_counts_mentions_without_a_span_and_reports_all_on_request(sample, tmp_path: Path) -> None:
    env, _ = sample
    corpus, n = _eval_corpus(tmp_path)
    runner = CliRunner()
    wrong, every = tmp_path / "wrong.json", tmp_path / "all.json"
    res = runner.invoke(cli, ["eval", str(corpus), "--json", "--report", str(wrong)], env=env)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n"] == n  # the unplaced mention stays in the denominator
    errors = json.loads(wrong.read_text())["errors"]
    assert all(not e["correct"] for e in errors)
    res = runner.invoke(cli, ["eval", str(corpus), "--json", "--report", str(every), "--report-all"], env=env)
    assert res.exit_code == 0, res.output
    mentions = json.loads(every.read_text())["mentions"]
    assert len(mentions) == n and sum(not m["correct"] for m in mentions) == len(errors)
    assert {m["surface"] for m in mentions} >= {"President Obama", "Barack Obama"}


def test_eval_refuses_a_split_for_a_corpus_file(sample, tmp_path: Path) -> None:
    env, _ = sample
    corpus, _ = _eval_corpus(tmp_path)
    res = CliRunner().invoke(cli, ["eval", str(corpus), "--split", "dev"], env=env)
    assert res.exit_code == 2 and "--split" in res.output and "has none" in res.output


@pytest.mark.parametrize("toml, message", [
    ("[kar]\nk = 3\nfactz = 2\n", "unknown kar setting(s) factz"),
    ("[kra]\nk = 3\n", "unknown method section(s) kra"),
])
def test_method_config_refuses_unknown_settings(sample, tmp_path: Path, toml: str, message: str) -> None:
    env, _ = sample
    config = tmp_path / "methods.toml"
    config.write_text(toml)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "x", "text": "Barack Obama spoke."}) + "\n")
    env = {**env, "KG_LLM_BASE_URL": "http://127.0.0.1:9/v1", "KG_LLM_MODEL": "none"}  # never reached
    res = CliRunner().invoke(cli, ["link", str(corpus), "--no-write", "--method", "kar", "--method-config",
                                   str(config)], env=env)
    assert isinstance(res.exception, InputError) and message in str(res.exception), res.output  # kg exits 2
