"""The keyset pagers on the real graph server. Entity pages: every non-stub entity exactly once, in QID order, across
page boundaries and stub stretches, resumable from any cursor. Document pages: the same, with mention counts."""

from __future__ import annotations

import random

from kg.kgstore.documents import documents_page
from kg.kgstore.entities import entity_pages, kb_fingerprint, read_entity_page

CREATE = "UNWIND $rows AS r CREATE (e:Entity) SET e.qid = r.qid, e.stub = r.stub, e.label = r.label, e.hash = r.hash"


def _kb(graph) -> list[str]:
    """A KB whose stubs (claim targets) interleave with its entities in QID order, with a long stub-only stretch
    (more stubs in a row than a page holds) and a QID order that is not the numeric one (Q10 < Q9)."""
    rng = random.Random(3)
    rows = [{"qid": f"Q{i}", "stub": rng.random() < 0.4, "label": f"e{i}", "hash": str(i)} for i in range(1, 120)]
    rows += [{"qid": f"Q5{i:03d}", "stub": True, "label": None, "hash": None} for i in range(40)]
    rng.shuffle(rows)  # written in no particular order
    graph.write(CREATE, rows=rows)
    return sorted(r["qid"] for r in rows if not r["stub"])


def test_pages_return_every_entity_once_in_qid_order_and_skip_stubs(graph) -> None:
    entities = _kb(graph)
    for size in (1, 7, 25, len(entities), len(entities) + 5):
        pages = list(entity_pages(graph, size, ("qid", "label")))
        assert [r["qid"] for page in pages for r in page] == entities, size
        assert all(0 < len(page) <= size for page in pages)
        assert all(r["label"] == f"e{r['qid'][1:]}" for page in pages for r in page)  # the columns asked for
    assert kb_fingerprint(graph, page=6)[0] == len(entities)


def test_a_page_resumes_from_any_cursor(graph) -> None:
    entities = _kb(graph)
    for cursor in ("", "Q1", "Q10", "Q4999", "Q5", "Q9", entities[-1], "Q99999"):
        page = read_entity_page(graph, cursor, 5, ("qid",))
        assert [r["qid"] for r in page] == [q for q in entities if q > cursor][:5], cursor
    assert read_entity_page(graph, "", 0, ("qid",)) == []


def test_document_pages_walk_every_document_once_in_id_order_with_its_mentions(graph) -> None:
    ids = [f"doc{i}" for i in range(1, 30)]  # doc10 < doc2: the id order is the string one
    graph.write("UNWIND $ids AS i CREATE (d:Document) SET d.id = i, d.text = 'text of ' + i, d.source = 's'", ids=ids)
    graph.write("MATCH (d:Document) WHERE d.id IN $ids UNWIND [1, 2] AS k "
                "CREATE (d)-[:HAS_MENTION]->(:Mention {id: d.id + '#' + toString(k)})", ids=ids[::3])
    for size in (1, 4, len(ids)):
        seen, after = [], ""
        while page := documents_page(graph, after, size, preview=6):
            assert len(page) <= size
            seen += page
            after = page[-1].id
        assert [d.id for d in seen] == sorted(ids), size
        assert {d.id: d.mentions for d in seen} == {i: 2 if i in ids[::3] else 0 for i in ids}
        assert all(d.preview == "text o" and d.chars == len(f"text of {d.id}") for d in seen)
    assert [d.id for d in documents_page(graph, "doc25", 6)] == ["doc26", "doc27", "doc28", "doc29", "doc3", "doc4"]
