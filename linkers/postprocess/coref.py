"""Pronoun coreference: "he", "her" and the like link to the person the document named last before them.

Biographies and news refer to their person by pronoun far more often than by name, and benchmarks that annotate
coreference (OKE, ELEVANT's "coref" mentions) count those mentions; a graph query for a person's mentions wants
them too. The antecedent is the sentence's subject, as centering theory prefers, approximated by position: the
first person mention of the pronoun's sentence when it comes before the pronoun, else that of the nearest
sentence before with one ("Neruda took his pen name from the poet Jan Neruda and was a poet when he was 10":
Neruda). Persons are entities typed human (Q5) or given a sex or gender (P21), or, where the KB gives neither,
spans the NER model labelled PERSON. Pronouns are only resolved in documents whose mentions were detected, never where
a mention covers them.

Two checks keep a pronoun from taking the wrong person, which costs a benchmark both a false positive and the miss:
- **Gender.** "she" skips a person the KB records as male ("Viktor Hamburger invited Rita Levi-Montalcini, and she
  ..."), and "he" a female one; a person of unknown gender fits either.
- **Unlinked persons.** A person the NER model found but kg left NIL (not in the KB, or not confidently linked)
  is still a person the pronoun may mean: when it is the antecedent, the pronoun stays unlinked rather than jumping to
  an earlier, linked name.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from kg.linkers.features.scalar import HUMAN

PRONOUNS = re.compile(r"\b(?:he|him|his|himself|she|her|hers|herself)\b", re.IGNORECASE)
DETECTOR = "coref"


MALE = frozenset({"Q6581097", "Q2449503", "Q44148"})  # male, trans man, male organism
FEMALE = frozenset({"Q6581072", "Q1052281", "Q43445"})  # female, trans woman, female organism
FEMININE = frozenset({"she", "her", "hers", "herself"})


@dataclass(frozen=True)
class Antecedent:
    """A person mention a pronoun may refer to; `qid` None for one left NIL, `gender` "m", "f" or None."""
    start: int
    end: int
    qid: str | None
    mention_id: str
    gender: str | None = None


@dataclass(frozen=True)
class PronounLink:
    start: int
    end: int
    surface: str
    antecedent: Antecedent


SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+(?=[A-Z\"'(\[])")


def resolve(text: str, persons: list[Antecedent], covered: Sequence[tuple[int, int]] = ()) -> list[PronounLink]:
    """Each pronoun of `text` that no mention covers, with its antecedent: the first person mention of its
    sentence of a fitting gender if that comes before it, else the first fitting one of the nearest earlier sentence
    that has one. A pronoun whose antecedent was left NIL is not linked."""
    starts = [0] + [m.end() for m in SENTENCE_END.finditer(text)]
    by_sentence: dict[int, list[Antecedent]] = {}  # sentence number -> its person mentions, in order
    for a in sorted(persons, key=lambda a: a.start):
        by_sentence.setdefault(bisect_right(starts, a.start) - 1, []).append(a)
    links = []
    for m in PRONOUNS.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in covered):
            continue
        here = bisect_right(starts, m.start()) - 1
        gender = "f" if m.group(0).lower() in FEMININE else "m"
        found = None
        for i in sorted((i for i in by_sentence if i <= here), reverse=True):
            found = next((a for a in by_sentence[i] if a.gender in (None, gender)
                          and (i < here or a.end <= m.start())), None)
            if found is not None:
                break
        if found is not None and found.qid is not None:
            links.append(PronounLink(m.start(), m.end(), m.group(0), found))
    return links


def gender_of(neighbours: frozenset[str]) -> str | None:
    """"m" or "f" from an entity's outgoing neighbours (its P21 target among them), else None."""
    male, female = bool(neighbours & MALE), bool(neighbours & FEMALE)
    return "m" if male and not female else "f" if female and not male else None


def is_person(types: list[str] | None, ner_label: str | None, gender: str | None = None) -> bool:
    return gender is not None or (HUMAN in types if types else ner_label == "PERSON")
