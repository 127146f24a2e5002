"""CLIP image/text encoders behind one interface, one loader per model family.

Backends:

- ``open_clip``: `open_clip.create_model_and_transforms`. The model is a built-in architecture name (``ViT-B-32``)
  with `pretrained` a tag (``laion2b_s34b_b79k``; downloaded, needs network) or a checkpoint file; a model config
  ``.json`` file (registered with `open_clip.add_model_config`, named by its stem) with a checkpoint file; a
  directory in open_clip's hub layout (``open_clip_config.json`` + weights, also as ``local-dir:DIR``); or
  ``hf-hub:org/repo``.
- ``hf``: transformers' `CLIPModel` + `CLIPProcessor` from a hub id or a local directory (`save_pretrained` layout).

Entity images (indexing) and mention images (linking) must be embedded by the same encoder, so both load through
`load_image_encoder`, cached per process. Every encoder returns L2-normalised float32 rows. A model with no
weights to load is refused: random weights would silently index noise.
"""

from __future__ import annotations

import functools
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kg.kgstore.config import Config
from kg.kgstore.encoders.text import quiet_loading
from kg.kgstore.errors import ConfigError

if TYPE_CHECKING:
    from PIL import Image

BACKENDS = ("open_clip", "hf")
_CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")


class ImageEncoder(ABC):
    """A CLIP-style dual encoder: images and texts into one normalised vector space of size `dim`."""

    backend: str
    name: str
    dim: int

    @property
    def version(self) -> str:
        """Identifies the model in index hashes: a different model re-encodes every image."""
        return f"{self.backend}:{self.name}"

    @abstractmethod
    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalised(features: Any) -> np.ndarray:
    import torch

    features = features.float()
    return torch.nn.functional.normalize(features, dim=-1).cpu().numpy().astype(np.float32, copy=False)


def _device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class OpenClipEncoder(ImageEncoder):
    backend = "open_clip"

    def __init__(self, model: str, pretrained: str | None, device: str | None = None):
        try:
            import open_clip
        except ImportError as exc:
            raise ConfigError(
                "image backend 'open_clip' needs the open_clip_torch package, which is not installed (or does not "
                f"import: {exc}); see README 'Image backends' for the install line, or use KG_IMAGE_BACKEND=hf"
            ) from exc
        self.name = model if not pretrained else f"{model}:{pretrained}"
        self._device = _device(device)
        model_name, pretrained = _open_clip_names(open_clip, model, pretrained)
        try:
            self._model, _, self._preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained, device=self._device
            )
            self._tokenizer = open_clip.get_tokenizer(model_name)
        except Exception as exc:  # open_clip raises RuntimeError/ValueError/FileNotFoundError/hub errors
            raise ConfigError(
                f"cannot load open_clip model {model!r} (pretrained {pretrained!r}): {exc.__class__.__name__}: {exc}; "
                "pretrained tags are downloaded (network needed): offline, give a checkpoint file or a model directory"
            ) from exc
        self._model.eval()
        self.dim = int(self.encode_texts([""]).shape[1])

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = torch.stack([self._preprocess(image) for image in images]).to(self._device)
        with torch.inference_mode():
            return _normalised(self._model.encode_image(batch))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        tokens = self._tokenizer(list(texts)).to(self._device)
        with torch.inference_mode():
            return _normalised(self._model.encode_text(tokens))


def _open_clip_names(open_clip: Any, model: str, pretrained: str | None) -> tuple[str, str | None]:
    """Map the configured model/pretrained pair to open_clip's arguments, refusing weightless models."""
    path = Path(model.removeprefix("local-dir:")).expanduser()
    if model.startswith(("hf-hub:", "local-dir:")) or path.is_dir():
        if pretrained:
            raise ConfigError(f"image_model {model!r} carries its own weights: unset image_pretrained ({pretrained!r})")
        if model.startswith("hf-hub:"):
            return model, None
        if not path.is_dir():
            raise ConfigError(f"image_model {model!r}: no such directory")
        if not any(p.suffix in _CHECKPOINT_SUFFIXES for p in path.iterdir()):
            raise ConfigError(f"image_model {model!r}: the directory holds no weights (.safetensors/.bin/.pth)")
        return f"local-dir:{path.resolve()}", None
    if model.endswith(".json"):
        if not path.is_file():
            raise ConfigError(f"image_model {model!r}: no such model config file")
        open_clip.add_model_config(path)
        model = path.stem
    elif model not in open_clip.list_models():
        raise ConfigError(
            f"image_model {model!r} is not an open_clip architecture, a model config .json, a directory or "
            "hf-hub:org/repo; known architectures: `python -c 'import open_clip; print(open_clip.list_models())'`"
        )
    if not pretrained:
        raise ConfigError(
            f"open_clip model {model!r} needs weights: set KG_IMAGE_PRETRAINED to a pretrained tag or a checkpoint "
            "file (without them the model would be randomly initialised)"
        )
    if open_clip.get_pretrained_cfg(model, pretrained):
        return model, pretrained
    checkpoint = Path(pretrained).expanduser()
    if not checkpoint.is_file():
        raise ConfigError(
            f"image_pretrained {pretrained!r} is neither a pretrained tag of open_clip model {model!r} nor a "
            "checkpoint file; list tags with `python -c 'import open_clip; print(open_clip.list_pretrained())'`"
        )
    return model, str(checkpoint.resolve())


