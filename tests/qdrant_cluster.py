"""A throw-away Qdrant cluster on loopback ports, from the binary `scripts/services.sh install` caches.

Each node has its own HTTP, gRPC and p2p (consensus) port and storage; the first starts the cluster (`--uri`), the
others join it (`--bootstrap`). Nodes are stopped with SIGKILL where a test wants a crash, SIGTERM otherwise.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def qdrant_binary() -> Path:
    """Where services.sh installs the Qdrant server (its version read from the script, so they never disagree)."""
    version = re.search(r"^QDRANT_VERSION=(\S+)", (ROOT / "scripts" / "services.sh").read_text(), re.M)
    assert version, "scripts/services.sh names no QDRANT_VERSION"
    cache = Path(os.environ.get("KG_SERVICES_CACHE") or "~/.cache/kg-services").expanduser()
    return cache / f"qdrant-{version.group(1)}" / "package" / "bin" / "qdrant"


def free_ports(n: int) -> list[int]:
    """`n` distinct ports nobody listens on right now (all bound at once, then released)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


@dataclass
class Node:
    name: str
    http: int
    grpc: int
    p2p: int
    root: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def start(self, bootstrap: Node | None) -> None:
        for sub in ("storage", "snapshots", "cwd"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "QDRANT__CLUSTER__ENABLED": "true", "QDRANT__CLUSTER__P2P__PORT": str(self.p2p),
               "QDRANT__SERVICE__HOST": "127.0.0.1", "QDRANT__SERVICE__HTTP_PORT": str(self.http),
               "QDRANT__SERVICE__GRPC_PORT": str(self.grpc),
               "QDRANT__STORAGE__STORAGE_PATH": str(self.root / "storage"),
               "QDRANT__STORAGE__SNAPSHOTS_PATH": str(self.root / "snapshots"), "QDRANT__TELEMETRY_DISABLED": "true"}
        args = [str(qdrant_binary()), "--uri", f"http://127.0.0.1:{self.p2p}"]
        if bootstrap is not None:
            args += ["--bootstrap", f"http://127.0.0.1:{bootstrap.p2p}"]
        with open(self.root / "qdrant.log", "ab") as log:
            self.process = subprocess.Popen(args, cwd=self.root / "cwd", env=env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown work."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path: str) -> dict:
        return httpx.get(self.url + path, timeout=5).raise_for_status().json()["result"]

    def log(self) -> str:
        return (self.root / "qdrant.log").read_text(errors="replace")[-3000:]


def wait_until(what: str, check, timeout: float = 60.0, nodes: list[Node] = ()) -> None:  # type: ignore[assignment]
    """Poll `check` (exceptions count as not yet) until true; fail with the nodes' logs after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, KeyError):
            pass
        time.sleep(0.2)
    logs = "\n".join(f"--- {n.name}\n{n.log()}" for n in nodes)
    raise AssertionError(f"Qdrant cluster: {what} not within {timeout:.0f} s\n{logs}")


def start_cluster(root: Path, n: int = 3) -> list[Node]:
    """`n` nodes that all see each other as peers (the caller stops them)."""
    ports = free_ports(3 * n)
    nodes = [Node(f"node{i}", *ports[3 * i:3 * i + 3], root=root / f"node{i}") for i in range(n)]
    try:
        nodes[0].start(None)
        wait_until("the first node answering", lambda: nodes[0].get("/cluster")["status"] == "enabled", nodes=nodes)
        for node in nodes[1:]:
            node.start(nodes[0])
            wait_until(f"{node.name} joining", lambda node=node: len(nodes[0].get("/cluster")["peers"]) == nodes.index(node) + 1,
                       nodes=nodes)
        wait_until("every node seeing every peer", lambda: all(len(m.get("/cluster")["peers"]) == n for m in nodes),
                   nodes=nodes)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def replicas_active(node: Node, collection: str) -> bool:
    """Whether every replica of every shard of the collection is Active (e.g. after a node came back)."""
    info = node.get(f"/collections/{collection}/cluster")
    states = [s["state"] for s in info["local_shards"] + info["remote_shards"]]
    return bool(states) and all(state == "Active" for state in states)
