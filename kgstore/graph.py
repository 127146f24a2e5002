"""The graph store: one implementation over the official `neo4j` driver (Bolt).

Production is Neo4j 5; the embedded default and CI use ArcadeDB's Bolt server. Only Cypher both accept is used,
every query is parameterised, and writes go through managed transactions so the driver retries transient errors.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from neo4j import READ_ACCESS, Driver, GraphDatabase, ManagedTransaction, Transaction
from neo4j.exceptions import AuthError, ConfigurationError, Neo4jError, ServiceUnavailable

from kgstore.chunks import chunked
from kgstore.config import Config, redact_url, reveal
from kgstore.errors import ConfigError, GraphAuthError, GraphUnavailable, KgError
from kgstore.model import RESERVED_REL_TYPES

BOLT_SCHEMES = ("bolt", "neo4j", "bolt+s", "neo4j+s", "bolt+ssc", "neo4j+ssc")



# Longest wait for the server's next answer. A server that stops answering (ArcadeDB after a Bolt message it refuses
# as too large; a hung or partitioned server) is then an error instead of a wait for ever: the driver has no read
# timeout of its own, so it is set on each transaction's socket.
READ_TIMEOUT = 300.0


def _bound(tx: Any, seconds: float) -> None:
    """Give the transaction's connection a socket read timeout (the driver's own hook for server-sent hints)."""
    sock = getattr(getattr(tx, "_connection", None), "socket", None)
    if sock is not None and hasattr(sock, "set_read_timeout"):
        sock.set_read_timeout(seconds)


@dataclass
class ServerInfo:
    agent: str
    protocol: str
    address: str


class GraphStore:
    """Batched, parameterised reads and writes against one Bolt server and database."""

    def __init__(self, uri: str, user: str, password: str | None, database: str, *, embedded: bool = False,
                 read_timeout: float = READ_TIMEOUT):
        self.uri = redact_url(uri)  # what messages and `kg status` show
        self.database = database
        self.embedded = embedded
        self.read_timeout = read_timeout
        if self.uri != uri:  # the driver refuses userinfo with an error that echoes the whole URI
            raise ConfigError(
                f"the graph URI {self.uri} carries credentials (user:password@); remove them from KG_GRAPH_URI and set "
                "KG_GRAPH_USER and KG_GRAPH_PASSWORD instead"
            )
        scheme = uri.partition("://")[0].lower() if "://" in uri else ""
        if scheme not in BOLT_SCHEMES:  # the driver would try other transports (http: a missing aiohttp)
            raise ConfigError(f"bad graph URI {self.uri}: kg speaks Bolt; use one of "
                              f"{', '.join(s + '://HOST:PORT' for s in BOLT_SCHEMES)} (or unset KG_GRAPH_URI for the "
                              "embedded server)")
        try:
            self._driver: Driver = GraphDatabase.driver(
                uri, auth=(user, password or ""), connection_timeout=10, max_transaction_retry_time=30
            )
        except (ConfigurationError, ValueError):
            raise ConfigError(f"bad graph URI {self.uri}: use bolt://HOST:PORT or neo4j://HOST:PORT") from None
        self._check()

    @classmethod
    def from_config(cls, config: Config) -> "GraphStore":
        """Connect to KG_GRAPH_URI, or start/reuse the embedded server under KG_HOME."""
        if config.graph.embedded:
            from kgstore import embedded

            state = embedded.ensure_server(config.home, config.graph.heap, config.graph.idle_timeout)
            return cls(state.uri, embedded.USER, embedded.password(config.home), embedded.DATABASE, embedded=True)
        return cls(config.graph.uri or "", config.graph.user, reveal(config.graph.password),
                   config.graph.database)

    def _check(self) -> None:
        try:
            self._driver.verify_connectivity()
            self._driver.execute_query("RETURN 1", database_=self.database)
        except AuthError as exc:
            self.close()
            raise GraphAuthError(
                f"the graph server at {self.uri} refused the credentials (user/password); check KG_GRAPH_USER and "
                "KG_GRAPH_PASSWORD"
            ) from exc
        except (ServiceUnavailable, OSError) as exc:
            self.close()
            raise GraphUnavailable(
                f"cannot reach the graph server at {self.uri} ({exc.__class__.__name__}); is it running? Unset "
                "KG_GRAPH_URI to use the embedded server"
            ) from exc
        except Neo4jError as exc:
            self.close()
            raise GraphUnavailable(f"the graph server at {self.uri} rejected database {self.database!r}: {exc.message}") from exc

    def ping(self) -> None:
        """One cheap read: the server answers on this database (health checks)."""
        self.read("RETURN 1 AS ok")

    def server_info(self) -> ServerInfo:
        info = self._driver.get_server_info()
        return ServerInfo(info.agent, ".".join(map(str, info.protocol_version)), str(info.address))

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> "GraphStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bounded(self, fn: Callable[[ManagedTransaction], Any]) -> Callable[[ManagedTransaction], Any]:
        def run(tx: ManagedTransaction) -> Any:
            _bound(tx, self.read_timeout)
            return fn(tx)

        return run

    def read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        with self._driver.session(database=self.database) as session:
            return session.execute_read(self._bounded(lambda tx: [r.data() for r in tx.run(query, params)]))

    def write(self, query: str, **params: Any) -> list[dict[str, Any]]:
        with self._driver.session(database=self.database) as session:
            return session.execute_write(self._bounded(lambda tx: [r.data() for r in tx.run(query, params)]))

    def write_fn(self, fn: Callable[[ManagedTransaction], Any]) -> Any:
        """Run several statements in one retried transaction."""
        with self._driver.session(database=self.database) as session:
            return session.execute_write(self._bounded(fn))

    def write_batches(self, query: str, rows: Iterable[dict[str, Any]], batch_size: int = 1000, **params: Any) -> int:
        """UNWIND `$rows` in batches, one transaction each; returns the number of rows written."""
        total = 0
        for batch in chunked(rows, batch_size):
            self.write(query, rows=batch, **params)
            total += len(batch)
        return total

    def read_only(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """Run a query in a read transaction that is always rolled back.

        ArcadeDB ignores the driver's read access mode, so the rollback is what keeps a user's ad-hoc query from
        changing the graph there; Neo4j refuses writes in a read transaction anyway.
        """
        with self._driver.session(database=self.database, default_access_mode=READ_ACCESS) as session:
            tx = session.begin_transaction()
            _bound(tx, self.read_timeout)
            try:
                return [r.data() for r in tx.run(query, params)]
            finally:
                if not tx.closed():
                    tx.rollback()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """An explicit transaction: committed on success, rolled back on any exception."""
        with self._driver.session(database=self.database) as session:
            tx = session.begin_transaction()
            _bound(tx, self.read_timeout)
            try:
                yield tx
                tx.commit()
            except BaseException:
                if not tx.closed():
                    tx.rollback()
                raise

    def count(self, query: str, **params: Any) -> int:
        rows = self.read(query, **params)
        return int(next(iter(rows[0].values()))) if rows else 0


def validate_rel_type(pid: str) -> str:
    """Relationship types cannot be parameters: only validated PIDs or safe names are formatted into Cypher."""
    if not re.fullmatch(r"P[1-9][0-9]*|[A-Za-z][A-Za-z0-9_]{0,63}", pid) or pid.upper() in RESERVED_REL_TYPES:
        raise KgError(f"invalid relationship type {pid!r}")
    return pid

