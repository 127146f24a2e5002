"""User corpora: the corpus JSONL and plain-text readers behind `kg link` and corpus datasets.

Corpus JSONL (``.jsonl``), one JSON object per line, UTF-8, blank lines ignored::

    {"id": "news-1", "text": "Merkel met Macron in Paris.", "meta": {"date": "2019-05-01"}}
    {"id": "news-2", "text": "Paris is the capital of France.",
     "mentions": [{"start": 0, "end": 5, "gold": "Q90"}, {"start": 24, "end": 30, "surface": "France"}]}
    {"id": "photo-7", "text": "", "image": "images/7.jpg", "mentions": [{"box": [10, 20, 200, 310]}]}

- ``id`` (required): a non-empty string, unique in the corpus.
- ``text`` (required): a string; it may be empty only when ``image`` is given.
- ``image``: a path relative to the JSONL file's directory, an absolute path (the file must exist), or a
  ``http(s)://`` URL (kept as given).
- ``mentions``: absent or null means "detect the mentions"; a list (possibly empty) gives them. Each item is
  ``{"start": int, "end": int}``, a span of ``text`` in Python string indices (code points, end exclusive;
  the surface is ``text[start:end]`` and an optional ``"surface"`` must equal it), or ``{"box": [x1, y1, x2,
  y2]}``, an image region (pixels, x1 < x2, y1 < y2, none negative; needs ``image``; an optional
  ``"surface"`` names it). Both may be given; or only ``{"surface": str}``, a mention the text does not place
  (benchmarks have such; linked with the whole text as context). Each may carry ``"gold"``: an entity id (``Q42``,
  ``acme:widget-1``) or ``"NIL"`` (the entity is not in the KB).
- ``meta``: an object kept with the document.

Any other field is refused, so a typo (``"mention"``) is reported instead of silently switching to detection.
A bad line is yielded as a `BadLine` (path, line number, reason) and reading goes on. A lone surrogate or a control
character (other than tab and line breaks) in a string is replaced by U+FFFD, one code point for one so that every
offset holds, with a warning naming the document; in the id it makes the line bad.

Plain text: a ``.txt`` file is one document; its id is the file's stem when the file is given directly and
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kg.kgstore.errors import InputError
from kg.kgstore.model import is_entity_id
from kg.linkers.records import NIL, BadLine, Document, Mention, MentionIds, repaired, too_large

__all__ = ["read_corpus", "read_jsonl", "read_text_file", "corpus_size"]

DOC_FIELDS = ("id", "text", "image", "mentions", "meta")
MENTION_FIELDS = ("start", "end", "surface", "box", "gold", "clues")
CLUE_KINDS = ("ocr", "caption", "dense_captions", "tags", "objects")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
TEXT_SUFFIXES = (".txt",)
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HTTP_RE = re.compile(r"^https?://", re.I)
log = logging.getLogger(__name__)


class _Bad(ValueError):
    """Raised while parsing one line; becomes a BadLine."""


# ---------------------------------------------------------------------------------------------- JSONL


def read_jsonl(path: Path) -> Iterator[Document | BadLine]:
    """Documents of a corpus JSONL file (format in the module docstring); malformed lines as BadLine."""
    for _, item in _numbered_jsonl(Path(path)):
        yield item


def _numbered_jsonl(path: Path) -> Iterator[tuple[int, Document | BadLine]]:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                yield number, BadLine(path, number, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
                continue
            if not line:
                continue
            try:
                yield number, _parse_document(line, path.parent, f"{path} line {number}")
            except _Bad as exc:
                yield number, BadLine(path, number, str(exc))


def _parse_document(line: str, base: Path, where: str) -> Document:
    """One corpus JSONL line -> Document; `base` resolves relative image paths, `where` names the line in the
    warning about repaired text."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _Bad(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise _Bad(f"expected a JSON object, found {type(obj).__name__}")
    _known_fields(obj, DOC_FIELDS, "")
    doc_id = obj.get("id")
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise _Bad("id: required, a non-empty string")
    if repaired(doc_id)[1]:
        raise _Bad(f"id: {doc_id!r} holds a lone surrogate or a control character; an id must be plain text")
    if not isinstance(obj.get("text"), str):
        raise _Bad("text: required, a string (empty only when image is given)")
    obj, count = _repaired_values(obj)
    if count:
        log.warning("%s: document %r: %d character%s that cannot be linked (lone surrogates, control characters) "
                    "replaced by U+FFFD; offsets unchanged", where, doc_id, count, "s" if count > 1 else "")
    text = obj["text"]
    image = _image(obj.get("image"), base)
    if not text and image is None:
        raise _Bad("text: empty and no image given; a document needs text, an image or both")
    if (reason := too_large(text)) is not None:
        raise _Bad(reason)
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise _Bad("meta: must be a JSON object")
    raw_mentions = obj.get("mentions")
    mentions = None
    if raw_mentions is not None:
        if not isinstance(raw_mentions, list):
            raise _Bad("mentions: must be a list of {start, end} or {box} objects (or absent to detect them)")
        ids = MentionIds(doc_id)
        mentions = [_mention(m, i, text, image, ids) for i, m in enumerate(raw_mentions)]
    return Document(doc_id, text, image, mentions, meta)


