"""A graph cluster behind a `neo4j://` URI, on the real test ArcadeDB (whose Bolt server answers ROUTE naming itself):
the sample ingested, indexed and linked through the routing driver, every read sent with READ access and every
write with WRITE access (as the driver's own Bolt log shows them), and the bookmarks of `kg link` carried to the
next `kg query`, which then reads the links back."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from index_helpers import cli_env, server_config
from test_query_bounds import SLOW, running

from kg.cli.main import cli
from kg.kgstore import bookmarks
from kg.kgstore.errors import KgError
from kg.kgstore.graph import GraphStore
from kg.kgstore.migrate import ensure_schema

SAMPLE_KB = Path(__file__).resolve().parents[1] / "samples" / "kb" / "fb15k-sample.jsonl.gz"
WRITES = re.compile(r"\b(CREATE|MERGE|SET|DELETE|REMOVE|DROP|TERMINATE)\b")
BOLT_LINE = re.compile(r"\[#(\w+)\]\s+C: (BEGIN|RUN|ROUTE) (.*)")


def routed(servers):
    """The test servers with the graph reached through the routing driver."""
    return dataclasses.replace(servers, graph_uri=re.sub(r"^bolt://", "neo4j://", servers.graph_uri))


class BoltLog(logging.Handler):
    """The driver's log of the Bolt messages it sends: each transaction's queries, with the access mode and the
    bookmarks it began with (an explicit transaction's BEGIN, or an auto-commit RUN's own metadata)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.routes = 0
        self.transactions: list[tuple[str, list[str]]] = []  # (BEGIN metadata, queries)
        self._open: dict[str, list[str]] = {}  # connection -> queries of its explicit transaction

    def emit(self, record: logging.LogRecord) -> None:
        m = BOLT_LINE.search(record.getMessage())
        if not m:
            return
        conn, kind, rest = m.groups()
        if kind == "ROUTE":
            self.routes += 1
        elif kind == "BEGIN":
            self._open[conn] = []
            self.transactions.append((rest, self._open[conn]))
        else:
            query, _, meta = rest[1:].partition(rest[0] + " {")  # repr(query), then parameters and metadata
            query = query.replace("\\n", " ")
            if "'db':" in meta.rsplit("{", 1)[-1]:  # an auto-commit RUN carries its own metadata
                self.transactions.append((meta, [query]))
            else:
                self._open[conn].append(query)


@pytest.fixture
def bolt_log():
    log, logger = BoltLog(), logging.getLogger("neo4j.io")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(log)
    yield log
    logger.removeHandler(log)
    logger.setLevel(level)


def _kg(env: dict[str, str], *args: str) -> dict:
    res = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_ingest_link_and_query_over_neo4j_routing(servers, clean_graph, tmp_path: Path, bolt_log) -> None:
    cfg = server_config(routed(servers), tmp_path / "home", "t_route_")
    env = cli_env(cfg)
    assert env["KG_GRAPH_URI"].startswith("neo4j://")
    _kg(env, "ingest", str(SAMPLE_KB), "--workers", "1")
    _kg(env, "index", "--text", "--names")
    corpus = tmp_path / "demo.jsonl"
    corpus.write_text(json.dumps({"id": "demo", "text": "Germany and France signed the agreement in Paris."}) + "\n")
    _kg(env, "link", str(corpus))
    saved = bookmarks.load(cfg.home / bookmarks.FILE, cfg.graph.uri, cfg.graph.database)
    assert saved and all(b.startswith("arcade:tx:") for b in saved), saved  # ArcadeDB's own bookmark form
    before_query = len(bolt_log.transactions)

    mentions = _kg(env, "query", "mentions", "Q90")
    assert [m["surface"] for m in mentions["mentions"]] == ["Paris"], mentions

    assert bolt_log.routes > 0  # the routing driver asked the server for its routing table
    txs = [(meta, queries) for meta, queries in bolt_log.transactions if queries]
    writes = [queries for meta, queries in txs if any(WRITES.search(q) for q in queries)]
    reads = [queries for meta, queries in txs if not any(WRITES.search(q) for q in queries)]
    assert len(reads) > 10 and any("REFERS_TO" in q for tx in writes for q in tx), (reads, writes)  # links too
    assert [q for meta, q in txs if q in reads and "'mode': 'r'" not in meta] == []  # every read on READ access
    assert [q for meta, q in txs if q in writes and "'mode': 'r'" in meta] == []  # every write on WRITE access
    # the next process's first query waits for what `kg link` wrote: it starts from the bookmarks link saved
    first_of_query = bolt_log.transactions[before_query][0]
    assert all(b in first_of_query for b in saved), (first_of_query, saved)

