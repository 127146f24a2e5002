"""The Cypher console behind `kg query cypher`: read-only unless asked, write clauses refused first."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kg.kgstore.errors import InputError, QueryTimeout
from kg.kgstore.graph import GraphStore

DEFAULT_TIMEOUT = 60.0  # seconds
DEFAULT_LIMIT = 1000  # rows; 0 = no cap


@dataclass
class CypherRows:
    """The rows of a running query, read as they arrive, up to `limit` (0: all); `cut` says whether more were
    left unread once the iteration has ended."""

    columns: list[str]
    records: Iterator[Any] = field(repr=False)
    limit: int = DEFAULT_LIMIT
    write: bool = False
    cut: bool = False
    count: int = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for record in self.records:
            if self.limit and self.count == self.limit:
                self.cut = True
                return
            self.count += 1
            yield record.data()


@dataclass
class CypherResult:
    columns: list[str]
    rows: list[dict[str, Any]]
    write: bool = False
    cut: bool = False


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


@contextmanager
def open_cypher(
    graph: GraphStore, query: str, params: dict[str, Any] | None = None, *, write: bool = False,
    timeout: float = DEFAULT_TIMEOUT, limit: int = DEFAULT_LIMIT,
) -> Iterator[CypherRows]:
    """Run a user's Cypher query and yield its rows to be read as they arrive; unless `write`, write clauses are
    refused and the query runs in a transaction that is always rolled back (the server, not only the clause
    check, keeps the graph unchanged). The query is stopped on the server after `timeout` seconds or when the
    caller leaves early (see GraphStore.bounded); reading stops after `limit` rows."""
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
        with graph.bounded(query, params or {}, write=write, timeout=timeout) as result:
            yield CypherRows(list(result.keys()), iter(result), limit, write)
    except (ClientError, DatabaseError) as exc:
        message = (exc.message or str(exc)).strip()
        raise InputError(f"the graph server rejected the query: {message}") from exc
    except QueryTimeout as exc:
        raise QueryTimeout(f"{exc}: narrow the query (a LIMIT, a more selective MATCH) or raise --timeout") from None


def run_cypher(
    graph: GraphStore, query: str, params: dict[str, Any] | None = None, write: bool = False, *,
    timeout: float = DEFAULT_TIMEOUT, limit: int = DEFAULT_LIMIT,
) -> CypherResult:
    """`open_cypher` with its rows (at most `limit`) collected in a list."""
    with open_cypher(graph, query, params, write=write, timeout=timeout, limit=limit) as rows:
        collected = list(rows)
    return CypherResult(rows.columns, collected, write, rows.cut)