def _repaired_values(value: Any) -> tuple[Any, int]:
    """`value` with every string in it (text, surfaces, meta) repaired (see `repaired`), and how many characters
    were replaced: one bad character never costs the document, nor the run."""
    if isinstance(value, str):
        return repaired(value)
    if isinstance(value, list):
        items = [_repaired_values(v) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    if isinstance(value, dict):
        pairs = [(repaired(k), _repaired_values(v)) for k, v in value.items()]
        return {k: v for (k, _), (v, _) in pairs}, sum(a + b for (_, a), (_, b) in pairs)
    return value, 0


def _known_fields(obj: dict, allowed: Sequence[str], prefix: str) -> None:
    """Any other field is an error, so a typo is reported instead of silently changing what kg does."""
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise _Bad(f"{prefix}unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")


def _image(value: Any, base: Path) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _Bad("image: must be a non-empty string (path or URL)")
    if _URL_RE.match(value):
        if not _HTTP_RE.match(value):
            raise _Bad(f"image: {value[:80]!r}: only http(s) URLs and local paths are read")
        return value
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise _Bad(f"image: file not found: {path} (relative paths are relative to the JSONL file's directory)")
    return str(path.resolve())


def _mention(obj: Any, index: int, text: str, image: str | None, ids: MentionIds) -> Mention:
    where = f"mentions[{index}]"
    if not isinstance(obj, dict):
        raise _Bad(f"{where}: expected an object with start/end or box")
    _known_fields(obj, MENTION_FIELDS, f"{where}: ")
    surface = obj.get("surface")
    if surface is not None and not isinstance(surface, str):
        raise _Bad(f"{where}.surface: must be a string")
    gold = _gold(obj.get("gold"), where)
    clues = _clue_map(obj.get("clues"), where)
    box = _box(obj["box"], where, image) if "box" in obj else None
    has_start, has_end = obj.get("start") is not None, obj.get("end") is not None
    if has_start != has_end:
        raise _Bad(f"{where}: give both start and end (or neither, with a box)")
    if not has_start:
        if box is not None:
            return Mention(ids.box(box), None, None, surface or "", box, gold, clues)
        if not surface or not surface.strip():
            raise _Bad(f"{where}: needs a span (start, end), a box, or a surface (a mention the text does not place)")
        return Mention(ids.unplaced(index), None, None, surface, None, gold, clues)
    start, end = obj["start"], obj["end"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        raise _Bad(f"{where}: start and end must be integers")
    if not 0 <= start < end <= len(text):
        raise _Bad(f"{where}: span {start}-{end} is outside the text (0-{len(text)}) or empty")
    found = text[start:end]
    if surface is not None and surface != found:
        raise _Bad(f"{where}.surface: {surface!r} does not match text[{start}:{end}] = {found!r}")
    return Mention(ids.span(start, end), start, end, found, box, gold, clues)


def _box(value: Any, where: str, image: str | None) -> list[float]:
    if image is None:
        raise _Bad(f"{where}.box: the document has no image")
    ok = isinstance(value, list) and len(value) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
    )
    if not ok:
        raise _Bad(f"{where}.box: must be [x1, y1, x2, y2], four finite numbers")
    x1, y1, x2, y2 = (float(v) for v in value)
    if min(x1, y1) < 0 or x1 >= x2 or y1 >= y2:
        raise _Bad(f"{where}.box: {value} needs 0 <= x1 < x2 and 0 <= y1 < y2")
    return [x1, y1, x2, y2]


def _clue_map(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    ok = isinstance(value, dict) and all(
        k in CLUE_KINDS and (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v)))
        for k, v in value.items())
    if not ok:
        raise _Bad(f"{where}.clues: must map {', '.join(CLUE_KINDS)} to a string or a list of strings")
    return value


