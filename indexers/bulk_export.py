"""`kg export neo4j-bulk`: KB dumps as `neo4j-admin database import full` CSV files, for the first load of a dump
too large for transactional writes.

The same reader, parsers and `prepare` as `kg ingest` (`indexers.ingest`) build each entity's node row, so the
imported nodes carry the same properties and content hashes a `kg ingest` would have written, and a later
`kg ingest` of a newer dump skips the unchanged entities. Rows are streamed to gzip files as they are parsed; only
the ids seen (entities and claim targets) are held, to write the stubs at the end and to refuse a repeated id.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from kg.indexers.ingest import IngestOptions, _parsed_chunks
from kg.indexers.sources import InputError, TruncatedInput, detect_format, iter_raw
from kg.kgstore.entity_writes import _NODE_PROPS, PreparedEntity
from kg.kgstore.errors import KgError
from kg.kgstore.graph import validate_rel_type
from kg.kgstore.private import open_private

# U+001F (unit separator) between array elements: unlike neo4j-admin's default ';', no name or alias holds it.
ARRAY_DELIMITER = "\x1f"
ARRAY_DELIMITER_ARG = "U+001F"
# Neo4j types of the node properties `kg ingest` writes; the others are strings.
_TYPES = {"aliases": "string[]", "images": "string[]", "image_urls": "string[]", "types": "string[]",
          "subclass_of": "string[]", "describe": "string[]", "sitelinks": "long"}
NODE_PROPS = (*_NODE_PROPS, "source", "stub")
NODE_HEADER = ["qid:ID(Entity)", ":LABEL",
               *(f"{p}:{_TYPES.get(p, 'boolean' if p == 'stub' else 'string')}" for p in NODE_PROPS)]
REL_HEADER = [":START_ID(Entity)", ":END_ID(Entity)", ":TYPE", "pid:string"]
NODES_HEADER_FILE, ENTITIES_FILE, STUBS_FILE = "entities.header.csv", "entities.csv.gz", "stubs.csv.gz"
RELS_HEADER_FILE, RELS_FILE = "relationships.header.csv", "relationships.csv.gz"
OUTPUT_FILES = (NODES_HEADER_FILE, ENTITIES_FILE, STUBS_FILE, RELS_HEADER_FILE, RELS_FILE)
PARTIAL = ".partial"


@dataclass
class FileStats:
    path: str
    format: str
    lines: int = 0
    entities: int = 0
    errors: int = 0


@dataclass
class ExportSummary:
    out: str
    files: list[FileStats] = field(default_factory=list)
    entities: int = 0
    stubs: int = 0
    relationships: int = 0
    skipped: int = 0
    errors: int = 0
    errors_file: str | None = None
    seconds: float = 0.0
    entities_per_s: float = 0.0
    fatal: str | None = None

    @property
    def status(self) -> str:
        return "failed" if self.fatal else "partial" if self.errors else "ok"

    def to_dict(self) -> dict:
        return {**asdict(self), "status": self.status, "command": import_command(Path(self.out))}


def import_command(out: Path, database: str = "neo4j") -> str:
    """The `neo4j-admin` command that loads the exported files (Neo4j 5.19+: the database name comes first)."""
    d = out.resolve()
    return (f"neo4j-admin database import full {database} --array-delimiter={ARRAY_DELIMITER_ARG} "
            f"--multiline-fields=true --nodes={d / NODES_HEADER_FILE},{d / ENTITIES_FILE},{d / STUBS_FILE} "
            f"--relationships={d / RELS_HEADER_FILE},{d / RELS_FILE}")


def _field(value: Any) -> str:
    """One CSV field: strings always quoted (so "" stays an empty string), None empty (no property)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        if not value:
            return ""  # neo4j-admin stores no empty array: the property is absent, which kg reads as empty
        if any(ARRAY_DELIMITER in v for v in value):
            raise ValueError("a list value holds U+001F, the array delimiter of the export")
        value = ARRAY_DELIMITER.join(value)
    return '"' + str(value).replace('"', '""') + '"'


def _line(values: list[Any]) -> str:
    return ",".join(_field(v) for v in values) + "\n"


