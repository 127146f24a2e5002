"""Streaming KB readers: detect an input's format from its content, read it in constant memory, parse lines.

Formats (registered in `indexers.formats`):

- ``wikidata-dump``: the official JSON dump (latest-all.json): ``[`` / one entity per line followed by ``,`` / ``]``.
- ``wikidata-jsonl``: one entity JSON per line (API/stream flavour; a trailing ``,`` is tolerated).
- ``wikidata-entity``: one entity JSON document, possibly pretty-printed over many lines.
- ``wbgetentities``: a ``{"entities": {id: entity, ...}}`` API response.
- ``custom-jsonl``: custom entities, one per line (see `indexers.custom`).
- ``wikimel-kb``: a directory holding ``qid2ne.json`` and ``qid2abs.json`` (see `indexers.mel_kb`).
- ``property-labels``: a property label table, ``PID<TAB>label[<TAB>description]`` per line (e.g. WikiDiverse's
  PID2Label.tsv), so attributes and relations read with property names when the property entities are absent.

Files may be gzip, bzip2 or xz compressed; compression is recognised by magic bytes, never by file name, and
so is the format (a dump renamed to .txt still reads). Reading is split in two so that the ingest pipeline can
parallelise: `iter_raw` yields (line number, raw JSON text) from the file in one process, and the top-level,
picklable `parse_batch` turns batches of them into records in worker processes. Line numbers are stable
across runs, which makes `start_line` resumes and per-line error reports possible.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import json
import lzma
import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from kg.indexers.formats import get_format, kb_formats, known_formats
from kg.indexers.mel_kb import KB_FILES, iter_wikimel_docs
from kg.kgstore.errors import InputError
from kg.kgstore.model import PID_RE, EntityRecord

__all__ = [
    "TruncatedInput",
    "detect_compression",
    "detect_format",
    "iter_raw",
    "open_binary",
    "open_text",
    "parse_batch",
    "parse_raw",
    "resolve_format",
]

_PROPERTY_LINE = re.compile(rb"^P[1-9][0-9]*\t[^\t]+")

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"))
# Errors the decompressors raise on truncated or corrupt input.
_DECOMPRESS_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)
# Detection looks at most this far into the first line: past it (a 70 MB line, say) the line is classified by the
# top-level keys of its prefix, which needs no full decode, and the rest of the line is skipped, not kept.
_DETECT_LINE_LIMIT = 1 << 20
_DETECT_PREFIX = 1 << 20  # bytes scanned for top-level keys of a pretty-printed document
_MAX_DOCUMENT = 1 << 30  # whole-document formats are loaded at once; a real entity or API answer is far smaller
_BOM = b"\xef\xbb\xbf"
# A raw "line" that could not be decoded as UTF-8 is passed on with this prefix (NUL never starts JSON text),
# so that the bad line is reported by parse_batch at its line number instead of stopping the whole read.
_UNDECODABLE = "\x00undecodable:"
_STRUCT_RE = re.compile(r'"|[{\[]+|[}\]]+')
_STRING_TAIL_RE = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+"\s*(:?)', re.DOTALL)  # after an opening quote; possessive
_WD_ENTITY_KEYS = frozenset({"claims", "labels", "descriptions", "aliases", "sitelinks", "lemmas", "lastrevid"})


class TruncatedInput(InputError):
    """A compressed input ended early or is corrupt; everything up to `last_line` was read correctly.

    `corrupt`: the data is damaged (not merely cut short), so the lines just before the error may be garbage.
    """

    def __init__(self, path: Path, last_line: int, detail: str = "", corrupt: bool = False) -> None:
        self.path = Path(path)
        self.last_line = last_line
        self.detail = detail
        self.corrupt = corrupt
        reason = f" ({detail})" if detail else ""
        super().__init__(
            f"{path}: compressed input is truncated or corrupt{reason}; last complete line read: {last_line}. "
            f"Lines up to {last_line} were read; re-download or repair the file, then resume."
        )

    def __reduce__(self):  # picklable despite the custom __init__ (errors may cross process boundaries)
        return (type(self), (self.path, self.last_line, self.detail, self.corrupt))


_OTHER_MAGIC = ((b"PK\x03\x04", "a zip archive"), (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
                (b"7z\xbc\xaf\x27\x1c", "a 7z archive"))


# ---------------------------------------------------------------------------------------------- opening


def detect_compression(path: Path) -> str | None:
    """'gzip', 'bz2', 'xz' or None (plain), from the file's first bytes."""
    with open(path, "rb") as f:
        head = f.read(6)
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


