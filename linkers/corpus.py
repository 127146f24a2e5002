"""Corpus records and readers: what `kg link` links and `kg eval` scores.

Every source (a user's JSONL or text files, the MEL benchmarks) becomes the same `Document` / `Mention`
records, so linking and evaluation share one path. Mention ids are derived from the document id and the
span (``doc#start-end``) or box (``doc#box:x1,y1,x2,y2``), so linking the same corpus twice writes the same
mentions. A span given twice in one document (WikiMEL's "The Fords" names two people) gets ``~2``, ``~3``
appended in order; a mention whose span is unknown is ``doc#mN`` (N: its index in the document).

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
A bad line is yielded as a `BadLine` (path, line number, reason) and reading goes on.

Plain text: a ``.txt`` file is one document; its id is the file's stem when the file is given directly and
its path below the directory (without suffix, ``/``-separated) when read from a directory.

MEL benchmarks: `read_wikimel`, `read_wikidiverse` (documents with gold mentions) and `read_i2cr_fixture`
(mentions with given candidates); their docstrings describe the files and official splits.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgstore.errors import InputError
from kgstore.model import is_entity_id, is_qid

__all__ = [
    "NIL",
    "BadLine",
    "Document",
    "GivenCandidate",
    "GivenCandidatesMention",
    "Mention",
    "read_corpus",
    "read_i2cr_fixture",
    "read_jsonl",
    "read_text_file",
    "read_wikidiverse",
    "read_wikimel",
    "wikidiverse_title_qids",
]

NIL = "NIL"
DOC_FIELDS = ("id", "text", "image", "mentions", "meta")
MENTION_FIELDS = ("start", "end", "surface", "box", "gold", "clues")
CLUE_KINDS = ("ocr", "caption", "dense_captions", "tags", "objects")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
TEXT_SUFFIXES = (".txt",)
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HTTP_RE = re.compile(r"^https?://", re.I)
_WORD_RE = re.compile(r"\w+")
# A document's text goes into the graph in one Bolt message, which ArcadeDB refuses over 16 MiB (and the driver then
# waits for ever): a larger document is a bad line, to be split by the user.
MAX_TEXT_BYTES = 8 << 20


def _too_large(text: str) -> str | None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= MAX_TEXT_BYTES:
        return None
    return f"text: too large ({size >> 20} MiB; a document holds at most {MAX_TEXT_BYTES >> 20} MiB): split it"


@dataclass
class Mention:
    """A mention to link: a text span, an image region, or (benchmarks only) a surface whose span is unknown."""

    id: str
    start: int | None
    end: int | None
    surface: str
    box: list[float] | None = None
    gold: str | None = None  # entity id, "NIL", or None when unknown
    clues: dict[str, Any] | None = None  # precomputed image clues (caption, dense_captions, tags, ocr, objects)
    detected: bool = False  # found by a mention detector
    detector: str | None = None  # which: "gazetteer" or "ner"
    kb_name: bool = False  # a detected surface that is a KB name: looked up by exact name only
    ner_label: str | None = None  # the NER model's label (PERSON, ORG, GPE, ...), when it found the span


@dataclass
class Document:
    id: str
    text: str
    image: str | None = None  # absolute path or URL
    mentions: list[Mention] | None = None  # None: detect them
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class BadLine:
    """An input line (or whole file, line None) that was skipped, with the reason to show the user."""

    path: Path
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.reason}"


@dataclass
class GivenCandidate:
    title: str  # Wikipedia title, underscored ("St._Louis,_Missouri")
    description: str  # the Wikipedia abstract
    qid: str | None = None  # when the caller's title map knows it
    summary: str | None = None  # an LLM's one-sentence summary of the abstract, when the fixture has one


@dataclass
class GivenCandidatesMention:
    """A benchmark mention that comes with its candidate list and precomputed image clues (I2CR)."""

    id: str
    text: str
    surface: str
    start: int | None
    end: int | None
    candidates: list[GivenCandidate]
    clues: dict[str, list[str] | str]
    gold: str  # a candidate-style title, or "NIL"
    image: str | None = None  # image file name in I2CR's data (the images are not in the fixture)
    llm_pick: str | None = None  # title or "NIL" chosen by I2CR's LLM (GPT) over these candidates


class _Bad(ValueError):
    """Raised while parsing one line; becomes a BadLine."""


# ---------------------------------------------------------------------------------------------- mention ids


class _MentionIds:
    """Stable mention ids for one document; repeats of the same span/box get ~2, ~3 ... in order."""

    def __init__(self, doc_id: str) -> None:
        self.doc_id = doc_id
        self.seen: dict[str, int] = {}

    def span(self, start: int, end: int) -> str:
        return self._id(f"{start}-{end}")

    def box(self, box: Sequence[float]) -> str:
        return self._id("box:" + ",".join(_num(v) for v in box))

    def unplaced(self, index: int) -> str:
        return f"{self.doc_id}#m{index}"

    def _id(self, key: str) -> str:
        n = self.seen[key] = self.seen.get(key, 0) + 1
        return f"{self.doc_id}#{key}" + (f"~{n}" if n > 1 else "")


def _num(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


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
                yield number, _parse_document(line, path.parent)
            except _Bad as exc:
                yield number, BadLine(path, number, str(exc))


def _parse_document(line: str, base: Path) -> Document:
    """One corpus JSONL line -> Document; `base` resolves relative image paths."""
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
    text = obj.get("text")
    if not isinstance(text, str):
        raise _Bad("text: required, a string (empty only when image is given)")
    image = _image(obj.get("image"), base)
    if not text and image is None:
        raise _Bad("text: empty and no image given; a document needs text, an image or both")
    if (reason := _too_large(text)) is not None:
        raise _Bad(reason)
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise _Bad("meta: must be a JSON object")
    raw_mentions = obj.get("mentions")
    mentions = None
    if raw_mentions is not None:
        if not isinstance(raw_mentions, list):
            raise _Bad("mentions: must be a list of {start, end} or {box} objects (or absent to detect them)")
        ids = _MentionIds(doc_id)
        mentions = [_mention(m, i, text, image, ids) for i, m in enumerate(raw_mentions)]
    return Document(doc_id, text, image, mentions, meta)


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


def _mention(obj: Any, index: int, text: str, image: str | None, ids: _MentionIds) -> Mention:
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
        if not (surface or "").strip():
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
    if (reason := _too_large(text)) is not None:
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


# ---------------------------------------------------------------------------------------------- MEL benchmarks


def read_wikimel(root: Path, split: str | None = None, limit: int | None = None) -> Iterator[Document]:
    """WikiMEL (Wikidata-MEL captions of MELBench, GHMFC's splits) as documents with gold mentions.

    Files in `root`: ``Wikidata-MEL.json`` ``{sample id: {id, sentence, mentions: [surface], entities:
    [name], answer: [QID]}}`` (22,136 samples, 25,846 mentions, all golds are QIDs, no NIL);
    ``splits.json`` ``{train, dev, test: [sample id]}``, the official GHMFC split (17,091 / 2,443 / 4,883
    ids, disjoint); ``images/<sample id>.jpg`` for the few images kept (45 files, 38 of them samples).
    Split ids absent from Wikidata-MEL.json are skipped: 1,580 train, 230 dev and 471 test ids, so the test
    split reads as 4,412 captions with 5,131 mentions. `split` None reads every sample in file order; "val" is
    accepted for "dev". `limit` caps the number of documents.

    Mentions are located in the sentence: whole word first, then anywhere, then ignoring case, then with up
    to two words between the surface's words (the dataset dropped particles and middle names: "Hermann
    Beckerath" is "Hermann von Beckerath", 734 mentions); the mention's surface is the sentence's text there.
    6 of 25,846 mentions (none of the test split) are found nowhere (their words are out of order, as
    "Count Camillo") and keep start/end None with the dataset's surface. A surface listed twice for two
    people ("The Fords") yields two mentions on one span (ids ``~2``).
    """
    root = Path(root)
    samples = _load_json(root / "Wikidata-MEL.json", dict, "WikiMEL")
    splits = _load_json(root / "splits.json", dict, "WikiMEL")
    ids = _split_ids(splits, split, "WikiMEL", aliases={"val": "dev"}) if split else list(samples)
    member = _membership(splits)
    images = root / "images"
    for sample_id in _limited((i for i in ids if i in samples), limit):
        sample = samples[sample_id]
        image = images / f"{sample_id}.jpg"
        yield _mel_document(
            f"wikimel:{sample_id}", sample["sentence"], sample["mentions"], sample["answer"],
            image=str(image.resolve()) if image.is_file() else None,
            meta={"dataset": "wikimel", "sample_id": sample_id, "splits": member.get(sample_id, [])},
        )


def read_wikidiverse(root: Path, split: str | None = None, limit: int | None = None) -> Iterator[Document]:
    """WikiDiverse (KGMEL's MIMIC-cleaned copy) as documents with gold mentions; `image` is the image URL.

    Files in `root`: ``WikiDiverse.json`` ``[{id: int, sentence, imgPath, mention: [surface], entity:
    [Wikipedia title], answer: [QID], img-url?}]`` (7,405 samples, ids 0..7404, 14,851 mentions, 7,643
    distinct QIDs, no NIL; 226 samples have no img-url); ``mapping/ids_split_mappings.json`` holds the
    official split under ``WikiDiverse``: train 5,570 / val 803 / test 1,058 samples (11,204 / 1,663 / 2,044
    mentions). The split lists are not disjoint: 23 ids are in two or three of them (train and val 11, train
    and test 14, val and test 4, all three 3); meta "splits" names every split listing a sample.
    ``mapping/ids_blank_image.json`` lists ids whose image is blank or missing (238; meta "blank_image").
    `split` None reads every sample in file order; "dev" is accepted for "val". A gold answer that is not a
    QID (none in this copy) becomes "NIL". Every mention is found in its sentence.
    """
    root = Path(root)
    samples = _load_json(root / "WikiDiverse.json", list, "WikiDiverse")
    mapping = _load_json(root / "mapping" / "ids_split_mappings.json", dict, "WikiDiverse")
    splits = {name: [str(i) for i in ids] for name, ids in mapping.get("WikiDiverse", {}).items()}
    blank_path = root / "mapping" / "ids_blank_image.json"
    blank: set[str] = set()
    if blank_path.is_file():
        blank = {str(i) for i in _load_json(blank_path, dict, "WikiDiverse").get("WikiDiverse", [])}
    by_id = {str(s["id"]): s for s in samples}
    ids = _split_ids(splits, split, "WikiDiverse", aliases={"dev": "val"}) if split else list(by_id)
    member = _membership(splits)
    for sample_id in _limited((i for i in ids if i in by_id), limit):
        sample = by_id[sample_id]
        yield _mel_document(
            f"wikidiverse:{sample_id}", sample["sentence"], sample["mention"], sample["answer"],
            image=sample.get("img-url"),
            meta={"dataset": "wikidiverse", "sample_id": sample_id, "splits": member.get(sample_id, []),
                  "image_file": sample.get("imgPath"), "blank_image": sample_id in blank},
        )


def wikidiverse_title_qids(root: Path) -> dict[str, str]:
    """Wikipedia title (underscored, as I2CR writes it) -> QID, from WikiDiverse.json's gold pairs."""
    samples = _load_json(Path(root) / "WikiDiverse.json", list, "WikiDiverse")
    return {
        title.replace(" ", "_"): qid
        for s in samples for title, qid in zip(s["entity"], s["answer"]) if is_qid(str(qid))
    }


I2CR_CHUNKS = range(2, 11)


def read_i2cr_fixture(root: Path, title_qids: Mapping[str, str] | None = None) -> Iterator[GivenCandidatesMention]:
    """The I2CR WikiDiverse test fixture: 90 distinct mentions, 10 given candidates each, sorted by id.

    Files in `root` (I2CR's ``cut_temp`` chunks 2..10): ``N.json`` maps an I2CR WikiDiverse test id
    ("1416", an index into I2CR's own 1,570-mention test set, not a KGMEL sample id) to ``{mention,
    mention_context, Candentity: [{name, desc}] x 10, mention_imgpath, mention_imgdesc_Azure: {Caption,
    "Dense Captions", Tags, "OCR text" ("; "-joined strings), "Dense Captions detail", Objects: [{object_name,
    bounding_box, confidence}]}}``; ``N_res.json`` is the same with the LLM's answer ``GPTans`` added. The
    chunks overlap: ``2.json`` (50 entries) repeats ``6..10.json``, every ``N.json`` id is in a
    ``*_res.json``, and ``2_res.json`` holds 10 ids found nowhere else: 130 entries, 90 distinct mentions,
    all in ``*_res.json``. The two files differ only in ``desc``: ``*_res.json`` has the Wikipedia abstract
    (used as `description`), ``N.json`` an LLM's one-sentence summary (`summary`, 80 mentions).
    ``WikiDiverse_testset_label.json`` maps all 1,570 ids to the gold title or "nil" (287): here 20 of the 90
    are NIL and the other 70 golds are always among the candidates; GPTans is right for 71 of 90.

    `title_qids` (e.g. `wikidiverse_title_qids`) fills candidate QIDs; it knows 112 of the 900 candidate
    titles and 68 of the 70 gold titles.
    """
    root = Path(root)
    labels = _load_json(root / "WikiDiverse_testset_label.json", dict, "I2CR fixture")
    inputs: dict[str, dict] = {}
    outputs: dict[str, dict] = {}
    for n in I2CR_CHUNKS:
        inputs.update(_load_json(root / f"{n}.json", dict, "I2CR fixture"))
        outputs.update(_load_json(root / f"{n}_res.json", dict, "I2CR fixture"))
    titles = title_qids or {}
    for key in sorted(set(inputs) | set(outputs), key=int):
        entry = outputs.get(key) or inputs[key]
        summaries = {c["name"]: c["desc"] for c in inputs.get(key, {}).get("Candentity", [])}
        candidates = [
            GivenCandidate(c["name"], c["desc"], titles.get(c["name"]), summaries.get(c["name"]))
            for c in entry["Candentity"]
        ]
        text, surface = entry["mention_context"], entry["mention"]
        span = _locate(text, surface, set())
        start, end = span if span else (None, None)
        pick = entry.get("GPTans")
        yield GivenCandidatesMention(
            id=f"i2cr-wikidiverse:{key}", text=text, surface=text[start:end] if span else surface,
            start=start, end=end, candidates=candidates, clues=_clues(entry.get("mention_imgdesc_Azure") or {}),
            gold=_nil_or(labels[key]), image=entry.get("mention_imgpath"), llm_pick=_nil_or(pick) if pick else None,
        )


def _nil_or(title: str) -> str:
    return NIL if title.strip().lower() == "nil" else title


def _clues(azure: Mapping[str, Any]) -> dict[str, list[str] | str]:
    """Azure image analysis -> caption (str), dense_captions, tags, ocr, objects (lists of strings)."""
    def parts(value: Any) -> list[str]:
        return [p.strip() for p in str(value or "").split(";") if p.strip()]

    return {
        "caption": str(azure.get("Caption") or ""),
        "dense_captions": parts(azure.get("Dense Captions")),
        "tags": parts(azure.get("Tags")),
        "ocr": parts(azure.get("OCR text")),
        "objects": [o["object_name"] for o in azure.get("Objects") or [] if o.get("object_name")],
    }


def _mel_document(doc_id: str, text: str, surfaces: list[str], answers: list[Any], image: str | None,
                  meta: dict[str, Any]) -> Document:
    ids = _MentionIds(doc_id)
    taken: set[tuple[int, int]] = set()
    mentions = []
    for index, (surface, answer) in enumerate(zip(surfaces, answers)):
        gold = answer if isinstance(answer, str) and is_qid(answer) else NIL
        span = _locate(text, surface, taken)
        if span is None:
            mentions.append(Mention(ids.unplaced(index), None, None, surface, gold=gold))
            continue
        taken.add(span)
        start, end = span
        mentions.append(Mention(ids.span(start, end), start, end, text[start:end], gold=gold))
    return Document(doc_id, text, image, mentions, meta)


def _locate(text: str, surface: str, taken: set[tuple[int, int]]) -> tuple[int, int] | None:
    """The first occurrence of `surface` in `text` not in `taken` (or the first one when all are)."""
    spans = _occurrences(text, surface)
    return next((s for s in spans if s not in taken), spans[0] if spans else None)


def _occurrences(text: str, surface: str) -> list[tuple[int, int]]:
    """Spans of `surface`, best kind first: exact whole word, exact substring, any case, words with gaps."""
    if not surface.strip():
        return []
    found, at = [], text.find(surface)
    while at >= 0:
        found.append((at, at + len(surface)))
        at = text.find(surface, at + 1)
    if found:
        whole = [s for s in found if _whole_word(text, surface, *s)]
        return whole + [s for s in found if s not in whole]
    pattern = re.compile(re.escape(surface), re.IGNORECASE)
    found = [m.span() for m in pattern.finditer(text) if _whole_word(text, surface, *m.span())]
    return found or _with_gaps(text, surface)


def _whole_word(text: str, surface: str, start: int, end: int) -> bool:
    """No word character glued to the span on a side where the surface itself ends in one."""
    def word(c: str) -> bool:
        return c.isalnum() or c == "_"

    left = not word(surface[0]) or start == 0 or not word(text[start - 1])
    return left and (not word(surface[-1]) or end == len(text) or not word(text[end]))


def _with_gaps(text: str, surface: str, max_gap: int = 2) -> list[tuple[int, int]]:
    """Spans where the surface's words occur in order, up to `max_gap` words between two of them.

    MEL datasets drop particles and middle names from surfaces ("Hermann Beckerath" for "Hermann von
    Beckerath", "Paul Draper" for "Paul W Draper"); the span covers what the text says.
    """
    words = [w.casefold() for w in _WORD_RE.findall(surface)]
    tokens = list(_WORD_RE.finditer(text))
    folded = [t.group().casefold() for t in tokens]
    spans = []
    for i, token in enumerate(folded):
        if not words or token != words[0]:
            continue
        j = i
        for word in words[1:]:
            nxt = next((k for k in range(j + 1, min(j + 2 + max_gap, len(tokens))) if folded[k] == word), None)
            if nxt is None:
                break
            j = nxt
        else:
            spans.append((tokens[i].start(), tokens[j].end()))
    return spans


def _split_ids(splits: Mapping[str, list], split: str, dataset: str, aliases: Mapping[str, str]) -> list[str]:
    name = aliases.get(split, split)
    if name not in splits:
        raise InputError(f"{dataset}: unknown split {split!r}; the official splits are {', '.join(splits)}")
    return [str(i) for i in splits[name]]


def _membership(splits: Mapping[str, list]) -> dict[str, list[str]]:
    """sample id -> names of the splits listing it (WikiDiverse's lists overlap)."""
    out: dict[str, list[str]] = {}
    for name, ids in splits.items():
        for i in ids:
            out.setdefault(str(i), []).append(name)
    return out


def _limited(items: Iterable[str], limit: int | None) -> Iterator[str]:
    if limit is not None and limit < 0:
        raise InputError(f"limit must be >= 0, got {limit}")
    for n, item in enumerate(items):
        if limit is not None and n >= limit:
            return
        yield item


def _load_json(path: Path, kind: type, dataset: str) -> Any:
    """A whole JSON file of the expected top-level type; InputError naming the file otherwise."""
    if not path.is_file():
        raise InputError(
            f"{path}: not found; is {path.parent} a {dataset} directory (layout in linkers/corpus.py)?"
        )
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, kind):
        raise InputError(f"{path}: expected a JSON {kind.__name__}, found {type(data).__name__}")
    return data
