"""`kg ingest --engine ray`: the dump's lines decoded by Ray tasks (the local engine's parser and content hashes,
a chunk of lines per task, on any core of the cluster), the parsed chunks written here in file order by the local
engine's writer, each batch with its checkpoint.

Ray core tasks with a bounded number in flight, not a Ray Data dataset: a dump is read as a stream (1.4 TB
uncompressed for Wikidata) and written in file order, so that `--resume` continues after the last committed line;
memory stays constant as with the local engine's decoding processes. A retried task only parses again: the
writes stay in this process, idempotent by content hash."""

from __future__ import annotations

from collections.abc import Generator, Iterator

from kg.indexers.ingest import CHUNK_LINES, ChunkParser, IngestOptions, ParsedChunk, line_chunks, parse_and_prepare
from kg.indexers.sources import TruncatedInput
from kg.ray_engine import RayOptions, session

IN_FLIGHT_PER_WORKER = 4  # chunks queued per worker: enough to keep each busy while this process writes


def parsed_chunks_on_ray(options: RayOptions) -> ChunkParser:
    """An IngestOptions.parser that decodes on Ray."""

    def parse(fmt: str, raw: Iterator[tuple[int, str]], opts: IngestOptions) -> Generator[ParsedChunk, None, None]:
        with session(options) as ray:
            task = ray.remote(num_cpus=1, max_retries=3)(parse_and_prepare)
            pending = []
            try:
                for chunk in line_chunks(raw, CHUNK_LINES):
                    pending.append(task.remote(fmt, chunk, list(opts.langs), opts.fallback))
                    if len(pending) >= max(1, options.workers) * IN_FLIGHT_PER_WORKER:
                        yield ray.get(pending.pop(0))
            except TruncatedInput:  # every chunk read before the damage is still delivered
                for ref in pending:
                    yield ray.get(ref)
                raise
            for ref in pending:
                yield ray.get(ref)

    return parse
