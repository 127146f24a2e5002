"""What an entity is described by, as words, and when it lived: evidence a mention's context can agree with.

Indexers and linkers must agree on both, so they live here. The words of an entity are those of its description
and attribute values, less the words of its own label (its name is the name index's business): "Marilyn Manson:
singer ... spouse: Dita Von Teese" gives singer, dita, von, teese, ... A mention whose context shares rare words
with them ("Dita Von Teese and Manson were married") is likely about it. They are indexed as a sparse vector of
hashed words with Qdrant's IDF modifier, so the overlap the vector store computes weighs rare words more, and no
entity text leaves the server at link time.

The life span is the entity's birth and death (or foundation and dissolution) years: a context that speaks only of
1873 is not about someone born in 1900.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence

from kg.kgstore.names import SparseNameVector, normalise

BUCKETS = 1 << 20
SCHEME = f"words-crc32-{BUCKETS}-v1"  # part of the words index hash: changing it re-encodes every entity
# Attributes whose values name when an entity began and ended (Wikidata's, then the MEL KBs' names for them).
START_KEYS = ("P569", "P571", "birth", "born", "founded")
END_KEYS = ("P570", "P576", "death", "died", "dissolved")
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have he her his in is it its of on or she that the their this to was "
    "were which who with born died".split())
_YEAR = re.compile(r"^\s*([+-]?)(\d{1,4})(?!\d)")
_TEXT_YEAR = re.compile(r"(?<![\w.])(1[0-9]{3}|20[0-9]{2})(?!\w)(?!\.\d)")
_SKIP_ATTRIBUTES = frozenset({"summary", "image", "images"})


def words(text: str) -> list[str]:
    """Distinct normalised words of a text that can carry evidence: no stop words, numbers or single letters."""
    return list(dict.fromkeys(w for w in normalise(text).split()
                              if len(w) > 1 and not w.isdigit() and w not in STOP_WORDS))


def entity_words(label: str | None, description: str | None, attributes: Mapping[str, Sequence[str]]) -> list[str]:
    """Words of the description and of literal attribute values (not identifiers), less the label's words."""
    own = set(words(label or ""))
    values = [v for key, vs in attributes.items() if key not in _SKIP_ATTRIBUTES and not _is_identifier(key)
              for v in vs if isinstance(v, str)]
    return [w for w in words(" ".join([description or "", *values])) if w not in own]


def sparse_vector(terms: Iterable[str]) -> SparseNameVector:
    """Hashed words with weight 1 (Qdrant's IDF modifier weighs them by rarity)."""
    indices = sorted({zlib.crc32(t.encode()) % BUCKETS for t in terms})
    return SparseNameVector(indices=indices, values=[1.0] * len(indices))


def year_of(value: str) -> int | None:
    """The year of "1952-03-11", "+1952-03-11T00:00:00Z", "1924" or "-099" (99 BC: -99); None for anything else."""
    m = _YEAR.match(value or "")
    if not m:
        return None
    year = int(m.group(2))
    return -year if m.group(1) == "-" else year


def life_span(attributes: Mapping[str, Sequence[str]]) -> list[int | None] | None:
    """[start year, end year] (either may be None); None when the entity has neither."""
    def first(keys: tuple[str, ...]) -> int | None:
        for key in keys:
            for value in attributes.get(key) or []:
                year = year_of(value) if isinstance(value, str) else None
                if year is not None:
                    return year
        return None

    start, end = first(START_KEYS), first(END_KEYS)
    return None if start is None and end is None else [start, end]


def text_years(text: str) -> list[int]:
    """Years a text speaks of (1000-2099 written as four digits, not part of a longer number or code)."""
    return [int(y) for y in _TEXT_YEAR.findall(text)]


def _is_identifier(key: str) -> bool:
    """A Wikidata property id (P123): their literal values are mostly external identifiers."""
    return len(key) > 1 and key[0] == "P" and key[1:].isdigit()
