"""The "Link a text" page of `kg serve`: a pasted text linked with the chosen method and detector, its mentions
coloured by entity type, with a legend and a table of mentions (each with its top candidates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kg.kgstore.documents import DocumentMention
from kg.linkers.pipeline import MentionResult

PALETTE = ("#3451b2", "#067647", "#b42318", "#6941c6", "#c4320a", "#0e7090", "#a15c07", "#c11574")
OTHER = "#667085"  # linked entities of a type past the palette's, or of no type
MAX_TEXT = 20_000  # characters a pasted text may have (a page, not a corpus: `kg link` is for those)


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
