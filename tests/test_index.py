"""`kg index` against the real test servers: real MiniLM, real fixtures ingested by the real pipeline,
incremental re-runs, and the image index filled by tiny CLIP models from the real WikiMEL images."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from index_helpers import WIKIDATA, WIKIMEL_IMAGES, cli_env, ingest_files
from tiny_clip import OPEN_CLIP_MISSING, TINY_DIM, build_hf_clip, build_open_clip

from kg.cli.main import cli
from kg.indexers.index import EntityRow, Indexer, IndexOptions, image_sources, row_text
from kg.kgstore.config import Config
from kg.kgstore.entities import read_entity_page
from kg.kgstore.entity_index import ensure_entity_collection
from kg.kgstore.errors import ConfigError
from kg.kgstore.graph import GraphStore
from kg.kgstore.images import ImageLoader, download_url
from kg.kgstore.model import point_id
from kg.kgstore.search import Searcher
from kg.kgstore.vectors import VectorStore

FIXTURE_ENTITIES = 101  # wd_Q42.json + the 100 items of sample_wikidata_items.json.bz2


@pytest.fixture
def stores(graph_config: Config, clean_graph):
    graph, vectors = GraphStore.from_config(graph_config), VectorStore.from_config(graph_config)
    yield graph, vectors
    vectors.delete_collection(graph_config.qdrant.collection)
    graph.close()
    vectors.close()


# ------------------------------------------------------------------------------------------- unit: inputs


def _row(**kw) -> EntityRow:
    base = dict(qid="Q1", kind="item", label=None, description=None, aliases=[], sitelinks=0, images=[],
                image_urls=[], types=[], attributes={})
    return EntityRow(**{**base, **kw})


def test_entity_text_uses_label_description_and_key_attributes_only() -> None:
    row = _row(label="Douglas Adams", description="author and humorist",
               attributes={"P569": ["1952-03-11"], "P214": ["113230702"], "P570": ["2001-05-11"], "shoe_size": ["44"]})
    assert row_text(row) == "Douglas Adams: author and humorist. born: 1952-03-11; died: 2001-05-11; shoe size: 44"
    assert row_text(_row(label="X")) == "X"
    assert row_text(_row()) == ""


def test_entity_text_embeds_the_attributes_the_kb_names_in_its_order() -> None:
    attributes = {"alma_mater": ["MIT"], "birth": ["1900"], "colour": ["red"], "dept": ["R&D"], "weight_kg": ["1.5"]}
    assert row_text(_row(label="W", attributes=attributes)) == (
        "W. alma mater: MIT; birth: 1900; colour: red; dept: R&D")  # without `describe`: the first four by name
    row = _row(label="W", attributes=attributes, describe=["weight_kg", "colour", "P569"])
    assert row_text(row) == "W. weight kg: 1.5; colour: red"


def test_describe_travels_from_a_custom_entity_through_the_graph_to_the_text(stores, tmp_path: Path) -> None:
    from kg.kgstore.entities import read_entity_page

    graph, _ = stores
    kb = tmp_path / "acme.jsonl"
    kb.write_text(json.dumps({"id": "acme:w1", "label": "Widget One", "describe": ["weight_kg"],
                              "attributes": {"colour": "red", "weight_kg": 1.5}}) + "\n")
    ingest_files(graph, tmp_path, kb)
    (row,) = [EntityRow.from_record(r) for r in read_entity_page(graph, "", 10)]
    assert row.describe == ["weight_kg"] and row_text(row) == "Widget One. weight kg: 1.5"


def test_image_sources_prefer_existing_files_and_report_missing_ones(tmp_path: Path) -> None:
    local = tmp_path / "a.jpg"
    local.write_bytes(b"x")
    commons = "https://commons.wikimedia.org/wiki/Special:FilePath/A.jpg"
    assert image_sources(_row(images=["A.jpg", str(local)], image_urls=[commons])) == ([str(local), commons], [])
    assert image_sources(_row(images=[str(tmp_path / "gone.jpg")])) == ([], [str(tmp_path / "gone.jpg")])
    assert image_sources(_row()) == ([], [])


class _ImageServer(BaseHTTPRequestHandler):
    """/ok.jpg: a real WikiMEL image; /slow.jpg: answers after 2 s; anything else: 404. Counts requests."""

    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).hits.append(self.path)
        if self.path == "/slow.jpg":
            time.sleep(2)
        if self.path in ("/ok.jpg", "/slow.jpg"):
            data = sorted(WIKIMEL_IMAGES.glob("*.jpg"))[0].read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.send_error(404)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def image_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ImageServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _ImageServer.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_image_loader_fetches_caches_and_classifies_failures(image_server: str, tmp_path: Path) -> None:
    loader = ImageLoader(tmp_path / "cache", timeout=0.5, allow_private=True)
    first = loader.load(f"{image_server}/ok.jpg")
    assert first.ok and first.image.mode == "RGB" and loader.cache_path(f"{image_server}/ok.jpg").is_file()
    assert loader.load(f"{image_server}/ok.jpg").ok and _ImageServer.hits == ["/ok.jpg"]  # second one from cache
    missing = loader.load(f"{image_server}/gone.jpg")
    assert (missing.skip, missing.transient) == ("HTTP 404", False)
    slow = loader.load(f"{image_server}/slow.jpg")
    assert slow.skip.startswith("unreachable") and slow.transient
    small = ImageLoader(tmp_path / "cache2", max_bytes=1000, allow_private=True).load(f"{image_server}/ok.jpg")
    assert small.skip == "larger than 1000 bytes" and not small.transient
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not an image", encoding="utf-8")
    assert loader.load(not_image).skip == "not a readable image (UnidentifiedImageError)"
    assert loader.load(tmp_path / "absent.jpg").transient  # the file may appear later
    assert loader.first([str(tmp_path / "absent.jpg"), f"{image_server}/ok.jpg"]).ok


def test_commons_file_urls_are_fetched_as_thumbnails() -> None:
    url = "https://commons.wikimedia.org/wiki/Special:FilePath/Douglas_adams_portrait_cropped.jpg"
    assert download_url(url) == url + "?width=640"
    assert download_url("https://example.org/a.jpg") == "https://example.org/a.jpg"


# ------------------------------------------------------------------------------------------- integration


def test_index_is_incremental_and_reencodes_only_what_changed(graph_config: Config, stores, tmp_path: Path) -> None:
    graph, vectors = stores
    ingest_files(graph, tmp_path, WIKIDATA / "wd_Q42.json", WIKIDATA / "sample_wikidata_items.json.bz2")

    first = Indexer(graph_config, graph, vectors, IndexOptions(page_size=40)).run()
    assert first.entities == FIXTURE_ENTITIES and first.pages == 3  # keyset pages of 40, 40, 21
    assert first.indexes["text"].encoded == first.indexes["names"].encoded == FIXTURE_ENTITIES
    assert "image" not in first.indexes and "no image model configured" in first.not_run["image"]
    assert vectors.count(graph_config.qdrant.collection) == FIXTURE_ENTITIES

    second = Indexer(graph_config, graph, vectors).run()
    assert second.encoded == 0
    assert second.indexes["text"].unchanged == second.indexes["names"].unchanged == FIXTURE_ENTITIES

    changed = tmp_path / "q42.jsonl"  # same names, new description: only its text vector is stale
    changed.write_text(json.dumps({
        "qid": "Q42", "label": "Douglas Adams",
        "aliases": ["Douglas Noël Adams", "Douglas Noel Adams", "Douglas N. Adams"],
        "description": "English writer of The Hitchhiker's Guide to the Galaxy", "sitelinks": 107,
    }) + "\n", encoding="utf-8")
    ingest_files(graph, tmp_path, changed)
    third = Indexer(graph_config, graph, vectors).run()
    assert third.indexes["text"].encoded == 1 and third.indexes["names"].encoded == 0
    point = vectors.retrieve(graph_config.qdrant.collection, [point_id("Q42")])[0]
    assert point.payload["description"] == "English writer of The Hitchhiker's Guide to the Galaxy"
    assert point.payload["names"] == ["douglas adams", "douglas noel adams", "douglas n adams"]
    assert point.payload["popularity"] == 107 and point.payload["types"] == []


def test_a_failed_background_write_stops_the_run(graph_config: Config, stores, tmp_path: Path) -> None:
    """Pages are written in the background while the next is encoded: a failed write still ends the run with its
    error, and only the pages written before it are counted."""
    graph, vectors = stores
    ingest_files(graph, tmp_path, WIKIDATA / "sample_wikidata_items.json.bz2")

    class SecondWriteFails(Indexer):
        writes = 0

        def _write(self, plans):
            self.writes += 1
            if self.writes == 2:
                raise RuntimeError("second write refused")
            super()._write(plans)

    indexer = SecondWriteFails(graph_config, graph, vectors,
                               IndexOptions(indexes=("names",), explicit=True, page_size=25))
    with pytest.raises(RuntimeError, match="second write refused"):
        indexer.run()
    assert indexer.summary.pages == 1 and indexer.summary.entities == 25
    assert vectors.count(graph_config.qdrant.collection) == 25


def test_index_limit_and_single_index(graph_config: Config, stores, tmp_path: Path) -> None:
    graph, vectors = stores
    ingest_files(graph, tmp_path, WIKIDATA / "sample_wikidata_items.json.bz2")
    summary = Indexer(graph_config, graph, vectors, IndexOptions(indexes=("names",), explicit=True, limit=30,
                                                                 page_size=25)).run()
    assert summary.entities == 30 and list(summary.indexes) == ["names"] and summary.indexes["names"].encoded == 30
    ids = [point_id(e["qid"]) for e in read_entity_page(graph, "", 1000)]
    points = vectors.retrieve(graph_config.qdrant.collection, ids, vectors=True)
    assert vectors.count(graph_config.qdrant.collection) == 30 and len(points) == 30
    assert all(set(p.vectors) == {"names"} for p in points)
    # a later text run fills the other vector of the same points
    Indexer(graph_config, graph, vectors, IndexOptions(indexes=("text",), explicit=True, limit=30)).run()
    points = vectors.retrieve(graph_config.qdrant.collection, ids, vectors=True)
    assert len(points) == 30 and all(set(p.vectors) == {"names", "text"} for p in points)


def test_cli_index_json_and_images_without_model(graph_config: Config, stores, tmp_path: Path) -> None:
    graph, _ = stores
    ingest_files(graph, tmp_path, WIKIDATA / "wd_Q42.json")
    runner = CliRunner()
    env = cli_env(graph_config)
    result = runner.invoke(cli, ["index", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["entities"] == 1 and data["indexes"]["text"]["encoded"] == 1 and "image" in data["not_run"]
    again = runner.invoke(cli, ["index"], env=env)
    assert again.exit_code == 0 and "encoded 0" in again.output and "image  not run: no image model" in again.output

    refused = runner.invoke(cli, ["index", "--images"], env=env)
    assert refused.exit_code == 1
    assert isinstance(refused.exception, ConfigError) and "--images needs an image model" in str(refused.exception)
    bad = runner.invoke(cli, ["index"], env={**env, "KG_TEXT_BATCH_SIZE": "many"})
    assert "text_batch_size must be a whole number, got 'many'" in str(bad.exception)


def test_collection_made_before_the_words_index_is_indexed_without_it_until_recreated(
        graph_config: Config, stores, tmp_path: Path) -> None:
    graph, vectors = stores
    ingest_files(graph, tmp_path, WIKIDATA / "wd_Q42.json")
    name = graph_config.qdrant.collection
    vectors.ensure_collection(name, {"text": 384}, ["names"], sparse_idf=True)  # as an older kg made it
    summary = Indexer(graph_config, graph, vectors).run()
    assert "words" not in summary.indexes and "`kg index --recreate` adds it" in summary.not_run["words"]
    assert summary.indexes["text"].encoded == 1
    assert Searcher(graph_config, vectors).word_overlaps_many(["author and humorist"], [["Q42"]]) == [{}]
    with pytest.raises(ConfigError, match="predates the words index; rebuild it with `kg index --recreate`"):
        Indexer(graph_config, graph, vectors, IndexOptions(indexes=("words",), explicit=True)).run()
    again = Indexer(graph_config, graph, vectors, IndexOptions(recreate=True)).run()
    assert again.indexes["words"].encoded == 1
    assert Searcher(graph_config, vectors).word_overlaps_many(["a humorist"], [["Q42"]])[0]["Q42"] > 0


def test_collection_without_image_vector_asks_for_recreate(graph_config: Config, stores) -> None:
    _, vectors = stores
    ensure_entity_collection(vectors, graph_config.qdrant.collection, text_dim=384, image_dim=None)
    with pytest.raises(ConfigError, match="has no .image. vector .*`kg index --recreate`"):
        ensure_entity_collection(vectors, graph_config.qdrant.collection, text_dim=384, image_dim=TINY_DIM)
    with pytest.raises(ConfigError, match="size 384, but the configured text model makes 768"):
        ensure_entity_collection(vectors, graph_config.qdrant.collection, text_dim=768, image_dim=None)
    ensure_entity_collection(vectors, graph_config.qdrant.collection, text_dim=384, image_dim=TINY_DIM, recreate=True)


def _image_model(backend: str, tmp_path: Path) -> dict[str, str]:
    if backend == "hf":
        return {"image_backend": "hf", "image_model": str(build_hf_clip(tmp_path / "hf-clip"))}
    pytest.importorskip("open_clip", reason=OPEN_CLIP_MISSING)
    saved = build_open_clip(tmp_path / "open-clip")
    return {"image_backend": "open_clip", "image_model": str(saved["config"]),
            "image_pretrained": str(saved["checkpoint"])}


@pytest.mark.parametrize("backend", ["hf", "open_clip"])
def test_image_index_from_wikimel_images_skips_broken_file(backend: str, graph_config: Config, stores,
                                                            tmp_path: Path) -> None:
    graph, vectors = stores
    config = dataclasses.replace(graph_config, models=dataclasses.replace(graph_config.models,
                                                                       **_image_model(backend, tmp_path)))
    images = sorted(WIKIMEL_IMAGES.glob("*.jpg"))
    assert len(images) == 45
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(images[0].read_bytes()[:600])  # a truncated JPEG: header fine, data cut off
    kb = tmp_path / "images.jsonl"
    lines = [{"id": f"mel:{p.stem}", "label": f"WikiMEL image {p.stem}", "images": [str(p)]} for p in images]
    lines.append({"id": "mel:broken", "label": "Broken image", "images": [str(broken)]})
    kb.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    ingest_files(graph, tmp_path, kb)

    runner = CliRunner()
    env = {**cli_env(config), "KG_IMAGE_BACKEND": config.models.image_backend, "KG_IMAGE_MODEL": config.models.image_model,
           **({"KG_IMAGE_PRETRAINED": config.models.image_pretrained} if config.models.image_pretrained else {})}
    result = runner.invoke(cli, ["index", "--images"], env=env)
    assert result.exit_code == 0, result.output
    assert "image  seen 46  encoded 45  unchanged 0  skipped 1" in result.output
    assert f"skipped 1: not a readable image (e.g. mel:broken {broken})" in result.output
    again = runner.invoke(cli, ["index", "--images", "--json"], env=env)
    stats = json.loads(again.stdout)["indexes"]["image"]
    assert stats["encoded"] == 0 and stats["unchanged"] == 46  # the broken image is recorded, not retried

    searcher = Searcher(config, vectors)
    hits = searcher.by_image(images[7], top_k=3)
    assert hits[0].qid == f"mel:{images[7].stem}" and hits[0].score > 0.999 and hits[0].match == "image"
    assert len(searcher.by_image_text("a photo of a person", top_k=5)) == 5
    point = vectors.retrieve(config.qdrant.collection, [point_id("mel:broken")])[0]
    assert point.payload["image_skip"].startswith("not a readable image")
