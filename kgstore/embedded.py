"""The embedded default graph server: ArcadeDB's Bolt server from the `arcadedb-embedded` wheel.

Started as a detached child process on 127.0.0.1 the first time a command needs the graph, and reused by later
commands. A file lock serialises start-up so two `kg` commands never start two servers on one database; the
state file is checked against the live process, so a server killed with SIGKILL leaves nothing that blocks the
next command (ArcadeDB recovers its database from its own journal on restart).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from kgstore.errors import GraphUnavailable

START_TIMEOUT_S = 90.0
DATABASE = "kg"
USER = "root"


@dataclass
class ServerState:
    pid: int
    bolt_port: int
    http_port: int
    root: str
    started_at: float

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"


def server_dir(home: Path) -> Path:
    return home / "graph"


def _state_file(home: Path) -> Path:
    return server_dir(home) / "server.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _arcadedb_dir() -> Path:
    try:
        import arcadedb_embedded
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise GraphUnavailable(
            "the embedded graph server needs the `arcadedb-embedded` package; reinstall kg, or set KG_GRAPH_URI "
            "to a running Neo4j/Bolt server"
        ) from exc
    return Path(arcadedb_embedded.__file__).parent


@contextmanager
def _lock(home: Path) -> Iterator[None]:
    d = server_dir(home)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "server.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def password(home: Path) -> str:
    """The generated root password, created once with mode 0600."""
    path = server_dir(home) / "password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def _alive(state: ServerState) -> bool:
    """The pid is alive and really is our ArcadeDB server (pids get reused after a crash)."""
    try:
        cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "ArcadeDBServer" in cmdline and state.root in cmdline


def read_state(home: Path) -> ServerState | None:
    """The running server's state, or None; a stale state file (dead process) is removed."""
    path = _state_file(home)
    try:
        state = ServerState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if _alive(state):
        return state
    path.unlink(missing_ok=True)
    return None


def _log_tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _start(home: Path, heap: str) -> ServerState:
    root = server_dir(home)
    adb = _arcadedb_dir()
    bolt_port, http_port = _free_port(), _free_port()
    java = adb / "jre" / "bin" / "java"
    cmd = [
        str(java), "-Xms128m", f"-Xmx{heap}", "-cp", f"{adb / 'jars'}/*",
        f"-Darcadedb.server.rootPath={root}",
        f"-Darcadedb.server.databaseDirectory={root / 'databases'}",
        f"-Darcadedb.server.rootPassword={password(home)}",
        "-Darcadedb.server.mode=development",
        "-Darcadedb.server.httpIncomingHost=127.0.0.1",
        f"-Darcadedb.server.httpIncomingPort={http_port}",
        "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
        "-Darcadedb.bolt.host=127.0.0.1",
        f"-Darcadedb.bolt.port={bolt_port}",
        f"-Darcadedb.server.defaultDatabases={DATABASE}[{USER}]",
        "com.arcadedb.server.ArcadeDBServer",
    ]
    log = root / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    state = ServerState(proc.pid, bolt_port, http_port, str(root), time.time())
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise GraphUnavailable(
                f"the embedded graph server exited with code {proc.returncode} while starting; log {log}:\n"
                + _log_tail(log)
            )
        if _port_open(bolt_port):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        raise GraphUnavailable(f"the embedded graph server did not open its Bolt port in {START_TIMEOUT_S:.0f} s; log {log}")
    _wait_database(state, home, deadline, proc, log)
    tmp = _state_file(home).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state)))
    tmp.replace(_state_file(home))
    return state


def _wait_database(state: ServerState, home: Path, deadline: float, proc: subprocess.Popen, log: Path) -> None:
    """The Bolt port opens before the default database exists: wait until a query on it succeeds."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import Neo4jError, ServiceUnavailable

    with GraphDatabase.driver(state.uri, auth=(USER, password(home))) as driver:
        while True:
            try:
                driver.execute_query("RETURN 1", database_=DATABASE)
                return
            except (Neo4jError, ServiceUnavailable, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise GraphUnavailable(f"the embedded graph server did not become ready; log {log}:\n" + _log_tail(log))
                time.sleep(0.2)


def ensure_server(home: Path, heap: str = "1g") -> ServerState:
    """Return the running embedded server, starting it if needed (serialised across processes)."""
    with _lock(home):
        state = read_state(home)
        if state is None:
            state = _start(home, heap)
        return state


def stop_server(home: Path, timeout: float = 30.0) -> bool:
    """Stop the embedded server; True if one was running. SIGTERM lets ArcadeDB close its files cleanly."""
    with _lock(home):
        state = read_state(home)
        if state is None:
            return False
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(state):
            time.sleep(0.2)
        if _alive(state):
            os.kill(state.pid, signal.SIGKILL)
            while _alive(state):
                time.sleep(0.1)
        _state_file(home).unlink(missing_ok=True)
        return True
