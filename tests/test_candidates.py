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
