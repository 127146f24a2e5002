"""Corpus JSONL and plain-text readers: records, stable mention ids, bad lines, path errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg.kgstore.errors import InputError
from kg.linkers.corpus import read_corpus, read_jsonl
from kg.linkers.records import NIL, BadLine, Document, Mention


def write_jsonl(path: Path, *lines: object) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_documents_spans_boxes_and_gold(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "7.jpg").write_bytes(b"jpeg")
    path = write_jsonl(
        tmp_path / "c.jsonl",
        {"id": "news-1", "text": "Merkel met Macron.", "meta": {"date": "2019"}},
        {"id": "news-2", "text": "Paris is in France.", "mentions": [
            {"start": 0, "end": 5, "gold": "Q90"}, {"start": 12, "end": 18, "surface": "France", "gold": "nil"}]},
        {"id": "photo-7", "text": "", "image": "img/7.jpg", "mentions": [{"box": [10, 20, 200.5, 310], "gold": "Q42"}]},
        {"id": "web", "text": "x", "image": "https://example.org/a.png", "mentions": []},
    )
    docs = list(read_jsonl(path))
    assert all(isinstance(d, Document) for d in docs)
    d1, d2, d3, d4 = docs
    assert d1.mentions is None and d1.meta == {"date": "2019"} and d1.image is None
    assert d2.mentions == [
        Mention("news-2#0-5", 0, 5, "Paris", gold="Q90"),
        Mention("news-2#12-18", 12, 18, "France", gold=NIL),
    ]
    assert d3.image == str((tmp_path / "img" / "7.jpg").resolve())
    assert d3.mentions == [Mention("photo-7#box:10,20,200.5,310", None, None, "", [10.0, 20.0, 200.5, 310.0], "Q42")]
    assert d4.image == "https://example.org/a.png" and d4.mentions == []
    assert [m.id for d in read_jsonl(path) for m in d.mentions or []] == [m.id for d in docs for m in d.mentions or []]


def test_repeated_span_gets_distinct_stable_ids(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", {"id": "d", "text": "The Fords", "mentions": [
        {"start": 4, "end": 9, "gold": "Q9582"}, {"start": 4, "end": 9, "gold": "Q213122"}]})
    (doc,) = read_jsonl(path)
    assert [m.id for m in doc.mentions] == ["d#4-9", "d#4-9~2"]


@pytest.mark.parametrize(("line", "reason"), [
    ('{"id": "a", "text": "x"', "malformed JSON"),
    ('["a", "b"]', "expected a JSON object, found list"),
    ({"text": "no id"}, "id: required"),
    ({"id": "", "text": "x"}, "id: required"),
    ({"id": 5, "text": "x"}, "id: required"),
    ({"id": "a"}, "text: required"),
    ({"id": "a", "text": ""}, "text: empty and no image"),
    ({"id": "a", "text": "x", "mention": []}, "unknown field(s) 'mention'"),
    ({"id": "a", "text": "abc", "mentions": [{"start": 1, "end": 9}]}, "span 1-9 is outside the text"),
    ({"id": "a", "text": "abc", "mentions": [{"start": 2, "end": 2}]}, "outside the text (0-3) or empty"),
    ({"id": "a", "text": "abc", "mentions": [{"start": 0}]}, "give both start and end"),
    ({"id": "a", "text": "abc", "mentions": [{"start": "0", "end": 1}]}, "must be integers"),
    ({"id": "a", "text": "abc", "mentions": [{"start": 0, "end": 2, "surface": "xy"}]},
     "mentions[0].surface: 'xy' does not match text[0:2] = 'ab'"),
    ({"id": "a", "text": "abc", "mentions": [{"box": [0, 0, 1, 1]}]}, "mentions[0].box: the document has no image"),
    ({"id": "a", "text": "", "image": "http://x/y.png", "mentions": [{"box": [5, 0, 1, 1]}]}, "0 <= x1 < x2"),
    ({"id": "a", "text": "", "image": "http://x/y.png", "mentions": [{"box": [0, 0, 1]}]}, "four finite numbers"),
    ({"id": "a", "text": "abc", "mentions": [{"start": 0, "end": 1, "gold": "not an id"}]}, "neither an entity id"),
    ({"id": "a", "text": "abc", "mentions": [{}]}, "needs a span (start, end), a box, or a surface"),
    ({"id": "a", "text": "abc", "mentions": [{"surface": " "}]}, "needs a span (start, end), a box, or a surface"),
    ({"id": "a", "text": "abc", "mentions": "x"}, "mentions: must be a list"),
    ({"id": "a", "text": "abc", "image": "missing.jpg"}, "image: file not found"),
])
def test_malformed_lines_become_badlines(tmp_path: Path, line: object, reason: str) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", {"id": "ok-1", "text": "fine"}, "", line, {"id": "ok-2", "text": "x"})
    items = list(read_jsonl(path))
    assert [type(i).__name__ for i in items] == ["Document", "BadLine", "Document"]
    bad = items[1]
    assert isinstance(bad, BadLine) and bad.line == 3 and bad.path == path
    assert reason in bad.reason, bad.reason
    assert str(bad).startswith(f"{path}:3: ")


def test_a_mention_without_span_keeps_its_surface_and_gold(tmp_path: Path) -> None:
    """Benchmarks have mentions the text does not place; dropping them would change the evaluation's denominator."""
    path = write_jsonl(tmp_path / "c.jsonl", {"id": "d", "text": "Count Camillo spoke.", "mentions": [
        {"start": 0, "end": 5, "gold": "Q1"}, {"surface": "Camillo Count", "gold": "Q2"}]})
    (doc,) = read_jsonl(path)
    unplaced = doc.mentions[1]
    assert (unplaced.id, unplaced.start, unplaced.end, unplaced.surface, unplaced.gold) == (
        "d#m1", None, None, "Camillo Count", "Q2")


