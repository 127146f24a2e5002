"""Alias statistics (`surface \\t qid \\t count`: Wikipedia anchor counts, or gold mentions of a training corpus)
into the graph, as each entity's `priors_json` ({normal form: count}).

The linker turns them into p(entity | alias) over a mention's candidates; the indexer copies them into the
entity's Qdrant payload and adds the surfaces to its names, so an anchor text that is no label or alias ("Big
Apple") still finds its entity. Counts for a (surface, entity) pair are summed over the lines and files that
name it, so re-ingesting the same file is skipped by its content hash rather than counted twice.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kg.indexers.sources import open_text
from kg.kgstore.chunks import chunked
from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore
from kg.kgstore.names import normalise
from kg.kgstore.priors import MAX_COUNT, add_priors, mark_prior_file, prior_file_seen

HEADER = ("surface", "qid", "count")
BATCH = 2000


@dataclass
class PriorsResult:
    lines: int = 0
    pairs: int = 0  # (surface, entity) pairs read
    entities: int = 0  # entities whose priors were updated
    unknown: int = 0  # pairs naming an entity the graph does not hold (skipped)
    bad: list[tuple[int, str]] | None = None  # (line, reason)
    already: bool = False  # this exact file was ingested before: nothing done


def file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_counts(path: Path, bad: list[tuple[int, str]]) -> tuple[dict[str, dict[str, int]], int]:
    """{qid: {form: count}} summed over the file, and the number of lines read; bad lines are listed."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    n = 0
    with open_text(path) as f:
        for n, line in enumerate(f, 1):
            if n == 1 and line.strip().lower().split("\t") == list(HEADER):
                continue
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                bad.append((n, f"expected 3 tab-separated fields (surface, qid, count), got {len(parts)}"))
                continue
            surface, qid, count = parts
            form = normalise(surface)
            if not form or not qid or qid != qid.strip():
                bad.append((n, "empty surface or entity id"))
                continue
            try:
                c = int(count)
            except ValueError:
                bad.append((n, f"count {count!r} is not an integer"))
                continue
            if not 0 < c < MAX_COUNT:
                bad.append((n, f"count {c} out of range (1..2^62)"))
                continue
            counts[qid][form] = min(MAX_COUNT, counts[qid].get(form, 0) + c)
    return counts, n


def ingest_alias_counts(graph: GraphStore, path: Path,
                        progress: Callable[[int, int], None] | None = None) -> PriorsResult:
    """Merge the file's counts into the entities' priors, one transaction per batch of entities."""
    digest = file_digest(path)
    bad: list[tuple[int, str]] = []
    result = PriorsResult(bad=bad)
    if prior_file_seen(graph, digest):
        result.already = True
        return result
    counts, result.lines = read_counts(path, bad)
    result.pairs = sum(len(v) for v in counts.values())
    if not counts and result.lines > 1 and result.bad:
        raise InputError(f"{path}: no valid `surface<TAB>qid<TAB>count` line ({len(result.bad)} bad lines)")
    for qids in chunked(sorted(counts), BATCH):
        found = add_priors(graph, {q: counts[q] for q in qids})
        result.unknown += sum(len(counts[q]) for q in qids if q not in found)
        result.entities += len(found)
        if progress:
            progress(result.entities, result.unknown)
    mark_prior_file(graph, digest, str(path.resolve()), result.pairs)
    return result