def _gold(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.upper() == NIL:
        return NIL
    if not is_entity_id(value):
        raise _Bad(f"{where}.gold: {value!r} is neither an entity id (Q42, acme:x) nor \"NIL\"")
    return value


# ---------------------------------------------------------------------------------------------- text, dispatch


def read_text_file(path: Path, doc_id: str | None = None) -> Document | BadLine:
    """A .txt file as one document (id: `doc_id` or the file's stem); undecodable or empty files as BadLine."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return BadLine(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); convert it to UTF-8")
    if not text.strip():
        return BadLine(path, None, "empty text file")
    text, count = repaired(text)
    if count:
        log.warning("%s: %d character%s that cannot be linked (control characters) replaced by U+FFFD; offsets "
                    "unchanged", path, count, "s" if count > 1 else "")
    if (reason := too_large(text)) is not None:
        return BadLine(path, None, reason)
    return Document(doc_id or path.stem, text, meta={"path": str(path)})


def read_corpus(paths: Sequence[Path]) -> Iterator[Document | BadLine]:
    """Documents of every path in order: .jsonl files, .txt files, directories of them (recursive, sorted).

    A path that does not exist, a directory without .txt/.jsonl files, or a file that is neither raises
    InputError before anything is read. A document id seen before in the corpus is reported as a BadLine.
    """
    if not paths:
        raise InputError("no corpus given: pass .jsonl or .txt files or directories of them")
    plan = [item for p in paths for item in _plan(Path(p))]
    seen: set[str] = set()
    for path, kind, doc_id in plan:
        items: Iterable[tuple[int | None, Document | BadLine]]
        items = _numbered_jsonl(path) if kind == "jsonl" else [(None, read_text_file(path, doc_id))]
        for number, item in items:
            if isinstance(item, Document):
                if item.id in seen:
                    item = BadLine(path, number, f"id: duplicate document id {item.id!r} (read earlier in this corpus)")
                else:
                    seen.add(item.id)
            yield item


def corpus_size(paths: Sequence[Path]) -> int:
    """How many documents `read_corpus(paths)` will yield, bad lines included (a quick count for progress ETAs)."""
    n = 0
    for path, kind, _ in (item for p in paths for item in _plan(Path(p))):
        if kind == "jsonl":
            with open(path, "rb") as f:
                n += sum(1 for line in f if line.strip())
        else:
            n += 1
    return n


def _plan(path: Path) -> list[tuple[Path, str, str | None]]:
    """(file, "jsonl"|"text", text doc id) for a path given by the user; InputError when unusable."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        files = sorted(
            (p for p in path.rglob("*") if p.is_file() and _suffix_kind(p)
             and not any(part.startswith(".") for part in p.relative_to(path).parts)),
            key=lambda p: p.relative_to(path).parts,
        )
        if not files:
            raise InputError(f"{path}: directory holds no .txt or .jsonl files (searched recursively)")
        return [(p, _suffix_kind(p) or "", p.relative_to(path).with_suffix("").as_posix()) for p in files]
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    kind = _suffix_kind(path) or _sniff(path)
    return [(path, kind, None)]


def _suffix_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "jsonl" if suffix in JSONL_SUFFIXES else "text" if suffix in TEXT_SUFFIXES else None


def _sniff(path: Path) -> str:
    """'jsonl' when the first non-blank line is a JSON object with an id; otherwise InputError."""
    try:
        with open(path, "rb") as f:
            first = next((line for line in f if line.strip()), b"")
        obj = json.loads(first.decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError):
        obj = None
    if isinstance(obj, dict) and "id" in obj:
        return "jsonl"
    raise InputError(
        f"{path}: unknown corpus file type {path.suffix or '(no suffix)'!r}; kg reads corpus JSONL (.jsonl, "
        f"one {{\"id\", \"text\"}} object per line) and plain text (.txt); rename or convert the file"
    )


def parse_document(record: Any, base: Path) -> Document:
    """One corpus record (a decoded JSONL line, e.g. an API request) -> Document, with the reader's checks and
    messages; a bad record is an InputError. `base` resolves relative image paths."""
    try:
        return _parse_document(json.dumps(record), Path(base), "request")
    except _Bad as exc:
        raise InputError(str(exc)) from None
