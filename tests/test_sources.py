"""Format detection, streaming reads (compressed, truncated, corrupted, resumed) and batch parsing."""

from __future__ import annotations

import bz2
import functools
import gzip
import json
import lzma
import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from kg.indexers.formats import kb_formats
from kg.indexers.sources import (
    TruncatedInput,
    detect_format,
    iter_raw,
    open_text,
    parse_batch,
    parse_raw,
    resolve_format,
)
from kg.kgstore.errors import InputError
from kg.kgstore.model import EntityRecord

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WD = DATA / "wikidata"
SAMPLE = WD / "sample_wikidata_items.json.bz2"
STREAM = WD / "short_stream.json.bz2"


def read_all(path: Path, fmt: str | None = None, **kw):
    fmt = fmt or detect_format(path)
    items = list(iter_raw(path, fmt, **kw))
    return fmt, items, parse_batch(fmt, items, ("en",), "mul")


def split(results):
    records = [r for _, r in results if isinstance(r, EntityRecord)]
    skipped = [n for n, r in results if r is None]
    errors = [(n, r) for n, r in results if isinstance(r, str)]
    return records, skipped, errors


def test_sample_dump_yields_100_entities():
    fmt, items, results = read_all(SAMPLE)
    assert fmt == "wikidata-dump"
    assert len(items) == 100
    assert [n for n, _ in items] == list(range(2, 102))  # line 1 is "[", line 102 is "]"
    records, skipped, errors = split(results)
    assert len(records) == 100 and not skipped and not errors
    assert records[0].qid == "Q31" and records[0].label == "Belgium"


def test_short_stream_yields_every_entity_line():
    with bz2.open(STREAM, "rt", encoding="utf-8") as f:
        raw_lines = [line for line in f if line.strip()]
    # SOURCE.txt says 634: that is the newline count; the last line has no newline, so there are 635 entities.
    assert len(raw_lines) == 635
    fmt, items, results = read_all(STREAM)
    assert fmt == "wikidata-jsonl"
    assert len(items) == len(raw_lines)
    records, skipped, errors = split(results)
    expected_skipped = sum(json.loads(line).get("type") not in ("item", "property") for line in raw_lines)
    assert len(skipped) == expected_skipped == 0
    assert len(records) == len(raw_lines) - expected_skipped and not errors
    assert [r.qid for r in records] == [json.loads(line)["id"] for line in raw_lines]


def test_single_entity_documents():
    fmt, items, results = read_all(WD / "wd_L3354.json")
    assert fmt == "wikidata-entity" and len(items) == 1 and results == [(1, None)]  # lexeme: skipped
    fmt, items, results = read_all(WD / "wd_P279.json")
    assert fmt == "wikidata-entity" and results[0][1].kind == "property"
    fmt, _, results = read_all(WD / "Q31.json")  # the whole entity on one line
    assert fmt == "wikidata-entity" and results[0][1].qid == "Q31"


def test_wbgetentities_yields_all_entities():
    raw = json.loads((WD / "wbgetentities_response.json").read_text(encoding="utf-8"))
    fmt, items, results = read_all(WD / "wbgetentities_response.json")
    assert fmt == "wbgetentities"
    assert [json.loads(text)["id"] for _, text in items] == list(raw["entities"]) == ["Q123", "Q456", "Q789"]
    assert [n for n, _ in items] == [1, 2, 3]
    records, skipped, errors = split(results)
    assert [r.qid for r in records] == ["Q123", "Q456"]
    assert records[0].label == "September"
    assert skipped == [3] and not errors  # Q789 is a {"missing": ""} marker


@functools.lru_cache(maxsize=1)
def _sample_bytes() -> bytes:
    with bz2.open(SAMPLE, "rb") as f:
        return f.read()


def _sample_lines() -> list[bytes]:
    return _sample_bytes().split(b"\n")


