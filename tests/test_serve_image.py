"""The "Link a text" page's box in an image, on a KB with an image index (a tiny random CLIP, tests/tiny_clip.py):
the image URL is fetched from a loopback HTTP server (the loader's bounds apply: http(s) only, size, time), and a
URL it cannot read is said on the page; `kg serve` without an image model offers no image field (test_serve.py)."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from index_helpers import ingest_files
from markupsafe import escape
from PIL import Image
from test_serve import FAST, serving
from tiny_clip import build_hf_clip

from kg.cli.web.app import ServeSettings
from kg.indexers.index import Indexer, IndexOptions
from kg.kgstore.config import Config
from kg.kgstore.graph import GraphStore
from kg.kgstore.vectors import VectorStore


@pytest.fixture
def pictures(tmp_path) -> Iterator[tuple[Path, str]]:
    """A folder of PNGs served by http.server on a free loopback port; (folder, base URL)."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def image_kb(graph_config: Config, clean_graph, pictures, tmp_path) -> Iterator[Config]:
    """Berlin and Paris, each with a picture, indexed by text, names and image; images may come from loopback."""
    folder, _ = pictures
    cfg = dataclasses.replace(graph_config, models=dataclasses.replace(
        graph_config.models, image_backend="hf", image_model=str(build_hf_clip(tmp_path / "clip")),
        image_allow_private=True))
    kb = tmp_path / "kb.jsonl"
    lines = []
    for qid, label, colour in (("Q64", "Berlin", "red"), ("Q90", "Paris", "blue")):
        Image.new("RGB", (32, 32), colour).save(folder / f"{label}.png")
        lines.append(f'{{"qid": "{qid}", "label": "{label}", "images": ["{folder / label}.png"]}}\n')
    kb.write_text("".join(lines))
    vectors = VectorStore.from_config(cfg)
    try:
        with GraphStore.from_config(cfg) as graph:
            ingest_files(graph, tmp_path, kb)
            Indexer(cfg, graph, vectors, IndexOptions()).run()
        yield cfg
    finally:
        vectors.delete_collection(cfg.qdrant.collection)
        vectors.close()


def test_a_box_in_an_image_url_is_linked_and_an_unreadable_one_is_said(image_kb, pictures) -> None:
    folder, base = pictures
    Image.new("RGB", (64, 32), "white").save(folder / "photo.png")
    box = {"x1": "0", "y1": "0", "x2": "32", "y2": "32"}
    with serving(image_kb, ServeSettings(timeout_s=120)) as running, \
            httpx.Client(base_url=running.url, timeout=120) as client:
        form = client.get("/ui/link").text
        assert 'id="link-image-url" name="image"' in form and 'id="link-image-off"' not in form
        res = client.post("/ui/link", data={**FAST, "image": f"{base}/photo.png", **box, "surface": "Berlin"})
        assert res.status_code == 200, res.text
        assert "box 0.0, 0.0, 32.0, 32.0" in res.text and "image: region" in res.text
        assert 'id="image-error"' not in res.text
        missing = client.post("/ui/link", data={**FAST, "image": f"{base}/missing.png", **box, "surface": "Berlin"})
        assert missing.status_code == 200 and "The image was not read (HTTP 404)" in missing.text
        for image, message in (("file:///etc/passwd", "image: must be an http(s) URL"),
                               (f"{base}/photo.png", "box: give its four corners")):
            bad = client.post("/ui/link", data={**FAST, "image": image, **box, "x2": "" if "box" in message else "32"})
            assert bad.status_code == 400 and str(escape(message)) in bad.text, bad.text
