"""The "Link a text" page of `kg serve`: a pasted or uploaded text (or a box in an image) linked with the chosen link
options, its mentions coloured by entity type, with a legend and a table of mentions (each with its top candidates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kg.kgstore.documents import DocumentMention
from kg.kgstore.errors import InputError
from kg.linkers.pipeline import MentionResult

PALETTE = ("#3451b2", "#067647", "#b42318", "#6941c6", "#c4320a", "#0e7090", "#a15c07", "#c11574")
OTHER = "#667085"  # linked entities of a type past the palette's, or of no type
MAX_TEXT = 20_000  # characters a pasted or uploaded text may have (a page, not a corpus: `kg link` is for those)
MAX_UTF8 = 4  # bytes a character takes at most in UTF-8: a file over MAX_TEXT * MAX_UTF8 bytes is refused unread


def checked_text(text: str, where: str) -> str:
    """`text` when the page may link it: not blank, at most MAX_TEXT characters."""
    if not text.strip():
        raise InputError(f"{where}: empty; paste or upload a text to link")
    if len(text) > MAX_TEXT:
        raise InputError(f"{where}: {len(text):,} characters, over the page's {MAX_TEXT:,} (use `kg link` for "
                         "longer texts)")
    return text


BOX = ("x1", "y1", "x2", "y2")  # the form's box fields: corners in pixels, as a corpus line's {"box": [...]}


def image_mention(form: dict[str, str]) -> dict[str, Any]:
    """The document fields of an image URL and its box mention (the corpus reader checks the box and the image
    loader fetches the URL, both bounded: http(s) only, size, time)."""
    try:
        box = [float(form.get(k, "").strip()) for k in BOX]
    except ValueError:
        raise InputError("box: give its four corners in pixels (left x1, top y1, right x2, bottom y2)") from None
    mention: dict[str, Any] = {"box": box}
    if form.get("surface", "").strip():
        mention["surface"] = form["surface"].strip()
    return {"image": form["image"].strip(), "mentions": [mention]}


def read_upload(name: str, data: bytes) -> str:
    """An uploaded file's text: UTF-8 (a byte-order mark is dropped), within the pasted text's limit."""
    where = f"file {name!r}"
    if len(data) > MAX_TEXT * MAX_UTF8:
        raise InputError(f"{where}: {len(data):,} bytes, over the page's {MAX_TEXT:,} characters (use `kg link` for "
                         "longer texts)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not UTF-8 text (byte {exc.start:,} is {data[exc.start]:#04x}); save it as UTF-8 "
                         "and upload it again") from None
    return checked_text(text, where)


@dataclass
class TypeColour:
    qid: str | None
    label: str
    colour: str


@dataclass
class LinkedMention:
    result: MentionResult
    label: str | None
    description: str | None
    type_: TypeColour | None  # None: NIL


@dataclass
class PastedText:
    mentions: list[LinkedMention] = field(default_factory=list)
    legend: list[TypeColour] = field(default_factory=list)


def colour_by_type(results: list[MentionResult], cards: dict[str, Any]) -> PastedText:
    """Each linked mention with the colour of its entity's first type (types in order of first use)."""
    colours: dict[str | None, TypeColour] = {}
    out = PastedText()
    for r in results:
        card = cards.get(r.qid) if r.qid else None
        type_ = None
        if card is not None:
            first = (card.types or [None])[0]
            key = first["qid"] if first else None
            if key not in colours:
                colour = PALETTE[len(colours)] if len(colours) < len(PALETTE) and key else OTHER
                colours[key] = TypeColour(key, (first or {}).get("label") or key or "no type", colour)
            type_ = colours[key]
        out.mentions.append(LinkedMention(r, card.label if card else None, card.description if card else None, type_))
    out.legend = list(colours.values())
    return out


def as_document_mentions(pasted: PastedText) -> list[DocumentMention]:
    """The mentions in the shape the text highlighter cuts a text by (pages.segments)."""
    return [DocumentMention(m.result.mention_id, m.result.surface, m.result.start, m.result.end, m.result.box,
                            "linked" if m.result.qid else "NIL", m.result.qid, m.label, m.description, m.result.score)
            for m in pasted.mentions]
