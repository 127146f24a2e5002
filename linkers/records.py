"""Corpus records: what `kg link` links and `kg eval` scores, whatever the source.

Every source (a user's JSONL or text files, the MEL benchmarks) becomes the same `Document` / `Mention`
records, so linking and evaluation share one path. Mention ids are derived from the document id and the
span (``doc#start-end``) or box (``doc#box:x1,y1,x2,y2``), so linking the same corpus twice writes the same
mentions. A span given twice in one document (WikiMEL's "The Fords" names two people) gets ``~2``, ``~3``
appended in order; a mention whose span is unknown is ``doc#mN`` (N: its index in the document).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

NIL = "NIL"
# A document's text goes into the graph in one Bolt message, which ArcadeDB refuses over 16 MiB (and the driver then
# waits for ever): a larger document is a bad line, to be split by the user.
MAX_TEXT_BYTES = 8 << 20
# What no stage can take: a lone surrogate cannot be encoded as UTF-8 (the tokenizers, the Bolt driver and JSON
# output all fail on it) and C0 control characters other than white space are no text. Each is one code point, and
# its replacement U+FFFD is one too, so every span offset of the document stays valid.
_INVALID_TEXT = re.compile("[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def too_large(text: str) -> str | None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= MAX_TEXT_BYTES:
        return None
    return f"text: too large ({size >> 20} MiB; a document holds at most {MAX_TEXT_BYTES >> 20} MiB): split it"


def repaired(text: str) -> tuple[str, int]:
    """`text` with each lone surrogate and control character replaced by U+FFFD (offsets unchanged), and how many
    were replaced."""
    return _INVALID_TEXT.subn(REPLACEMENT, text)


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



# ---------------------------------------------------------------------------------------------- mention ids


class MentionIds:
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


@dataclass
class MentionResult:
    """One mention's link (or NIL) with what the stages did (`trace`), as `kg link` prints and writes it."""

    doc_id: str
    mention_id: str
    surface: str
    start: int | None
    end: int | None
    box: list[float] | None
    qid: str | None  # None: NIL
    score: float | None
    candidates: list[dict[str, Any]]
    retrieved: list[str]  # candidate qids in retrieval (fused) order, before reranking
    gold: str | None = None
    detector: str | None = None  # which detector found the span (None: given)
    ner_label: str | None = None
    keyphrase: float | None = None  # the surface's learned keyphraseness (None: unknown)
    trace: dict[str, Any] = field(default_factory=dict)
    missing_entity: str | None = None  # the QID chosen, which the graph no longer holds: no link was written

    def to_json(self, explain: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["qid"] = self.qid or NIL
        if not explain:
            data.pop("trace")
            data.pop("retrieved")
            data["candidates"] = [{k: c[k] for k in ("qid", "label", "score")} for c in self.candidates]
        return data
