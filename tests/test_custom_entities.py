"""Custom entity JSONL: the documented example parses as documented, and bad fields are named in errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kg.indexers import custom
from kg.indexers.custom import parse_custom
from kg.indexers.sources import detect_format, iter_raw, parse_batch
from kg.kgstore.model import Relation

DOC = Path(__file__).resolve().parents[1] / "docs" / "custom-entities.md"


def example_lines() -> list[str]:
    block = re.search(r"`acme\.jsonl`:\s*```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert block, "docs/custom-entities.md lost its example"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_documented_example_parses_as_documented(tmp_path):
    corp, widget, adams = (parse_custom(json.loads(line)) for line in example_lines())
    assert corp.qid == "acme:acme-corp" and corp.kind == "custom"
    assert corp.images == ["Acme logo.svg"]
    assert corp.image_urls == ["https://commons.wikimedia.org/wiki/Special:FilePath/Acme_logo.svg"]
    assert widget.kind == "custom" and widget.label == "Widget One"
    assert widget.aliases == ["W1", "the first widget"]
    assert widget.labels == {"fr": "Widget Un"}
    assert widget.types == ["Q39546"]
    assert widget.relations == [
        Relation("P31", "Q39546"), Relation("P176", "acme:acme-corp"), Relation("designed_by", "Q42")
    ]
    assert widget.images == ["images/widget-1.jpg", "https://example.com/w1.png"]
    assert widget.image_urls == ["https://example.com/w1.png"]
    assert widget.attributes == {"weight_kg": ["1.5"], "colour": ["red", "black"], "P571": ["1949"]}
    assert adams.qid == "Q42" and adams.kind == "item" and adams.attributes == {"favourite_number": ["42"]}

    path = tmp_path / "acme.jsonl"
    path.write_text("\n".join(example_lines()) + "\n\n", encoding="utf-8")
    assert detect_format(path) == "custom-jsonl"
    results = parse_batch("custom-jsonl", list(iter_raw(path, "custom-jsonl")), ("en",), "mul")
    assert [(n, r.qid) for n, r in results] == [(1, "acme:acme-corp"), (2, "acme:widget-1"), (3, "Q42")]


def test_module_docstring_documents_every_field():
    for name in custom.FIELDS:
        assert f"``{name}``" in custom.__doc__, name
        assert f"`{name}`" in DOC.read_text(encoding="utf-8"), name


def test_minimal_and_normalised():
    rec = parse_custom({"id": "x", "label": " X ", "aliases": ["X", "Y", "Y", " Z "], "sitelinks": 3,
                        "wikipedia_title": "X (band)", "relations": [{"pid": "P279", "target": "Q1"}]})
    assert rec.label == "X" and rec.aliases == ["Y", "Z"] and rec.sitelinks == 3
    assert rec.wikipedia_url == "https://en.wikipedia.org/wiki/X_%28band%29"
    assert rec.subclass_of == ["Q1"] and rec.types == []
    assert parse_custom({"id": "Q7", "label": "seven"}).kind == "item"  # a Q-id given as id
    assert parse_custom({"qid": "Q7", "id": "Q7", "label": "seven"}).qid == "Q7"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"label": "no id"}, "id"),
        ({"id": "1abc", "label": "x"}, "id"),
        ({"id": "a b", "label": "x"}, "id"),
        ({"id": "P31", "label": "x"}, "id"),
        ({"qid": "P31", "label": "x"}, "qid"),
        ({"qid": "Q1", "id": "my:1", "label": "x"}, "qid"),
        ({"id": "a"}, "label"),
        ({"id": "a", "label": ""}, "label"),
        ({"id": "a", "label": 5}, "label"),
        ({"id": "a", "label": "x", "aliases": "y"}, "aliases"),
        ({"id": "a", "label": "x", "aliases": [1]}, "aliases"),
        ({"id": "a", "label": "x", "description": []}, "description"),
        ({"id": "a", "label": "x", "labels": ["x"]}, "labels"),
        ({"id": "a", "label": "x", "labels": {"en": 1}}, "labels"),
        ({"id": "a", "label": "x", "images": [""]}, "images"),
        ({"id": "a", "label": "x", "types": ["not an id"]}, "types"),
        ({"id": "a", "label": "x", "attributes": {"k": {"nested": 1}}}, "attributes"),
        ({"id": "a", "label": "x", "attributes": {"k": True}}, "attributes"),
        ({"id": "a", "label": "x", "attributes": []}, "attributes"),
        ({"id": "a", "label": "x", "relations": {"pid": "P1"}}, "relations"),
        ({"id": "a", "label": "x", "relations": [{"pid": "P1"}]}, r"relations\[0\]"),
        ({"id": "a", "label": "x", "relations": [{"pid": "has-part", "target": "Q1"}]}, r"relations\[0\]\.pid"),
        ({"id": "a", "label": "x", "relations": [{"pid": "P01", "target": "Q1"}]}, r"relations\[0\]\.pid"),
        ({"id": "a", "label": "x", "relations": [{"pid": "P1", "target": "bad id"}]}, r"relations\[0\]\.target"),
        ({"id": "a", "label": "x", "sitelinks": -1}, "sitelinks"),
        ({"id": "a", "label": "x", "sitelinks": "3"}, "sitelinks"),
        ({"id": "a", "label": "x", "wikipedia_title": 3}, "wikipedia_title"),
        ({"id": "a", "label": "x", "alias": ["typo"]}, "alias"),
    ],
)
def test_bad_fields_are_named(doc, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        parse_custom(doc)


def test_not_an_object():
    with pytest.raises(ValueError, match="not an object"):
        parse_custom(["x"])  # type: ignore[arg-type]
