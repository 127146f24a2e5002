"""Every call `kg serve` makes into kgstore and linkers, in one place (so the server follows a restructuring of
those packages by changing this module only). Stores and models are opened once and shared by all requests."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from cli.context import AppContext
from kgstore import documents as docs_q
from kgstore import cards, linked
from kgstore.errors import InputError
from kgstore.files import atomic_write
from kgstore.images import is_url
from kgstore import names as name_index
from kgstore.entity_index import NAMES_FIELD
from kgstore.search import Hit, Searcher
from linkers.corpus import Document, parse_document
from linkers.eval_report import EvalReport, load_report
from linkers.detectors import detectors
from linkers.pipeline import CONTEXT_ENCODERS, Linker, MentionResult
from linkers.rerankers.registry import methods
from linkers.run import MethodChoice, Stores, build_linker
from linkers.rerankers.llm_method import WHEN, LLMOptions

SEARCH_MODES = ("name", "text", "image")
# a fuzzy name hit is a "did you mean" suggestion (never ranked among the names that match exactly) where one of its
# names is spelt like the whole query at least this much (rapidfuzz ratio / 100: "berln" Berlin 0.91, "barak obama"
# Barack Obama 0.96); the rest are not offered: "obama" is not Alabama (0.67), nor "paris" San Francisco (an alias
# containing the word, which the name index's partial match scores 0.90)
FUZZY_CUTOFF = 0.85
MAX_POOL = 100  # hits asked of the index when a type filter will drop some
QID = re.compile(r"[qQpPlL][0-9]+")  # Wikidata items, properties and lexemes
MAX_LINKERS = 4  # linkers kept for distinct option sets (they share the process-wide text model)


@dataclass(frozen=True)
class LinkSettings:
    """The `kg link` options a request may set (the server's files, such as --weights, are not among them)."""

    method: str = "auto"
    top_k: int = 10
    nil_threshold: float | None = None
    context: str = "cascade"
    detector: str = "hybrid"
    detect: bool = True
    llm: str = "unsure"
    llm_margin: float = LLMOptions.margin
    llm_budget: int | None = None
    write: bool = False

    def check(self) -> "LinkSettings":
        """The CLI's choices, with a message naming the bad option and the good values."""
        for name, value, allowed in (("method", self.method, tuple(methods())),
                                     ("context", self.context, CONTEXT_ENCODERS),
                                     ("detector", self.detector, tuple(detectors())), ("llm", self.llm, WHEN)):
            if value not in allowed:
                raise InputError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        if not 1 <= self.top_k <= 100:
            raise InputError(f"top_k: {self.top_k} is not in 1..100")
        return self

    def method_args(self) -> MethodChoice:
        return MethodChoice(method=self.method, weights=None, top_k=self.top_k, nil_threshold=self.nil_threshold,
                          context=self.context, llm=self.llm, llm_margin=self.llm_margin, llm_budget=self.llm_budget,
                          method_config=None)


def canonical_qid(qid: str) -> str:
    """"q76 " -> "Q76": Wikidata ids are written upper-case in the graph; other ids of a custom KB are kept as
    given."""
    qid = qid.strip()
    return qid.upper() if QID.fullmatch(qid) else qid


def spelt_like(query: str, hit: Hit) -> float:
    """How close the query is to the nearest of the hit's names, as whole strings (0..1)."""
    form = name_index.normalise(query)
    return max((fuzz.ratio(form, name) for name in hit.payload.get(NAMES_FIELD) or []), default=0.0) / 100


@dataclass
class SearchResult:
    hits: list[Hit]  # by=name: entities with the query as a name or alias; by=text/image: the nearest
    did_you_mean: list[Hit]  # by=name: names spelt like the query, at or above FUZZY_CUTOFF


@dataclass
class LinkedText:
    document: Document
    results: list[MentionResult] = field(default_factory=list)


class KgService:
    def __init__(self, app: AppContext, reports: list[Path] | None = None):
        self.app = app
        self.config = app.config
        self.searcher = Searcher(app.config, app.vectors())
        self._linkers: OrderedDict[LinkSettings, Linker] = OrderedDict()
        self._report_paths = {p.name: p for p in reports or []}
        self._reports: dict[str, EvalReport] = {}

    # -------------------------------------------------------------------------------------------- linking
    def linker(self, settings: LinkSettings) -> Linker:
        """The linker for these settings, built once (call from the link worker thread only)."""
        linker = self._linkers.get(settings)
        if linker is None:
            margs = settings.method_args()
            stores = Stores(self.app.config, self.app.graph(), self.app.vectors())
            linker = build_linker(stores, margs.link_options(write=settings.write),
                                  settings.detector if settings.detect else None, margs)
            linker.context_encoder  # load the models now, not inside the first timed batch
            self._linkers[settings] = linker
            while len(self._linkers) > MAX_LINKERS:
                self._linkers.popitem(last=False)
        self._linkers.move_to_end(settings)
        return linker

    def document(self, record: dict[str, Any], image_base64: str | None = None) -> Document:
        """A request's document, read by the corpus reader (the CLI's messages); an uploaded image is stored
        under KG_HOME/cache/uploads by content hash, and an `image` must be an http(s) URL (the server does not
        open its own files for a client)."""
        record = {k: v for k, v in record.items() if v is not None}
        record.setdefault("id", "api-" + uuid.uuid4().hex[:12])
        image = record.get("image")
        if image is not None and image_base64 is not None:
            raise InputError("give either image (an http(s) URL) or image_base64, not both")
        if image is not None and not (isinstance(image, str) and is_url(image)):
            raise InputError("image: must be an http(s) URL; send the image's bytes as image_base64 instead")
        if image_base64 is not None:
            record["image"] = str(self._store_upload(image_base64))
        return parse_document(record, self.config.home)

    def _store_upload(self, data: str) -> Path:
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("image_base64: not valid base64 (standard alphabet, padded)") from None
        if not raw:
            raise InputError("image_base64: empty")
        path = self.config.home / "cache" / "uploads" / hashlib.sha1(raw).hexdigest()
        if not path.exists():
            atomic_write(path, raw)
        return path

    # -------------------------------------------------------------------------------------------- reading
    def search_modes(self) -> tuple[str, ...]:
        """The modes this server can answer: by image only with an image model configured."""
        return SEARCH_MODES if self.config.models.image_backend else tuple(m for m in SEARCH_MODES if m != "image")

    def search(self, text: str, by: str = "name", k: int = 10, type_: str = "") -> SearchResult:
        """`type_`: only entities of that type (its QID, in any case); the index is asked for MAX_POOL hits then,
        so that k remain after the filter where the index has them."""
        if not text.strip():
            raise InputError("q: empty query: give a name, a description or (by=image) an image URL")
        modes = self.search_modes()
        if by not in modes:
            extra = " (by=image needs an image model: [models] image_backend in kg.toml)" if by == "image" else ""
            raise InputError(f"by: {by!r} is not one of {', '.join(modes)}{extra}")
        wanted = canonical_qid(type_)
        pool = max(k, MAX_POOL) if wanted else k
        if by == "name":
            hits = self.searcher.by_name(text, pool)
            found = SearchResult([h for h in hits if h.match == "exact"],
                                 [h for h in hits if h.match != "exact" and spelt_like(text, h) >= FUZZY_CUTOFF])
        elif by == "text":
            found = SearchResult(self.searcher.by_text(text, pool), [])
        else:
            found = SearchResult(self.searcher.by_image(text, pool) if is_url(text)
                                 else self.searcher.by_image_text(text, pool), [])
        if wanted:
            found = SearchResult([h for h in found.hits if wanted in (h.payload.get("types") or [])][:k],
                                 [h for h in found.did_you_mean if wanted in (h.payload.get("types") or [])][:k])
        return found

    def card(self, qid: str) -> cards.EntityCard:
        return cards.entity_card(self.app.graph(), canonical_qid(qid))

    def mentions(self, qid: str, limit: int = 20) -> linked.EntityMentions:
        return linked.entity_mentions(self.app.graph(), canonical_qid(qid), limit=limit)

    def entity_documents(self, qid: str, limit: int = 20) -> linked.EntityDocuments:
        return linked.entity_documents(self.app.graph(), canonical_qid(qid), limit=limit)

    def cooccurring(self, qid: str, limit: int = 12) -> linked.EntityCooccurrences:
        return linked.cooccurring_entities(self.app.graph(), canonical_qid(qid), limit=limit)

    def described(self, qids: list[str]) -> dict[str, tuple[str | None, str | None]]:
        """Label and description of each entity (one read for a whole /link answer)."""
        return cards.descriptions_for(self.app.graph(), [x for x in qids if x])

    def labels(self, qids: list[str]) -> dict[str, str]:
        return cards.labels_for(self.app.graph(), [x for x in qids if x])

    def linked_document(self, doc_id: str) -> docs_q.LinkedDocument:
        return docs_q.linked_document(self.app.graph(), doc_id)

    def documents_page(self, after: str = "", limit: int = 50) -> list[docs_q.DocumentRow]:
        return docs_q.documents_page(self.app.graph(), after, limit)

    def document_count(self) -> int:
        return docs_q.document_count(self.app.graph())

    def health(self) -> dict[str, Any]:
        """Both stores answer (a cheap read each)."""
        self.app.graph().ping()
        points = self.app.vectors().count(self.config.qdrant.collection)
        return {"status": "ok", "graph": "ok", "collection": self.config.qdrant.collection, "vectors": points,
                "linkers_loaded": len(self._linkers)}

    # -------------------------------------------------------------------------------------------- reports
    def report_names(self) -> list[str]:
        return sorted(self._report_paths)

    def report(self, name: str) -> EvalReport:
        if name not in self._report_paths:
            raise InputError(f"unknown report {name!r}: start `kg serve --report FILE` with the file "
                             f"`kg eval --report` wrote (loaded: {', '.join(self.report_names()) or 'none'})")
        if name not in self._reports:
            self._reports[name] = load_report(self._report_paths[name])
        return self._reports[name]

    def load_reports(self) -> None:
        """Read every report at start-up, so a bad file is an error before the server listens."""
        for name in self._report_paths:
            self.report(name)

