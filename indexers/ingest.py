"""The ingest pipeline: stream a KB file, decode entities in worker processes, write batches, checkpoint.

The reader streams raw lines in constant memory; workers (`--workers`) do the JSON decoding and parsing, which is
where the CPU goes; the main process writes batches in order, each in one transaction with the checkpoint (its
last line), so `--resume` continues exactly where the last committed batch ended and re-processing a batch is
harmless (writes are idempotent).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from neo4j.exceptions import ClientError, DatabaseError, DriverError, Neo4jError

from kg.indexers.priors import ingest_alias_counts
from kg.indexers.sources import InputTracker, TruncatedInput, detect_format, iter_raw, parse_batch, prefix_sha1
from kg.kgstore.checkpoints import IngestCheckpoint, load_checkpoint, probe_write, save_checkpoint
from kg.kgstore.entity_writes import PreparedEntity, WriteResult, prepare, write_entities
from kg.kgstore.errors import KgError
from kg.kgstore.graph import GraphStore
from kg.kgstore.model import EntityRecord
from kg.kgstore.private import open_private

CHUNK_LINES = 200  # lines per worker task: large enough to amortise pickling, small enough to keep workers busy
# ArcadeDB refuses a Bolt message over 16 MiB ("BOLT message too large") and the driver then waits for ever, so
# batches are cut by bytes as well as by count: a batch is flushed once it holds MAX_BATCH_BYTES, and an entity that
# alone holds more than MAX_ENTITY_BYTES is a bad line; the largest message stays under 12 MiB.
MAX_BATCH_BYTES = 4 << 20
MAX_ENTITY_BYTES = 8 << 20
# What a batch's data can make a write fail with (a value the driver cannot send, a write the server refuses): the
# batch is then bisected to find the line. Connection errors (ServiceUnavailable, ...) are not data errors.
DATA_ERRORS = (ClientError, DatabaseError, KgError, ValueError, TypeError, OverflowError)
ParsedChunk = list[tuple[int, PreparedEntity | None | str]]  # (line, entity, or None to skip, or why it is bad)
# a generator, so that closing it stops its workers
ChunkParser = Callable[[str, Iterator[tuple[int, str]], "IngestOptions"], Generator[ParsedChunk, None, None]]


@dataclass
class IngestOptions:
    fmt: str | None = None
    langs: tuple[str, ...] = ("en",)
    fallback: str | None = "mul"
    workers: int = 0  # 0: one per core
    batch_size: int = 2000
    limit: int | None = None
    resume: bool = False
    errors_path: Path | None = None
    # what turns the raw lines into parsed chunks, in file order (None: this machine's decoding processes;
    # kg.ray_engine.ingest: Ray tasks on a cluster's cores)
    parser: ChunkParser | None = None


@dataclass
class IngestSummary:
    path: str
    format: str
    lines_read: int = 0
    entities: int = 0
    unchanged: int = 0
    relationships: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    entities_per_s: float = 0.0
    resumed_from_line: int = 0
    last_committed_line: int = 0
    errors_file: str | None = None
    workers: int = 0
    note: str | None = None
    fatal: str | None = None
    interrupted: bool = False  # Ctrl-C: `fatal` says how far it got

    @property
    def status(self) -> str:
        if self.fatal:
            return "failed"
        return "partial" if self.errors else "ok"

    def to_dict(self) -> dict:
        return {**asdict(self), "status": self.status}


def checkpoint_key(path: Path, fmt: str) -> str:
    return hashlib.sha1(f"{path.resolve()}|{fmt}".encode()).hexdigest()


def read_checkpoint(graph: GraphStore, key: str, path: Path) -> tuple[int, str | None]:
    """The line to resume after, and why it is 0 when the file is not the one the checkpoint was made on."""
    saved = load_checkpoint(graph, key)
    if saved is None:
        return 0, None
    if saved.read_bytes is not None and path.is_file() and prefix_sha1(path, saved.read_bytes) != saved.read_sha1:
        return 0, (f"{path} is not the file the checkpoint was made on (its first {saved.read_bytes:,} bytes "
                   "differ): read from the start")
    return saved.line, None


def line_chunks(items: Iterator[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    """Fixed-size chunks; on a truncated input the lines read before the damage still come out first."""
    chunk: list[tuple[int, str]] = []
    try:
        for item in items:
            chunk.append(item)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    except TruncatedInput:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def _prepare(item: EntityRecord) -> PreparedEntity | str:
    try:
        return prepare(item)
    except UnicodeEncodeError as exc:
        return f"text that cannot be stored as UTF-8 (a lone surrogate at position {exc.start} of a value)"
    except (ValueError, TypeError) as exc:
        return f"cannot be stored: {type(exc).__name__}: {str(exc)[:200]}"


def parse_and_prepare(
    fmt: str, items: list[tuple[int, str]], langs: list[str], fallback: str | None
) -> list[tuple[int, PreparedEntity | None | str]]:
    return [(line, _prepare(item) if isinstance(item, EntityRecord) else item)
            for line, item in parse_batch(fmt, items, langs, fallback)]


def _reason(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, Neo4jError) and exc.message else f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())[:300]


LOST = "lost the graph server (it stopped or is unreachable)"


def _answers(graph: GraphStore) -> bool:
    """Whether the graph server still answers a read: tells a stopped server from one that refuses writes."""
    try:
        graph.ping()
    except (DriverError, Neo4jError, KgError, OSError):
        return False
    return True


class GraphWriteFailed(KgError):
    """The graph server failed a write that holds no entity: the server, not the input, is at fault."""


def _die_with(parent: int) -> None:
    """Worker initializer: exit as soon as the ingesting process is gone, so that a SIGKILLed ingest leaves no
    workers behind (they are the forkserver's children and would otherwise wait on their queue for ever); the
    forkserver and the resource tracker then see their pipes close and exit too."""
    try:
        fd = os.pidfd_open(parent)
    except ProcessLookupError:
        os._exit(1)

    def watch() -> None:
        select.select([fd], [], [])
        os._exit(1)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent handles it

    threading.Thread(target=watch, name="kg-die-with-parent", daemon=True).start()


def worker_count(requested: int) -> int:
    """`--workers`, 0 meaning one per core, capped at the cores: more decoding processes only cost memory."""
    cores = os.cpu_count() or 1
    return min(requested or cores, cores)


def _parsed_chunks(
    fmt: str, raw: Iterator[tuple[int, str]], opts: IngestOptions
) -> Generator[ParsedChunk, None, None]:
    """Parsed chunks in file order, ready to write; parallel when workers > 1, bounded read-ahead keeps memory
    constant."""
    work = partial(parse_and_prepare, fmt, langs=list(opts.langs), fallback=opts.fallback)
    workers = worker_count(opts.workers)
    chunks = line_chunks(raw, CHUNK_LINES)
    head: list[list[tuple[int, str]]] = []
    try:
        for chunk in chunks:
            head.append(chunk)
            if len(head) > 2:
                break
    except TruncatedInput:
        yield from map(work, head)
        raise
    if workers <= 1 or len(head) <= 2:  # small input: starting worker processes costs more than it saves
        yield from map(work, head)
        yield from map(work, chunks)
        return
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("forkserver"), initializer=_die_with,
                             initargs=(os.getpid(),)) as pool:
        pending = [pool.submit(work, c) for c in head]
        try:
            for chunk in chunks:
                pending.append(pool.submit(work, chunk))
                if len(pending) >= workers * 4:
                    yield pending.pop(0).result()
        except TruncatedInput:  # every chunk read before the damage is still delivered
            for fut in pending:
                yield fut.result()
            raise
        for fut in pending:
            yield fut.result()


@contextmanager
def _ctrl_c_as_a_request() -> Iterator[threading.Event]:
    """While ingesting, the first Ctrl-C only sets the returned event, which the loop checks between lines: a
    KeyboardInterrupt raised anywhere (inside the driver's finalisers, say, where Python ignores it) could otherwise
    be lost and the ingest run on to the end. A second Ctrl-C interrupts at once."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested  # signal handlers live in the main thread: elsewhere Ctrl-C stays a KeyboardInterrupt
        return

    def on_sigint(signum: int, frame: object) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


def ingest(
    graph: GraphStore,
    path: Path,
    opts: IngestOptions,
    progress: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    """Ingest one KB file or directory; never raises for bad lines or a truncated file (see summary.fatal)."""
    fmt = opts.fmt or detect_format(path)
    if fmt == "alias-counts":
        return _ingest_priors(graph, path, opts, progress)
    key = checkpoint_key(path, fmt)
    start_line, note = read_checkpoint(graph, key, path) if opts.resume else (0, None)
    summary = IngestSummary(path=str(path), format=fmt, resumed_from_line=start_line, last_committed_line=start_line,
                            note=note, workers=worker_count(opts.workers))
    tracker = InputTracker()
    stat = path.stat()
    errors_path = opts.errors_path or Path.cwd() / f"{path.name}.errors.jsonl"
    errors_fh = None
    started = time.monotonic()
    batch: list[tuple[int, PreparedEntity]] = []
    batch_bytes = 0
    batch_last_line = start_line
    # One writer thread: the graph server writes batch N while this thread reads and the workers parse batch N+1.
    # At most one batch is in flight (memory stays bounded) and batches commit in file order, each with its
    # checkpoint, so --resume semantics are unchanged.
    writer = ThreadPoolExecutor(1, thread_name_prefix="kg-ingest-writer")
    in_flight: Future | None = None

    def write_or_bisect(items: list[tuple[int, PreparedEntity]], checkpoint: IngestCheckpoint | None,
                        result: WriteResult, bad: list[tuple[int, str]]) -> None:
        """Write `items` (and `checkpoint`) in one transaction; if their data fails it, write each half alone, down to
        the one line at fault, which is returned in `bad`. Halves commit separately: the checkpoint goes with the
        last one, and a resume re-writes the batch harmlessly."""
        try:
            r = write_entities(graph, [e for _, e in items], source=path.name, checkpoint=checkpoint)
        except DATA_ERRORS as exc:
            if len(items) > 1:
                mid = len(items) // 2
                write_or_bisect(items[:mid], None, result, bad)
                write_or_bisect(items[mid:], checkpoint, result, bad)
                return
            try:  # one entity left: a write without it tells whether the entity or the server is at fault
                if checkpoint is not None:
                    save_checkpoint(graph, checkpoint)
                else:
                    probe_write(graph, key)
            except DATA_ERRORS as server_exc:
                if not _answers(graph):  # a server shutting down fails writes with odd errors before it goes
                    raise GraphWriteFailed(f"{LOST}: {_reason(server_exc)}") from server_exc
                raise GraphWriteFailed(
                    f"the graph server answers but fails every write ({_reason(server_exc)}); is its disk full or "
                    "the database read-only? See its log"
                ) from server_exc
            bad.append((items[0][0], f"the graph refused this entity: {_reason(exc)}"))
            return
        result.written += r.written
        result.unchanged += r.unchanged
        result.relationships += r.relationships

    def checkpoint_at(last_line: int, finished: bool) -> IngestCheckpoint:
        read_bytes, read_sha1 = tracker.snapshot() if tracker.position else (None, None)
        return IngestCheckpoint(key=key, path=str(path.resolve()), format=fmt, line=last_line, finished=finished,
                                read_bytes=read_bytes, read_sha1=read_sha1, size=stat.st_size, mtime=stat.st_mtime)

    def write(items: list[tuple[int, PreparedEntity]], checkpoint: IngestCheckpoint) -> tuple[WriteResult, list, int]:
        result = WriteResult()
        bad: list[tuple[int, str]] = []
        if items:
            write_or_bisect(items, checkpoint, result, bad)
        else:
            save_checkpoint(graph, checkpoint)
        return result, bad, checkpoint.line

    def collect() -> None:
        nonlocal in_flight
        if in_flight is not None:
            result, bad, last_line = in_flight.result()  # a failed write raises here
            in_flight = None
            summary.entities += result.written
            summary.unchanged += result.unchanged
            summary.relationships += result.relationships
            summary.last_committed_line = last_line
            for line, reason in bad:
                record_error(line, reason)

    def flush() -> None:
        nonlocal batch, batch_bytes, in_flight
        collect()
        in_flight = writer.submit(write, batch, checkpoint_at(batch_last_line, False))
        batch, batch_bytes = [], 0

    def record_error(line: int, reason: str) -> None:
        nonlocal errors_fh
        summary.errors += 1
        if errors_fh is None:
            errors_fh = open_private(errors_path, "a", encoding="utf-8")  # raw input lines: the owner's alone
            summary.errors_file = str(errors_path)
        errors_fh.write(json.dumps({"file": str(path), "line": line, "reason": reason}, ensure_ascii=False) + "\n")

    def kept() -> str:
        return f"entities up to line {summary.last_committed_line} are committed"

    seen = 0
    raw = iter_raw(path, fmt, start_line=start_line, tracker=tracker)
    chunks = (opts.parser or _parsed_chunks)(fmt, raw, opts)
    with _ctrl_c_as_a_request() as stop:
        try:
            for chunk in chunks:
                for line, item in chunk:
                    if stop.is_set():
                        raise KeyboardInterrupt
                    summary.lines_read += 1
                    batch_last_line = line
                    if isinstance(item, str):
                        record_error(line, item)
                    elif item is None:  # lexemes, forms, senses, media info: counted, not failed
                        summary.skipped += 1
                    elif item.size > MAX_ENTITY_BYTES:
                        seen += 1
                        record_error(line, f"entity too large to write: about {item.size >> 20} MiB of properties "
                                           f"(limit {MAX_ENTITY_BYTES >> 20} MiB)")
                    else:
                        batch.append((line, item))
                        batch_bytes += item.size
                        seen += 1
                    if opts.limit is not None and seen >= opts.limit:
                        break
                    if len(batch) >= opts.batch_size or batch_bytes >= MAX_BATCH_BYTES:
                        flush()
                if progress:
                    progress(summary.lines_read, seen)
                if opts.limit is not None and seen >= opts.limit:
                    break
            flush()
            collect()
            if opts.limit is None:
                save_checkpoint(graph, checkpoint_at(batch_last_line, True))
        except TruncatedInput as exc:
            if exc.corrupt:  # the lines just before damaged data may be garbage: the batch being filled is dropped
                batch = []
                collect()
                summary.fatal = (f"{exc}; {kept()}, the lines read after that were not: replace the file, then rerun "
                                 "with --resume (a replaced file is read from the start)")
            else:  # cut short: everything decoded before the end is kept
                flush()
                collect()
                summary.fatal = f"{exc}; {kept()}: rerun with --resume once the file is complete"
        except (DriverError, Neo4jError, GraphWriteFailed) as exc:  # the server went away, or fails every write
            what = exc.args[0] if isinstance(exc, GraphWriteFailed) else f"{LOST}: {_reason(exc)}"
            summary.fatal = f"{what}; {kept()}: once the server is back, rerun `kg ingest {path} --resume`"
        except KeyboardInterrupt:  # Ctrl-C: the batch being written commits (or not) before the summary says how far
            summary.interrupted = True
            try:  # noqa: SIM105 (the comment below says why nothing is done)
                collect()
            except (KeyboardInterrupt, DriverError, Neo4jError, GraphWriteFailed):
                pass  # that batch did not commit: the line below is the last one that did
            summary.fatal = f"interrupted; {kept()}: rerun `kg ingest {path} --resume` to go on from there"
        finally:
            chunks.close()  # stops the decoding processes, if any
            writer.shutdown(wait=True)  # never leave a write running behind the caller's back
            if errors_fh is not None:
                errors_fh.close()
            summary.seconds = round(time.monotonic() - started, 3)
            done = summary.entities + summary.unchanged
            summary.entities_per_s = round(done / summary.seconds, 1) if summary.seconds else 0.0
    return summary


def _ingest_priors(graph: GraphStore, path: Path, opts: IngestOptions,
                   progress: Callable[[int, int], None] | None) -> IngestSummary:
    """Alias statistics are no entities: they update the priors of entities already in the graph."""
    started = time.monotonic()
    result = ingest_alias_counts(graph, path, progress)
    summary = IngestSummary(path=str(path), format="alias-counts", lines_read=result.lines, entities=result.entities,
                            unchanged=result.pairs if result.already else 0, skipped=result.unknown)
    if result.bad:
        errors_path = opts.errors_path or Path.cwd() / f"{path.name}.errors.jsonl"
        with open_private(errors_path, "a", encoding="utf-8") as f:
            for line, reason in result.bad:
                f.write(json.dumps({"file": str(path), "line": line, "reason": reason}, ensure_ascii=False) + "\n")
        summary.errors, summary.errors_file = len(result.bad), str(errors_path)
    summary.seconds = round(time.monotonic() - started, 3)
    summary.entities_per_s = round(summary.entities / summary.seconds, 1) if summary.seconds else 0.0
    return summary