def test_bookmarks_carry_from_one_store_to_the_next_and_only_over_routing(servers, clean_graph, tmp_path: Path,
                                                                        bolt_log) -> None:
    path = tmp_path / "home" / bookmarks.FILE
    uri = routed(servers).graph_uri
    args = (servers.graph_user, servers.graph_password, servers.graph_database)
    with GraphStore(uri, *args, bookmarks_path=path) as first:
        first.write("CREATE (:RouteProbe {n: 1})")
    saved = bookmarks.load(path, uri, servers.graph_database)
    assert len(saved) == 1 and path.stat().st_mode & 0o077 == 0
    bolt_log.transactions.clear()
    with GraphStore(uri, *args, bookmarks_path=path) as second:
        assert second.count("MATCH (p:RouteProbe) RETURN count(p) AS n") == 1
    assert saved[0] in bolt_log.transactions[0][0], bolt_log.transactions  # its first query waits for the first store's write
    assert bookmarks.load(path, uri, servers.graph_database) != saved  # the second's own read moved them on

    direct = tmp_path / "direct" / bookmarks.FILE
    bolt_log.transactions.clear()
    with GraphStore(servers.graph_uri, *args, bookmarks_path=direct) as store:  # bolt:// as before: no bookmarks
        store.write("CREATE (:RouteProbe {n: 2})")
        assert store.count("MATCH (p:RouteProbe) RETURN count(p) AS n") == 2
    assert not direct.exists()
    assert not any("bookmarks" in meta for meta, _ in bolt_log.transactions), bolt_log.transactions


def test_saved_bookmarks_keep_those_another_process_saved_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / bookmarks.FILE
    bookmarks.save(path, "neo4j://a:7687", "kg", ["b1"], [])
    bookmarks.save(path, "neo4j://a:7687", "other", ["x1"], [])
    # two processes both started from b1; the first saves b2, then the second saves b3: the next waits for both
    bookmarks.save(path, "neo4j://a:7687", "kg", ["b2"], ["b1"])
    bookmarks.save(path, "neo4j://a:7687", "kg", ["b3"], ["b1"])
    assert sorted(bookmarks.load(path, "neo4j://a:7687", "kg")) == ["b2", "b3"]
    assert bookmarks.load(path, "neo4j://a:7687", "other") == ["x1"]
    assert bookmarks.load(path, "neo4j://b:7687", "kg") == []
    assert bookmarks.direct_uri("neo4j+s://a:7687", "b:7688") == "bolt+s://b:7688"


def test_a_query_past_its_timeout_is_stopped_on_the_member_it_ran_on(servers, clean_graph, graph_driver,
                                                                     tmp_path: Path) -> None:
    cfg = server_config(routed(servers), tmp_path / "home", "t_route_")
    with GraphStore.from_config(cfg) as graph:
        ensure_schema(graph)
    res = CliRunner().invoke(cli, ["query", "cypher", SLOW, "--timeout", "2"], env=cli_env(cfg),
                             standalone_mode=False)
    assert isinstance(res.exception, KgError), (res.output, res.exception)
    assert "stopped on the graph server" in str(res.exception)
    assert running(graph_driver, servers.graph_database) == []
