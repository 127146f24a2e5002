"""The graph store: one implementation over the official `neo4j` driver (Bolt).

Production is Neo4j 5; the embedded default and CI use ArcadeDB's Bolt server. Only Cypher both accept is used,
every query is parameterised, and writes go through managed transactions so the driver retries transient errors.
Every read goes with READ access and every write with WRITE access: over a `neo4j://` URI the driver's routing
sends them to a cluster's readers and writer, and one bookmark manager (saved in KG_HOME, see kgstore.bookmarks)
makes each read wait for the writes before it, in this process and the ones before.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo4j import (
    READ_ACCESS,
    WRITE_ACCESS,
    Bookmarks,
    Driver,
    GraphDatabase,
    ManagedTransaction,
    Result,
    RoutingControl,
    Session,
    Transaction,
)
from neo4j.api import BookmarkManager
from neo4j.exceptions import AuthError, ConfigurationError, DriverError, Neo4jError, ServiceUnavailable

from kg.kgstore import bookmarks
from kg.kgstore.chunks import chunked
from kg.kgstore.config import Config, redact_url, reveal
from kg.kgstore.errors import ConfigError, GraphAuthError, GraphUnavailable, KgError, QueryTimeout
from kg.kgstore.model import RESERVED_REL_TYPES

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


def _set_deadline(tx: Any, seconds: float) -> bool:
    """Make every read on the transaction's connection fail once `seconds` have passed in all (not per read)."""
    try:
        from neo4j._deadline import Deadline
    except ImportError:  # a driver without it: the server-side transaction timeout is the only bound
        return False
    sock = getattr(getattr(tx, "_connection", None), "socket", None)
    if sock is None or not hasattr(sock, "set_read_deadline"):
        return False
    sock.set_read_deadline(Deadline(seconds))
    return True


class _OwnDeadline(logging.Filter):
    """Drops the driver's error log for a read stopped by kg's own deadline: kg reports the time limit itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SocketDeadlineExceededError" not in record.getMessage()


def _client_address(tx: Any) -> tuple[str, int] | None:
    """The transaction's connection as the server sees it (host, port): how SHOW TRANSACTIONS names it."""
    try:
        host, port = tx._connection.socket.getsockname()[:2]
        return str(host), int(port)
    except (AttributeError, OSError, TypeError, ValueError):
        return None


def _server_address(tx: Any) -> str | None:
    """HOST:PORT of the server the transaction runs on, as the cluster's routing table names it."""
    address = getattr(getattr(tx, "_connection", None), "unresolved_address", None)
    return None if address is None else f"{address.host}:{address.port}"


def _kill(tx: Any) -> None:
    """Drop the transaction's connection without a word to the server: after an interrupt the connection may be
    mid-message, and a polite rollback would wait for the server to finish the very query being abandoned."""
    connection = getattr(tx, "_connection", None)
    if connection is not None and hasattr(connection, "kill"):
        connection.kill()


def _same_client(address: str | None, client: tuple[str, int]) -> bool:
    """SHOW TRANSACTIONS' clientAddress ('127.0.0.1:5432' on Neo4j, '/127.0.0.1:5432' on ArcadeDB) is `client`."""
    host, _, port = (address or "").rpartition(":")
    return port == str(client[1]) and host.strip("/[]") == client[0]


@dataclass
class ServerInfo:
    agent: str
    protocol: str
    address: str


