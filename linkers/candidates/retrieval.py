"""Candidate retrieval: exact and fuzzy names, dense text (the mention's context), dense image; fused by RRF.

Each source keeps its own score on the candidate, so the rerankers see which index found what and how well; the
fused order (reciprocal rank fusion) is the retrieval ranking that candidate recall@K measures. Given context
vectors, each kept candidate also gets `context`, the cosine of its stored text vector with the mention's context
vector, computed by Qdrant (the `context` feature), so no entity vector has to be fetched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import zip_longest
from typing import Any

from kg.kgstore.entity_index import IMAGE, INITIALS_FIELD, TEXT
from kg.kgstore.model import point_id
from kg.kgstore.names import normalise
from kg.kgstore.search import Hit, Searcher
from kg.linkers.candidates.names import NameLookup
from kg.linkers.detection.detect import COMMON_WORDS, STOP_WORDS

RRF_K = 60
NAMESAKES = 100  # a crowded name's namesakes ranked by the context before the name lookup's cut
POPULAR_SLOTS = 3  # of a crowded name's kept namesakes, how many are the most referenced ones, whatever the context
NAME_SOURCES = frozenset({"name", "alias", "surname", "people", "variant", "initials", "extended"})
# sources that found a candidate under another way of writing the mention (the `alias` feature)
OTHER_FORMS = ("alias", "surname", "variant", "initials", "extended")
EXTENDED = 3  # of the names that begin with a mention's words, how many join (`full_forms`: the document's words first)
EXTENDED_POOL = 128  # how many labels holding those words, nearest to the context, are read (labels only) for the
# names that begin with them: a country's or a city's name is in a hundred labels or more ("Church of England",
# "England at the 1994 Commonwealth Games"), of which its teams and its county are a few
JUNK_LENGTH = 2  # a name this short that is not the mention's own is no candidate for it ("!", "I", "Ok")
JUNK_WORDS = STOP_WORDS | COMMON_WORDS | {"can", "ok", "yes", "oh"}
# Payload the linkers read (features: names, popularity, alias priors, graph degree, types; results: label; LLM
# methods: description).
LINK_FIELDS = ["qid", "label", "description", "names", "popularity", "priors", "degree", "types", "lived"]


@dataclass
class Candidate:
    qid: str
    label: str | None
    payload: dict[str, Any] = field(default_factory=dict, repr=False)
    sources: dict[str, float] = field(default_factory=dict)  # index -> its score (name: 0..1, text/image: cosine)
    rrf: float = 0.0
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    context: float | None = None  # cosine(context vector, entity text vector); None: not computed at retrieval


@dataclass
class RetrievalConfig:
    top_k: int = 10  # candidates kept after fusion
    name_k: int = 10
    text_k: int = 5
    image_k: int = 5


class CandidateRetriever:
    def __init__(self, searcher: Searcher, config: RetrievalConfig | None = None):
        self.searcher = searcher
        self.names = NameLookup(searcher)
        self.config = config or RetrievalConfig()

    def retrieve_many(self, surfaces: list[str], context_vectors: Any = None, image_vectors: Any = None,
                      exact_only: Sequence[bool] | None = None,
                      alternates: Sequence[str | None] | None = None,
                      surnames: Sequence[str | None] | None = None,
                      keep_names: Sequence[bool] | None = None,
                      named: Sequence[str | None] | None = None,
                      peoples: Sequence[list[str]] | None = None,
                      variants: Sequence[list[str]] | None = None,
                      acronyms: Sequence[str | None] | None = None,
                      extended: Sequence[str | None] | None = None,
                      documents: Sequence[frozenset[str]] | None = None,
                      on_fused: Callable[[list[list[Candidate]]], None] | None = None) -> list[list[Candidate]]:
        """Candidates for a batch of mentions: a few round trips per batch, not per mention.

        `exact_only[i]`: surface i is a KB name (a gazetteer span): its name candidates are the entities of
        exactly that name, without the fuzzy lookup that given spans need. `alternates[i]`: a longer name the
        document uses for the same mention ("Nick Saban" for "Saban"), whose name candidates join as `alias`.
        `surnames[i]`: a one-word name to look up as the last word of longer names ("Neruda": "Pablo Neruda"),
        joining as `surname`. `keep_names[i]`: every name-found candidate is kept ahead of the dense ones, which
        on short news mentions are look-alikes of the sentence, not of the name. `named[i]`: the context's nearest
        entities whose label is a person-like name with it as first or last word join as `named` ("Stewart":
        the Stewarts closest to the context; namesakes told apart by it). `peoples[i]`: names of the people a
        demonym may stand for ("Americans", "American people" for "American"), looked up exactly, joining as
        `people`. `variants[i]`: other normal forms of the name (`linkers.candidates.name_variants`: "microsoft" for
        "Microsoft Corp."), looked up exactly, joining as `variant`. `acronyms[i]`: an acronym's normal form, looked
        up among the initials of the KB's multi-word names ("nyse"), joining as `initials`. `extended[i]`: a short
        form whose full name begins with it ("Trinity College": "Trinity College Dublin"; "Bombardier": "Bombardier
        Transportation"; "Ohio State": "Ohio State Buckeyes football"): the `EXTENDED` entities among those whose label
        starts with its words join as `extended`, first those whose label's further words the document uses
        (`documents[i]`: its words, `document_words`), then the nearest to the context. A candidate whose names
        are all junk for this mention (a one- or two-character name, or stop words, that is not the mention's own
        form) is dropped: such entities are near everything and belong to no unrelated surface. `on_fused`: called
        with the kept candidates before their context cosines are asked for (the linker starts its graph read of
        them then).
        """
        cfg = self.config
        names = list(surfaces)
        exact = list(exact_only) if exact_only is not None else [False] * len(surfaces)
        extra = [i for i, a in enumerate(alternates or []) if a]
        names += [a for a in alternates or [] if a]
        exact += [False] * len(extra)
        groups = [(i, name) for i, found in enumerate(peoples or []) for name in found]
        names += [name for _, name in groups]
        exact += [True] * len(groups)
        hits = self.names.by_name_many(names, cfg.name_k, LINK_FIELDS, exact_only=exact, namesakes=NAMESAKES)
        want_forms, want_initials = variants is not None and any(variants), acronyms is not None and any(acronyms)
        none: list[list[Hit]] = [[] for _ in surfaces]
        forms = self.searcher.by_forms_many(variants, cfg.name_k, LINK_FIELDS, namesakes=NAMESAKES) \
            if variants is not None and want_forms else none
        initials = self.searcher.by_forms_many([[a] if a else [] for a in acronyms], cfg.name_k, LINK_FIELDS,
                                               key=INITIALS_FIELD, match="initials", namesakes=NAMESAKES) \
            if acronyms is not None and want_initials else none
        hits, forms, initials = self._namesakes_by_context([hits, forms, initials], context_vectors, len(surfaces))
        sources: dict[str, list[list[Hit]]] = {"name": hits[:len(surfaces)]}
        if extra:
            sources["alias"] = [[] for _ in surfaces]
            for j, i in enumerate(extra):
                sources["alias"][i] = hits[len(surfaces) + j]
        if groups:
            sources["people"] = [[] for _ in surfaces]
            for j, (i, _) in enumerate(groups):
                sources["people"][i] += hits[len(surfaces) + len(extra) + j]
        if surnames is not None and any(surnames):
            sources["surname"] = self.names.by_surname_many(list(surnames), cfg.name_k, LINK_FIELDS)
            if context_vectors is not None and cfg.text_k:
                # the people of that name nearest to the context, taken in turn with the most popular: in a KB
                # without popularity counts the popular order is arbitrary ("Rutherford" in a physics text)
                near = self._people_near(context_vectors, surnames)
                sources["surname"] = [alternate(popular, [replace(h, score=1.0) for h in found])
                                      for popular, found in zip(sources["surname"], near)]
        if want_forms:
            sources["variant"] = forms
        if want_initials:
            sources["initials"] = initials
        if context_vectors is not None and cfg.text_k:
            sources["text"] = self.searcher.by_vector_many(TEXT, context_vectors, cfg.text_k, "text", LINK_FIELDS)
        if context_vectors is not None and named is not None and any(named) and cfg.text_k:
            # a bare surname or given name has more namesakes than the name lookup keeps: the ones whose label holds
            # it, nearest to the mention's context ("Stewart": the Stewarts of the context's field)
            sources["named"] = self._people_near(context_vectors, named)
        if context_vectors is not None and extended is not None and any(extended):
            found = self.searcher.by_vector_in_names_many(TEXT, context_vectors, extended, EXTENDED_POOL,
                                                          ["qid", "label"])
            chosen = [full_forms(hits, name, documents[i] if documents else frozenset())
                      for i, (hits, name) in enumerate(zip(found, extended))]
            sources["extended"] = self.searcher.hits([[(point_id(h.qid), 1.0, "extended") for h in hits]
                                                      for hits in chosen], LINK_FIELDS)
        if image_vectors is not None and cfg.image_k:
            # mentions without an image (None) get no image candidates
            rows = [i for i, v in enumerate(image_vectors) if v is not None]
            by_image = self.searcher.by_vector_many(IMAGE, [image_vectors[i] for i in rows], cfg.image_k, "image",
                                                    LINK_FIELDS) if rows else []
            sources["image"] = [[] for _ in surfaces]
            for i, image_hits in zip(rows, by_image):
                sources["image"][i] = image_hits
        out = []
        for i in range(len(surfaces)):
            fused: dict[str, Candidate] = {}
            for source, per_mention in sources.items():
                for rank, hit in enumerate(per_mention[i]):
                    cand = fused.setdefault(hit.qid, Candidate(hit.qid, hit.label, hit.payload))
                    cand.sources[source] = hit.score
                    cand.rrf += 1.0 / (RRF_K + rank + 1)
            own = normalise(surfaces[i])
            ranked = sorted((c for c in fused.values() if not junk(c, own)), key=lambda c: c.rrf, reverse=True)
            if keep_names is not None and keep_names[i]:  # name-found first, each group in fused order
                ranked.sort(key=lambda c: not NAME_SOURCES & c.sources.keys())
                if any(c.sources.get("name") == 1.0 for c in ranked):
                    # an exact KB name: the context's look-alikes are no candidates for it ("France" is not Paris,
                    # whatever the sentence says; on the five development sets such a candidate was never the gold)
                    ranked = [c for c in ranked if NAME_SOURCES & c.sources.keys()]
                out.append(ranked[: cfg.top_k + cfg.text_k])
            else:
                out.append(ranked[: cfg.top_k])
        if on_fused is not None:
            on_fused(out)
        if context_vectors is not None and len(surfaces):
            cosines = self.searcher.similarities_many(TEXT, context_vectors, [[c.qid for c in cs] for cs in out])
            for cands, by_qid in zip(out, cosines):
                for c in cands:
                    c.context = by_qid.get(c.qid, 0.0)  # no text vector: 0, as the feature has it
        return out

    def _people_near(self, context_vectors: Any, words: Sequence[str | None]) -> list[list[Hit]]:
        """For each mention's word, the `text_k` people-like names holding it (`person_like`) nearest to the
        mention's context, from its `2 * text_k` nearest labels holding it: one round trip for all."""
        k = self.config.text_k
        found = self.searcher.by_vector_in_names_many(TEXT, context_vectors, words, 2 * k, LINK_FIELDS)
        return [[h for h in hits if word and person_like(h.label, word)][:k] for hits, word in zip(found, words)]

    def _namesakes_by_context(self, lookups: list[list[list[Hit]]], context_vectors: Any,
                              mentions: int) -> list[list[list[Hit]]]:
        """Each lookup's hits per name cut to `name_k`; where one of the first `mentions` names (the mentions' own,
        not the longer names or peoples looked up after them) has more namesakes than that, they are first ranked by
        that mention's context: one vector-store request for all lookups and mentions."""
        k = self.config.name_k
        crowded = [(j, i) for j, hits in enumerate(lookups) for i in range(mentions)
                   if len(hits[i]) > k] if context_vectors is not None else []
        cosines = self.searcher.similarities_many(TEXT, [context_vectors[i] for _, i in crowded],
                                                  [[h.qid for h in lookups[j][i]] for j, i in crowded]) if crowded else []
        out = [[sorted(h, key=name_order, reverse=True)[:k] for h in hits] for hits in lookups]
        for (j, i), found in zip(crowded, cosines):
            out[j][i] = namesake_cut(lookups[j][i], found, k)
        return out


def alternate(first: list[Hit], second: list[Hit]) -> list[Hit]:
    """The hits of two lists taken in turn, each entity once."""
    out: dict[str, Hit] = {}
    for pair in zip_longest(first, second):
        for hit in pair:
            if hit is not None:
                out.setdefault(hit.qid, hit)
    return list(out.values())


def namesake_cut(hits: list[Hit], cosines: dict[str, float], k: int) -> list[Hit]:
    """`k` of a crowded name's namesakes: first the `POPULAR_SLOTS` most referenced ones of the best name score
    (then those with a description), whatever the context says, then the best of the rest by name and context. A
    tweet's or a headline's few words are a poor guide among sixteen Portlands, and the famous one ("Portland,
    Oregon": 39 references against 0-1 for the rest; "Burlington, Vermont", described where 22 of 25 are bare
    items) is the one a short text usually means; the reranker, which sees degree and description, decides."""
    by_context = sorted(hits, key=lambda h: namesake_key(h, cosines.get(h.qid, 0.0)), reverse=True)
    best = by_context[0].score
    popular = sorted((h for h in hits if h.score == best), key=renown, reverse=True)[:POPULAR_SLOTS]
    chosen = {h.qid for h in popular}
    return popular + [h for h in by_context if h.qid not in chosen][:k - len(popular)]


def name_order(hit: Hit) -> tuple[float, float, tuple[int, bool, float]]:
    """How the hits of a name that is not crowded are ordered: name score, popularity, then renown. Six items are
    named exactly "Quebec", none with a popularity in an open-world KB; in the store's order the province came last,
    and the fused cut, which interleaves the name's hits with a longer name's, its surnames and its full forms,
    dropped it."""
    return hit.score, hit.payload.get("popularity") or 0, renown(hit)


def renown(hit: Hit) -> tuple[int, bool, float]:
    """How known an entity is without its context: its in-degree, then whether it has a description, then how
    early it entered Wikidata (`age`: among bare namesakes the oldest item is most often the one meant)."""
    return hit.payload.get("degree") or 0, bool(hit.payload.get("description")), age(hit.qid)


def age(qid: str) -> float:
    """How early an item entered Wikidata, 1 (Q1) to 0 (Q1e9): the only renown a label-only item carries.

    Wikidata numbers items in creation order and its first items were the articles of the largest Wikipedias, so
    among namesakes with nothing else to tell them apart (four bare "Imperia" items) the lowest number is most
    often the city a text means. A weak prior that the learned model weighs against everything else; 0 for an id
    that is no Wikidata item.
    """
    digits = qid[1:] if qid[:1] == "Q" else ""
    if not digits.isdigit() or int(digits) < 1:
        return 0.0
    return max(0.0, 1.0 - math.log10(int(digits)) / 9)


def namesake_key(hit: Hit, cosine: float) -> tuple[float, float]:
    """How a crowded name's namesakes are ranked before the cut: name score, then the context cosine with a little
    weight for having a description and an in-degree (a bare, unreferenced item is rarely the one meant)."""
    degree = min(1.0, math.log1p(hit.payload.get("degree") or 0) / math.log1p(1000))
    return hit.score, cosine + 0.1 * degree + 0.05 * bool(hit.payload.get("description"))


def junk(candidate: Candidate, own_form: str) -> bool:
    """A candidate whose every name is one or two characters or stop words, and none the mention's own form."""
    names = candidate.payload.get("names") or [normalise(candidate.label or "")]
    if own_form in names:
        return False
    return all(len(n) <= JUNK_LENGTH or all(w in JUNK_WORDS for w in n.split()) for n in names)


def demonym_peoples(surface: str) -> list[str]:
    """The names a people goes by in the KB for a demonym ("American", "American-born": "Americans", "American
    people")."""
    word = surface.strip()
    head, _, tail = word.partition("-")
    if tail.islower():
        word = head
    return [f"{word}s", f"{word} people"] if word[:1].isupper() and " " not in word else []


def extends(label: str | None, name: str) -> bool:
    """`label` is `name` with more words after it: its full form ("Trinity College Dublin" for "Trinity College")."""
    words, start = normalise(label or "").split(), normalise(name).split()
    return len(words) > len(start) and words[:len(start)] == start


def full_forms(hits: list[Hit], name: str | None, document: frozenset[str]) -> list[Hit]:
    """The `EXTENDED` hits whose label extends `name`: first by how many of the label's further words the document
    uses, then by the share of them it uses, then in the context's order (a stable sort). The static context vector
    barely tells a country's teams from its church or its games ("England national rugby union team" was 32nd of
    100 labels in a rugby report), but the report says "rugby"; "Los Angeles County" in a text that says "counties",
    "Alabama Crimson Tide football" where it says "Crimson Tide"."""
    if not name:
        return []
    start = len(normalise(name).split())

    def evidence(hit: Hit) -> tuple[int, float]:
        further = {w for w in content_words(hit.label)[start:] if w}
        used = len(further & document)
        return used, used / len(further) if further else 0.0

    fulls = [h for h in hits if extends(h.label, name)]
    return sorted(fulls, key=evidence, reverse=True)[:EXTENDED]


def content_words(text: str | None) -> list[str]:
    """A text's normalised words as singulars ("counties": "county"), function words blanked (so that a label's word
    positions still line up with its name's)."""
    return ["" if w in STOP_WORDS else singular(w) for w in normalise(text or "").split()]


def singular(word: str) -> str:
    """An English plural's singular, roughly ("counties", "teams"; "press", "campus", "basis" unchanged)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def document_words(text: str) -> frozenset[str]:
    """The words a document uses (`content_words`): what a full form's further words are looked for in."""
    return frozenset(w for w in content_words(text) if w)


def person_like(label: str | None, word: str) -> bool:
    """A name of two to four capitalised words that begins or ends with `word` ("Erwin Neher" for "Neher"), not a
    longer thing that holds it ("Collège de France", "Stephen of England", "First Lady of the United States")."""
    words = (label or "").split()
    return (2 <= len(words) <= 4 and all(w[:1].isupper() for w in words)
            and word.casefold() in (words[0].casefold(), words[-1].casefold()))
