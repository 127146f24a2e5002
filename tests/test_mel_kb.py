"""WikiMEL KB slice adapter on the real qid2ne.json / qid2abs.json."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from kg.indexers.mel_kb import iter_wikimel_kb, parse_summary, parse_wikimel
from kg.indexers.sources import detect_format, iter_raw, parse_batch
from kg.kgstore.errors import InputError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KB = DATA / "mel" / "wikimel"


@functools.cache
def kb_records() -> tuple:
    return tuple(iter_wikimel_kb(KB))


def test_every_entity_is_read():
    names = json.loads((KB / "qid2ne.json").read_text(encoding="utf-8"))
    summaries = json.loads((KB / "qid2abs.json").read_text(encoding="utf-8"))
    records = kb_records()
    assert len(records) == len(names) == 18880
    assert [r.qid for r in records] == list(names)
    for r in records:
        assert r.kind == "item"
        assert r.label == names[r.qid].strip()
        assert r.attributes["summary"] == [summaries[r.qid].strip()]
    described = [r for r in records if r.description]
    assert len(described) > 18000


def test_known_entity():
    by_qid = {r.qid: r for r in kb_records()}
    george = by_qid["Q1000070"]
    assert george.label == "Myron V. George"
    assert george.description == "police officer, politician (1900–1972)"
    assert george.attributes["occupation"] == ["police officer", "politician"]
    assert george.attributes["birth"] == ["1900"] and george.attributes["birth_place"] == ["Erie"]
    assert george.attributes["death_place"] == ["Parsons"]
    assert george.attributes["alma_mater"] == ["primary school"]
    fred = by_qid["Q1000296"]
    assert fred.label == "Fred (footballer, born 1979)" and fred.aliases == ["Fred"]
    assert by_qid["Q1004028"].description is None  # "Occupation: ." carries nothing
    assert "occupation" not in by_qid["Q1004028"].attributes


def test_parse_summary_edge_cases():
    attrs = parse_summary("Sex: male. Birth: -569, Athens. Death: t807, Athens. Nick name: Kleis. Occupation: .")
    assert attrs == {"sex": ["male"], "birth": ["-569"], "birth_place": ["Athens"], "death": ["t807"],
                     "death_place": ["Athens"], "nick_name": ["Kleis"]}
    rec = parse_wikimel({"qid": "Q1", "name": "X", "summary": "Birth: -099, Rome. Death: -043. Occupation: poet."})
    assert rec.description == "poet (99 BC–43 BC)"
    assert parse_wikimel({"qid": "Q2", "name": "Y", "summary": None}).attributes == {}
    with pytest.raises(ValueError, match="qid"):
        parse_wikimel({"qid": "x", "name": "Y", "summary": ""})


def test_through_sources_matches_direct_reader(tmp_path):
    assert detect_format(KB) == "wikimel-kb"
    items = list(iter_raw(KB, "wikimel-kb"))
    assert len(items) == 18880 and items[0][0] == 1 and items[-1][0] == 18880
    head = parse_batch("wikimel-kb", items[:300], ("en",), "mul")
    direct = list(kb_records()[:300])
    assert [r for _, r in head] == direct
    assert [n for n, _ in iter_raw(KB, "wikimel-kb", start_line=18870)] == list(range(18871, 18881))
    (tmp_path / "qid2ne.json").write_text('{"Q1": "One"}', encoding="utf-8")
    with pytest.raises(InputError, match="not a WikiMEL KB directory"):
        detect_format(tmp_path)