class InputTracker:
    """How many of the file's (compressed) bytes were read, and their SHA-1: a checkpoint records both, so that a
    resume can tell the same file (or the same file grown, as a download completes) from a replaced one."""

    def __init__(self) -> None:
        self.position = 0
        self._sha1 = hashlib.sha1()

    def update(self, data: bytes | memoryview) -> None:
        self.position += len(data)
        self._sha1.update(data)

    def snapshot(self) -> tuple[int, str]:
        return self.position, self._sha1.hexdigest()


def prefix_sha1(path: Path, size: int) -> str | None:
    """SHA-1 of the first `size` bytes of `path`; None when the file is shorter."""
    sha1, left = hashlib.sha1(), size
    with open(path, "rb") as f:
        while left > 0:
            data = f.read(min(left, 1 << 20))
            if not data:
                return None
            sha1.update(data)
            left -= len(data)
    return sha1.hexdigest()


class _TrackedFile(io.RawIOBase):
    """An open unbuffered file whose bytes a tracker sees as they are read (the caller closes the file)."""

    def __init__(self, f: io.FileIO, tracker: InputTracker) -> None:
        self._f = f
        self._tracker = tracker

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self._f.readinto(buffer)
        if n:
            self._tracker.update(memoryview(buffer)[:n])
        return n or 0


def open_binary(path: Path, fileobj: BinaryIO | None = None) -> BinaryIO:
    """The file's bytes, decompressed when its magic bytes say it is gzip / bzip2 / xz; read from `fileobj`
    (left open) when given."""
    compression = detect_compression(path)
    if fileobj is None:
        if compression == "gzip":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        if compression == "bz2":
            return bz2.open(path, "rb")  # type: ignore[return-value]
        if compression == "xz":
            return lzma.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    if compression == "gzip":
        return gzip.GzipFile(fileobj=fileobj, mode="rb")  # type: ignore[return-value]
    if compression == "bz2":
        return bz2.BZ2File(fileobj, "rb")  # type: ignore[return-value]
    if compression == "xz":
        return lzma.LZMAFile(fileobj, "rb")  # type: ignore[return-value]
    return fileobj


def open_text(path: Path) -> TextIO:
    """The file as UTF-8 text (a BOM is dropped), transparently decompressed."""
    return io.TextIOWrapper(open_binary(Path(path)), encoding="utf-8-sig")


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        if not all((path / name).is_file() for name in KB_FILES):
            raise InputError(
                f"{path}: is a directory but not a WikiMEL KB directory (expected {' and '.join(KB_FILES)} "
                f"in it); to ingest a file, give the file's path"
            )
        return
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")


# ---------------------------------------------------------------------------------------------- detection


def _next_nonblank(f: BinaryIO, limit: int = _DETECT_LINE_LIMIT) -> bytes | None:
    """The next non-blank line, cut to `limit` bytes (a cut line has no final newline)."""
    while True:
        line = f.readline(limit)
        if not line:
            return None
        if line.strip():
            return line


def _skip_rest_of_line(f: BinaryIO, head: bytes) -> None:
    """Read past the end of a line of which `head` was read, in bounded pieces."""
    while head and not head.endswith(b"\n"):
        head = f.readline(_DETECT_LINE_LIMIT)


