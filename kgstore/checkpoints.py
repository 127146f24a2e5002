"""Ingest checkpoints in the graph: the last committed line of an input, and which input it was made on."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from neo4j import ManagedTransaction

from kg.kgstore.graph import GraphStore

PROBE_QUERY = "MERGE (c:IngestCheckpoint {key: $key}) SET c.probed_at = datetime()"
# The checkpoint records which input it was made on: the first `read_bytes` bytes of the file and their SHA-1
# (a resume on a file that does not start with them reads it from the start), its size and mtime (for people).
CHECKPOINT_QUERY = """
MERGE (c:IngestCheckpoint {key: $key})
SET c.path = $path, c.format = $format, c.line = $line, c.updated_at = datetime(), c.finished = $finished,
    c.read_bytes = $read_bytes, c.read_sha1 = $read_sha1, c.size = $size, c.mtime = $mtime
"""
READ_QUERY = ("MATCH (c:IngestCheckpoint {key: $key}) RETURN c.line AS line, c.read_bytes AS n, "
              "c.read_sha1 AS sha1")


@dataclass(frozen=True)
class IngestCheckpoint:
    key: str
    path: str
    format: str
    line: int
    finished: bool
    read_bytes: int | None
    read_sha1: str | None
    size: int
    mtime: float


@dataclass(frozen=True)
class SavedCheckpoint:
    line: int
    read_bytes: int | None
    read_sha1: str | None


def load_checkpoint(graph: GraphStore, key: str) -> SavedCheckpoint | None:
    rows = graph.read(READ_QUERY, key=key)
    if not rows or rows[0]["line"] is None:
        return None
    row = rows[0]
    return SavedCheckpoint(int(row["line"]), None if row["n"] is None else int(row["n"]), row["sha1"])


def save_checkpoint(graph: GraphStore, checkpoint: IngestCheckpoint) -> None:
    graph.write_fn(lambda tx: write_checkpoint(tx, checkpoint))


def probe_write(graph: GraphStore, key: str) -> None:
    """A write that holds no entity: tells whether the server or the input is at fault when a write fails."""
    graph.write(PROBE_QUERY, key=key)


def write_checkpoint(tx: ManagedTransaction, checkpoint: IngestCheckpoint) -> None:
    """Inside kgstore's own transactions (an entity batch lands with its checkpoint)."""
    tx.run(CHECKPOINT_QUERY, **asdict(checkpoint)).consume()
