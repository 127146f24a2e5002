"""Pronoun coreference: "he", "her" and the like link to the person the document named last before them.

Biographies and news refer to their person by pronoun far more often than by name, and benchmarks that annotate
coreference (OKE, ELEVANT's "coref" mentions) count those mentions; a graph query for a person's mentions wants
them too. The antecedent is the sentence's subject, as centering theory prefers, approximated by position: the
first person mention of the pronoun's sentence when it comes before the pronoun, else that of the nearest
sentence before with one ("Neruda took his pen name from the poet Jan Neruda and was a poet when he was 10":
Neruda). Persons are entities typed human (Q5), or, where the KB gives no types, spans the NER model labelled
PERSON. Pronouns are only resolved in documents whose mentions were detected, never where a mention covers them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from linkers.features import HUMAN

PRONOUNS = re.compile(r"\b(?:he|him|his|himself|she|her|hers|herself)\b", re.IGNORECASE)
DETECTOR = "coref"


@dataclass(frozen=True)
class Antecedent:
    start: int
    end: int
    qid: str
    mention_id: str


@dataclass(frozen=True)
class PronounLink:
    start: int
    end: int
    surface: str
    antecedent: Antecedent


SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+(?=[A-Z\"'(\[])")


def resolve(text: str, persons: list[Antecedent], covered: list[tuple[int, int]] = ()) -> list[PronounLink]:
    """Each pronoun of `text` that no mention covers, with its antecedent: the first person mention of its
    sentence if that comes before it, else the first of the nearest earlier sentence that has one."""
    starts = [0] + [m.end() for m in SENTENCE_END.finditer(text)]
    first: dict[int, Antecedent] = {}  # sentence number -> its first person mention
    for a in sorted(persons, key=lambda a: a.start):
        first.setdefault(bisect_right(starts, a.start) - 1, a)
    links = []
    for m in PRONOUNS.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in covered):
            continue
        here = bisect_right(starts, m.start()) - 1
        candidates = [(i, a) for i, a in first.items() if i < here or (i == here and a.end <= m.start())]
        if candidates:
            links.append(PronounLink(m.start(), m.end(), m.group(0), max(candidates, key=lambda p: p[0])[1]))
    return links


def is_person(types: list[str] | None, ner_label: str | None) -> bool:
    return HUMAN in types if types else ner_label == "PERSON"
