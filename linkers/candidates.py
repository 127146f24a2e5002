"""Candidate retrieval: exact and fuzzy names, dense text (the mention's context), dense image; fused by RRF.

Each source keeps its own score on the candidate, so the rerankers see which index found what and how well; the
fused order (reciprocal rank fusion) is the retrieval ranking that candidate recall@K measures. Given context
vectors, each kept candidate also gets `context`, the cosine of its stored text vector with the mention's context
vector, computed by Qdrant (the `context` feature), so no entity vector has to be fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


from kgstore.entity_index import IMAGE, TEXT
from kgstore.search import Hit, Searcher

RRF_K = 60
NAME_SOURCES = frozenset({"name", "alias", "surname", "people"})
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
        self.config = config or RetrievalConfig()

    def retrieve_many(self, surfaces: list[str], context_vectors: Any = None, image_vectors: Any = None,
                      exact_only: Sequence[bool] | None = None,
                      alternates: Sequence[str | None] | None = None,
                      surnames: Sequence[str | None] | None = None,
                      keep_names: Sequence[bool] | None = None,
                      named: Sequence[str | None] | None = None,
                      peoples: Sequence[list[str]] | None = None,
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
        `people`. `on_fused`: called with the kept candidates before their context cosines are asked for (the
        linker starts its graph read of them then).
        """
        cfg = self.config
        names = list(surfaces)
        exact = list(exact_only) if exact_only is not None else [False] * len(surfaces)
        extra = [i for i, a in enumerate(alternates or []) if a]
        names += [alternates[i] for i in extra]
        exact += [False] * len(extra)
        groups = [(i, name) for i, found in enumerate(peoples or []) for name in found]
        names += [name for _, name in groups]
        exact += [True] * len(groups)
        hits = self.searcher.by_name_many(names, cfg.name_k, LINK_FIELDS, exact_only=exact)
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
            sources["surname"] = self.searcher.by_surname_many(list(surnames), cfg.name_k, LINK_FIELDS)
        if context_vectors is not None and cfg.text_k:
            sources["text"] = self.searcher.by_vector_many(TEXT, context_vectors, cfg.text_k, "text", LINK_FIELDS)
        if context_vectors is not None and named is not None and any(named) and cfg.text_k:
            found = self.searcher.by_vector_in_names_many(TEXT, context_vectors, named, 2 * cfg.text_k, LINK_FIELDS)
            sources["named"] = [[h for h in hits if name and person_like(h.label, name)][:cfg.text_k]
                                for hits, name in zip(found, named)]
        if image_vectors is not None and cfg.image_k:
            # mentions without an image (None) get no image candidates
            rows = [i for i, v in enumerate(image_vectors) if v is not None]
            found = self.searcher.by_vector_many(IMAGE, [image_vectors[i] for i in rows], cfg.image_k, "image",
                                                 LINK_FIELDS) if rows else []
            sources["image"] = [[] for _ in surfaces]
            for i, hits in zip(rows, found):
                sources["image"][i] = hits
        out = []
        for i in range(len(surfaces)):
            fused: dict[str, Candidate] = {}
            for source, per_mention in sources.items():
                for rank, hit in enumerate(per_mention[i]):
                    cand = fused.setdefault(hit.qid, Candidate(hit.qid, hit.label, hit.payload))
                    cand.sources[source] = hit.score
                    cand.rrf += 1.0 / (RRF_K + rank + 1)
            ranked = sorted(fused.values(), key=lambda c: c.rrf, reverse=True)
            if keep_names is not None and keep_names[i]:  # name-found first, each group in fused order
                ranked.sort(key=lambda c: not NAME_SOURCES & c.sources.keys())
                out.append(ranked[: cfg.top_k + cfg.text_k])
            else:
                out.append(ranked[: cfg.top_k])
        if on_fused is not None:
            on_fused(out)
        if context_vectors is not None and len(surfaces):
            cosines = self.searcher.similarities_many(TEXT, context_vectors, [[c.qid for c in cs] for cs in out])
            for cands, found in zip(out, cosines):
                for c in cands:
                    c.context = found.get(c.qid, 0.0)  # no text vector: 0, as the feature has it
        return out


def demonym_peoples(surface: str) -> list[str]:
    """The names a people goes by in the KB for a demonym ("American", "American-born": "Americans", "American
    people")."""
    word = surface.strip()
    head, _, tail = word.partition("-")
    if tail.islower():
        word = head
    return [f"{word}s", f"{word} people"] if word[:1].isupper() and " " not in word else []


def person_like(label: str | None, word: str) -> bool:
    """A name of two to four capitalised words that begins or ends with `word` ("Erwin Neher" for "Neher"), not a
    longer thing that holds it ("Collège de France", "Stephen of England", "First Lady of the United States")."""
    words = (label or "").split()
    return (2 <= len(words) <= 4 and all(w[:1].isupper() for w in words)
            and word.casefold() in (words[0].casefold(), words[-1].casefold()))
