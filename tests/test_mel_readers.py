"""MEL benchmark readers against the real shared data (../shared/data/mel): split sizes and structure."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from kg.kgstore.errors import InputError
from kg.linkers.evaluation.benchmarks import read_i2cr_fixture, read_wikidiverse, read_wikimel, wikidiverse_title_qids
from kg.linkers.records import NIL

MEL = Path(__file__).resolve().parents[2] / "shared" / "data" / "mel"
pytestmark = pytest.mark.skipif(not MEL.is_dir(), reason=f"shared MEL data not found at {MEL}")


def test_wikimel_test_split_matches_baselines() -> None:
    splits = json.loads((MEL / "wikimel" / "splits.json").read_text())
    assert {k: len(v) for k, v in splits.items()} == {"train": 17091, "dev": 2443, "test": 4883}
    docs = list(read_wikimel(MEL / "wikimel", "test"))
    mentions = [m for d in docs for m in d.mentions]
    # BASELINES.md: "4,883 captions, 5,131 mentions"; 471 test ids have no sample in Wikidata-MEL.json.
    assert len(docs) == 4412 and len(mentions) == 5131
    assert all(m.gold and m.gold.startswith("Q") for m in mentions)
    assert all(m.start is not None for m in mentions)
    assert all(d.text[m.start:m.end] == m.surface for d in docs for m in d.mentions)
    assert len({m.id for m in mentions}) == len(mentions)
    assert all(d.meta["splits"] == ["test"] and d.id.startswith("wikimel:") for d in docs)


def test_wikimel_all_splits_and_unplaced_mentions() -> None:
    docs = list(read_wikimel(MEL / "wikimel"))
    mentions = [m for d in docs for m in d.mentions]
    assert len(docs) == 22136 and len(mentions) == 25846
    assert Counter(s for d in docs for s in d.meta["splits"]) == {"train": 15511, "dev": 2213, "test": 4412}
    unplaced = [m for m in mentions if m.start is None]
    assert len(unplaced) == 6 and all(m.surface and m.id.split("#")[1].startswith("m") for m in unplaced)
    with_image = [d for d in docs if d.image]
    assert len(with_image) == 38 and all(Path(d.image).is_file() for d in with_image)


def test_wikimel_mention_spans_recover_dropped_particles() -> None:
    doc = next(d for d in read_wikimel(MEL / "wikimel") if d.meta["sample_id"] == "46351")
    assert doc.text == "Powers with Noel Harrison in The Girl from U.N.C.L.E."
    assert [(m.surface, m.gold) for m in doc.mentions] == [("Noel Harrison", "Q532915"), ("Powers", "Q256474")]
    by_surface = {m.surface for d in read_wikimel(MEL / "wikimel", limit=3000) for m in d.mentions}
    assert "Hermann von Beckerath" in by_surface or "Alexis de Tocqueville" in by_surface


def test_wikimel_limit_and_unknown_split() -> None:
    assert len(list(read_wikimel(MEL / "wikimel", "test", limit=7))) == 7
    assert len(list(read_wikimel(MEL / "wikimel", "val", limit=2))) == 2  # alias of dev
    with pytest.raises(InputError, match="unknown split 'valid'; the official splits are train, test, dev"):
        list(read_wikimel(MEL / "wikimel", "valid"))
    with pytest.raises(InputError, match="Wikidata-MEL.json: not found"):
        list(read_wikimel(MEL / "wikidiverse", "test"))


def test_wikidiverse_splits() -> None:
    counts = {}
    for split in ("train", "val", "test"):
        docs = list(read_wikidiverse(MEL / "wikidiverse", split))
        mentions = [m for d in docs for m in d.mentions]
        counts[split] = (len(docs), len(mentions))
        assert all(d.text[m.start:m.end] == m.surface for d in docs for m in d.mentions)
    assert counts == {"train": (5570, 11204), "val": (803, 1663), "test": (1058, 2044)}
    docs = list(read_wikidiverse(MEL / "wikidiverse"))
    mentions = [m for d in docs for m in d.mentions]
    assert len(docs) == 7405 and len(mentions) == 14851
    assert Counter(m.gold == NIL for m in mentions) == {False: 14851}
    assert len({m.gold for m in mentions}) == 7643
    assert sum(d.image is not None for d in docs) == 7179
    assert all(d.image.startswith("https://upload.wikimedia.org/") for d in docs if d.image)
    assert sum(d.meta["blank_image"] for d in docs) == 238
    assert sum(len(d.meta["splits"]) > 1 for d in docs) == 23  # the official split lists overlap
    first = docs[0]
    assert first.id == "wikidiverse:0" and [(m.id, m.surface, m.gold) for m in first.mentions] == [
        ("wikidiverse:0#32-34", "UK", "Q145"), ("wikidiverse:0#35-45", "parliament", "Q11010")]


def test_i2cr_fixture() -> None:
    titles = wikidiverse_title_qids(MEL / "wikidiverse")
    mentions = list(read_i2cr_fixture(MEL / "i2cr-wikidiverse", titles))
    assert len(mentions) == 90 and len({m.id for m in mentions}) == 90
    assert all(len(m.candidates) == 10 for m in mentions)
    assert Counter(m.gold == NIL for m in mentions) == {False: 70, True: 20}
    assert all(m.gold in [c.title for c in m.candidates] for m in mentions if m.gold != NIL)
    assert sum(m.llm_pick == m.gold for m in mentions) == 71
    assert all(m.text[m.start:m.end] == m.surface for m in mentions)
    assert sum(c.qid is not None for m in mentions for c in m.candidates) == 112
    assert sum(c.summary is not None for m in mentions for c in m.candidates) == 800
    first = mentions[0]
    assert first.id == "i2cr-wikidiverse:31" and first.surface == "swans" and first.gold == "Swan"
    assert first.clues["caption"] == "a group of swans swimming in a pond with snow covered trees"
    assert "bird" in first.clues["tags"] and set(first.clues) == {"caption", "dense_captions", "tags", "ocr", "objects"}
    swan = next(c for c in first.candidates if c.title == "Swan")
    assert swan.qid == "Q29564928" and swan.description.startswith("Swans are birds")
