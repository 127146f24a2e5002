"""Entity names for lookup: one normal form for exact matching and hashed character 3-grams for fuzzy matching.

Indexers and linkers must agree byte for byte on both, so they live here. The normal form ignores case, accents,
punctuation and spacing ("Douglas  N. Adams" and "douglas n adams" are one name). The n-gram vector is a sparse
vector that Qdrant's sparse index searches, so fuzzy candidate generation scales past what fits in memory;
rapidfuzz then rescores the few candidates it returns.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

NGRAM = 3
BUCKETS = 1 << 20  # hashed n-gram space: collisions are rare at this size and harmless after rescoring
SCHEME = f"char{NGRAM}-crc32-{BUCKETS}-v1"  # part of the names index hash: changing it re-encodes every entity

# Letters that NFKD does not split into a base letter plus an accent.
_FOLD = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i", "ħ": "h"})
_APOSTROPHES = re.compile(r"['’ʼ`´]")
_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class SparseNameVector:
    """Indices and weights of a hashed n-gram vector (Qdrant `SparseVector` fields)."""

    indices: list[int]
    values: list[float]


@lru_cache(maxsize=1 << 16)
def normalise(text: str) -> str:
    """Case-folded, accent-free, punctuation-free, single-spaced form of a name ("" if nothing is left).

    Cached: linking a batch asks for the same surfaces and candidate names many times over."""
    if not text.isascii():  # NFKD leaves ASCII as it is, with nothing combining
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().translate(_FOLD)
    text = _APOSTROPHES.sub("", text)  # "O'Brien" -> "obrien", as people type it
    return " ".join(_NON_WORD.sub(" ", text).split())


def name_forms(label: str | None, aliases: Iterable[str] = ()) -> list[str]:
    """Distinct normal forms of an entity's label and aliases, label first."""
    out: dict[str, None] = {}
    for name in [label or "", *aliases]:
        form = normalise(name) if name else ""
        if form:
            out[form] = None
    return list(out)


def ngrams(form: str) -> list[str]:
    """Character n-grams of a normal form, padded with spaces so that word starts and ends count."""
    padded = f" {form} "
    return [padded[i : i + NGRAM] for i in range(len(padded) - NGRAM + 1)]


def _bucket(gram: str) -> int:
    return zlib.crc32(gram.encode("utf-8")) & (BUCKETS - 1)


def _unit_tf(form: str) -> dict[int, float]:
    """L2-normalised term frequencies of one name's hashed n-grams."""
    counts = Counter(_bucket(g) for g in ngrams(form))
    norm = math.sqrt(sum(c * c for c in counts.values())) or 1.0
    return {b: c / norm for b, c in counts.items()}


def query_vector(form: str) -> SparseNameVector:
    """Sparse vector of one (normalised) query name."""
    tf = _unit_tf(form)
    return SparseNameVector(list(tf), list(tf.values()))


def entity_vector(forms: Iterable[str]) -> SparseNameVector:
    """Sparse vector of all names of an entity: per n-gram, the largest weight it has in any one name.

    Max-pooling (rather than summing) keeps an entity with many aliases as close to a query matching one of them
    as an entity with that single name: the dot product with a query is at least its cosine to the best name.
    """
    pooled: dict[int, float] = {}
    for form in forms:
        for b, w in _unit_tf(form).items():
            if w > pooled.get(b, 0.0):
                pooled[b] = w
    return SparseNameVector(list(pooled), list(pooled.values()))


# Words an acronym may leave out ("Bank of America": BA as well as BOA), and the legal forms a company's name may
# end with ("International Business Machines Corporation": IBM as well as IBMC). Normal forms.
MINOR_WORDS = frozenset({"of", "and", "the", "for", "de", "la", "le", "du", "des", "del", "in", "on", "at", "a", "an",
                         "to", "und", "der", "fur", "y", "et"})
LEGAL_SUFFIXES = frozenset({"inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "plc",
                            "llc", "llp", "ag", "sa", "se", "nv", "bv", "gmbh", "spa", "group", "holdings", "lp"})
MAX_INITIALS_WORDS = 8


def initials(names: Iterable[str | None]) -> list[str]:
    """The acronyms a multi-word name may go by, as normal forms: the first letters of all its words, of its words
    less the minor ones, each with and without a legal suffix ("new york stock exchange": "nyse"; "international
    business machines corporation": "ibmc", "ibm"). The index keeps them beside the names, so "NYSE" finds an
    entity whose KB lists no such alias (most list none)."""
    out: dict[str, None] = {}
    for name in names:
        words = normalise(name).split() if name else []
        if not 2 <= len(words) <= MAX_INITIALS_WORDS:
            continue
        stems = [words]
        if words[-1] in LEGAL_SUFFIXES and len(words) > 2:
            stems.append(words[:-1])
        for stem in stems:
            for kept in (stem, [w for w in stem if w not in MINOR_WORDS]):
                form = "".join(w[0] for w in kept)
                if len(form) >= 2:
                    out[form] = None
    return list(out)


def acronym(surface: str) -> str | None:
    """The normal form of a surface written as an acronym ("NYSE", "U.N.", "AT&T" no: letters only), else None."""
    letters = surface.replace(".", "").strip()
    if 2 <= len(letters) <= 6 and letters.isalpha() and letters.isupper() and letters.isascii():
        return letters.lower()
    return None
