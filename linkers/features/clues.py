"""Image clues for I2CR's visual rounds: text about the mention's image, one kind per round.

A kind (ocr, caption, dense_captions, tags) is served by the first source that has something: clues that came
with the mention (the I2CR fixture carries a vision API's output), then a model when one is configured:
tesseract for OCR, a transformers image-to-text model for captions, CLIP zero-shot tags over a vocabulary.
Model outputs are cached per image, since every round and every mention of a document share the image.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kg.linkers.ranking.base import MentionInput

KINDS = ("ocr", "caption", "dense_captions", "tags")


class ClueSource(Protocol):
    kind: str

    def clue(self, mention: MentionInput) -> str | None: ...


def _join(value: Any, limit: int = 8) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (list, tuple)):
        parts = [str(v).strip() for v in value if str(v).strip()]
        return "; ".join(parts[:limit]) or None
    return None


@dataclass
class PrecomputedClues:
    """Clues shipped with the mention (`clues` in the corpus, or a benchmark's vision-API output)."""

    kind: str

    def clue(self, mention: MentionInput) -> str | None:
        return _join(mention.clues.get(self.kind))


@dataclass
class _PerImage:
    """Runs `compute` once per image path; failures (broken image, missing binary) give no clue."""

    kind: str
    compute: Callable[[Any], str | None]
    load_image: Callable[[str], Any]
    cache: dict[str, str | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clue(self, mention: MentionInput) -> str | None:
        if not mention.image:
            return None
        with self.lock:
            if mention.image not in self.cache:
                try:
                    self.cache[mention.image] = self.compute(self.load_image(mention.image))
                except Exception as exc:  # noqa: BLE001 - a broken image or model costs the round, not the run
                    self.cache[mention.image] = None
                    mention.clues.setdefault("errors", []).append(f"{self.kind}: {exc}")
            return self.cache[mention.image]


def tesseract_ocr(load_image: Callable[[str], Any]) -> ClueSource | None:
    """OCR through Debian's tesseract-ocr and pytesseract; None when either is missing."""
    try:
        import pytesseract
    except ImportError:
        return None
    if shutil.which("tesseract") is None:
        return None

    def run(image: Any) -> str | None:
        text = " ".join(pytesseract.image_to_string(image.convert("RGB")).split())
        return text or None

    return _PerImage("ocr", run, load_image)


def transformers_captioner(model: str, load_image: Callable[[str], Any]) -> ClueSource:
    """A transformers image-to-text model (BLIP, GIT, ...) from a local directory or hub id."""
    import torch
    from transformers import AutoProcessor

    try:
        from transformers import AutoModelForImageTextToText as AutoCaptioner
    except ImportError:  # transformers < 4.46
        from transformers import AutoModelForVision2Seq as AutoCaptioner  # type: ignore[attr-defined, no-redef]

    from kg.kgstore.encoders.text import quiet_loading

    with quiet_loading():
        processor = AutoProcessor.from_pretrained(model)
        captioner = AutoCaptioner.from_pretrained(model).eval()

    def run(image: Any) -> str | None:
        with torch.inference_mode():
            ids = captioner.generate(**processor(images=image.convert("RGB"), return_tensors="pt"), max_new_tokens=30)
        text = processor.batch_decode(ids, skip_special_tokens=True)[0].strip()
        return text or None

    return _PerImage("caption", run, load_image)


def clip_tags(image_encoder: Any, vocabulary: list[str], load_image: Callable[[str], Any], top: int = 5) -> ClueSource:
    """Zero-shot tags: the vocabulary words whose CLIP text vectors are closest to the image's."""
    words = [w for w in dict.fromkeys(vocabulary) if w]
    prompts = image_encoder.encode_texts([f"a photo of {w}" for w in words]) if words else np.zeros((0, 1))

    def run(image: Any) -> str | None:
        if not words:
            return None
        scores = prompts @ image_encoder.encode_images([image.convert("RGB")])[0]
        return "; ".join(words[i] for i in np.argsort(-scores)[:top])

    return _PerImage("tags", run, load_image)


def build_sources(settings: dict[str, Any], image_encoder: Any = None,
                  load_image: Callable[[str], Any] | None = None) -> dict[str, list[ClueSource]]:
    """Per kind, the sources to try in order: precomputed first, then the configured models."""
    sources: dict[str, list[ClueSource]] = {k: [PrecomputedClues(k)] for k in KINDS}
    if load_image is None:
        return sources
    if settings.get("ocr", "tesseract") == "tesseract":
        ocr = tesseract_ocr(load_image)
        if ocr:
            sources["ocr"].append(ocr)
    if settings.get("caption_model"):
        sources["caption"].append(transformers_captioner(str(settings["caption_model"]), load_image))
    vocabulary = settings.get("tag_vocabulary")
    if image_encoder is not None and vocabulary:
        words = Path(vocabulary).read_text(encoding="utf-8").split("\n") if isinstance(vocabulary, str) else vocabulary
        sources["tags"].append(clip_tags(image_encoder, [w.strip() for w in words], load_image))
    return sources


def first_clue(sources: list[ClueSource], mention: MentionInput) -> str | None:
    for source in sources:
        text = source.clue(mention)
        if text:
            return text
    return None
