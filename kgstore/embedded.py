"""The embedded default graph server: ArcadeDB's Bolt server from the `arcadedb-embedded` wheel.

Started as a detached child process on 127.0.0.1 the first time a command needs the graph, and reused by later
commands. A file lock serialises start-up so two `kg` commands never start two servers on one database; the
state file is checked against the live process, so a server killed with SIGKILL leaves nothing that blocks the
next command (ArcadeDB recovers its database from its own journal on restart).

The server's files and its root password are the owner's alone: `KG_HOME/graph` is 0700, the server is spawned
with umask 077 (so are its databases, logs and config), the password file is 0600,
and the password reaches the JVM through a 0600 java @argfile removed once the server is up, never through its
command line (which every local user can read in `ps` and /proc/PID/cmdline). A small watcher process stops the
server after `idle_timeout` seconds without a Bolt connection or a `kg` command (it holds ~400 MB).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from kg.kgstore.config import GraphSection
from kg.kgstore.errors import GraphUnavailable
from kg.kgstore.files import atomic_write
from kg.kgstore.private import PRIVATE_UMASK, open_private, private_dir
from kg.kgstore.progress import progress

START_TIMEOUT_S = 90.0
DATABASE = "kg"
USER = "root"
SECRET_ARGS = "secret.args"  # the 0600 java @argfile that carries the root password, deleted after start-up


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


def _private_dir(home: Path) -> Path:
    """KG_HOME/graph, created (or narrowed, for data made by older versions) to mode 0700."""
    d = private_dir(server_dir(home))
    if d.stat().st_mode & 0o077:
        d.chmod(0o700)
    return d


def _touch(home: Path) -> None:
    """Record that a command is about to use the server, so the idle watcher leaves it running."""
    (server_dir(home) / "last_used").touch(mode=0o600)


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
    d = _private_dir(home)
    with open_private(d / "server.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def password(home: Path) -> str:
    """The generated root password, created once with mode 0600."""
    path = server_dir(home) / "password"
    if not path.exists():
        _private_dir(home)
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


def running_homes() -> list[Path]:
    """Data directories of every embedded kg graph server this user runs (found from their command lines), so
    `kg server status|stop` can point at a server started under another KG_HOME (e.g. the demo's)."""
    homes = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or proc.stat().st_uid != os.getuid():
                continue
            args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "com.arcadedb.server.ArcadeDBServer" in args:
            root = next((a.split("=", 1)[1] for a in args if a.startswith("-Darcadedb.server.rootPath=")), None)
            if root and Path(root).name == "graph" and (Path(root) / "server.json").exists():
                homes.append(Path(root).parent)
    return sorted(set(homes))


def _log_tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _write_secret_args(root: Path, pw: str) -> Path:
    """The root password as a 0600 java @argfile: the launcher reads it, `ps` shows only its path."""
    path = root / SECRET_ARGS
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f'"-Darcadedb.server.rootPassword={pw}"\n')
    return path


def _start(home: Path, heap: str, idle_timeout: float) -> ServerState:
    root = server_dir(home)
    adb = _arcadedb_dir()
    bolt_port, http_port = _free_port(), _free_port()
    java = adb / "jre" / "bin" / "java"
    secret_args = _write_secret_args(root, password(home))
    cmd = [
        str(java), "-Xms128m", f"-Xmx{heap}", "-cp", f"{adb / 'jars'}/*",
        f"-Darcadedb.server.rootPath={root}",
        f"-Darcadedb.server.databaseDirectory={root / 'databases'}",
        f"@{secret_args}",
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
    progress(f"starting the embedded graph server under {root} (log {log}; up to {START_TIMEOUT_S:.0f} s)")
    t0 = time.monotonic()
    try:
        with open_private(log, "ab") as out:
            proc = subprocess.Popen(
                cmd, cwd=root, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                umask=PRIVATE_UMASK,
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
            raise GraphUnavailable(
                f"the embedded graph server did not open its Bolt port in {START_TIMEOUT_S:.0f} s; log {log}"
            )
    finally:
        secret_args.unlink(missing_ok=True)  # the launcher read it before the JVM started
    _wait_database(state, home, deadline, proc, log)
    atomic_write(_state_file(home), json.dumps(asdict(state)))
    _touch(home)
    if idle_timeout > 0:
        with open_private(root / "idle_watch.log", "ab") as watch_log:
            subprocess.Popen(
                [sys.executable, "-m", "kg.kgstore.idle_watch", str(home), str(state.pid), str(idle_timeout)],
                cwd=root, stdin=subprocess.DEVNULL, stdout=watch_log, stderr=subprocess.STDOUT, start_new_session=True,
                umask=PRIVATE_UMASK,
            )
    progress(f"embedded graph server ready: pid {state.pid}, {state.uri} ({time.monotonic() - t0:.1f} s"
             + (f"; stops after {idle_timeout:.0f} s idle)" if idle_timeout > 0 else ")"))
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
            except (Neo4jError, ServiceUnavailable, OSError) as e:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise GraphUnavailable(f"the embedded graph server did not become ready; log {log}:\n"
                                           + _log_tail(log)) from e
                time.sleep(0.2)


def ensure_server(home: Path, heap: str = "1g", idle_timeout: float = GraphSection.idle_timeout) -> ServerState:
    """Return the running embedded server, starting it if needed (serialised across processes)."""
    with _lock(home):
        state = read_state(home)
        if state is None:
            state = _start(home, heap, idle_timeout)
        else:
            _touch(home)
        return state


def bolt_connections(port: int) -> int:
    """Established TCP connections to a local port, read from /proc/net/tcp{,6} (any process's)."""
    n = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def stop_if_idle(home: Path, pid: int, idle_timeout: float) -> bool | None:
    """Stop the server `pid` if nothing used it for `idle_timeout` s: True stopped, False busy, None gone.

    Checked under the start-up lock, after `ensure_server` has touched `last_used`, so a command that has just
    been handed the server is never cut off before it connects."""
    with _lock(home):
        state = read_state(home)
        if state is None or state.pid != pid:
            return None
        try:
            idle_for = time.time() - (server_dir(home) / "last_used").stat().st_mtime
        except OSError:
            idle_for = time.time() - state.started_at
        if bolt_connections(state.bolt_port) or idle_for < idle_timeout:
            return False
        _stop(home, state)
        return True


def stop_server(home: Path, timeout: float = 30.0) -> bool:
    """Stop the embedded server; True if one was running. SIGTERM lets ArcadeDB close its files cleanly."""
    with _lock(home):
        state = read_state(home)
        if state is None:
            return False
        _stop(home, state, timeout)
        return True


def _stop(home: Path, state: ServerState, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`; the caller holds the lock."""
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(state):
        time.sleep(0.2)
    if _alive(state):
        os.kill(state.pid, signal.SIGKILL)
        while _alive(state):
            time.sleep(0.1)
    _state_file(home).unlink(missing_ok=True)