def test_undecodable_line_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "text": "x"}\n{"id": "b", "text": "\xff"}\n')
    first, second = read_jsonl(path)
    assert isinstance(first, Document) and first.id == "a"
    assert isinstance(second, BadLine) and second.line == 2 and "not UTF-8" in second.reason


def test_text_file_and_directory(tmp_path: Path) -> None:
    one = tmp_path / "note.txt"
    one.write_text("Ada Lovelace wrote it.\n", encoding="utf-8")
    (doc,) = read_corpus([one])
    assert doc.id == "note" and doc.text == "Ada Lovelace wrote it.\n" and doc.mentions is None

    root = tmp_path / "corpus"
    (root / "b").mkdir(parents=True)
    (root / "a.txt").write_text("first", encoding="utf-8")
    (root / "b" / "a.txt").write_text("nested, same stem", encoding="utf-8")
    write_jsonl(root / "b" / "c.jsonl", {"id": "j1", "text": "from jsonl"})
    (root / "image.png").write_bytes(b"png")  # not a corpus file: ignored inside a directory
    (root / ".hidden.txt").write_text("skipped", encoding="utf-8")
    (root / "empty.txt").write_text("  \n", encoding="utf-8")
    items = list(read_corpus([root]))
    assert [i.id if isinstance(i, Document) else "bad" for i in items] == ["a", "b/a", "j1", "bad"]
    assert "empty text file" in items[-1].reason


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", {"id": "x", "text": "one"})
    b = write_jsonl(tmp_path / "b.jsonl", {"id": "y", "text": "two"}, {"id": "x", "text": "again"})
    items = list(read_corpus([a, b]))
    assert [type(i).__name__ for i in items] == ["Document", "Document", "BadLine"]
    assert items[2].path == b and items[2].line == 2 and "duplicate document id 'x'" in items[2].reason


def test_jsonl_content_without_suffix(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "corpus.json", {"id": "a", "text": "x"})
    assert [d.id for d in read_corpus([path])] == ["a"]


def test_path_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        list(read_corpus([tmp_path / "missing.jsonl"]))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no .txt or .jsonl files"):
        list(read_corpus([empty]))
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(InputError, match="unknown corpus file type '.pdf'"):
        list(read_corpus([pdf]))
    with pytest.raises(InputError, match="no corpus given"):
        list(read_corpus([]))


def test_errors_raised_before_reading(tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "a.jsonl", {"id": "a", "text": "x"})
    items = read_corpus([good, tmp_path / "missing.txt"])
    with pytest.raises(InputError, match="missing.txt"):
        next(items)
