"""Static context vectors distilled from the text model (model2vec's method): no network runs per text.

Every vocabulary token is run once through the text model alone (with the tokenizer's special tokens around
it); a text's vector is then the weighted sum of its tokens' rows, normalised, each row less the vocabulary's
weighted mean (the direction every token shares, which would otherwise dominate every sum: on WikiMEL test,
Hits@1 0.846 with it, 0.819 without). The rows live in the text model's own output space, so the vectors compare
with entity vectors the full model encoded: `kg link --context static|cascade` encodes contexts this way, at a
measured cost in accuracy (README, "Benchmarks"). Weights are log(1 + token id), the Zipf weighting model2vec
uses: WordPiece and BPE vocabularies list frequent tokens first, so "the" and punctuation weigh least. The table
is distilled on first use (seconds) and cached in the model cache beside the ONNX export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kg.kgstore.encoders.text import TextEncoder, _cache_root, _export_key
from kg.kgstore.errors import ConfigError
from kg.kgstore.files import atomic_file
from kg.kgstore.progress import progress

STATIC_FORMAT = 1  # bump to re-distil every cached table
_BATCH = 512


@dataclass
class StaticTextEncoder:
    """`encode` as TextEncoder's (L2-normalised float32 rows), from a per-token table instead of the network."""

    name: str
    dim: int
    table: np.ndarray = field(repr=False)  # (vocabulary, dim) rows, each token's vector times its weight
    tokenizer: Any = field(repr=False)  # a `tokenizers.Tokenizer`

    @property
    def version(self) -> str:
        return f"static:sentence-transformers:{self.name}"

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:  # noqa: ARG002 - same signature
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, encoding in enumerate(self.tokenizer.encode_batch([str(t) for t in texts], add_special_tokens=False)):
            if encoding.ids:
                out[i] = self.table[encoding.ids].sum(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


_LOADED: dict[Path, StaticTextEncoder] = {}


def static_encoder(encoder: TextEncoder, cache_dir: str | Path | None = None) -> StaticTextEncoder:
    """The static encoder of a loaded text model, distilled once and cached (`cache_dir` as load_text_encoder's)."""
    path = _cache_root(cache_dir) / "static" / f"{_export_key(encoder.location)}-{STATIC_FORMAT}.npy"
    if path not in _LOADED:
        _LOADED[path] = _load(encoder, path)
    return _LOADED[path]


def _load(encoder: TextEncoder, path: Path) -> StaticTextEncoder:
    tokenizer = _tokenizer(encoder)
    try:
        rows = np.load(path)
    except (OSError, ValueError):
        progress(f"text model {encoder.name}: distilling static context vectors (once, seconds; cached in {path})")
        rows = _distil(encoder, tokenizer)
        with atomic_file(path) as fh:
            np.save(fh, rows)
    weights = np.log1p(np.arange(len(rows), dtype=np.float32))[:, None]
    shared = (rows * weights).sum(axis=0) / weights.sum()
    return StaticTextEncoder(encoder.name, encoder.dim, (rows - shared) * weights, tokenizer)


def _tokenizer(encoder: TextEncoder) -> Any:
    from tokenizers import Tokenizer

    model = encoder.model
    if encoder.runtime == "onnx":
        found = model.tokenizer
    else:
        found = getattr(getattr(model, "tokenizer", None), "backend_tokenizer", None)
    if not isinstance(found, Tokenizer):
        raise ConfigError(f"text model {encoder.name!r} has no fast tokenizer; static context vectors need one")
    tokenizer = Tokenizer.from_str(found.to_str())  # its own copy: no truncation or padding settings shared
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _distil(encoder: TextEncoder, tokenizer: Any) -> np.ndarray:
    """Each token's normalised sentence vector, the token alone between the tokenizer's special tokens."""
    around = tokenizer.encode("").ids  # e.g. [CLS] [SEP]
    vocabulary = tokenizer.get_vocab_size()
    rows = np.zeros((vocabulary, encoder.dim), dtype=np.float32)
    for start in range(0, vocabulary, _BATCH):
        ids = np.array([around[:1] + [t] + around[1:] for t in range(start, min(vocabulary, start + _BATCH))],
                       dtype=np.int64)
        rows[start:start + len(ids)] = _forward(encoder, ids)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def _forward(encoder: TextEncoder, ids: np.ndarray) -> np.ndarray:
    mask, types = np.ones_like(ids), np.zeros_like(ids)
    if encoder.runtime == "onnx":
        given = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return encoder.model.session.run(None, {k: given[k] for k in encoder.model.inputs})[0]
    import torch

    with torch.no_grad():
        features = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
                    "token_type_ids": torch.from_numpy(types)}
        return encoder.model(features)["sentence_embedding"].cpu().numpy()
