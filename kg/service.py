"""Every call the Python API and `kg serve` make into kgstore and linkers for linking and reading, in one place (so
both follow a restructuring of those packages by changing this module only). Stores and models are opened once and
shared by all calls; linkers are built once per option set."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

from rapidfuzz import fuzz

from kg.context import StoreContext
from kg.kgstore import cards, linked
from kg.kgstore import documents as docs_q
from kg.kgstore import names as name_index
from kg.kgstore.entity_index import NAMES_FIELD
from kg.kgstore.errors import InputError
from kg.kgstore.images import is_url
from kg.kgstore.search import Hit, Searcher
from kg.linkers.candidates.names import NameLookup
from kg.linkers.detection.detectors import detectors
from kg.linkers.pipeline import CONTEXT_ENCODERS, Linker
from kg.linkers.ranking.llm_method import WHEN, LLMOptions
from kg.linkers.ranking.registry import methods
from kg.linkers.run import MethodChoice, Stores, build_linker

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
    """The `kg link` options an API call or a `kg serve` request may set (the server's files, such as --weights, are
    not among them)."""

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

    def check(self) -> LinkSettings:
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
                            context=self.context, llm=self.llm, llm_margin=self.llm_margin,
                            llm_budget=self.llm_budget, method_config=None)


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


class Service:
    """The stores of one KG_HOME and the linkers built on them."""

    def __init__(self, app: StoreContext):
        self.app = app
        self.config = app.config
        self._linkers: OrderedDict[LinkSettings, Linker] = OrderedDict()

    @cached_property
    def searcher(self) -> Searcher:
        return Searcher(self.config, self.app.vectors())

    def stores(self) -> Stores:
        return Stores(self.config, self.app.graph(), self.app.vectors())

    # -------------------------------------------------------------------------------------------- linking
    def build_linker(self, margs: MethodChoice, *, write: bool, detector: str | None) -> Linker:
        """A new linker for these method options (`detector`: None links given spans only); the caller closes it.
        `kg link`, `kg serve` and the API all build theirs here."""
        return build_linker(self.stores(), margs.link_options(write=write), detector, margs)

    def linker(self, settings: LinkSettings) -> Linker:
        """The linker for these settings, built once (call from one thread at a time: kg serve's link worker)."""
        linker = self._linkers.get(settings)
        if linker is None:
            linker = self.build_linker(settings.method_args(), write=settings.write,
                                       detector=settings.detector if settings.detect else None)
            _ = linker.context_encoder  # load the models now, not inside the first timed batch
            self._linkers[settings] = linker
            while len(self._linkers) > MAX_LINKERS:
                self._linkers.popitem(last=False)[1].close()
        self._linkers.move_to_end(settings)
        return linker

    def close(self) -> None:
        """Releases every linker's threads (the stores belong to the StoreContext)."""
        while self._linkers:
            self._linkers.popitem()[1].close()

    # -------------------------------------------------------------------------------------------- reading
    def search_modes(self) -> tuple[str, ...]:
        """The modes this KB can answer: by image only with an image model configured."""
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
            hits = NameLookup(self.searcher).by_name(text, pool)
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
        """Label and description of each entity (one read for a whole batch of results)."""
        return cards.descriptions_for(self.app.graph(), [x for x in qids if x])

    def labels(self, qids: list[str]) -> dict[str, str]:
        return cards.labels_for(self.app.graph(), [x for x in qids if x])

    def linked_document(self, doc_id: str) -> docs_q.LinkedDocument:
        return docs_q.linked_document(self.app.graph(), doc_id)

    def documents_page(self, after: str = "", limit: int = 50) -> list[docs_q.DocumentRow]:
        return docs_q.documents_page(self.app.graph(), after, limit)

    def document_count(self) -> int:
        return docs_q.document_count(self.app.graph())
