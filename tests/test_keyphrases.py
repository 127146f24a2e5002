"""Keyphraseness learned from gold spans: the counts, the hybrid detector's filter, and the learned model's file."""

from __future__ import annotations

from kg.linkers.detection.detect import GazetteerDetector
from kg.linkers.detection.keyphrases import Keyphrases, learn
from kg.linkers.records import NIL, Document, Mention

GAZETTEER = GazetteerDetector.build([("poet", "Q49757"), ("official", "Q599151"), ("Pablo Neruda", "Q34189"),
                                     ("President", "Q30461"), ("Chile", "Q298")])


def _doc(text: str, *gold: tuple[str, str]) -> Document:
    mentions = []
    for surface, qid in gold:
        start = text.index(surface)
        mentions.append(Mention(f"{start}", start, start + len(surface), surface, gold=qid))
    return Document(text[:12], text, mentions=mentions)


TRAINING = [
    _doc("The poet Pablo Neruda met an official.", ("poet", "Q49757"), ("Pablo Neruda", "Q34189")),
    _doc("An official said the poet was ill.", ("poet", "Q49757")),
    _doc("The official left Chile.", ("Chile", NIL)),
]


def test_keyphraseness_counts_kb_name_matches_and_gold_spans():
    table = learn(((d, 1.0) for d in TRAINING), GAZETTEER)
    assert table.score("poet") == 1.0 and table.score("Poet") == 1.0  # the key is normalised
    assert table.score("official") == 0.0  # seen three times, never linked
    assert table.score("Chile") == 0.0  # a NIL gold is an occurrence, not a link
    assert table.score("Pablo Neruda") == 1.0
    assert table.score("stethoscope") is None  # never seen: unknown, not zero
    assert table.keeps("poet") and not table.keeps("official") and not table.keeps("stethoscope")
    weighted = learn([(TRAINING[0], 20.0), (TRAINING[2], 1.0)], GAZETTEER)
    assert weighted.score("official") == 0.0 and weighted.seen["official"] == 21.0
    again = Keyphrases.from_json(table.to_json())
    assert again is not None and again.score("poet") == 1.0 and again.score("official") == 0.0
    assert Keyphrases.from_json(None) is None
    halves = learn([(TRAINING[0], 1.0)], GAZETTEER) + learn(((d, 1.0) for d in TRAINING[1:]), GAZETTEER)
    assert halves == table  # the table of two halves is the sum of theirs


def test_hybrid_detection_keeps_a_lowercase_kb_name_where_training_links_it():
    from kg.linkers.detection.ner import HybridDetector, NERDetector

    text = "Neruda was a poet, and an official of Chile said the President agreed."
    hybrid = HybridDetector(NERDetector(), GAZETTEER)
    without = {s.surface for s in hybrid.spans_many([text])[0]}
    assert "poet" not in without and "official" not in without and "President" not in without
    table = learn([(TRAINING[0], 1.0), (TRAINING[1], 1.0),
                   (_doc("The President spoke.", ("President", "Q30461")), 1.0)], GAZETTEER)
    hybrid.keyphrases = table
    assert {s.surface for s in hybrid.spans_many([text])[0]} == without  # --link named: names only
    hybrid.concepts = True  # --link all: the concepts training links too
    found = {s.surface: s for s in hybrid.spans_many([text])[0]}
    assert found["poet"].source == "gazetteer" and found["poet"].kb_name
    assert "President" in found and "official" not in found
    assert without <= set(found)  # the NER spans stay as they were
