"""The image channel of the linking pipeline: a mention's image vector, image candidates and image features.

A document's image is loaded once (through the searcher's bounded loader) and encoded once; a box mention is the
cropped region, a span mention with a box both (the normalised sum of the two vectors), a span mention without a
box the whole image. Mentions whose document has no image, or whose image cannot be read, get no vector: the
pipeline then links them from text alone, as without an image model.

A box mention's region is also saved as a file (content-addressed, under the kg home's cache) and handed to the
methods as the mention's image, so I2CR's image check and clue sources (OCR, captioner, tags) read the region, not
the whole scene; that needs no image model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kg.kgstore.encoders import ImageEncoder
from kg.kgstore.entity_index import IMAGE
from kg.kgstore.files import atomic_file
from kg.kgstore.search import Searcher
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.corpus import Document, Mention


@dataclass
class MentionImages:
    """Per mention: its image vector (None: no image evidence) and what was encoded or why nothing was."""
    vectors: list[np.ndarray | None]
    notes: list[str | None] = field(default_factory=list)
    regions: list[str | None] = field(default_factory=list)  # the saved crop of a box mention

    def subset(self, rows: list[int]) -> MentionImages:
        return MentionImages([self.vectors[i] for i in rows], [self.notes[i] for i in rows],
                             [self.regions[i] for i in rows])

    def any(self) -> bool:
        return any(v is not None for v in self.vectors)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


def crop(image: Image.Image, box: list[float]) -> Image.Image | None:
    """The region of a box, clamped to the image; None when nothing of it lies inside."""
    x1, y1, x2, y2 = (max(0.0, float(v)) for v in box)
    x2, y2 = min(x2, image.width), min(y2, image.height)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return image.crop((int(x1), int(y1), int(round(x2)), int(round(y2))))


class ImageEvidence:
    """`encode`: an image model is configured (vectors, candidates, features); without one only the regions of box
    mentions are cut out (for the methods' clue sources)."""

    def __init__(self, searcher: Searcher, encoder: ImageEncoder | None = None, *, encode: bool = True,
                 region_dir: Path | None = None):
        self.searcher = searcher
        self._encoder = encoder
        self.encode = encode
        self.region_dir = region_dir or searcher.config.home / "cache" / "regions"
        self._label_vectors: dict[str, np.ndarray] = {}

    @property
    def encoder(self) -> ImageEncoder:
        if self._encoder is None:
            self._encoder = self.searcher.image_encoder
        return self._encoder

    def version(self) -> str:
        return f"image {self.encoder.version}"

    def mention_vectors(self, work: list[tuple[Document, Mention]]) -> MentionImages:
        """Each document image loaded and encoded once per batch, with every crop of it in the same encoder call."""
        loaded: dict[str, Any] = {}
        pictures: list[Image.Image] = []
        slots: list[tuple[int | None, int | None]] = []  # per mention: (whole image row, region row)
        notes: list[str | None] = []
        regions: list[str | None] = []
        for doc, m in work:
            regions.append(None)
            if not doc.image or not (self.encode or m.box):
                slots.append((None, None))
                notes.append(None)
                continue
            if doc.image not in loaded:
                result = self.searcher.image_loader.load(doc.image)
                picture = result.image
                loaded[doc.image] = (picture.convert("RGB"), len(pictures)) if picture is not None else result.skip
                if picture is not None:
                    pictures.append(loaded[doc.image][0])
            got = loaded[doc.image]
            if isinstance(got, str) or got is None:
                slots.append((None, None))
                notes.append(f"image not read: {got}")
                continue
            image, row = got
            region = crop(image, m.box) if m.box else None
            region_row = None
            if m.box and region is not None:
                region_row = len(pictures)
                pictures.append(region)
                regions[-1] = self._save_region(doc.image, m.box, region)
            whole = row if (region is None or m.start is not None) else None
            slots.append((whole, region_row))
            if m.box and region is None:
                notes.append("box outside the image: whole document image")
            elif region is None:
                notes.append("document image")
            else:
                notes.append("region" if whole is None else "region + document image")
        if not pictures or not self.encode:
            return MentionImages([None] * len(work), notes, regions)
        encoded = np.asarray(self.encoder.encode_images(pictures), dtype=np.float32)
        vectors: list[np.ndarray | None] = []
        for whole, region_row in slots:
            rows = [r for r in (whole, region_row) if r is not None]
            vectors.append(_unit(np.sum([_unit(encoded[r]) for r in rows], axis=0)) if rows else None)
        return MentionImages(vectors, notes, regions)

    def _save_region(self, image: str, box: list[float], region: Image.Image) -> str:
        key = hashlib.sha1(f"{image}|{','.join(map(str, box))}".encode()).hexdigest()[:20]
        path = self.region_dir / f"{key}.png"
        if not path.is_file():
            with atomic_file(path) as fh:
                region.save(fh, format="PNG")
        return str(path)

    def add_features(self, images: MentionImages, retrieved: list[list[Candidate]]) -> None:
        """`image`: cosine of the mention's image vector with the entity's stored image vector (computed by Qdrant;
        a candidate without an image gets its mention's mean, so having no picture neither helps nor hurts);
        `image_text`: the mention image against the entity's label through CLIP's text tower."""
        rows = [i for i, v in enumerate(images.vectors) if v is not None and retrieved[i]]
        if not rows:
            return
        cosines = self.searcher.similarities_many(IMAGE, [images.vectors[i] for i in rows],
                                                  [[c.qid for c in retrieved[i]] for i in rows])
        labels = self._labels({c.label or c.qid for i in rows for c in retrieved[i]})
        for i, found in zip(rows, cosines):
            mean = float(np.mean(list(found.values()))) if found else 0.0
            for c in retrieved[i]:
                c.features["image"] = round(float(found.get(c.qid, mean)), 6)
                c.features["image_text"] = round(float(images.vectors[i] @ labels[c.label or c.qid]), 6)

    def _labels(self, labels: set[str]) -> dict[str, np.ndarray]:
        new = sorted(labels - set(self._label_vectors))
        if new:
            for label, v in zip(new, np.asarray(self.encoder.encode_texts(new), dtype=np.float32)):
                self._label_vectors[label] = _unit(v)
        return self._label_vectors
