"""Mention detection for documents that come without spans: a gazetteer over the KB's names and aliases.

`GazetteerDetector` finds the longest alias match at each token (so "New York City" wins over "New York"),
with two rules that keep common words out:

- an alias made only of stop words ("The Who", "it") is never indexed, and a span made only of common words
  and stop words ("may", "us", "march", "Will You") matches only where the text capitalises it and some
  alias with that key is a proper name ("May", "US");
- otherwise a span the text writes in lowercase matches only when some alias of that key is lowercase too
  ("apple" the fruit, not "Apple" the company), unless the whole text is caseless (no uppercase letter).

Text and aliases are compared as tokens normalised by `kgstore.names.normalise` (case, accents and punctuation
ignored), so detection agrees with the names index; a possessive "'s" is dropped ("Dalai Lama's").

It must hold tens of millions of aliases, so it keeps no strings: each alias key (its normalised tokens) is
a 64-bit hash in a sorted array, plus one flag byte; 9 bytes per key, looked up by binary search. The first
tokens of every multi-token alias are stored too, flagged PREFIX, so matching at a token extends the span one
token at a time and stops at the first span no alias starts with: most tokens cost one lookup. A hash collision
(about 1e-4 over 50M keys) can only add a spurious span. `save`/`load`/`cached` keep the built arrays on disk
under a fingerprint the caller chooses (e.g. the KB's content hash), so `kg link` does not rebuild them each run.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import sys
import unicodedata
from array import array
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, Protocol

from kg.kgstore.files import atomic_file
from kg.kgstore.names import normalise

__all__ = [
    "COMMON_WORDS", "STOP_WORDS", "GazetteerDetector", "GazetteerStats", "MentionDetector", "Token", "alias_key",
    "tokenize",
]

PROPER = 1  # some alias of the key has an uppercase letter (or none that has case, such as "1984")
LOWER = 2  # some alias of the key is written without uppercase letters
PREFIX = 4  # some longer alias starts with the key's tokens
ALIAS = PROPER | LOWER
_MAGIC = b"KGGAZ\x00"
_FORMAT = 2
# Keys of these, stored with a saved detector: a file built under another normaliser is not loaded.
_PROBE = ("Ça-va O'Brien’s ½ Øresund", "ĐẠI HỌC Straße", "Αθήνα Москва 東京")

# English function words: an alias made only of these ("The Who", "It") is never indexed.
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between
both but by could did do does doing down during each either else ever every few for from further had has have
having he her here hers herself him himself his how however i if in into is it its itself just let me more most
my myself neither no nor not of off on once only or other our ours ourselves out over own same she should since
so some such than that the their theirs them themselves then there these they this those though through thus to
too under until up upon very was we were what when where whether which while who whom whose why with within
without would yet you your yours yourself yourselves
""".split())
# Common words that are also names ("May", "US", "March"): a span made only of these and stop words matches
# only where the text capitalises it and an alias of that key is a proper name.
COMMON_WORDS = frozenset("""
may march august will can might must shall us one two three new said say says well back still even much many
now mr mrs ms dr st
""".split())
_WEAK = STOP_WORDS | COMMON_WORDS