def _classify_keys(keys: set[str]) -> str | None:
    """_classify_object's answer from top-level keys alone (a line too long or too deeply nested to decode)."""
    if "entities" in keys:
        return "wbgetentities"
    if "label" in keys and keys & {"qid", "id"} and "claims" not in keys and "labels" not in keys:
        return "custom"
    if "id" in keys and ("type" in keys or keys & _WD_ENTITY_KEYS or "missing" in keys):
        return "entity"
    return None


def _top_level_keys(text: str) -> list[str]:
    """Keys of the outermost JSON object in a (possibly cut) prefix of a JSON document.

    One pass, linear in the prefix: each string is matched once from its opening quote (a regex alternation
    over the whole prefix backtracked for ~150 MB on a cut 1 MB string); a string cut by the prefix ends it.
    """
    keys, depth, pos = [], 0, 0
    while (m := _STRUCT_RE.search(text, pos)) is not None:
        tok, pos = m.group(0), m.end()
        if tok != '"':
            depth += len(tok) if tok[0] in "{[" else -len(tok)
            continue
        s = _STRING_TAIL_RE.match(text, pos)
        if s is None:
            break
        pos = s.end()
        if depth == 1 and s.group(1):
            try:  # noqa: SIM105 (a key that is not valid JSON is skipped)
                keys.append(json.loads('"' + s.group(0)[: -len(s.group(1))].rstrip()))
            except ValueError:
                pass
    return keys


def _classify_object(obj: dict) -> str | None:
    """'wbgetentities', 'entity' (a Wikidata entity), 'custom' or None, from one decoded JSON object."""
    if isinstance(obj.get("entities"), dict):
        return "wbgetentities"
    labels = obj.get("labels")
    wd_labels = isinstance(labels, dict) and any(isinstance(v, dict) for v in labels.values())
    if "label" in obj and ("qid" in obj or "id" in obj) and "claims" not in obj and not wd_labels:
        return "custom"
    if "id" in obj and ("type" in obj or _WD_ENTITY_KEYS & obj.keys() or "missing" in obj):
        return "entity"
    return None


def _unknown(path: Path, head: bytes) -> InputError:
    snippet = head.strip()[:60].decode("utf-8", "replace")
    hint = ""
    if path.name in KB_FILES:
        hint = f" It looks like part of a WikiMEL KB: give its directory ({path.parent}) instead."
    with open(path, "rb") as f:
        raw_head = f.read(8)
    for magic, what in _OTHER_MAGIC:
        if raw_head.startswith(magic):
            hint = f" It is {what}, which kg does not read: extract or decompress it first (gzip, bzip2, xz work)."
    return InputError(
        f"{path}: cannot tell the input format from its content (it starts with {snippet!r}).{hint} "
        f"{known_formats()}; pass --format FORMAT to choose one."
    )


def detect_format(path: Path) -> str:
    """The format of `path` (a registered format) from its content; InputError says why none fits. The built-in
    rules go first; a format registered with `sniff` is asked only when they know no answer."""
    try:
        return _detect_builtin(Path(path))
    except InputError as exc:
        sniffers = [f for f in kb_formats().values() if f.sniff is not None]
        if not sniffers or not Path(path).is_file() or "cannot tell the input format" not in str(exc):
            raise
        with open_binary(Path(path)) as f:
            first = _next_nonblank(f)
        head = (first or b"").removeprefix(_BOM).strip()
        for fmt in sniffers:
            if fmt.sniff is not None and fmt.sniff(head):
                return fmt.name
        raise


