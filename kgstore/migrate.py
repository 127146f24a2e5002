"""Migrations runner: ordered Cypher files applied once each, recorded in the graph with their checksum.

The record lives in the graph itself (`(:Migration {version, name, checksum, applied_at})`) so every client of
a shared server agrees on the schema, and an applied file that was edited afterwards is refused rather than
silently diverging between installations.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from neo4j.exceptions import ConstraintError

from kg.kgstore.errors import MigrationError
from kg.kgstore.graph import GraphStore

FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.cypher$")


@dataclass
class Migration:
    version: int
    name: str
    checksum: str
    statements: list[str]


@dataclass
class MigrationStatus:
    version: int
    name: str
    state: str  # applied | pending
    applied_at: str | None = None


def _split(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("//")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or Path(str(resources.files("kg.migrations")))
    found: list[Migration] = []
    for path in sorted(directory.glob("*.cypher")):
        m = FILE_RE.match(path.name)
        if not m:
            raise MigrationError(f"{path}: migration files are named NNNN_name.cypher (lower case)")
        text = path.read_text(encoding="utf-8")
        found.append(Migration(int(m.group(1)), m.group(2), hashlib.sha256(text.encode()).hexdigest(), _split(text)))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"{directory}: two migration files share a version number")
    return found


def _applied(graph: GraphStore) -> dict[int, dict]:
    rows = graph.read(
        "MATCH (m:Migration) RETURN m.version AS version, m.name AS name, m.checksum AS checksum, "
        "toString(m.applied_at) AS applied_at"
    )
    return {int(r["version"]): r for r in rows}


def _verify(migrations: list[Migration], applied: dict[int, dict]) -> None:
    for m in migrations:
        done = applied.get(m.version)
        if done and done["checksum"] != m.checksum:
            raise MigrationError(
                f"migration {m.version:04d}_{m.name} was applied with checksum {done['checksum'][:12]}… but the file "
                f"now has {m.checksum[:12]}…: applied migrations must not be edited; add a new migration instead"
            )


def status(graph: GraphStore, directory: Path | None = None) -> list[MigrationStatus]:
    migrations = load_migrations(directory)
    applied = _applied(graph)
    _verify(migrations, applied)
    return [
        MigrationStatus(m.version, m.name, "applied" if m.version in applied else "pending",
                        applied.get(m.version, {}).get("applied_at"))
        for m in migrations
    ]


# Racing first commands may all find a migration pending: its statements are idempotent (IF NOT EXISTS), and this
# constraint makes the record unique, so each version is recorded once whoever wins.
RECORD_CONSTRAINT = "CREATE CONSTRAINT migration_version IF NOT EXISTS FOR (m:Migration) REQUIRE m.version IS UNIQUE"
RECORD_QUERY = ("MERGE (m:Migration {version: $version}) SET m.name = $name, m.checksum = $checksum, "
                "m.applied_at = datetime()")


def _record(graph: GraphStore, m: Migration) -> None:
    for _attempt in range(3):
        try:
            graph.write(RECORD_QUERY, version=m.version, name=m.name, checksum=m.checksum)
            return
        except ConstraintError:  # another process recorded it between our MERGE's lookup and its create
            if _applied(graph).get(m.version):
                return
    raise MigrationError(f"migration {m.version:04d}_{m.name}: could not record it (unique constraint conflicts)")


def migrate(graph: GraphStore, directory: Path | None = None) -> list[Migration]:
    """Apply pending migrations in order; returns the ones applied now (empty when up to date)."""
    migrations = load_migrations(directory)
    applied = _applied(graph)
    if any(m.version not in applied for m in migrations):
        # Records duplicated by earlier races would block the constraint: one per version is kept.
        graph.write("MATCH (m:Migration) WITH m.version AS v, collect(m) AS ms WHERE size(ms) > 1 "
                    "UNWIND ms[1..] AS extra DELETE extra")
        graph.write(RECORD_CONSTRAINT)
    _verify(migrations, applied)
    done: list[Migration] = []
    for m in migrations:
        if m.version in applied:
            continue
        for statement in m.statements:
            try:
                graph.write(statement)
            except Exception as exc:
                raise MigrationError(f"migration {m.version:04d}_{m.name} failed on `{statement[:80]}`: {exc}") from exc
        _record(graph, m)
        done.append(m)
    return done


def ensure_schema(graph: GraphStore) -> None:
    """Commands that need the schema call this first: a no-op once everything is applied."""
    migrate(graph)
