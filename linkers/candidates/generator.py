"""The candidate stage's interface: each mention of a batch to its candidate entities.

`KBCandidates` is kg's: the retriever over the stores (names, context vector, image vector), given the hints the
mentions carry (a longer name earlier in the document, a surname, a demonym's peoples and places, name variants,
acronyms). Another generator plugs into the `Linker` as `Linker(..., candidates=...)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from kg.kgstore.names import acronym, normalise
from kg.linkers.candidates import name_variants
from kg.linkers.candidates.retrieval import Candidate, CandidateRetriever, demonym_peoples, document_words
from kg.linkers.features.image_evidence import MentionImages
from kg.linkers.records import Document, Mention

Work = list[tuple[Document, Mention]]  # a batch's mentions, each with its document, in order


class CandidateGenerator(Protocol):
    def generate(self, work: Work, vectors: np.ndarray, images: MentionImages | None = None,
                 on_fused: Callable[[list[list[Candidate]]], None] | None = None) -> list[list[Candidate]]:
        """Each mention's candidates (features not yet computed); `vectors` are the mentions' context vectors,
        `on_fused` is called with the candidates as soon as they are known (the Linker starts graph reads then)."""
        ...


def longer_names(work: Work) -> list[str | None]:
    """For each one-word mention, a longer name (2 to 4 words) earlier in the same document that ends with it,
    or, for a person's name, starts with it.

    News names a person in full first and then by one name ("Nick Saban ... Saban"); the short form alone
    reaches neither the right entity nor enough evidence, so its candidates include the full name's. Other
    names only by their last word ("Bush" after "George W. Bush"): "Washington" after "Washington University"
    is another entity.
    """
    by_doc: dict[str, list[tuple[tuple[str, ...], str, bool, int]]] = {}
    for doc, m in work:
        tokens = tuple(normalise(m.surface).split())
        if m.start is not None and m.end is not None and m.surface[:1].isupper() and 2 <= len(tokens) <= 4:
            by_doc.setdefault(doc.id, []).append((tokens, m.surface, m.ner_label == "PERSON", m.end))
    out: list[str | None] = []
    for doc, m in work:
        tokens = tuple(normalise(m.surface).split())
        best = None
        if len(tokens) == 1 and m.start is not None and m.surface[:1].isupper():
            for longer, surface, person, end in by_doc.get(doc.id, []):
                if end > m.start:
                    continue  # "Yahya and Zeinab Jammeh": a name written later (or around it) is someone else's
                if (longer[-1:] == tokens or (person and longer[:1] == tokens)) \
                        and (best is None or len(surface) > len(best)):
                    best = surface
        out.append(best)
    return out


def short_form(surface: str) -> str | None:
    """A detected name of one to three capitalised words whose full name may begin with it, or None (an acronym or
    a number has other ways to its entity)."""
    name = surface.strip()
    words = name.split()
    if not 1 <= len(words) <= 3 or not all(w[:1].isupper() for w in words) or name.isupper():
        return None
    return name


def is_surname(surface: str) -> bool:
    """One capitalised word that may be a person's surname (not an acronym, not a number)."""
    word = surface.strip()
    return (" " not in word and len(word) > 2 and word[:1].isupper() and not word.isupper()
            and word.replace("-", "").replace("'", "").isalpha())


class KBCandidates:
    """Candidates from the stores: the retriever, with each mention's hints."""

    def __init__(self, retriever: CandidateRetriever):
        self.retriever = retriever

    def generate(self, work: Work, vectors: np.ndarray, images: MentionImages | None = None,
                 on_fused: Callable[[list[list[Candidate]]], None] | None = None) -> list[list[Candidate]]:
        if not work:
            return []
        longer = longer_names(work)
        words: dict[int, frozenset[str]] = {}
        for doc, _ in work:
            if id(doc) not in words:
                words[id(doc)] = document_words(doc.text)
        return self.retriever.retrieve_many([m.surface for _, m in work], vectors,
                                            image_vectors=images.vectors if images is not None and images.any() else None,
                                            exact_only=[m.kb_name for _, m in work], alternates=longer,
                                            surnames=[m.surface if m.detected and not full and is_surname(m.surface)
                                                      else None for (_, m), full in zip(work, longer)],
                                            keep_names=[m.detected for _, m in work],
                                            named=[m.surface.strip() if not m.detected and len(m.surface.split()) == 1
                                                   else None for _, m in work],
                                            peoples=[demonym_peoples(m.surface)
                                                     + name_variants.demonym_places(m.surface)
                                                     if m.ner_label == "NORP" else [] for _, m in work],
                                            variants=[name_variants.variants(m.surface, company=m.ner_label == "ORG")
                                                      for _, m in work],
                                            acronyms=[acronym(m.surface) for _, m in work],
                                            extended=[short_form(m.surface) if m.detected and not full else None
                                                      for (_, m), full in zip(work, longer)],
                                            documents=[words[id(doc)] for doc, _ in work],
                                            on_fused=on_fused)
