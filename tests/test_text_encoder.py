"""The text encoder's two runtimes: the ONNX export (cached under the data directory) and sentence-transformers on
torch must give the same vectors; an export that does not verify falls back to torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kg.kgstore.encoders import text as text_module
from kg.kgstore.encoders.text import load_text_encoder
from kg.kgstore.errors import ConfigError

pytestmark = pytest.mark.models  # exports, distils and runs the real MiniLM model

pytest.importorskip("onnxruntime")
load = load_text_encoder.__wrapped__  # past the per-process cache: each call really loads

TEXTS = [
    "", "Douglas Adams", "Barack Obama and Angela Merkel at the G8 summit in Heiligendamm, Germany, June 2007.",
    "Ünïcödé: São Paulo, Zürich, Kraków, 東京, Москва", "word " * 400, "UPPER CASE CAPTION OF A FOOTBALL MATCH",
    "The Eiffel Tower seen from the Trocadéro at night", "x",
]


@pytest.fixture(scope="module")
def torch_encoder():
    return load("all-MiniLM-L6-v2", runtime="torch")


def test_onnx_matches_torch_and_is_cached(tmp_path: Path, torch_encoder) -> None:
    onnx = load("all-MiniLM-L6-v2", cache_dir=tmp_path)
    assert onnx.runtime == "onnx" and torch_encoder.runtime == "torch"
    assert onnx.dim == torch_encoder.dim == 384 and onnx.version == torch_encoder.version
    texts = TEXTS * 3 + [t.lower() for t in TEXTS]
    a, b = torch_encoder.encode(texts, batch_size=7), onnx.encode(texts, batch_size=7)
    assert a.shape == b.shape and b.dtype == np.float32
    assert np.min(np.sum(a * b, axis=1)) >= 1 - 1e-4
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert onnx.encode([]).shape == (0, 384)
    [export] = (tmp_path / "onnx").iterdir()
    meta = json.loads((export / "meta.json").read_text())
    assert meta["ok"] and meta["min_cosine"] >= 1 - 1e-4
    stamp = (export / "model.onnx").stat().st_mtime_ns
    again = load("all-MiniLM-L6-v2", cache_dir=tmp_path)  # loads the export, no second one
    assert again.runtime == "onnx" and (export / "model.onnx").stat().st_mtime_ns == stamp
    assert np.array_equal(again.encode(TEXTS), onnx.encode(TEXTS))
    # the bare model answers the sentence-transformers call that bench/index_text.py makes
    assert np.allclose(onnx.model.encode(TEXTS[:3], batch_size=2, normalize_embeddings=True), b[:3], atol=1e-6)
    # batches hold texts of one token count: a text's vector does not depend on what it is batched with
    alone = np.vstack([onnx.encode([t]) for t in texts])
    assert np.allclose(alone, b, atol=1e-6)


def test_onnx_batches_group_texts_of_one_token_count() -> None:
    batches = text_module._same_length_batches([3, 5, 3, 5, 5, 1, 3], batch_size=2)
    assert [b.tolist() for b in batches] == [[1, 3], [4], [0, 2], [6], [5]]
    assert text_module._same_length_batches([], batch_size=4) == []


def test_export_that_does_not_verify_falls_back_to_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_module, "ONNX_TOLERANCE", -1.0)  # no export can pass
    encoder = load("all-MiniLM-L6-v2", cache_dir=tmp_path)
    assert encoder.runtime == "torch"
    [export] = (tmp_path / "onnx").iterdir()
    assert not json.loads((export / "meta.json").read_text())["ok"] and not (export / "model.onnx").exists()
    with pytest.raises(ConfigError, match="cannot run on ONNX Runtime"):
        load("all-MiniLM-L6-v2", cache_dir=tmp_path, runtime="onnx")
    with pytest.raises(ConfigError, match="unknown text runtime"):
        load("all-MiniLM-L6-v2", runtime="tensorflow")


def test_static_context_vectors_are_distilled_once_and_live_in_the_model_space(
        tmp_path: Path, torch_encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    from kg.kgstore.encoders import static_text

    model = load_text_encoder()  # the per-process model (its ONNX export is cached for the whole run)
    static = static_text.static_encoder(model, tmp_path)
    [table] = (tmp_path / "static").iterdir()
    assert static.version == "static:sentence-transformers:all-MiniLM-L6-v2" and static.dim == model.dim
    assert static.table.shape == (static.tokenizer.get_vocab_size(), 384)
    contexts = ["the novelist who wrote The Hitchhiker's Guide to the Galaxy",
                "port city of Kaliningrad oblast near Poland",
                "he scored 30 points for the Lakers in the NBA game"]
    entities = model.encode(["English writer and humorist, author of a science fiction comedy",
                             "city in Russia on the Baltic Sea", "American basketball player"])
    vectors = static.encode(contexts + [""])
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()  # no tokens, no direction
    similarity = vectors[:3] @ entities.T  # each context is nearest to its own entity, as with the full model
    assert list(similarity.argmax(axis=1)) == [0, 1, 2] and list(similarity.argmax(axis=0)) == [0, 1, 2]
    # both runtimes give the same token rows (the whole vocabulary takes seconds; a slice shows it)
    ids = np.array([[101, t, 102] for t in range(2000, 2300)], dtype=np.int64)
    assert np.allclose(static_text._forward(torch_encoder, ids), static_text._forward(model, ids), atol=1e-5)
    # a second load (another process) reads the cached table, distils nothing
    monkeypatch.setattr(static_text, "_LOADED", {})
    monkeypatch.setattr(static_text, "_distil", lambda *a: pytest.fail("distilled again"))
    again = static_text.static_encoder(model, tmp_path)
    assert np.array_equal(again.encode(contexts), vectors[:3]) and list((tmp_path / "static").iterdir()) == [table]
