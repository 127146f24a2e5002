"""The Cypher console behind `kg query cypher`: read-only unless asked, write clauses refused first."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kgstore.errors import InputError
from kgstore.graph import GraphStore


@dataclass
class CypherResult:
    columns: list[str]
    rows: list[dict[str, Any]]
    write: bool = False


# A `//` comment ends at any line break a parser may honour (a carriage return ends it for Cypher).
_LITERALS = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n\r\v\f\x85\u2028\u2029]*|/\*.*?\*/", re.S
)
_WRITES = re.compile(
    r"(?<![\w.$])(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|DROP|FOREACH|INSERT|LOAD\s+CSV|IN\s+TRANSACTIONS"
    r"|ALTER|GRANT|DENY|REVOKE|RENAME)(?![\w])",
    re.I,
)
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def write_clauses(query: str) -> list[str]:
    """The write (or admin) clauses in a Cypher query, outside string literals, quoted names and comments;
    an approximation that errs on the side of refusing."""
    code = _LITERALS.sub(" ", query)
    return sorted({" ".join(m.group(1).upper().split()) for m in _WRITES.finditer(code)})


def parse_params(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`key=value` pairs -> query parameters; a value that parses as JSON is that JSON value, else the string."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not _PARAM_NAME.fullmatch(key):
            raise InputError(f"bad parameter {pair!r}: write it as name=value (name: letters, digits, _)")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def run_cypher(
    graph: GraphStore, query: str, params: dict[str, Any] | None = None, write: bool = False
) -> CypherResult:
    """Run a user's Cypher query; unless `write`, write clauses are refused and the query runs in a transaction
    that is always rolled back (the server, not only the clause check, keeps the graph unchanged)."""
    from neo4j.exceptions import ClientError, DatabaseError

    if not query.strip():
        raise InputError("empty Cypher query")
    if not write:
        found = write_clauses(query)
        if found:
            raise InputError(
                f"the query has write clauses ({', '.join(found)}) and `kg query cypher` is read-only: pass --write "
                "to let it change the graph"
            )
    try:
        rows = (graph.write if write else graph.read_only)(query, **(params or {}))
    except (ClientError, DatabaseError) as exc:
        message = (exc.message or str(exc)).strip()
        raise InputError(f"the graph server rejected the query: {message}") from exc
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return CypherResult(columns, rows, write)
