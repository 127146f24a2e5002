"""Candidate rules that read names only (no servers): which context-found namesakes a bare name keeps, the
peoples a demonym names, when a short name takes its document's longer name's entity, and the NIL threshold of a
span only the gazetteer found."""

from __future__ import annotations

import pytest

from kg.linkers.candidates.retrieval import person_like


@pytest.mark.parametrize("label, word, kept", [
    ("Erwin Neher", "Neher", True),
    ("Rod Stewart", "stewart", True),  # case does not matter
    ("Alex Ferguson", "Alex", True),
    ("Catherine Mary Stewart", "Stewart", True),
    ("Collège de France", "France", False),  # a thing that holds the name, not a person named by it
    ("Stephen of England", "England", False),
    ("First Lady of the United States", "States", False),
    ("Stewart", "Stewart", False),  # the bare name itself is the name lookup's
    ("Mary Stewart Murray", "Stewart", False),  # the word inside, not first or last
    (None, "Stewart", False),
])
def test_a_bare_name_keeps_people_named_by_it(label, word, kept) -> None:
    assert person_like(label, word) is kept


def test_a_demonym_names_its_people_and_the_type_feature_agrees() -> None:
    from kg.linkers.candidates.retrieval import demonym_peoples
    from kg.linkers.features.scalar import type_agreement

    assert demonym_peoples("American") == ["Americans", "American people"]
    assert demonym_peoples("Jewish ") == ["Jewishs", "Jewish people"]
    assert demonym_peoples("American-born") == ["Americans", "American people"]
    assert demonym_peoples("Italian-American") == ["Italian-Americans", "Italian-American people"]
    assert demonym_peoples("New Yorkers") == [] and demonym_peoples("american") == []
    assert type_agreement("NORP", ["Q231002", "Q6266"]) == 1.0  # Americans: a nationality
    assert type_agreement("NORP", ["Q6256"]) == 0.0  # the country: neither
    assert type_agreement("NORP", ["Q5"]) == -1.0
    assert type_agreement("GPE", ["Q6256"]) == 1.0 and type_agreement("PERSON", ["Q6256"]) == -1.0


def test_an_acronym_is_found_among_the_initials_of_multi_word_names() -> None:
    from kg.kgstore.names import acronym, initials

    assert initials(["New York Stock Exchange"]) == ["nyse"]
    assert initials(["International Business Machines Corporation"]) == ["ibmc", "ibm"]  # legal suffix optional
    assert initials(["Bank of America"]) == ["boa", "ba"]  # minor words optional
    assert initials(["Germany"]) == [] and initials([""]) == []
    assert acronym("NYSE") == "nyse" and acronym("U.N.") == "un"
    assert acronym("Nyse") is None and acronym("A") is None and acronym("AT&T") is None and acronym("NYSE2") is None


@pytest.mark.parametrize("surface, company, expected", [
    ("Microsoft Corp.", False, ["microsoft", "microsoft corporation"]),  # the suffix the label lacks, or spelt out
    ("Stanford Univ.", False, ["stanford university"]),
    ("Saint Louis", False, ["st louis"]),  # contracted too: labels abbreviate some words
    ("Calif.", False, ["california"]),
    ("N.Y.", False, ["new york"]),
    ("TX", False, ["texas"]),
    ("Mass", False, []),  # a word, not "Mass."
    ("ill", False, []),
    ("Germany", False, []),
])
def test_a_name_is_looked_up_as_news_writes_it_too(surface, company, expected) -> None:
    from kg.linkers.candidates.name_variants import variants

    assert variants(surface, company=company) == expected


def test_a_company_is_looked_up_with_its_legal_forms_and_a_person_is_not() -> None:
    from kg.linkers.candidates.name_variants import variants

    assert {"apple inc", "apple corporation", "apple plc"} <= set(variants("Apple", company=True))
    assert "apple" in variants("Apple Inc.", company=True)
    assert variants("apple", company=True) == []  # a lowercase word is no company's name
    assert variants("Apple", company=False) == []


def test_junk_entities_are_no_candidates_for_an_unrelated_surface() -> None:
    from kg.linkers.candidates.retrieval import Candidate, junk

    def cand(*names: str) -> Candidate:
        return Candidate("Q1", names[0], {"names": list(names)})

    assert junk(cand("!"), "germany") and junk(cand("i"), "germany") and junk(cand("can"), "canada")
    assert junk(cand("the who", "who"), "who knows")  # stop words only
    assert not junk(cand("i"), "i")  # the mention's own name
    assert not junk(cand("united kingdom", "uk"), "britain")  # one real name is enough
    assert not junk(Candidate("Q2", "Ulm", {}), "ulm")  # no names in the payload: the label stands in