class HfClipEncoder(ImageEncoder):
    backend = "hf"

    def __init__(self, model: str, device: str | None = None):
        path = Path(model).expanduser()
        location = str(path.resolve()) if path.exists() else model
        if path.exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from transformers import CLIPModel, CLIPProcessor

            with quiet_loading():
                # Any: transformers annotates `.to` and the config's fields looser than a loaded CLIPModel holds
                self._model: Any = CLIPModel.from_pretrained(location)
                self._processor = CLIPProcessor.from_pretrained(location)
        except Exception as exc:  # transformers raises OSError/ValueError/hub errors
            where = "the directory" if path.exists() else "it is not a local directory, and the Hugging Face hub"
            raise ConfigError(
                f"cannot load CLIP model {model!r} with transformers ({exc.__class__.__name__}: {exc}); check that "
                f"{where} holds a CLIPModel with its processor (config.json, weights, tokenizer, processor config)"
            ) from exc
        self.name = model
        self._device = _device(device)
        self._model.to(self._device).eval()
        self.dim = int(self._model.config.projection_dim)
        self._max_tokens = int(self._model.config.text_config.max_position_embeddings)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        inputs = self._processor(images=list(images), return_tensors="pt")
        with torch.inference_mode():
            out = self._model.get_image_features(pixel_values=inputs["pixel_values"].to(self._device))
        return _normalised(_features(out))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        inputs = self._processor(
            text=list(texts), return_tensors="pt", padding=True, truncation=True, max_length=self._max_tokens
        )
        with torch.inference_mode():
            out = self._model.get_text_features(
                input_ids=inputs["input_ids"].to(self._device), attention_mask=inputs["attention_mask"].to(self._device)
            )
        return _normalised(_features(out))


def _features(out: Any) -> Any:
    """transformers < 5 returns the projected features; 5 returns an output object holding them."""
    return out if hasattr(out, "float") else out.pooler_output


@functools.lru_cache(maxsize=4)
def load_image_encoder(
    backend: str, model: str, pretrained: str | None = None, device: str | None = None
) -> ImageEncoder:
    """Load (once per process) a CLIP encoder of the given backend."""
    if backend == "open_clip":
        return OpenClipEncoder(model, pretrained, device)
    if backend == "hf":
        if pretrained:
            raise ConfigError(
                "image_pretrained is an open_clip setting; with the hf backend, image_model alone names the model")
        return HfClipEncoder(model, device)
    raise ConfigError(f"image backend {backend!r} is unknown; use one of: {', '.join(BACKENDS)}")


def image_encoder_from_config(config: Config) -> ImageEncoder | None:
    """The configured image encoder, or None when no image model is configured."""
    if not config.models.image_backend and not config.models.image_model:
        return None
    if not config.models.image_backend or not config.models.image_model:
        missing = "KG_IMAGE_BACKEND (open_clip or hf)" if not config.models.image_backend else "KG_IMAGE_MODEL"
        raise ConfigError(f"the image model is half configured: set {missing} too, or unset both to skip images")
    models = config.models
    return load_image_encoder(models.image_backend, models.image_model, models.image_pretrained or None)


def image_model_hint() -> str:
    return ("no image model configured: set KG_IMAGE_BACKEND (open_clip or hf) and KG_IMAGE_MODEL "
            "(and KG_IMAGE_PRETRAINED for open_clip), or image_backend/image_model/image_pretrained under [models] in kg.toml")
