"""Name normalisation and the hashed 3-gram vectors (unit tests: no servers)."""

import math

import pytest

from kgstore.names import BUCKETS, entity_vector, name_forms, ngrams, normalise, query_vector
from kgstore.search import name_score


@pytest.mark.parametrize("raw, form", [
    ("Douglas Adams", "douglas adams"),
    ("  DOUGLAS   adams ", "douglas adams"),
    ("Douglas Noël Adams", "douglas noel adams"),
    ("Douglas N. Adams", "douglas n adams"),
    ("O'Brien", "obrien"),
    ("Jean-Paul Sartre", "jean paul sartre"),
    ("Straße", "strasse"),
    ("Søren Kierkegaard", "soren kierkegaard"),
    ("Łódź", "lodz"),
    ("AC/DC", "ac dc"),
    ("東京", "東京"),
    ("...", ""),
])
def test_normalise(raw: str, form: str) -> None:
    assert normalise(raw) == form


def test_name_forms_dedupes_after_normalising_label_first() -> None:
    assert name_forms("Douglas Adams", ["Douglas Noël Adams", "Douglas Noel Adams", "douglas adams", "", "?"]) == [
        "douglas adams", "douglas noel adams"]
    assert name_forms(None, []) == []


def test_ngrams_mark_word_boundaries() -> None:
    assert ngrams("ab cd") == [" ab", "ab ", "b c", " cd", "cd "]
    assert ngrams("x") == [" x "]


def _dot(a, b) -> float:
    weights = dict(zip(b.indices, b.values))
    return sum(v * weights.get(i, 0.0) for i, v in zip(a.indices, a.values))


def test_vectors_are_sparse_hashed_and_unit_length() -> None:
    q = query_vector("douglas adams")
    assert len(q.indices) == len(set(q.indices)) and all(0 <= i < BUCKETS for i in q.indices)
    assert math.isclose(sum(v * v for v in q.values), 1.0)
    assert math.isclose(_dot(q, q), 1.0)


def test_misspelling_stays_closer_than_other_names() -> None:
    target = entity_vector(["douglas adams", "douglas noel adams"])
    misspelt = query_vector("duglas adams")
    assert _dot(misspelt, target) > 0.6
    assert _dot(misspelt, target) > _dot(misspelt, entity_vector(["john adams"])) + 0.2


def test_entity_vector_max_pools_so_many_aliases_do_not_dilute() -> None:
    """A query equal to one alias scores at least 1 whatever the number of other aliases."""
    many = entity_vector(["douglas adams", *[f"alias number {i}" for i in range(20)]])
    assert _dot(query_vector("douglas adams"), many) >= 0.999


def test_name_score_compares_short_names_whole() -> None:
    assert name_score("douglas adams", "douglas adams") == 100
    assert name_score("duglas adams", "douglas adams") > 90
    assert name_score("douglas adams", "ms") < 50  # WRatio alone would find "ms" inside "adams" (90)
    assert name_score("usa", "usa") == 100