def test_a_place_with_its_state_and_a_long_name_by_its_initials_are_looked_up_too() -> None:
    from kg.linkers.candidates.name_variants import variants

    assert variants("Mandan, North Dakota") == ["mandan"]
    assert variants("Manhattan Beach, Calif.") == ["manhattan beach"]
    assert variants("Paris, France") == []  # not a US state: the detector's own split handles it
    assert "itn" in variants("Independent Television News Limited")
    assert variants("New York Stock Exchange") == ["nyse"]


def test_a_demonym_also_names_its_place() -> None:
    from kg.linkers.candidates.name_variants import demonym_places

    assert "hungary" in demonym_places("Hungarian") and "canada" in demonym_places("Canadian")
    assert demonym_places("Chinese")[0] == "china" and demonym_places("Pakistani") == ["pakistan"]
    assert demonym_places("British") == ["united kingdom"] and demonym_places("Poles") == ["poland"]
    assert demonym_places("russian") == [] and demonym_places("New Yorkers") == []


def _mention_in(text: str, surface: str, label: str | None, nth: int = 0):
    from kg.linkers.records import Mention

    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return Mention(f"d#{start}", start, start + len(surface), surface, detected=True, detector="ner",
                   ner_label=label)


def _result(m, qid: str | None, candidates: list[str]):
    from kg.linkers.pipeline import MentionResult

    return MentionResult("d", m.id, m.surface, m.start, m.end, None, qid, 0.5 if qid else 0.01,
                         [{"qid": q, "score": 0.5 - i / 10} for i, q in enumerate(candidates)], candidates,
                         detector=m.detector, ner_label=m.ner_label)


@pytest.mark.parametrize("longer, label, short, short_label, follows", [
    ("Nick Saban", "PERSON", "Saban", "PERSON", True),  # a surname takes its person
    ("Nick Saban", "PERSON", "Saban", "ORG", True),  # whatever NER made of the short form
    ("Southern California", "LOC", "California", "GPE", False),  # a place keeps its own entity
    ("Partitions of Poland", "EVENT", "Poland", "GPE", False),
    ("Department of Education", "ORG", "Education", "ORG", False),  # a common noun: some KB name writes it lowercase
    ("Girl Scout", "PERSON", "Girl", "PERSON", False),
])
def test_a_short_name_follows_the_longer_one_only_where_it_can_be_its_name(longer, label, short, short_label,
                                                                            follows) -> None:
    """The in-document rule behind "Saban" after "Nick Saban", without its false friends (measured on the five
    development sets: places and common nouns that end a longer name took its entity, wrongly, 30 times)."""
    from kg.linkers.pipeline import Linker
    from kg.linkers.records import Document

    text = f"{longer} spoke on Monday. Later {short} said more."
    doc = Document("d", text)
    full, part = _mention_in(text, longer, label), _mention_in(text, short, short_label, nth=1)
    results = [_result(full, "Q1", ["Q1"]), _result(part, "Q2", ["Q2", "Q1"])]
    Linker._follow_longer_names([(doc, full), (doc, part)], results, common=lambda w: w.lower() in {"education", "girl"})
    assert (results[1].qid == "Q1") is follows


def test_a_name_only_the_gazetteer_found_needs_the_higher_nil_threshold() -> None:
    from kg.linkers.ranking.learned import LearnedReranker

    model = LearnedReranker(None, (), nil_detected=0.06, nil_given=0.3, nil_gazetteer=0.12)  # type: ignore[arg-type]
    assert model.nil_threshold_for(True, "gazetteer") == 0.12
    assert model.nil_threshold_for(True, "ner") == 0.06
    assert model.nil_threshold_for(False) == 0.3
    older = LearnedReranker(None, (), nil_detected=0.06, nil_given=0.3)  # type: ignore[arg-type]
    assert older.nil_threshold_for(True, "gazetteer") == 0.06  # a model without one: as before


def test_a_crowded_names_most_referenced_namesakes_survive_a_context_that_points_elsewhere():
    from kg.kgstore.search import Hit
    from kg.linkers.candidates.retrieval import namesake_cut

    hits = [Hit(f"Q{n}", "Portland", 1.0, "exact", {"degree": 0}) for n in range(1, 16)]
    hits.append(Hit("Q6106", "Portland", 1.0, "exact", {"degree": 39, "description": "city in Oregon"}))
    hits.append(Hit("Q7", "Portland", 1.0, "exact", {"degree": 0, "description": "town in Dorset"}))
    hits.append(Hit("Q99", "Portlandia", 0.8, "fuzzy", {"degree": 500}))  # a weaker name match gets no slot
    cosines = {f"Q{n}": 0.5 - n / 100 for n in range(1, 16)} | {"Q6106": 0.05}  # a tweet's words favour the towns
    kept = [h.qid for h in namesake_cut(hits, cosines, 10)]
    # the referenced one first, then the described one, then the context's choice in its order
    assert kept == ["Q6106", "Q7", "Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q8", "Q9"]
    quiet = [Hit(f"Q{n}", "Portland", 1.0, "exact", {"degree": 0}) for n in range(1, 16)]
    assert [h.qid for h in namesake_cut(quiet, cosines, 10)] == [f"Q{n}" for n in range(1, 11)]