def _detect_builtin(path: Path) -> str:
    path = Path(path)
    _check_path(path)
    if path.is_dir():
        return "wikimel-kb"
    try:
        with open_binary(path) as f:
            first = _next_nonblank(f)
            if first is None:
                raise InputError(f"{path}: file is empty (no non-blank line to read entities from)")
            if first.startswith(_BOM):
                first = first[len(_BOM):]
            head = first.strip()
            if head == b"[":
                second = _next_nonblank(f)
                head2 = second.strip() if second else b""
                if head2 == b"{":
                    raise InputError(
                        f"{path}: a pretty-printed JSON array is not supported; use the Wikidata dump layout "
                        f"(one entity per line) or JSON lines"
                    )
                if second is None or head2 in (b"]", b"],") or head2.startswith(b"{"):
                    return "wikidata-dump"
                raise _unknown(path, first)
            if _PROPERTY_LINE.match(head):
                return "property-labels"
            if head.lower() == b"surface\tqid\tcount":
                return "alias-counts"
            if not head.startswith(b"{"):
                raise _unknown(path, first)
            whole = first.endswith(b"\n") or len(first) < _DETECT_LINE_LIMIT
            keys_only, obj = not whole, None
            if whole:
                try:
                    obj = json.loads(head.rstrip(b",").decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    pass
                except RecursionError:  # nested too deeply to decode: its top-level keys still tell
                    keys_only = True
            else:  # a huge first line: classified by the keys of its prefix, the rest skipped unread
                _skip_rest_of_line(f, first)
            if keys_only or isinstance(obj, dict):
                if keys_only or not isinstance(obj, dict):
                    kind = _classify_keys(set(_top_level_keys(head.decode("utf-8", "ignore"))))
                else:
                    kind = _classify_object(obj)
                if kind == "wbgetentities":
                    return "wbgetentities"
                if kind == "custom":
                    return "custom-jsonl"
                if kind == "entity":
                    return "wikidata-entity" if _next_nonblank(f) is None else "wikidata-jsonl"
                raise _unknown(path, first)
            # The first line is not a whole object: a document spread over lines (pretty-printed).
            prefix = (first + f.read(_DETECT_PREFIX)).decode("utf-8", "ignore")
    except PermissionError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror})") from None
    except _DECOMPRESS_ERRORS as exc:
        raise InputError(f"{path}: cannot read it: compressed data is truncated or corrupt ({exc})") from None
    keys = set(_top_level_keys(prefix))
    if "entities" in keys:
        return "wbgetentities"
    if "id" in keys and ("type" in keys or keys & _WD_ENTITY_KEYS) or keys & {"claims", "lemmas"}:
        return "wikidata-entity"
    raise _unknown(path, first)


def resolve_format(path: Path, fmt: str | None = None) -> str:
    """`fmt` (a --format value) checked against the registered formats and the path, or the detected format when
    None."""
    path = Path(path)
    if fmt is None:
        return detect_format(path)
    spec = get_format(fmt)
    _check_path(path)
    if spec.directory != path.is_dir():
        if fmt == "wikimel-kb":
            raise InputError(f"{path}: --format wikimel-kb needs a directory holding {' and '.join(KB_FILES)}")
        raise InputError(f"{path}: is a directory; --format {fmt} reads a file")
    return fmt


# ---------------------------------------------------------------------------------------------- reading


def iter_raw(
    path: Path, fmt: str, start_line: int = 0, tracker: InputTracker | None = None
) -> Iterator[tuple[int, str]]:
    """(1-based line number, raw JSON text of one entity) for every entity of `path`, in constant memory.

    Line formats skip blank, `[` and `]` lines and strip a trailing ','; lines <= start_line are skipped without
    decoding, so a resume is fast. Whole-document formats number their entities 1, 2, ... A compressed file that
    ends early raises TruncatedInput after every complete line before the damage has been yielded.
    """
    path = Path(path)
    spec = get_format(resolve_format(path, fmt))
    if spec.read is not None:
        yield from spec.read(path, start_line)
        return
    yield from _iter_lines(path, start_line, tracker)


def iter_wikimel_kb(path: Path, start_line: int) -> Iterator[tuple[int, str]]:
    for n, doc in enumerate(iter_wikimel_docs(path), 1):
        if n > start_line:
            yield n, json.dumps(doc, ensure_ascii=False)


