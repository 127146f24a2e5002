"""Each CLIP backend loads a model saved in its real layout and embeds real WikiMEL images (no servers needed).

The models are tiny and randomly initialised (see tiny_clip.py): the tests check loading, shapes, normalisation
and that the saved weights (not a fresh random init) are what gets used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from index_helpers import WIKIMEL_IMAGES
from PIL import Image
from tiny_clip import OPEN_CLIP_MISSING, TINY_DIM, build_hf_clip, build_open_clip

from kg.kgstore.encoders import load_image_encoder  # first: arms the torchvision guard (see kgstore.encoders)
from kg.kgstore.errors import ConfigError

IMAGES = WIKIMEL_IMAGES


def _images(n: int = 3) -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in sorted(IMAGES.glob("*.jpg"))[:n]]


def _check_vectors(matrix: np.ndarray, rows: int) -> None:
    assert matrix.shape == (rows, TINY_DIM) and matrix.dtype == np.float32
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory) -> Path:
    return build_hf_clip(tmp_path_factory.mktemp("hf-clip"))


@pytest.fixture(scope="module")
def open_clip_model(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("open_clip", reason=OPEN_CLIP_MISSING)
    return build_open_clip(tmp_path_factory.mktemp("open-clip"))


def test_hf_backend_loads_saved_model_and_embeds_images_and_texts(hf_model: Path) -> None:
    import torch
    from transformers import CLIPModel, CLIPProcessor

    encoder = load_image_encoder("hf", str(hf_model))
    assert encoder.dim == TINY_DIM and encoder.version == f"hf:{hf_model}"
    images = _images()
    vectors = encoder.encode_images(images)
    _check_vectors(vectors, 3)
    _check_vectors(encoder.encode_texts(["a photo of a politician", "a much longer caption " * 40]), 2)
    assert np.allclose(encoder.encode_images(images[:1]), vectors[:1], atol=1e-5)  # deterministic (eval mode)

    reference = CLIPModel.from_pretrained(hf_model).eval()  # the saved weights, loaded independently
    pixels = CLIPProcessor.from_pretrained(hf_model)(images=images, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        out = reference.get_image_features(pixel_values=pixels)
    expected = torch.nn.functional.normalize(getattr(out, "pooler_output", out), dim=-1).numpy()
    assert np.allclose(vectors, expected, atol=1e-5)


def test_hf_backend_reports_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load CLIP model .*no-such-model"):
        load_image_encoder("hf", str(tmp_path / "no-such-model-dir" / "x"))


def test_open_clip_backend_loads_hub_layout_dir_and_config_plus_checkpoint(open_clip_model: dict[str, Path]) -> None:
    from_dir = load_image_encoder("open_clip", str(open_clip_model["dir"]))
    from_config = load_image_encoder("open_clip", str(open_clip_model["config"]), str(open_clip_model["checkpoint"]))
    images = _images()
    a, b = from_dir.encode_images(images), from_config.encode_images(images)
    _check_vectors(a, 3)
    assert from_dir.dim == from_config.dim == TINY_DIM
    assert np.allclose(a, b, atol=1e-5)  # both loaded the same saved weights: no random re-initialisation
    texts = from_config.encode_texts(["a photo of a politician", "a caption"])
    _check_vectors(texts, 2)
    assert np.allclose(texts, from_dir.encode_texts(["a photo of a politician", "a caption"]), atol=1e-5)


def test_open_clip_backend_refuses_weightless_and_unknown_models(open_clip_model: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="needs weights: set KG_IMAGE_PRETRAINED"):
        load_image_encoder("open_clip", "ViT-B-32")
    with pytest.raises(ConfigError, match="neither a pretrained tag .* nor a checkpoint file"):
        load_image_encoder("open_clip", "ViT-B-32", "no-such-tag")
    with pytest.raises(ConfigError, match="not an open_clip architecture"):
        load_image_encoder("open_clip", "no-such-architecture", "openai")


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="image backend 'tensorflow' is unknown; use one of: open_clip, hf"):
        load_image_encoder("tensorflow", "x")