def test_among_bare_namesakes_the_oldest_wikidata_item_keeps_a_slot_and_reads_oldest():
    """Four label-only "Imperia" items and a dozen more: nothing but the item number tells the city apart."""
    from kg.kgstore.search import Hit
    from kg.linkers.candidates.retrieval import age, namesake_cut

    numbers = [1476290, 787624, 449017, *range(50_000_001, 50_000_013), 13318]
    hits = [Hit(f"Q{n}", "Imperia", 1.0, "exact", {}) for n in numbers]
    kept = [h.qid for h in namesake_cut(hits, {h.qid: 0.2 for h in hits}, 3)]
    assert kept == ["Q13318", "Q449017", "Q787624"]
    assert age("Q1") == 1.0 and age("Q13318") > age("Q1476290") > age("Q50000001") > 0.0
    assert age("P31") == age("Q0") == age("NIL") == age("") == 0.0


def test_a_names_few_namesakes_are_ordered_by_renown_after_name_score_and_popularity():
    """Six "Quebec" items and no popularity (an open-world KB): the province, referenced and described, comes first
    among the exact ones, so the fused cut keeps it; a fuzzy hit stays behind every exact one."""
    from kg.kgstore.search import Hit
    from kg.linkers.candidates.retrieval import name_order

    hits = [Hit("Q11832939", "Quebec", 1.0, "exact", {}), Hit("Q3413951", "Quebec", 1.0, "exact", {}),
            Hit("Q251668", "Province of Quebec", 0.9, "fuzzy", {"degree": 400, "description": "former colony"}),
            Hit("Q2145", "Quebec City", 1.0, "exact", {"degree": 30, "popularity": 4}),
            Hit("Q176", "Quebec", 1.0, "exact", {"degree": 300, "description": "province of Canada"}),
            Hit("Q7269740", "Quebec", 1.0, "exact", {"description": "a ship"})]
    order = [h.qid for h in sorted(hits, key=name_order, reverse=True)]
    assert order == ["Q2145", "Q176", "Q7269740", "Q3413951", "Q11832939", "Q251668"]


@pytest.mark.parametrize("label, name, full", [
    ("Trinity College Dublin", "Trinity College", True),
    ("Ohio State Buckeyes football", "Ohio State", True),
    ("England national football team", "England", True),
    ("England", "England", False),  # the name itself is no longer form
    ("New England", "England", False),  # holds it, but not at its start
    ("Bombardiers", "Bombardier", False),  # a word that begins with it is another word
])
def test_a_full_name_extends_a_short_form_at_its_start(label: str, name: str, full: bool) -> None:
    from kg.linkers.candidates.retrieval import extends

    assert extends(label, name) is full


def test_only_capitalised_short_names_look_for_their_full_form() -> None:
    from kg.linkers.candidates.generator import short_form

    assert short_form(" Salk Institute ") == "Salk Institute"
    assert short_form("NYSE") is None and short_form("the press") is None
    assert short_form("University of the West of England") is None  # four words and more: a full name already


def test_a_short_forms_full_forms_are_those_whose_further_words_the_document_uses_first():
    """"England" in a rugby report: of the labels that begin with it, in the static context's order, the rugby team
    comes first because the report uses three of its four further words, then "England and Wales" (all of one),
    then the football team (one of three); without such words the context's order stands. Plurals count as their
    singular ("Los Angeles, Orange and Riverside counties": "Los Angeles County")."""
    from kg.kgstore.search import Hit
    from kg.linkers.candidates.retrieval import document_words, full_forms

    hits = [Hit("Q1", "England at the 1994 Commonwealth Games", 0.3, "named text", {}),
            Hit("Q2", "Church of England", 0.3, "named text", {}),  # holds the name, does not begin with it
            Hit("Q3", "England national football team", 0.2, "named text", {}),
            Hit("Q4", "England national rugby union team", 0.1, "named text", {}),
            Hit("Q5", "England and Wales", 0.1, "named text", {})]
    report = document_words("England beat Wales 20-10 in the rugby union at Twickenham, and the team coach said ...")
    assert "rugby" in report and "the" not in report
    assert [h.qid for h in full_forms(hits, "England", report)] == ["Q4", "Q5", "Q3"]
    assert [h.qid for h in full_forms(hits, "England", document_words("Not a word of sport."))] == ["Q1", "Q3", "Q4"]
    assert full_forms(hits, None, report) == []
    county = [Hit("Q6", "Los Angeles Lakers", 0.3, "named text", {}), Hit("Q7", "Los Angeles County", 0.1, "named text", {})]
    assert full_forms(county, "Los Angeles", document_words("in Los Angeles, Orange and Riverside counties"))[0].qid == "Q7"
