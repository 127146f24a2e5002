"""`kg query cypher` is bounded: a time limit the graph server is made to honour, a query stopped on the server
when kg goes (Ctrl-C, SIGTERM), and results capped by --limit or streamed in bounded memory, on the real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg.cli.main import cli
from kg.kgstore.errors import KgError
from kg.kgstore.graph import GraphStore
from kg.kgstore.migrate import ensure_schema

ROOT = Path(__file__).resolve().parents[1]
MARK = "bounds_probe"  # names the slow query's column, so it can be found among the server's transactions
# About 4e8 rows to filter: minutes of work for the server, far past any limit the tests set.
SLOW = (f"UNWIND range(1, 20000) AS a UNWIND range(1, 20000) AS b WITH a, b WHERE (a * b) % 7 = 0 "
        f"RETURN count(*) AS {MARK}")


def running(graph_driver, database: str) -> list[str]:
    """The ids of the server's transactions that run the slow query."""
    records, _, _ = graph_driver.execute_query(
        "SHOW TRANSACTIONS YIELD transactionId, currentQuery", database_=database)
    return [r["transactionId"] for r in records if MARK in (r["currentQuery"] or "") and "SHOW" not in r["currentQuery"]]


@pytest.fixture
def env(graph_config, clean_graph, graph_driver, servers):
    with GraphStore.from_config(graph_config) as graph:
        ensure_schema(graph)
    yield {"KG_HOME": str(graph_config.home), "KG_GRAPH_URI": graph_config.graph.uri,
           "KG_GRAPH_USER": graph_config.graph.user, "KG_GRAPH_PASSWORD": graph_config.graph.password.reveal(),
           "KG_GRAPH_DATABASE": graph_config.graph.database}
    for tid in running(graph_driver, servers.graph_database):  # a failed test leaves no busy server behind
        graph_driver.execute_query("TERMINATE TRANSACTION $id", id=tid, database_=servers.graph_database)


def wait_until_running(graph_driver, database: str) -> None:
    for _ in range(300):
        if running(graph_driver, database):
            return
        time.sleep(0.1)
    pytest.fail("the slow query never showed up among the server's transactions")


def test_a_query_past_its_timeout_is_stopped_on_the_server(env, graph_driver, servers) -> None:
    res = CliRunner().invoke(cli, ["query", "cypher", SLOW, "--timeout", "2"], env=env, standalone_mode=False)
    assert isinstance(res.exception, KgError), (res.output, res.exception)
    message = str(res.exception)
    assert "2 s" in message and "--timeout" in message and "stopped on the graph server" in message
    assert running(graph_driver, servers.graph_database) == []
    bad = CliRunner().invoke(cli, ["query", "cypher", "RETURN 1", "--timeout", "0"], env=env)
    assert bad.exit_code == 2 and "--timeout" in bad.output


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_leaving_kg_stops_the_query_on_the_server(env, graph_driver, servers, sig) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", "query", "cypher", SLOW],
                            env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_until_running(graph_driver, servers.graph_database)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "Traceback" not in err, err
    assert running(graph_driver, servers.graph_database) == []


def test_results_are_capped_and_the_cut_is_said(env) -> None:
    query = "UNWIND range(1, 1500) AS x RETURN x"
    res = CliRunner().invoke(cli, ["query", "cypher", query], env=env)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["X"] and [int(v) for v in lines[1:]] == list(range(1, 1001))
    assert "showing the first 1000 rows" in res.stderr and "--limit" in res.stderr
    rows = json.loads(CliRunner().invoke(cli, ["query", "cypher", query, "--limit", "5", "--json"], env=env).stdout)
    assert rows == [{"x": x} for x in range(1, 6)]
    every = CliRunner().invoke(cli, ["query", "cypher", query, "--limit", "0", "--json"], env=env)
    assert json.loads(every.stdout) == [{"x": x} for x in range(1, 1501)] and "cut" not in every.stderr
    exact = CliRunner().invoke(cli, ["query", "cypher", "UNWIND range(1, 5) AS x RETURN x", "--limit", "5"], env=env)
    assert exact.exit_code == 0 and len(exact.stdout.splitlines()) == 6 and "cut" not in exact.stderr


def peak_rss_mib(env: dict[str, str], *args: str) -> float:
    """Run `kg query cypher ARGS` in a child process, its output discarded; its peak resident memory in MiB."""
    proc = subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", "query", "cypher", *args],
                            env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err
    return usage.ru_maxrss / 1024


def test_an_uncapped_result_streams_in_bounded_memory(env) -> None:
    # 100,000 rows of 2 KB each: about 200 MB of rows that a buffering client would hold at once.
    query = "UNWIND range(1, 100000) AS x RETURN x, $pad AS pad"
    pad = "pad=" + "p" * 2000
    one = peak_rss_mib(env, query, "-p", pad, "--limit", "1", "--json")
    every = peak_rss_mib(env, query, "-p", pad, "--limit", "0", "--json")
    assert every - one < 60, (one, every)
