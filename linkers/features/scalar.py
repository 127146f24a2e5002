"""Features of a (mention, candidate) pair that the feature reranker combines with fitted weights."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from kg.kgstore.names import normalise
from kg.linkers.candidates.name_scores import name_score, whole_word_score
from kg.linkers.candidates.retrieval import OTHER_FORMS, Candidate, age

FEATURES = ("name", "exact", "context", "popularity", "image", "prior", "degree", "alias", "type", "coherence",
            "described")
# When the context is set against when the candidate lived (add_era), and the rare words they share (the words
# index): inputs of the fusion scorer, computed beside FEATURES.
ERA_FEATURES = ("era_before", "era_after", "era_within", "era_age")
OVERLAP = "overlap"
# name similarity whose partial match counts whole words only ("rome" inside "jerome" is no 0.9): an input of the
# fusion scorer beside `name`, which the learned model and the features weights were fitted on as it is
NAME_WORDS = "name_words"
# how early the entity entered Wikidata: an input of the learned model beside FEATURES (see `age`)
AGE = "age"
# the candidate's English label is lowercase: Wikidata writes concepts so ("coke", "pi", "lingerie"), names not; a
# capitalised word of a tweet or a headline that only matches a concept is rarely a mention of it
COMMON = "common"
OVERLAP_SCALE = 20.0  # an IDF-weighted overlap of about two rare words and a common one reads 1
# NER labels whose entities are people / never people (the type feature compares them with a candidate's P31)
HUMAN = "Q5"
PERSON_LABELS = frozenset({"PERSON"})
NON_PERSON_LABELS = frozenset({"ORG", "GPE", "LOC", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"})
# classes of a people (ethnic group, nationality, people, nation): what a NORP mention ("American") may name
PEOPLE_CLASSES = frozenset({"Q41710", "Q231002", "Q2472587", "Q6266"})


def cosine(a: np.ndarray | None, b: list[float] | np.ndarray | None) -> float:
    if a is None or b is None:
        return 0.0
    b = np.asarray(b, dtype=np.float32)
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / denom) if denom else 0.0


def compute(surface: str, candidates: list[Candidate], context_vector: np.ndarray | None,
            text_vectors: Mapping[str, Any], image_vector: np.ndarray | None = None,
            image_vectors: dict[str, list[float]] | None = None, ner_label: str | None = None,
            longer: str | None = None) -> None:
    """Fill `candidate.features` in place: every feature in 0..1 (cosines may dip below 0, type is -1..1).

    prior is p(entity | alias) over the candidates, from the alias counts ingested into the KB (the mention's
    own form, else the longer name the document uses for it); degree the entity's in-degree in the graph; alias
    that the candidate was found under another form of the mention: the document's own longer name for it, a
    full name in the KB that ends with it (a surname), a variant (legal suffix, abbreviation, a state's
    abbreviation) or the initials of its name (an acronym); described that the entity has a description (an
    open-world KB holds many bare, label-only items: family names, leftovers of disambiguation pages).
    """
    form = normalise(surface)
    priors = p_given_alias(form, candidates)
    if longer and not any(priors):
        priors = p_given_alias(normalise(longer), candidates)
    for c, prior in zip(candidates, priors):
        forms = c.payload.get("names") or []
        scores = [(f, name_score(form, f)) for f in forms] if form else []
        c.features = {
            "name": max((s for _, s in scores), default=0.0) / 100,
            NAME_WORDS: max((whole_word_score(form, f, s) for f, s in scores), default=0.0) / 100,
            "exact": 1.0 if form and form in forms else 0.0,
            "context": c.context if c.context is not None else cosine(context_vector, text_vectors.get(c.qid)),
            "popularity": min(1.0, math.log1p(c.payload.get("popularity") or 0) / math.log1p(500)),
            "image": cosine(image_vector, (image_vectors or {}).get(c.qid)),
            "prior": prior,
            "degree": min(1.0, math.log1p(c.payload.get("degree") or 0) / math.log1p(1000)),
            "alias": max((c.sources.get(s, 0.0) for s in OTHER_FORMS), default=0.0),
            "type": type_agreement(ner_label, c.payload.get("types") or []),
            "described": 1.0 if c.payload.get("description") else 0.0,
            AGE: age(c.qid),
            COMMON: 1.0 if (c.label or "")[:1].islower() else 0.0,
        }


def p_given_alias(form: str, candidates: list[Candidate]) -> list[float]:
    """p(entity | alias) over a mention's candidates from their `priors` payloads (0 where none names it)."""
    counts = [float((c.payload.get("priors") or {}).get(form, 0)) for c in candidates]
    total = sum(counts)
    return [n / total if total else 0.0 for n in counts]