def node_line(row: dict[str, Any]) -> str:
    return _line([row["qid"], "Entity", *(row.get(p) for p in NODE_PROPS)])


def _rows(lines: IO[str]) -> Iterator[str]:
    """CSV rows from physical lines: a row ends at a newline outside quotes (an even number of '"' so far)."""
    row = ""
    for physical in lines:
        row += physical
        if row.count('"') % 2 == 0:
            yield row
            row = ""


class _Ids:
    """A set of entity ids; Wikidata ids (Q123) as bits of a bytearray, 16 MB for all of Wikidata's, others in a
    set: the stubs of a 100M-entity dump are found without 100M Python strings."""

    MAX_BIT = 1 << 28  # ids above (Wikidata's reach Q135M) go to the set: one odd id must not allocate gigabytes

    def __init__(self) -> None:
        self.bits = bytearray()
        self.other: set[str] = set()

    @classmethod
    def _num(cls, qid: str) -> int | None:
        if qid[:1] != "Q" or qid[1:2] == "0" or not qid[1:].isdigit() or not qid.isascii() or len(qid) > 10:
            return None
        n = int(qid[1:])
        return n if n < cls.MAX_BIT else None

    def add(self, qid: str) -> bool:
        """Adds `qid`; False when it was already there."""
        n = self._num(qid)
        if n is None:
            if qid in self.other:
                return False
            self.other.add(qid)
            return True
        byte, bit = divmod(n, 8)
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
        if self.bits[byte] >> bit & 1:
            return False
        self.bits[byte] |= 1 << bit
        return True

    def minus(self, other: _Ids) -> list[str]:
        """The ids of this set not in `other`, Wikidata ids in numeric order."""
        mine = int.from_bytes(self.bits, "little")
        theirs = int.from_bytes(other.bits[:len(self.bits)], "little")
        rest = (mine & ~theirs).to_bytes(len(self.bits), "little")
        out = [f"Q{byte * 8 + bit}" for byte, b in enumerate(rest) if b for bit in range(8) if b >> bit & 1]
        return out + sorted(self.other - other.other)


@dataclass
class _Output:
    """The open gzip files, written under `.partial` names and renamed only when the export completes."""

    out: Path
    entities: IO[str]
    rels: IO[str]

    @classmethod
    def open(cls, out: Path) -> _Output:
        return cls(out, cls._gz(out, ENTITIES_FILE), cls._gz(out, RELS_FILE))

    @staticmethod
    def _gz(out: Path, name: str) -> IO[str]:
        return gzip.open(out / (name + PARTIAL), "wt", encoding="utf-8", compresslevel=3, newline="")

    def finish(self, stubs: list[str], repeated: dict[str, tuple[str, str, int]]) -> int:
        """Completes the files; returns the change in relationship rows from replacing repeated entities."""
        with self._gz(self.out, STUBS_FILE) as f:
            for qid in stubs:  # exactly what ingest's NEW_STUB_QUERY creates: {qid, stub: true}
                f.write(node_line({"qid": qid, "stub": True}))
        self.close()
        change = 0
        if repeated:
            self._replace(ENTITIES_FILE, repeated, [node for node, _, _ in repeated.values()])
            change -= self._replace(RELS_FILE, repeated, [rels for _, rels, _ in repeated.values()])
            change += sum(n for _, _, n in repeated.values())
        for name, header in ((NODES_HEADER_FILE, NODE_HEADER), (RELS_HEADER_FILE, REL_HEADER)):
            (self.out / (name + PARTIAL)).write_text(",".join(header) + "\n", encoding="utf-8")
        for name in OUTPUT_FILES:
            os.replace(self.out / (name + PARTIAL), self.out / name)
        return change

    def _replace(self, name: str, drop: dict[str, Any], extra: list[str]) -> int:
        """Copies `name` without the rows whose first field (the entity or start id) is in `drop`, then appends
        `extra`; returns the rows dropped."""
        dropped = 0
        src = self.out / (name + PARTIAL)
        with gzip.open(src, "rt", encoding="utf-8", newline="") as f, self._gz(self.out, name + ".replacing") as g:
            for row in _rows(f):
                if row[1:row.index('"', 1)] in drop:
                    dropped += 1
                else:
                    g.write(row)
            g.writelines(extra)
        os.replace(self.out / (name + ".replacing" + PARTIAL), src)
        return dropped

    def close(self) -> None:
        self.entities.close()
        self.rels.close()


