"""Wikidata entity JSON -> EntityRecord, checked against the real fixtures and small synthetic documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg.indexers.wikidata import IMAGE_PIDS, parse_entity, render_quantity, render_time
from kg.kgstore.model import EntityRecord, Relation

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WD = DATA / "wikidata"


def load(name: str) -> dict:
    return json.loads((WD / name).read_text(encoding="utf-8"))


def _entity_pairs(raw: dict) -> list[tuple[str, str]]:
    """(pid, target) of every entity-valued main snak, computed independently of the parser."""
    pairs = []
    for pid, statements in raw["claims"].items():
        for st in statements:
            snak = st["mainsnak"]
            if snak["snaktype"] == "value" and snak["datavalue"]["type"] == "wikibase-entityid":
                pair = (pid, snak["datavalue"]["value"]["id"])
                if pair not in pairs:
                    pairs.append(pair)
    return pairs


def test_q42_matches_its_json():
    raw = load("wd_Q42.json")
    rec = parse_entity(raw)
    assert isinstance(rec, EntityRecord)
    assert rec.qid == "Q42" and rec.kind == "item"
    assert rec.label == raw["labels"]["en"]["value"] == "Douglas Adams"
    assert rec.description == raw["descriptions"]["en"]["value"]
    expected_aliases = [a["value"] for a in raw["aliases"]["en"]]
    assert rec.aliases == list(dict.fromkeys(a for a in expected_aliases if a != rec.label))
    assert "Douglas Noël Adams" in rec.aliases
    assert rec.labels == {"en": "Douglas Adams"}
    assert rec.sitelinks == len(raw["sitelinks"]) > 100
    assert rec.wikipedia_title == raw["sitelinks"]["enwiki"]["title"]
    assert rec.wikipedia_url == "https://en.wikipedia.org/wiki/Douglas_Adams"
    p18 = [st["mainsnak"]["datavalue"]["value"] for st in raw["claims"]["P18"]]
    assert rec.images[: len(p18)] == p18
    other_images = [
        st["mainsnak"]["datavalue"]["value"]
        for pid in IMAGE_PIDS[1:]
        for st in raw["claims"].get(pid, [])
        if st["mainsnak"]["snaktype"] == "value"
    ]
    assert rec.images == p18 + other_images
    assert rec.image_urls[0] == (
        "https://commons.wikimedia.org/wiki/Special:FilePath/" + p18[0].replace(" ", "_")
    )
    assert len(rec.image_urls) == len(rec.images)
    pairs = _entity_pairs(raw)
    assert [(r.pid, r.target) for r in rec.relations] == pairs
    assert Relation("P31", "Q5") in rec.relations
    assert "Q5" in rec.types
    assert rec.types == [t for p, t in pairs if p == "P31"]
    assert rec.subclass_of == []
    assert rec.modified == raw["modified"]


def test_q42_literal_attributes():
    rec = parse_entity(load("wd_Q42.json"))
    assert rec.attributes["P569"] == ["1952-03-11"]  # date of birth, precision 11
    assert rec.attributes["P570"] == ["2001-05-11"]
    assert rec.attributes["P2048"] == ["1.96 Q11573"]  # height in metres: unit QID kept
    assert rec.attributes["P856"] == ["http://douglasadams.com/"]  # url
    assert rec.attributes["P214"] == ["113230702"]  # external id
    assert rec.attributes["P1442"] == ["Douglas Adams' gravestone.jpg"]  # commonsMedia of a non-image property
    assert "P18" not in rec.attributes and "P31" not in rec.attributes
    for pid, values in rec.attributes.items():
        assert values and len(values) == len(set(values)), pid


def test_property_and_lexeme():
    prop = parse_entity(load("wd_P279.json"))
    assert prop is not None and prop.kind == "property" and prop.qid == "P279"
    assert prop.label == "subclass of"
    assert prop.sitelinks == 0
    assert parse_entity(load("wd_L3354.json")) is None


def test_other_fixture_entities_parse():
    belgium = parse_entity(load("Q31.json"), langs=("fr", "de"))
    assert belgium.label == "Belgique" and belgium.labels == {"fr": "Belgique", "de": "Belgien"}
    assert "Belgien" in belgium.aliases  # a label in another chosen language is an alias
    assert "51,5" in belgium.attributes["P625"]  # globe coordinate "lat,lon"
    only_fr = parse_entity(load("Q62653454.json"))  # has French label only
    assert only_fr.label is None and only_fr.labels == {}
    assert parse_entity(load("Q62653454.json"), langs=("en", "fr")).label == "Elisabeth Hauterive"


def _snak(pid: str, dtype: str, value, snaktype: str = "value") -> dict:
    snak = {"snaktype": snaktype, "property": pid}
    if snaktype == "value":
        snak["datavalue"] = {"type": dtype, "value": value}
    return {"mainsnak": snak, "type": "statement", "rank": "normal"}


def _doc(**extra) -> dict:
    doc = {
        "type": "item",
        "id": "Q1",
        "labels": {
            "mul": {"language": "mul", "value": "Multi"},
            "de": {"language": "de", "value": "Universum"},
        },
        "descriptions": [],
        "aliases": {"mul": [{"language": "mul", "value": "Alias M"}, {"language": "mul", "value": "Alias M"}]},
        "claims": {},
        "sitelinks": {"enwiki": {"site": "enwiki", "title": "Rock & Roll/Ñ"}, "dewiki": {"title": "x"}},
    }
    doc.update(extra)
    return doc


def test_fallback_language_and_empty_maps():
    rec = parse_entity(_doc())
    assert rec.label == "Multi"  # no "en": the fallback "mul"
    assert rec.labels == {"mul": "Multi"}
    assert rec.aliases == ["Alias M"]  # deduplicated
    assert rec.description is None  # descriptions serialised as [] (empty PHP array)
    assert rec.sitelinks == 2
    assert rec.wikipedia_url == "https://en.wikipedia.org/wiki/Rock_%26_Roll/%C3%91"
    assert parse_entity(_doc(), fallback=None).label is None
    rec = parse_entity(_doc(), langs=("de", "en"))
    assert rec.label == "Universum" and rec.aliases == ["Alias M", "Multi"]


def test_claim_rendering_and_relations():
    claims = {
        "P31": [
            _snak("P31", "wikibase-entityid", {"entity-type": "item", "numeric-id": 5, "id": "Q5"}),
            _snak("P31", "wikibase-entityid", {"entity-type": "item", "numeric-id": 5, "id": "Q5"}),
            _snak("P31", "wikibase-entityid", {"entity-type": "item", "numeric-id": 7}),  # old style: no "id"
        ],
        "P279": [_snak("P279", "wikibase-entityid", None, "somevalue")],
        "P47": [_snak("P47", "wikibase-entityid", None, "novalue")],
        "P1659": [_snak("P1659", "wikibase-entityid", {"entity-type": "property", "id": "P31"})],
        "P5137": [_snak("P5137", "wikibase-entityid", {"entity-type": "sense", "id": "L1-S1"})],
        "P569": [_snak("P569", "time", {"time": "+1952-03-11T00:00:00Z", "precision": 9})],
        "P570": [_snak("P570", "time", {"time": "-0500-00-00T00:00:00Z", "precision": 9})],
        "P571": [_snak("P571", "time", {"time": "+00000001952-03-00T00:00:00Z", "precision": 11})],
        "P1082": [_snak("P1082", "quantity", {"amount": "+42", "unit": "1"})] * 2,
        "P2048": [_snak("P2048", "quantity", {"amount": "-1.5", "unit": "http://www.wikidata.org/entity/Q11573"})],
        "P1476": [
            _snak("P1476", "monolingualtext", {"text": "Titel", "language": "de"}),
            _snak("P1476", "monolingualtext", {"text": "Title", "language": "en"}),
        ],
        "P1477": [_snak("P1477", "monolingualtext", {"text": "Nom", "language": "fr"})],
        "P625": [_snak("P625", "globecoordinate", {"latitude": 51.5, "longitude": -0.12})],
        "P18": [_snak("P18", "string", "A b.jpg"), _snak("P18", "string", "A b.jpg")],
        "P154": [_snak("P154", "string", "Logo.svg")],
        "P1442": [_snak("P1442", "string", "Grave.jpg")],
    }
    rec = parse_entity(_doc(claims=claims))
    assert [(r.pid, r.target) for r in rec.relations] == [("P31", "Q5"), ("P31", "Q7"), ("P1659", "P31")]
    assert rec.types == ["Q5", "Q7"] and rec.subclass_of == []
    assert rec.attributes["P569"] == ["1952"]
    assert rec.attributes["P570"] == ["-0500"]
    assert rec.attributes["P571"] == ["1952-03"]  # unknown day is cut, not printed as -00
    assert rec.attributes["P1082"] == ["42"]
    assert rec.attributes["P2048"] == ["-1.5 Q11573"]
    assert rec.attributes["P1476"] == ["Title"]  # only the chosen languages...
    assert rec.attributes["P1477"] == ["Nom"]  # ...else the first one
    assert rec.attributes["P625"] == ["51.5,-0.12"]
    assert rec.attributes["P1442"] == ["Grave.jpg"]
    assert rec.images == ["A b.jpg", "Logo.svg"]
    assert rec.image_urls[0] == "https://commons.wikimedia.org/wiki/Special:FilePath/A_b.jpg"
    for pid in ("P18", "P154", "P31", "P47", "P279"):
        assert pid not in rec.attributes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"time": "+1952-03-11T00:00:00Z", "precision": 11}, "1952-03-11"),
        ({"time": "+1952-03-11T00:00:00Z", "precision": 10}, "1952-03"),
        ({"time": "+1952-03-11T00:00:00Z", "precision": 9}, "1952"),
        ({"time": "+1950-00-00T00:00:00Z", "precision": 8}, "1950"),
        ({"time": "-0044-03-15T00:00:00Z", "precision": 11}, "-0044-03-15"),
        ({"time": "garbage", "precision": 11}, None),
    ],
)
def test_render_time(value, expected):
    assert render_time(value) == expected


def test_render_quantity():
    assert render_quantity({"amount": "+42", "unit": "1"}) == "42"
    assert render_quantity({"amount": "+1.96", "unit": "http://www.wikidata.org/entity/Q11573"}) == "1.96 Q11573"
    assert render_quantity({"unit": "1"}) is None


def test_lexemes_missing_and_other_types_are_skipped():
    assert parse_entity({"type": "lexeme", "id": "L1"}) is None
    assert parse_entity({"type": "mediainfo", "id": "M1"}) is None
    assert parse_entity({"id": "Q789", "missing": ""}) is None  # wbgetentities marker


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"type": "item", "labels": {}}, "no 'id'"),
        ({"type": "item", "id": 42}, "'id'"),
        ([1, 2], "not an object"),
        ({"type": "item", "id": "Q1", "labels": "x"}, "'labels'"),
        ({"type": "item", "id": "Q1", "labels": {"en": "x"}}, "labels.en"),
        ({"type": "item", "id": "Q1", "claims": {"P31": "x"}}, "claims.P31"),
        ({"type": "item", "id": "Q1", "claims": {"X": []}}, "not a property id"),
        ({"type": "item", "id": "P1"}, "not a valid item id"),
        ({"type": "item", "id": "Q1", "aliases": {"en": "x"}}, "aliases.en"),
        ({"type": 3, "id": "Q1"}, "'type'"),
    ],
)
def test_malformed_documents_raise_value_error(doc, reason):
    with pytest.raises(ValueError, match=reason):
        parse_entity(doc)