def type_agreement(ner_label: str | None, types: list[str]) -> float:
    """1 when the NER label and the entity's classes agree on being a person (a people, for a nationality or
    group: NORP), -1 when they disagree, 0 unknown."""
    if not ner_label or not types:
        return 0.0
    human = HUMAN in types
    if ner_label == "NORP":
        return -1.0 if human else (1.0 if PEOPLE_CLASSES & set(types) else 0.0)
    if ner_label in PERSON_LABELS:
        return 1.0 if human else -1.0
    if ner_label in NON_PERSON_LABELS:
        return -1.0 if human else 1.0
    return 0.0


TEXT_YEAR = re.compile(r"(?<![\w.])(1[0-9]{3}|20[0-9]{2})(?!\w)(?!\.\d)")


def text_years(text: str) -> list[int]:
    """Years a text speaks of (1000-2099 written as four digits, not part of a longer number or code): the era
    features place them in each candidate's life span."""
    return [int(y) for y in TEXT_YEAR.findall(text)]


def add_era(candidates: list[Candidate], years: list[int]) -> None:
    """Whether the years a mention's context names fall before the candidate's life span (start year) began, after
    it ended, or within it (an open end counts as 100 years), and the latest year's distance from the start in
    centuries (-1..1). All 0 when either side has no years: "An 1873 portrait of Lord Halifax" is not about the
    earl who died in 1715."""
    for c in candidates:
        start, end = (c.payload.get("lived") or [None, None])[:2]
        values = dict.fromkeys(ERA_FEATURES, 0.0)
        if years and (start is not None or end is not None):
            lo = start if start is not None else end - 100
            hi = end if end is not None else start + 100
            values["era_before"] = 1.0 if start is not None and max(years) < start else 0.0
            values["era_after"] = 1.0 if end is not None and min(years) > end else 0.0
            values["era_within"] = 1.0 if any(lo <= y <= hi for y in years) else 0.0
            if start is not None:
                values["era_age"] = max(-1.0, min(1.0, (max(years) - start) / 100))
        c.features.update(values)


def add_overlap(candidates: list[Candidate], overlaps: dict[str, float]) -> None:
    """`overlap`: the IDF-weighted words the context shares with the candidate's description and attributes
    (Searcher.word_overlaps_many), scaled to 0..1."""
    for c in candidates:
        c.features[OVERLAP] = min(1.0, overlaps.get(c.qid, 0.0) / OVERLAP_SCALE)


def add_coherence(mentions: list[tuple[str, list[Candidate]]], edges: set[frozenset[str]],
                  out: dict[str, frozenset[str]]) -> None:
    """`coherence` of each candidate: how much the document's other mentions (other surfaces) support it, on
    average: a mention supports it through its best candidate that is related to it, directly (1) or through a
    shared neighbour (0.5), times how well that candidate's name matches its mention (to the 4th power, so the
    look-alikes that dense retrieval adds to every mention hardly count).

    Candidates of one mention never support each other, nor do mentions with the same surface, nor an entity
    itself. Cost: per candidate, its related candidates, not all pairs (a long document has thousands).
    """
    where: dict[str, list[tuple[int, float]]] = {}  # candidate qid -> (mention, name weight) where it appears
    for j, (_, cands) in enumerate(mentions):
        for o in cands:
            where.setdefault(o.qid, []).append((j, o.features.get("name", 0.0) ** 4))
    adjacent: dict[str, set[str]] = {}
    for pair in edges:
        a, b = tuple(pair)
        adjacent.setdefault(a, set()).add(b)
        adjacent.setdefault(b, set()).add(a)
    sharing: dict[str, set[str]] = {}  # neighbour -> candidates pointing at it
    for qid, targets in out.items():
        for x in targets:
            sharing.setdefault(x, set()).add(qid)
    for i, (form_i, cands_i) in enumerate(mentions):
        others = {j for j, (form_j, cands) in enumerate(mentions) if j != i and form_j != form_i and cands}
        for c in cands_i:
            if not others:
                c.features["coherence"] = 0.0
                continue
            related = dict.fromkeys((q for x in out.get(c.qid, ()) for q in sharing.get(x, ())), 0.5)
            related.update(dict.fromkeys(adjacent.get(c.qid, ()), 1.0))
            related.pop(c.qid, None)
            best: dict[int, float] = {}
            for qid, strength in related.items():
                for j, weight in where.get(qid, ()):
                    if j in others and strength * weight > best.get(j, 0.0):
                        best[j] = strength * weight
            c.features["coherence"] = sum(best.values()) / len(others)
