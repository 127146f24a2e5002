"""Name normalisation and the hashed 3-gram vectors (unit tests: no servers)."""

import math

import pytest

from kg.kgstore.names import BUCKETS, entity_vector, name_forms, ngrams, normalise, query_vector
from kg.kgstore.search import name_score


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


def test_whole_word_score_keeps_a_partial_match_at_word_boundaries_only() -> None:
    """The fusion scorer's `name_words`: a surname or place inside a longer name keeps WRatio's score; a form
    hidden inside a word does not ("Rome" went to Quentin Jerome Tarantino in the demo, by a closer context)."""
    from kg.kgstore.search import whole_word_score

    def score(q: str, n: str) -> float:
        return whole_word_score(q, n, name_score(q, n))

    assert score("obama", "barack obama") == score("barack obama", "obama") == name_score("obama", "barack obama") == 90
    assert score("york", "new york city") == 90 and score("stewart", "rod stewart") == 90
    assert 80 < score("obamma", "barack obama") < 90  # a typo of a whole word still matches in part
    assert name_score("rome", "quentin jerome tarantino") == 90 and score("rome", "quentin jerome tarantino") < 40
    assert score("london", "londonderry") < 75
    assert score("douglas adams", "ms") == name_score("douglas adams", "ms")  # short forms are compared whole anyway