def _iter_lines(path: Path, start_line: int, tracker: InputTracker | None = None) -> Iterator[tuple[int, str]]:
    lineno = 0
    with contextlib.ExitStack() as stack:
        fileobj = None
        if tracker is not None:
            fileobj = io.BufferedReader(_TrackedFile(stack.enter_context(open(path, "rb", buffering=0)), tracker))
        f = stack.enter_context(open_binary(path, fileobj))
        it = iter(f)
        while True:
            try:
                line = next(it)
            except StopIteration:
                return
            except _DECOMPRESS_ERRORS as exc:  # EOFError: cut short; anything else: damaged data
                raise TruncatedInput(path, lineno, str(exc), corrupt=not isinstance(exc, EOFError)) from None
            lineno += 1
            if lineno <= start_line:
                continue
            if lineno == 1 and line.startswith(_BOM):
                line = line[len(_BOM):]
            line = line.strip()
            if line.endswith(b","):
                line = line[:-1].rstrip()
            if not line or line in (b"[", b"]"):
                continue
            try:
                yield lineno, line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, f"{_UNDECODABLE}invalid UTF-8 at byte {exc.start} of the line"


def iter_document(path: Path, fmt: str, start_line: int) -> Iterator[tuple[int, str]]:
    try:
        with open_text(path) as f:
            text = f.read(_MAX_DOCUMENT + 1)
        if len(text) > _MAX_DOCUMENT:
            raise InputError(
                f"{path}: over {_MAX_DOCUMENT >> 20} MiB, too large for --format {fmt} (one JSON document); "
                f"is it a dump? Try --format wikidata-dump or wikidata-jsonl"
            )
        doc = json.loads(text)
    except _DECOMPRESS_ERRORS as exc:
        raise TruncatedInput(path, 0, str(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a valid JSON document for --format {fmt} ({exc})") from None
    if fmt == "wbgetentities":
        entities = doc.get("entities") if isinstance(doc, dict) else None
        if not isinstance(entities, dict):
            raise InputError(f"{path}: a wbgetentities response needs an \"entities\" object")
        docs = list(entities.values())
    else:
        docs = [doc]
    for n, entity in enumerate(docs, 1):
        if n > start_line:
            yield n, json.dumps(entity, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------- parsing


def parse_raw(
    fmt: str, raw: str, langs: Sequence[str] = ("en",), fallback: str | None = "mul"
) -> EntityRecord | None:
    """One raw entity text from `iter_raw` -> record (None: skipped entity type); ValueError on a bad entity."""
    if raw.startswith(_UNDECODABLE):
        raise ValueError(raw[len(_UNDECODABLE):])
    spec = kb_formats().get(fmt)
    if spec is None or spec.parse is None:
        raise ValueError(f"unknown format {fmt!r}")
    if not spec.json:
        return spec.parse(raw, langs, fallback)
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ValueError("malformed JSON: nested too deeply") from None
    return spec.parse(doc, langs, fallback)


def parse_property_line(raw: str) -> EntityRecord:
    fields = raw.split("\t")
    if len(fields) < 2 or not PID_RE.fullmatch(fields[0]) or not fields[1].strip():
        raise ValueError("expected PID<TAB>label[<TAB>description]")
    description = fields[2].strip() if len(fields) > 2 and fields[2].strip() else None
    return EntityRecord(qid=fields[0], kind="property", label=fields[1].strip(), description=description)


def parse_batch(
    fmt: str, items: list[tuple[int, str]], langs: Sequence[str] = ("en",), fallback: str | None = "mul"
) -> list[tuple[int, EntityRecord | None | str]]:
    """parse_raw over a batch, for worker processes: a bad line becomes its error reason (a str), never raises."""
    out: list[tuple[int, EntityRecord | None | str]] = []
    for lineno, raw in items:
        try:
            out.append((lineno, parse_raw(fmt, raw, langs, fallback)))
        except ValueError as exc:
            out.append((lineno, str(exc) or type(exc).__name__))
        except Exception as exc:  # noqa: BLE001 - one odd line must not kill a worker's whole batch
            out.append((lineno, f"{type(exc).__name__}: {exc}"))
    return out
