"""The embedded default: ArcadeDB's Bolt server started under KG_HOME, reused, and robust to SIGKILL."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg.cli.main import cli
from kg.kgstore import embedded
from kg.kgstore.config import load_config
from kg.kgstore.graph import GraphStore

pytestmark = pytest.mark.servers  # each test starts the embedded ArcadeDB server (a JVM) itself


@pytest.fixture
def home(tmp_path: Path):
    h = tmp_path / "kghome"
    yield h
    embedded.stop_server(h)


def test_start_reuse_sigkill_restart_keeps_committed_data(home: Path) -> None:
    cfg = load_config({"home": home}, env={})
    with GraphStore.from_config(cfg) as g:
        g.write("CREATE (:Entity {qid: 'Q42', label: 'Douglas Adams'})")
    first = embedded.read_state(home)
    assert first is not None
    assert stat.S_IMODE((home / "graph" / "password").stat().st_mode) == 0o600
    with GraphStore.from_config(cfg) as g:  # a second command reuses the running server
        assert embedded.read_state(home).pid == first.pid

    os.kill(first.pid, signal.SIGKILL)
    while embedded._alive(first):
        time.sleep(0.05)
    assert (home / "graph" / "server.json").exists()  # stale state left behind by the kill

    with GraphStore.from_config(cfg) as g:
        assert g.read("MATCH (e:Entity {qid: 'Q42'}) RETURN e.label AS l") == [{"l": "Douglas Adams"}]
    second = embedded.read_state(home)
    assert second is not None and second.pid != first.pid


def test_concurrent_commands_start_one_server(home: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from kgstore import embedded; "
        "print(embedded.ensure_server(Path(sys.argv[1])).pid)"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(home)], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    pids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert len(pids) == 1 and all(p.returncode == 0 for p in procs)


def test_server_cli_status_and_stop(home: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["--home", str(home), "server", "status", "--json"])
    assert json.loads(out.stdout)["running"] is False
    assert runner.invoke(cli, ["--home", str(home), "server", "start"]).exit_code == 0
    data = json.loads(runner.invoke(cli, ["--home", str(home), "server", "status", "--json"]).stdout)
    assert data["running"] and data["uri"].startswith("bolt://127.0.0.1:")
    assert "password" not in json.dumps(data).lower()
    assert runner.invoke(cli, ["--home", str(home), "server", "stop"]).output.strip() == "stopped"
    assert embedded.read_state(home) is None


def test_status_json_embedded_defaults(home: Path) -> None:
    result = CliRunner().invoke(cli, ["--home", str(home), "status", "--json"], env={"KG_GRAPH_URI": "", "KG_QDRANT_URL": ""})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["graph"]["kind"].startswith("embedded") and data["vectors"]["kind"] == "qdrant local mode"
    assert set(data["counts"]) == {"entities", "stubs", "relationships", "documents", "mentions", "links", "vectors"}
    assert embedded.password(home) not in result.output


def _processes_mentioning(text: str) -> dict[int, str]:
    """pid -> command line of every process whose command line contains `text`."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found[int(proc.name)] = cmdline
    return found


def test_password_never_on_a_command_line_and_graph_files_private(home: Path) -> None:
    cfg = load_config({"home": home}, env={})
    with GraphStore.from_config(cfg) as g:
        g.write("CREATE (:Entity {qid: 'Q1'})")
    state = embedded.read_state(home)
    secret = embedded.password(home)
    ours = _processes_mentioning(str(home))
    assert state.pid in ours and len(ours) >= 2  # the server and its idle watcher
    assert "rootPassword" not in ours[state.pid]
    assert not _processes_mentioning(secret)  # no process on the machine shows it in ps or /proc/PID/cmdline
    graph = home / "graph"
    assert stat.S_IMODE(graph.stat().st_mode) == 0o700
    assert stat.S_IMODE((graph / "password").stat().st_mode) == 0o600
    assert not (graph / embedded.SECRET_ARGS).exists()  # the argfile is gone once the server is up
    assert secret not in (graph / "server.log").read_text(errors="replace")


def test_idle_server_stops_itself_but_not_while_connected(home: Path) -> None:
    cfg = load_config({"home": home, "graph.idle_timeout": 2}, env={})
    with GraphStore.from_config(cfg) as g:
        pid = embedded.read_state(home).pid
        time.sleep(5)  # a connection held open for longer than the idle timeout
        assert g.read("RETURN 1 AS one") == [{"one": 1}]
        assert embedded.read_state(home).pid == pid
    deadline = time.monotonic() + 30
    while embedded.read_state(home) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert embedded.read_state(home) is None
    out = CliRunner().invoke(cli, ["--home", str(home), "server", "status", "--json"])
    assert json.loads(out.stdout)["running"] is False


def test_server_commands_point_at_a_server_under_another_home(home: Path, tmp_path: Path) -> None:
    embedded.ensure_server(home, idle_timeout=0)
    other = tmp_path / "other-home"
    out = CliRunner().invoke(cli, ["--home", str(other), "server", "stop"])
    assert out.exit_code == 0, out.output
    assert f"an embedded graph server runs under {home.resolve()}: kg --home {home.resolve()} server stop" in out.stdout
    assert embedded.read_state(home) is not None  # pointed at, not stopped