def test_corrupted_lines_are_reported_with_their_line_numbers(tmp_path):
    lines = _sample_lines()
    bad = {
        5: lines[4][: len(lines[4]) // 2],  # cut in the middle of the JSON
        20: b"[1, 2, 3],",  # JSON, but not an object
        33: b'{"type": "item", "labels": {}},',  # no id
        60: b'{"type": "item", "id": "Q1", "labels": "oops"},',  # wrong type
        77: b'{"type": "item", "id": "Q\xff\xfe"},',  # not UTF-8
        101: b"this is not json",  # the last entity line (no trailing comma in the dump)
    }
    for lineno, text in bad.items():
        lines[lineno - 1] = text
    path = tmp_path / "corrupt.json.bz2"
    path.write_bytes(bz2.compress(b"\n".join(lines), compresslevel=1))
    fmt, items, results = read_all(path)
    assert fmt == "wikidata-dump"
    records, skipped, errors = split(results)
    assert [n for n, _ in errors] == sorted(bad)
    assert len(records) == 100 - len(bad) and not skipped
    reasons = dict(errors)
    assert "malformed JSON" in reasons[5] and "malformed JSON" in reasons[101]
    assert "not an object" in reasons[20]
    assert "no 'id'" in reasons[33]
    assert "labels" in reasons[60]
    assert "UTF-8" in reasons[77]


def test_truncated_bz2_raises_after_yielding_complete_lines(tmp_path):
    data = SAMPLE.read_bytes()
    path = tmp_path / "truncated.json.bz2"
    path.write_bytes(data[: len(data) // 2])
    assert detect_format(path) == "wikidata-dump"
    got = []
    with pytest.raises(TruncatedInput) as excinfo:
        for item in iter_raw(path, "wikidata-dump"):
            got.append(item)
    assert len(got) > 10
    err = excinfo.value
    assert isinstance(err, InputError)
    assert err.last_line == got[-1][0]
    assert str(err.last_line) in str(err) and str(path) in str(err) and "truncated" in str(err)
    assert pickle.loads(pickle.dumps(err)).last_line == err.last_line
    # Everything yielded before the damage is intact and parses.
    _, _, errors = split(parse_batch("wikidata-dump", got, ("en",), "mul"))
    assert not errors


def test_gzip_and_truncated_gzip(tmp_path):
    path = tmp_path / "dump.json.gz"
    path.write_bytes(gzip.compress(_sample_bytes(), compresslevel=1))
    fmt, items, results = read_all(path)
    assert fmt == "wikidata-dump" and len(items) == 100
    assert len(split(results)[0]) == 100
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    got = []
    with pytest.raises(TruncatedInput, match="truncated"):
        for item in iter_raw(cut, "wikidata-dump"):
            got.append(item)
    assert got


def test_detection_is_by_content_not_name(tmp_path):
    txt = tmp_path / "dump.txt"
    shutil.copy(SAMPLE, txt)
    assert detect_format(txt) == "wikidata-dump"
    assert len(list(iter_raw(txt, detect_format(txt)))) == 100
    pretty = tmp_path / "entity.bz2"  # pretty-printed single document, compressed, misleading name
    pretty.write_bytes(bz2.compress((WD / "wd_Q42.json").read_bytes()))
    assert detect_format(pretty) == "wikidata-entity"
    with open_text(pretty) as f:
        assert json.load(f)["id"] == "Q42"
    jsonl = tmp_path / "stream.json"
    with bz2.open(STREAM, "rb") as f:
        jsonl.write_bytes(b"\n".join(f.read().split(b"\n")[:3]) + b"\n")
    assert detect_format(jsonl) == "wikidata-jsonl"
    custom = tmp_path / "mine.json"
    custom.write_text('{"id": "acme:x", "label": "X", "labels": {"fr": "Ex"}}\n', encoding="utf-8")
    assert detect_format(custom) == "custom-jsonl"
    assert detect_format(DATA / "mel" / "wikimel") == "wikimel-kb"


def test_dump_without_trailing_comma_and_resume(tmp_path):
    entities = [{"type": "item", "id": f"Q{i}", "labels": {"en": {"language": "en", "value": f"E{i}"}}}
                for i in range(1, 6)]
    body = ",\n".join(json.dumps(e) for e in entities)
    path = tmp_path / "small.json"
    path.write_text(f"[\n{body}\n]\n\n", encoding="utf-8")
    fmt, items, results = read_all(path)
    assert fmt == "wikidata-dump"
    assert [n for n, _ in items] == [2, 3, 4, 5, 6]
    assert [r.label for _, r in results] == ["E1", "E2", "E3", "E4", "E5"]
    xz = tmp_path / "small.dat"
    xz.write_bytes(lzma.compress(path.read_bytes()))
    assert detect_format(xz) == "wikidata-dump" and len(list(iter_raw(xz, "wikidata-dump"))) == 5
    resumed = list(iter_raw(path, fmt, start_line=4))
    assert [n for n, _ in resumed] == [5, 6]
    big = list(iter_raw(SAMPLE, "wikidata-dump", start_line=90))
    assert [n for n, _ in big] == list(range(91, 102))


def test_input_errors_have_distinct_messages(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.json.bz2"
    blank.write_bytes(bz2.compress(b"\n  \n"))
    unknown = tmp_path / "notes.json"
    unknown.write_text("hello, this is not a KB\n", encoding="utf-8")
    other_json = tmp_path / "other.json"
    other_json.write_text('{"foo": 1}\n', encoding="utf-8")
    messages = {}
    for name, path in {
        "empty": empty,
        "blank": blank,
        "missing": tmp_path / "nope.json",
        "directory": tmp_path,
        "unknown": unknown,
        "other_json": other_json,
    }.items():
        with pytest.raises(InputError) as excinfo:
            detect_format(path)
        messages[name] = str(excinfo.value)
        assert str(path) in messages[name]
    assert "empty" in messages["empty"] and "empty" in messages["blank"]
    assert "no such file" in messages["missing"]
    assert "directory" in messages["directory"] and "qid2ne.json" in messages["directory"]
    for name in ("unknown", "other_json"):
        assert "--format" in messages[name] and all(f in messages[name] for f in kb_formats())
    assert len({messages[k] for k in ("empty", "missing", "directory", "unknown")}) == 4
    with pytest.raises(InputError, match="unknown --format"):
        resolve_format(SAMPLE, "csv")
    with pytest.raises(InputError, match="directory"):
        resolve_format(DATA / "mel" / "wikimel", "wikidata-jsonl")
    jsonl = tmp_path / "two.jsonl"
    jsonl.write_text('{"type": "item", "id": "Q1"}\n{"type": "item", "id": "Q2"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="not a valid JSON document"):
        list(iter_raw(jsonl, "wikidata-entity"))  # a wrong --format override is reported, not crashed on


def test_format_override_reads_a_dump_as_jsonl():
    assert resolve_format(SAMPLE, "wikidata-jsonl") == "wikidata-jsonl"
    assert len(list(iter_raw(SAMPLE, "wikidata-jsonl"))) == 100


def test_parse_raw_and_batch_in_worker_processes():
    with pytest.raises(ValueError, match="malformed JSON"):
        parse_raw("wikidata-jsonl", "{not json", ("en",), "mul")
    assert parse_raw("custom-jsonl", '{"id": "a:b", "label": "B"}', ("en",), None).kind == "custom"
    items = list(iter_raw(SAMPLE, "wikidata-dump"))[:20] + [(999, "{")]
    assert pickle.loads(pickle.dumps(parse_batch)) is parse_batch
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(parse_batch, "wikidata-dump", items[i:i + 7], ("en",), "mul")
                   for i in range(0, len(items), 7)]
        results = [r for fut in futures for r in fut.result()]
    assert [n for n, _ in results] == [n for n, _ in items]
    assert all(isinstance(r, EntityRecord) for _, r in results[:-1])
    assert isinstance(results[-1][1], str) and "malformed JSON" in results[-1][1]
