"""Every call the Python API and `kg serve` make into kgstore and linkers for linking and reading, in one place (so
both follow a restructuring of those packages by changing this module only). Stores and models are opened once and
shared by all calls; linkers are built once per option set."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

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
from kg.linkers.config import resolve
from kg.linkers.pipeline import Linker, LinkOptions
from kg.linkers.run import Stores, build_linker

SEARCH_MODES = ("name", "text", "image")
# a fuzzy name hit is a "did you mean" suggestion (never ranked among the names that match exactly) where one of its
# names is spelt like the whole query at least this much (rapidfuzz ratio / 100: "berln" Berlin 0.91, "barak obama"
# Barack Obama 0.96); the rest are not offered: "obama" is not Alabama (0.67), nor "paris" San Francisco (an alias
# containing the word, which the name index's partial match scores 0.90)
FUZZY_CUTOFF = 0.85
MAX_POOL = 100  # hits asked of the index when a type filter will drop some
QID = re.compile(r"[qQpPlL][0-9]+")  # Wikidata items, properties and lexemes
MAX_LINKERS = 4  # linkers kept for distinct option sets (they share the process-wide text model)


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

    def __init__(self, app: StoreContext, link: Mapping[str, Any] | None = None):
        """`link`: link options that hold for every call (`kg serve --method ...`), over the environment's and
        kg.toml's."""
        self.app = app
        self.config = app.config
        self.link_given = dict(link or {})
        self._linkers: OrderedDict[LinkOptions, Linker] = OrderedDict()

    @cached_property
    def searcher(self) -> Searcher:
        return Searcher(self.config, self.app.vectors())

    def stores(self) -> Stores:
        return Stores(self.config, self.app.graph(), self.app.vectors())

    # -------------------------------------------------------------------------------------------- linking
    def link_options(self, given: Mapping[str, Any] | None = None, *, write: bool = False) -> LinkOptions:
        """The options of one call or request: `given` over this service's, KG.open's, the environment's, kg.toml's
        and the defaults (linkers.config); an unknown or bad option is an InputError naming it."""
        return resolve(self.config, {**self.link_given, **(given or {})}, LinkOptions, write=write)

    def build_linker(self, options: LinkOptions) -> Linker:
        """A new linker for these options (with `detect` off it links given spans only); the caller closes it.
        `kg link`, `kg serve` and the API all build theirs here."""
        return build_linker(self.stores(), options, options.detector if options.detect else None)

    def linker(self, options: LinkOptions) -> Linker:
        """The linker for these options, built once (call from one thread at a time: kg serve's link worker)."""
        linker = self._linkers.get(options)
        if linker is None:
            linker = self.build_linker(options)
            _ = linker.context_encoder  # load the models now, not inside the first timed batch
            self._linkers[options] = linker
            while len(self._linkers) > MAX_LINKERS:
                self._linkers.popitem(last=False)[1].close()
        self._linkers.move_to_end(options)
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
