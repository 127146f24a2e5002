"""The mention detector stage's interface: what the `Linker` asks of a detector, declared once.

A detector finds spans in documents that come without them; the Linker also tells it the link policy
(`concepts`) and the ranker's keyphraseness table (`keyphrases`), and reads its KB-name `gazetteer` (the
post-processors ask whether a word is a common noun). `DetectorBase` holds the defaults of the three."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kg.linkers.detection.detect import GazetteerDetector
from kg.linkers.detection.keyphrases import Keyphrases


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    surface: str
    label: str | None = None  # NER label (PERSON, ORG, GPE, ...); None for a gazetteer span
    source: str = "ner"  # "ner" or "gazetteer"
    kb_name: bool = False  # the surface is a KB name or alias: exact-name lookup finds its candidates


class SpanDetector(Protocol):
    """A mention detector as the Linker uses it."""

    name: str
    concepts: bool  # set by the Linker: also keep KB names that are concepts ("poet"), not names (`--link all`)
    keyphrases: Keyphrases | None  # set by the Linker: the ranker's keyphraseness (which concepts to keep)

    @property
    def gazetteer(self) -> GazetteerDetector | None:
        """The KB-name gazetteer the detector matches with, if any."""
        ...

    def spans_many(self, texts: list[str]) -> list[list[Span]]:
        """Each text's spans, in order, with where each came from (and its NER label)."""
        ...


class DetectorBase:
    """The defaults of `SpanDetector`: concepts off, no keyphrases, no gazetteer (a detector that does not read
    them ignores what the Linker sets)."""

    name: str = "detector"
    concepts: bool = False
    keyphrases: Keyphrases | None = None
    gazetteer: GazetteerDetector | None = None
