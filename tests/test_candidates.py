"""Which context-found namesakes a bare name keeps (no servers: the rule reads labels only)."""

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
