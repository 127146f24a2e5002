"""Candidate rules that read names only (no servers): which context-found namesakes a bare name keeps, and the
peoples a demonym names."""

from __future__ import annotations

import pytest

from linkers.candidates import person_like


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
    from linkers.candidates import demonym_peoples
    from linkers.features import type_agreement

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
    from kgstore.names import acronym, initials

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
    from linkers.name_variants import variants

    assert variants(surface, company=company) == expected


def test_a_company_is_looked_up_with_its_legal_forms_and_a_person_is_not() -> None:
    from linkers.name_variants import variants

    assert {"apple inc", "apple corporation", "apple plc"} <= set(variants("Apple", company=True))
    assert "apple" in variants("Apple Inc.", company=True)
    assert variants("apple", company=True) == []  # a lowercase word is no company's name
    assert variants("Apple", company=False) == []


def test_junk_entities_are_no_candidates_for_an_unrelated_surface() -> None:
    from linkers.candidates import Candidate, junk

    def cand(*names: str) -> Candidate:
        return Candidate("Q1", names[0], {"names": list(names)})

    assert junk(cand("!"), "germany") and junk(cand("i"), "germany") and junk(cand("can"), "canada")
    assert junk(cand("the who", "who"), "who knows")  # stop words only
    assert not junk(cand("i"), "i")  # the mention's own name
    assert not junk(cand("united kingdom", "uk"), "britain")  # one real name is enough
    assert not junk(Candidate("Q2", "Ulm", {}), "ulm")  # no names in the payload: the label stands in


def test_a_place_with_its_state_and_a_long_name_by_its_initials_are_looked_up_too() -> None:
    from linkers.name_variants import variants

    assert variants("Mandan, North Dakota") == ["mandan"]
    assert variants("Manhattan Beach, Calif.") == ["manhattan beach"]
    assert variants("Paris, France") == []  # not a US state: the detector's own split handles it
    assert "itn" in variants("Independent Television News Limited")
    assert variants("New York Stock Exchange") == ["nyse"]


def test_a_demonym_also_names_its_place() -> None:
    from linkers.name_variants import demonym_places

    assert "hungary" in demonym_places("Hungarian") and "canada" in demonym_places("Canadian")
    assert demonym_places("Chinese")[0] == "china" and demonym_places("Pakistani") == ["pakistan"]
    assert demonym_places("British") == ["united kingdom"] and demonym_places("Poles") == ["poland"]
    assert demonym_places("russian") == [] and demonym_places("New Yorkers") == []