def _mark_class() -> str:
    """Regex class of the combining marks of the BMP, which \\w leaves out (NFD accents, Indic vowel signs)."""
    codes = [c for c in range(0x300, 0x10000) if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me")]
    ranges: list[list[int]] = []
    for c in codes:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_APOSTROPHES = "'’ʼ`´"  # deleted inside words by kgstore.names.normalise ("O'Brien" -> "obrien")
_UNIT = rf"[^\W_](?:[^\W_]|[{_mark_class()}])*"
_TOKEN_RE = re.compile(rf"{_UNIT}(?:[{_APOSTROPHES}]{_UNIT})*")
_NON_WORD_RE = re.compile(r"[\W_]+")


class Token(NamedTuple):
    norm: str  # normalised form
    start: int  # character offsets in the original text
    end: int


@lru_cache(maxsize=1 << 16)
def _norm_parts(word: str) -> tuple[str, ...]:
    return tuple(normalise(word).split())


def tokenize(text: str) -> list[Token]:
    """Word tokens with their offsets in `text`, normalised by kgstore.names.normalise.

    Apostrophes inside a word keep it whole ("O'Brien" -> "obrien", as the names index has it), except a
    possessive "'s", which is dropped ("Lama's" -> "lama"). A word whose normal form has several parts
    ("½" -> "1 2") gives one token per part, each spanning the whole word.
    """
    tokens = []
    for m in _TOKEN_RE.finditer(text):
        word, start, end = m.group(), m.start(), m.end()
        if len(word) > 2 and word[-2] in _APOSTROPHES and word[-1] in "sS":
            word, end = word[:-2], end - 2
        for part in _norm_parts(word):
            tokens.append(Token(part, start, end))
    return tokens


def alias_key(alias: str) -> str:
    """An alias's normalised tokens joined by spaces: what `tokenize` gives for the alias written in a text."""
    if alias.isascii() and "'" not in alias and "`" not in alias:
        # equal to the general path for ASCII without apostrophes (tested), and several times faster
        return " ".join(_NON_WORD_RE.sub(" ", alias.lower()).split())
    return " ".join(t.norm for t in tokenize(alias))


def _key_hash(key: str) -> int:
    """64-bit hash of a normalised key (tokens joined by one space)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def _case_flags(alias: str) -> int:
    if alias.lower() != alias:  # has an uppercase (or titlecase) letter
        return PROPER
    return LOWER if alias.upper() != alias else PROPER | LOWER


class MentionDetector(Protocol):
    def detect(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, surface) spans of `text`, in order; surface == text[start:end]."""
        ...


@dataclass
class GazetteerStats:
    aliases: int = 0  # pairs read
    keys: int = 0  # distinct normalised keys kept
    prefixes: int = 0  # of which only first tokens of longer aliases
    skipped_empty: int = 0  # nothing left after normalising
    skipped_stop_words: int = 0  # only stop words
    skipped_short: int = 0  # one token shorter than min_chars
    skipped_long: int = 0  # more than max_tokens tokens


@dataclass
class GazetteerDetector:
    """Longest-match alias detector; build it with `build` or `cached`, not the constructor."""

    keys: array = field(repr=False)  # sorted 64-bit key hashes ("Q")
    flags: array = field(repr=False)  # PROPER | LOWER per key ("B")
    max_len: int  # longest key in tokens
    options: dict[str, int] = field(default_factory=dict)
    stats: GazetteerStats = field(default_factory=GazetteerStats)

    @classmethod
    def build(cls, aliases: Iterable[tuple[str, str]], max_tokens: int = 10, min_chars: int = 2) -> GazetteerDetector:
        """From (alias, entity id) pairs such as the KB's labels and aliases.

        Only the alias is kept: detection needs spans; candidates come from the stores. Aliases longer than
        `max_tokens` tokens, one-token aliases shorter than `min_chars` characters ("X") and all-stop-word
        aliases are skipped and counted in `stats`.
        """
        stats = GazetteerStats()
        table: dict[int, int] = {}
        max_len = 0
        for alias, _entity in aliases:
            stats.aliases += 1
            key = alias_key(alias)
            length = key.count(" ") + 1
            if not key:
                stats.skipped_empty += 1
            elif key.split(" ", 1)[0] in STOP_WORDS and all(t in STOP_WORDS for t in key.split(" ")):
                stats.skipped_stop_words += 1
            elif length == 1 and len(key) < min_chars:
                stats.skipped_short += 1
            elif length > max_tokens:
                stats.skipped_long += 1
            else:
                h = _key_hash(key)
                table[h] = table.get(h, 0) | _case_flags(alias)
                max_len = max(max_len, length)
                if length > 1:
                    parts = key.split(" ")
                    for n in range(1, length):
                        p = _key_hash(" ".join(parts[:n]))
                        table[p] = table.get(p, 0) | PREFIX
        order = sorted(table)
        stats.keys = len(order)
        stats.prefixes = sum(1 for k in order if not table[k] & ALIAS)
        options = {"max_tokens": max_tokens, "min_chars": min_chars}
        return cls(array("Q", order), array("B", (table[k] for k in order)), max_len, options, stats)

    def __len__(self) -> int:
        return len(self.keys)

    def _flags(self, key: int) -> int:
        i = bisect.bisect_left(self.keys, key)
        return self.flags[i] if i < len(self.keys) and self.keys[i] == key else 0

    def __contains__(self, alias: object) -> bool:
        """Whether `alias` normalises to an indexed key (whatever its case)."""
        return isinstance(alias, str) and bool(self._flags(_key_hash(alias_key(alias))) & ALIAS)

    def lowercase_name(self, words: str) -> bool:
        """Whether some KB name or alias with these words is written in lowercase: a common noun ("education")."""
        return bool(self._flags(_key_hash(alias_key(words))) & LOWER)

    def detect(self, text: str) -> list[tuple[int, int, str]]:
        tokens = tokenize(text)
        caseless = text.lower() == text
        spans = []
        i = 0
        while i < len(tokens):
            length = self._longest(text, tokens, i, caseless)
            if length:
                start, end = tokens[i].start, tokens[i + length - 1].end
                spans.append((start, end, text[start:end]))
                # a word split into several parts ("½") must not start another match inside it
                i += length
                while i < len(tokens) and tokens[i].start < end:
                    i += 1
            else:
                i += 1
        return spans

    def _longest(self, text: str, tokens: list[Token], i: int, caseless: bool) -> int:
        """Length in tokens of the longest accepted alias starting at token i, 0 if none."""
        best = 0
        parts: list[str] = []
        for length in range(1, min(self.max_len, len(tokens) - i) + 1):
            parts.append(tokens[i + length - 1].norm)
            flags = self._flags(_key_hash(" ".join(parts)))
            if flags & ALIAS:
                window = tokens[i:i + length]
                if _accepted(flags, text[window[0].start:window[-1].end], window, caseless):
                    best = length
            if not flags & PREFIX:
                break
        return best

    # ------------------------------------------------------------------------------------------ on disk

    def save(self, path: Path, fingerprint: str) -> None:
        """Write atomically to `path`; `fingerprint` identifies what it was built from."""
        header = json.dumps({
            "format": _FORMAT, "fingerprint": fingerprint, "max_len": self.max_len, "options": self.options,
            "stats": asdict(self.stats), "n": len(self.keys), "probe": [alias_key(p) for p in _PROBE],
        }).encode()
        keys = array("Q", self.keys)
        if sys.byteorder == "big":
            keys.byteswap()
        with atomic_file(path) as f:
            f.write(_MAGIC + len(header).to_bytes(4, "little") + header)
            keys.tofile(f)
            self.flags.tofile(f)

    @classmethod
    def load(cls, path: Path, fingerprint: str, **options: int) -> GazetteerDetector | None:
        """The detector saved at `path`, or None when missing, unreadable or built from something else
        (another fingerprint, other build options, another normaliser, an older file format)."""
        try:
            with open(path, "rb") as f:
                if f.read(len(_MAGIC)) != _MAGIC:
                    return None
                header = json.loads(f.read(int.from_bytes(f.read(4), "little")))
                if header.get("format") != _FORMAT or header.get("fingerprint") != fingerprint:
                    return None
                if header.get("probe") != [alias_key(p) for p in _PROBE]:
                    return None
                if options and any(header["options"].get(k) != v for k, v in options.items()):
                    return None
                n = header["n"]
                keys, flags = array("Q"), array("B")
                keys.fromfile(f, n)
                flags.fromfile(f, n)
        except (OSError, EOFError, ValueError, KeyError):
            return None
        if sys.byteorder == "big":
            keys.byteswap()
        return cls(keys, flags, header["max_len"], header["options"], GazetteerStats(**header["stats"]))

    @classmethod
    def cached(cls, path: Path, fingerprint: str, aliases: Callable[[], Iterable[tuple[str, str]]],
               max_tokens: int = 10, min_chars: int = 2) -> GazetteerDetector:
        """Load from `path` when it was built from `fingerprint`; otherwise build from `aliases()` and save."""
        options = {"max_tokens": max_tokens, "min_chars": min_chars}
        found = cls.load(path, fingerprint, **options)
        if found is not None:
            return found
        built = cls.build(aliases(), **options)
        built.save(path, fingerprint)
        return built


def _accepted(flags: int, span_text: str, window: list[Token], caseless: bool) -> bool:
    """The case and stop-word rules of the module docstring for one candidate span."""
    if all(t.norm in _WEAK for t in window):
        return span_text[:1].isupper() and bool(flags & PROPER)
    return caseless or bool(flags & LOWER) or span_text.lower() != span_text
