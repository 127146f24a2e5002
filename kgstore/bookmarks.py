"""Causal consistency across a graph cluster: the bookmarks of a routing (`neo4j://`) connection, kept in KG_HOME.

In a Neo4j cluster a read may go to a secondary that has not yet applied the last write. The driver's bookmark
manager makes each transaction wait for the ones before it in the same process; this file carries the last
bookmarks to the next `kg` process (a `kg query` after `kg link`), so it reads what the earlier one wrote too.
Keyed by server URI and database: bookmarks of one database mean nothing to another.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

from kg.kgstore.files import atomic_write
from kg.kgstore.private import open_private

FILE = "graph-bookmarks.json"
ROUTING_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc")


def routing(uri: str) -> bool:
    """Whether the URI asks for the driver's cluster routing (neo4j://) rather than one direct server (bolt://)."""
    return uri.partition("://")[0].lower() in ROUTING_SCHEMES


def direct_uri(uri: str, address: str) -> str:
    """The bolt URI of one cluster member at `address` (HOST:PORT), with the same encryption as `uri`."""
    return uri.partition("://")[0].lower().replace("neo4j", "bolt") + "://" + address


def _key(uri: str, database: str) -> str:
    return f"{uri} {database}"


def _read(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: no bookmark means no wait, never a wrong answer
        return {}
    return {k: [str(b) for b in v] for k, v in data.items() if isinstance(v, list)} if isinstance(data, dict) else {}


def load(path: Path, uri: str, database: str) -> list[str]:
    """The last bookmarks saved for `uri` and `database` (empty if none)."""
    return _read(path).get(_key(uri, database), [])


def save(path: Path, uri: str, database: str, bookmarks: list[str], started_with: list[str]) -> None:
    """Record `bookmarks` for the next process. Bookmarks another process saved meanwhile (not among the ones this
    one `started_with`) are kept too: the next process then waits for both writers."""
    with open_private(path.with_name(path.name + ".lock")) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = _read(path)
        key = _key(uri, database)
        others = [b for b in data.get(key, []) if b not in started_with and b not in bookmarks]
        data[key] = sorted(bookmarks) + others
        atomic_write(path, json.dumps(data, indent=1) + "\n")
