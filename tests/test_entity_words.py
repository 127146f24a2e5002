"""Entity words and life spans (what the words index and the era features read), and the era features themselves."""

from __future__ import annotations

from kg.kgstore.entity_words import entity_words, life_span, sparse_vector, words, year_of
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.features.scalar import ERA_FEATURES, add_era, text_years


def test_entity_words_are_description_and_attribute_words_without_the_name() -> None:
    found = entity_words("Marilyn Manson", "American singer (born 1969)",
                         {"spouse": ["Dita Von Teese"], "occupation": ["singer", "actor"], "P214": ["12345678"],
                          "summary": ["Sex: male. Birth: 1969."]})
    assert found == ["american", "singer", "dita", "von", "teese", "actor"]  # no name, number, identifier, summary
    assert words("The 1873 portrait of Lord Halifax, by A. de Brie") == ["portrait", "lord", "halifax", "de", "brie"]
    vector = sparse_vector(["singer", "actor", "singer"])
    assert len(vector.indices) == 2 and vector.values == [1.0, 1.0] and vector.indices == sorted(vector.indices)


def test_life_spans_come_from_wikidata_and_mel_attributes() -> None:
    assert year_of("+1952-03-11T00:00:00Z") == 1952 and year_of("1924") == 1924 and year_of("-099") == -99
    assert year_of("t850") is None and year_of("") is None
    assert life_span({"P569": ["+1952-03-11T00:00:00Z"], "P570": ["+2001-05-11T00:00:00Z"]}) == [1952, 2001]
    assert life_span({"birth": ["1924"], "birth_place": ["Sacho"]}) == [1924, None]
    assert life_span({"founded": ["1891"]}) == [1891, None] and life_span({"occupation": ["poet"]}) is None
    assert text_years("An 1873 portrait (1868-1952), no. 18731, 2010.5 m, in 2010.") == [1873, 1868, 1952, 2010]


def _candidate(qid: str, lived: list[int | None] | None) -> Candidate:
    c = Candidate(qid, qid)
    c.payload = {"lived": lived}
    c.features = {}
    return c


def test_era_features_place_the_context_years_in_each_candidates_life() -> None:
    earl, viscount, unknown, living = (_candidate("Q1", [1661, 1715]), _candidate("Q2", [1800, 1885]),
                                       _candidate("Q3", None), _candidate("Q4", [1964, None]))
    add_era([earl, viscount, unknown, living], text_years("An 1873 portrait of Lord Halifax"))
    assert earl.features["era_after"] == 1.0 and earl.features["era_within"] == 0.0
    assert viscount.features["era_within"] == 1.0 and viscount.features["era_after"] == 0.0
    assert round(viscount.features["era_age"], 2) == 0.73
    assert living.features["era_before"] == 1.0 and living.features["era_age"] == -0.91
    assert all(unknown.features[k] == 0.0 for k in ERA_FEATURES)
    add_era([living], [])  # no years in the context: nothing is known
    assert all(living.features[k] == 0.0 for k in ERA_FEATURES)