def check_out_dir(out: Path) -> None:
    """Refuses a directory that already holds an export: files of one dump are never overwritten by another's."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a directory for the export")
    taken = [n for n in OUTPUT_FILES if (out / n).exists()]
    if taken:
        raise InputError(f"--out {out}: already holds an export ({', '.join(taken)}); remove it or choose another "
                         "directory")


def export_neo4j_bulk(
    paths: list[Path], out: Path, opts: IngestOptions, progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Export `paths` (in order, as one `kg ingest` of them would load them) into `out`; bad lines are recorded,
    never raised; a truncated or unreadable dump leaves only `.partial` files (see summary.fatal)."""
    check_out_dir(out)
    formats = []
    for path in paths:
        fmt = opts.fmt or detect_format(path)
        if fmt == "alias-counts":
            raise InputError(f"{path}: alias statistics hold no entities; load them with `kg ingest {path}` once the "
                             "imported graph is up")
        formats.append(fmt)
    out.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(out=str(out))
    errors_path = opts.errors_path or out / "export-errors.jsonl"
    errors_fh: IO[str] | None = None
    entities, targets = _Ids(), _Ids()
    repeated: dict[str, tuple[str, str, int]] = {}  # qid -> rows of its last version (kg ingest: the last wins)
    lines = 0
    started = time.monotonic()

    def record_error(path: Path, line: int, reason: str) -> None:
        nonlocal errors_fh
        summary.errors += 1
        if errors_fh is None:
            errors_fh = open_private(errors_path, "a", encoding="utf-8")
            summary.errors_file = str(errors_path)
        errors_fh.write(json.dumps({"file": str(path), "line": line, "reason": reason}, ensure_ascii=False) + "\n")

    def render(item: PreparedEntity, source: str) -> tuple[str, str, int]:
        rels = "".join(_line([item.qid, t, validate_rel_type(pid), pid]) for pid, t in item.claims)
        return node_line({**item.row, "source": source, "stub": False}), rels, len(item.claims)

    output = _Output.open(out)
    try:
        for path, fmt in zip(paths, formats):
            stats = FileStats(str(path), fmt)
            summary.files.append(stats)
            errors_before = summary.errors
            chunks = cast(Generator[list[tuple[int, PreparedEntity | None | str]], None, None],
                          _parsed_chunks(fmt, iter_raw(path, fmt), opts))
            try:
                for chunk in chunks:
                    for line, item in chunk:
                        lines += 1
                        stats.lines += 1
                        if isinstance(item, str):
                            record_error(path, line, item)
                        elif item is None:
                            summary.skipped += 1
                        else:
                            try:
                                node, rels, n_rels = render(item, path.name)
                            except (KgError, ValueError) as exc:
                                record_error(path, line, f"cannot be exported: {exc}")
                                continue
                            for _, t in item.claims:  # a replaced version's stubs stay, as in kg ingest
                                targets.add(t)
                            if entities.add(item.qid):
                                output.entities.write(node)
                                output.rels.write(rels)
                                summary.entities += 1
                                stats.entities += 1
                                summary.relationships += n_rels
                            else:  # a repeated entity: its last version replaces the rows at the end
                                repeated[item.qid] = (node, rels, n_rels)
                    if progress:
                        progress(lines, summary.entities)
            except TruncatedInput as exc:
                summary.fatal = (f"{exc}; no files were completed (the `.partial` files in {out} hold what was "
                                 "read): replace the dump and export again into an empty directory")
                return summary
            finally:
                chunks.close()
                stats.errors = summary.errors - errors_before
        stubs = targets.minus(entities)
        summary.stubs = len(stubs)
        summary.relationships += output.finish(stubs, repeated)
    finally:
        output.close()
        if errors_fh is not None:
            errors_fh.close()
        summary.seconds = round(time.monotonic() - started, 3)
        summary.entities_per_s = round(summary.entities / summary.seconds, 1) if summary.seconds else 0.0
    return summary