class GraphStore:
    """Batched, parameterised reads and writes against one Bolt server and database, or a cluster (`neo4j://`).

    With a routing URI and `bookmarks_path`, the bookmarks saved there by the last process are where this one's
    reads start, and close() saves this one's last bookmarks for the next."""

    def __init__(self, uri: str, user: str, password: str | None, database: str, *, embedded: bool = False,
                 read_timeout: float = READ_TIMEOUT, bookmarks_path: Path | None = None):
        self.uri = redact_url(uri)  # what messages and `kg status` show
        self.database = database
        self.embedded = embedded
        self.read_timeout = read_timeout
        self.routing = bookmarks.routing(uri)
        self._raw_uri, self._auth = uri, (user, password or "")
        self._bookmarks_path = bookmarks_path if self.routing else None
        self._saved: list[str] = []
        self._bookmarks: BookmarkManager | None = None
        if self._bookmarks_path is not None:
            self._saved = bookmarks.load(self._bookmarks_path, self.uri, database)
        if self.routing:  # a direct bolt:// server is its own writer and reader: nothing to wait for
            self._bookmarks = GraphDatabase.bookmark_manager(
                initial_bookmarks=Bookmarks.from_raw_values(self._saved))
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
                uri, auth=self._auth, connection_timeout=10, max_transaction_retry_time=30
            )
        except (ConfigurationError, ValueError):
            raise ConfigError(f"bad graph URI {self.uri}: use bolt://HOST:PORT or neo4j://HOST:PORT") from None
        self._check()

    @classmethod
    def from_config(cls, config: Config) -> GraphStore:
        """Connect to KG_GRAPH_URI, or start/reuse the embedded server under KG_HOME."""
        if config.graph.embedded:
            from kg.kgstore import embedded

            state = embedded.ensure_server(config.home, config.graph.heap, config.graph.idle_timeout)
            return cls(state.uri, embedded.USER, embedded.password(config.home), embedded.DATABASE, embedded=True)
        return cls(config.graph.uri or "", config.graph.user, reveal(config.graph.password),
                   config.graph.database, bookmarks_path=config.home / bookmarks.FILE)

    def _check(self) -> None:
        try:
            self._driver.verify_connectivity()
            self._driver.execute_query("RETURN 1", database_=self.database, routing_=RoutingControl.READ,
                                       bookmark_manager_=self._bookmarks)
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
            self._driver.close()  # not close(): the bookmarks it would save are the ones refused
            if "Bookmark" in (exc.code or "") and self._bookmarks_path is not None:
                raise GraphUnavailable(
                    f"the graph cluster at {self.uri} does not know the last writes kg recorded for database "
                    f"{self.database!r} ({exc.code}); if that database was recreated, delete {self._bookmarks_path}"
                ) from exc
            raise GraphUnavailable(f"the graph server at {self.uri} rejected database {self.database!r}: {exc.message}") from exc

    def ping(self) -> None:
        """One cheap read: the server answers on this database (health checks)."""
        self.read("RETURN 1 AS ok")

    def server_info(self) -> ServerInfo:
        info = self._driver.get_server_info()
        return ServerInfo(info.agent, ".".join(map(str, info.protocol_version)), str(info.address))

    def close(self) -> None:
        self._driver.close()
        if self._bookmarks_path is not None and self._bookmarks is not None:
            last = sorted(self._bookmarks.get_bookmarks())
            if last != sorted(self._saved):
                bookmarks.save(self._bookmarks_path, self.uri, self.database, last, self._saved)
                self._saved = last

    def _session(self, mode: str) -> Session:
        """A session on the store's database: READ_ACCESS for reads, WRITE_ACCESS for writes (the routing driver
        picks a reader or the writer by it), sharing the store's bookmarks."""
        return self._driver.session(database=self.database, default_access_mode=mode,
                                    bookmark_manager=self._bookmarks)

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bounded(self, fn: Callable[[ManagedTransaction], Any]) -> Callable[[ManagedTransaction], Any]:
        def run(tx: ManagedTransaction) -> Any:
            _bound(tx, self.read_timeout)
            return fn(tx)

        return run

    def read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        with self._session(READ_ACCESS) as session:
            return session.execute_read(self._bounded(lambda tx: [r.data() for r in tx.run(query, params)]))

    def write(self, query: str, **params: Any) -> list[dict[str, Any]]:
        with self._session(WRITE_ACCESS) as session:
            return session.execute_write(self._bounded(lambda tx: [r.data() for r in tx.run(query, params)]))

    def write_fn(self, fn: Callable[[ManagedTransaction], Any]) -> Any:
        """Run several statements in one retried transaction."""
        with self._session(WRITE_ACCESS) as session:
            return session.execute_write(self._bounded(fn))

    def write_batches(self, query: str, rows: Iterable[dict[str, Any]], batch_size: int = 1000, **params: Any) -> int:
        """UNWIND `$rows` in batches, one transaction each; returns the number of rows written."""
        total = 0
        for batch in chunked(rows, batch_size):
            self.write(query, rows=batch, **params)
            total += len(batch)
        return total

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """An explicit transaction: committed on success, rolled back on any exception."""
        with self._session(WRITE_ACCESS) as session:
            tx = session.begin_transaction()
            _bound(tx, self.read_timeout)
            try:
                yield tx
                tx.commit()
            except BaseException:
                if not tx.closed():
                    tx.rollback()
                raise

    @contextmanager
    def bounded(self, query: str, params: dict[str, Any], *, write: bool, timeout: float) -> Iterator[Result]:
        """Run one query in its own transaction, limited to `timeout` seconds from start to commit, and yield its
        result to be read record by record (the driver pulls 1000 at a time: nothing is buffered in full).

        The limit is sent to the server as the transaction timeout, which Neo4j enforces. ArcadeDB ignores it,
        so kg also stops reading at the deadline; then, and whenever the caller leaves early (an exception,
        Ctrl-C, a signal turned into an exception), the connection is dropped and the transaction is terminated
        on the server (TERMINATE TRANSACTION), which would otherwise compute on for a client that is gone.
        The transaction is committed if `write`, else always rolled back: ArcadeDB ignores the read access mode,
        so the rollback is what keeps a read-only query from changing the graph there (Neo4j refuses writes in a
        read transaction anyway). Raises QueryTimeout at the deadline.
        """
        mode = WRITE_ACCESS if write else READ_ACCESS
        quiet, driver_log = _OwnDeadline(), logging.getLogger("neo4j.io")
        driver_log.addFilter(quiet)
        with self._session(mode) as session:
            started = time.monotonic()
            tx = session.begin_transaction(timeout=timeout)
            _bound(tx, self.read_timeout)
            _set_deadline(tx, timeout)
            client, server = _client_address(tx), _server_address(tx)
            try:
                yield tx.run(query, params)
                if write:
                    tx.commit()
                else:
                    tx.rollback()
            except Neo4jError as exc:  # the server has ended the transaction itself
                if "TransactionTimedOut" in (exc.code or ""):
                    raise QueryTimeout(f"the query ran past its time limit of {timeout:g} s and was stopped on "
                                       "the graph server") from None
                raise
            except BaseException as exc:
                _kill(tx)
                stopped = client is not None and self._terminate(client, server)
                if isinstance(exc, DriverError) and time.monotonic() - started >= timeout:
                    where = ("stopped on the graph server" if stopped else
                             "abandoned (kg closed the connection; the graph server did not list it to stop)")
                    raise QueryTimeout(f"the query ran past its time limit of {timeout:g} s and was {where}") from None
                raise
            finally:
                driver_log.removeFilter(quiet)

    def _terminate(self, client: tuple[str, int], server: str | None, settle: float = 5.0) -> bool:
        """Terminate on the server the transactions of the connection from `client`, then wait up to `settle`
        seconds until the server no longer lists them; best effort: True if any was listed and is gone.

        A cluster member lists and terminates only its own transactions, so with a routing URI this talks to
        `server`, the member the transaction ran on, directly. Runs on fresh connections with a short read
        timeout, so a server that does not answer cannot hold kg."""
        if self.routing and server is None:
            return False
        member = (GraphDatabase.driver(bookmarks.direct_uri(self._raw_uri, server or ""), auth=self._auth,
                                       connection_timeout=10) if self.routing else self._driver)
        try:
            ids = self._client_transactions(member, client)
            for tid in ids:
                self._admin(member, "TERMINATE TRANSACTION $id", id=tid)
            until = time.monotonic() + settle
            while ids and set(ids) & set(self._client_transactions(member, client)):
                if time.monotonic() > until:
                    return False
                time.sleep(0.1)
        except (Neo4jError, DriverError, OSError):  # not supported, no privilege, or the server is gone
            return False
        finally:
            if member is not self._driver:
                member.close()
        return bool(ids)

    def _client_transactions(self, member: Driver, client: tuple[str, int]) -> list[str]:
        rows = self._admin(member, "SHOW TRANSACTIONS YIELD transactionId, clientAddress")
        return [r["transactionId"] for r in rows if _same_client(r.get("clientAddress"), client)]

    def _admin(self, member: Driver, query: str, **params: Any) -> list[dict[str, Any]]:
        """An administration command on one server (a cluster member takes it in a read transaction too)."""
        mode = READ_ACCESS if self.routing else WRITE_ACCESS
        with member.session(database=self.database, default_access_mode=mode) as session:
            tx = session.begin_transaction()
            _bound(tx, 10.0)
            try:
                return tx.run(query, params).data()
            finally:
                tx.close()

    def count(self, query: str, **params: Any) -> int:
        rows = self.read(query, **params)
        return int(next(iter(rows[0].values()))) if rows else 0


def validate_rel_type(pid: str) -> str:
    """Relationship types cannot be parameters: only validated PIDs or safe names are formatted into Cypher."""
    if not re.fullmatch(r"P[1-9][0-9]*|[A-Za-z][A-Za-z0-9_]{0,63}", pid) or pid.upper() in RESERVED_REL_TYPES:
        raise KgError(f"invalid relationship type {pid!r}")
    return pid

