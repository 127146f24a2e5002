"""Retrieval over the entity collection: by name, by text, by image. The linkers' candidate generators use it.

`by_name` is the fast path the papers' candidate generation relies on (I2CR: fuzzy top-10 names): one Qdrant
request asks for the exact normalised-name matches (keyword payload index) and the nearest hashed 3-gram vectors
(sparse index) together; rapidfuzz's WRatio rescores that short list against every label and alias, ties going
to the more popular entity; a second request fetches the payload of the survivors. Payloads carry what a caller
needs (qid, label, aliases, types, popularity, description), so no graph query follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qdrant_client import models
from rapidfuzz import fuzz

from kgstore import names as name_index
from kgstore.config import Config
from kgstore.encoders import ImageEncoder, TextEncoder, image_encoder_from_config, image_model_hint, load_text_encoder
from kgstore.entity_index import HIT_FIELDS, IMAGE, NAMES, NAMES_FIELD, TEXT, dense_sizes
from kgstore.errors import ConfigError, InputError
from kgstore.images import ImageLoader
from kgstore.model import point_id
from kgstore.vectors import VectorStore

if TYPE_CHECKING:
    from PIL import Image

EXACT_LIMIT = 20  # entities sharing one exact name that are considered (most popular first)
MIN_FUZZY_CANDIDATES = 30  # decoding candidates' payloads is most of a lookup's cost; recall was the same at 50
RESCORE_FIELDS = [NAMES_FIELD, "popularity"]
SHORT_NAME = 3  # names this short (abbreviations) must match whole


@dataclass
class Hit:
    """One retrieved entity. `match` says which index found it: exact, fuzzy, text or image."""

    qid: str
    label: str | None
    score: float
    match: str
    payload: dict[str, Any] = field(default_factory=dict, repr=False)


class Searcher:
    """Queries one entity collection; encoders load lazily from the configuration on first use."""

    def __init__(self, config: Config, vectors: VectorStore, *, text_encoder: TextEncoder | None = None,
                 image_encoder: ImageEncoder | None = None, image_loader: ImageLoader | None = None):
        self.config = config
        self.vectors = vectors
        self.collection = config.collection
        self._text_encoder = text_encoder
        self._image_encoder = image_encoder
        self._image_loader = image_loader or ImageLoader(config.home / "cache" / "images")
        self._dense_sizes: dict[str, int] | None = None  # looked up once: a check per query would double latency

    @property
    def text_encoder(self) -> TextEncoder:
        if self._text_encoder is None:
            self._text_encoder = load_text_encoder(self.config.text_model)
        return self._text_encoder

    @property
    def image_encoder(self) -> ImageEncoder:
        if self._image_encoder is None:
            self._image_encoder = image_encoder_from_config(self.config)
            if self._image_encoder is None:
                raise ConfigError(f"image search needs an image model; {image_model_hint()}")
        return self._image_encoder

    def _check_collection(self, vector: str | None = None) -> None:
        if self._dense_sizes is None:
            if not self.vectors.client.collection_exists(self.collection):
                raise ConfigError(
                    f"collection {self.collection!r} does not exist in {self.vectors.location}; run `kg index` first")
            self._dense_sizes = dense_sizes(self.vectors, self.collection)
        if vector is not None and vector not in self._dense_sizes:
            raise ConfigError(f"collection {self.collection!r} has no {vector} vectors; run `kg index` with the "
                              f"{vector} model configured (add --recreate if the collection predates it)")

    def by_name(self, text: str, top_k: int = 10) -> list[Hit]:
        """Exact normalised-name matches plus fuzzy 3-gram candidates, rescored with rapidfuzz WRatio."""
        return self.by_name_many([text], top_k)[0]

    def by_name_many(self, texts: list[str], top_k: int = 10) -> list[list[Hit]]:
        """`by_name` for many names in two round trips (linkers query a whole batch of mentions at once).

        Candidates come with only their names and popularity (payload decoding dominates the cost of a large
        candidate list); the full payload is fetched for the `top_k` survivors alone.
        """
        forms = [name_index.normalise(t) for t in texts]
        asked = [f for f in forms if f]
        if not asked:
            return [[] for _ in texts]
        self._check_collection()
        requests = []
        for form in asked:
            vector = name_index.query_vector(form)
            requests += [
                models.QueryRequest(
                    filter=models.Filter(must=[models.FieldCondition(key=NAMES_FIELD, match=models.MatchValue(value=form))]),
                    limit=EXACT_LIMIT, with_payload=RESCORE_FIELDS,
                    query=None if self.vectors.local else models.OrderByQuery(
                        order_by=models.OrderBy(key="popularity", direction=models.Direction.DESC)),
                ),
                models.QueryRequest(
                    query=models.SparseVector(indices=vector.indices, values=vector.values), using=NAMES,
                    limit=max(MIN_FUZZY_CANDIDATES, 3 * top_k), with_payload=RESCORE_FIELDS,
                ),
            ]
        results = self.vectors.client.query_batch_points(self.collection, requests=requests)
        ranked: dict[str, list[tuple[float, str, Any]]] = {}
        for i, form in enumerate(asked):
            candidates: dict[Any, tuple[str, dict[str, Any]]] = {}
            for match, result in (("exact", results[2 * i]), ("fuzzy", results[2 * i + 1])):
                for point in result.points:
                    candidates.setdefault(point.id, (match, point.payload or {}))
            rescored = [
                (max((name_score(form, f) for f in payload.get(NAMES_FIELD) or []), default=0.0) / 100,
                 payload.get("popularity") or 0, pid, match)
                for pid, (match, payload) in candidates.items()
            ]
            best = sorted(rescored, key=lambda r: (r[0], r[1]), reverse=True)[:top_k]
            ranked[form] = [(score, match, pid) for score, _, pid, match in best]
        ids = sorted({pid for best in ranked.values() for _, _, pid in best}, key=str)
        payloads = {p.id: p.payload or {} for p in self.vectors.client.retrieve(
            self.collection, ids, with_payload=HIT_FIELDS, with_vectors=False)} if ids else {}
        return [[_hit_from(pid, payloads.get(pid, {}), score, match) for score, match, pid in ranked.get(form, [])]
                if form else [] for form in forms]

    def by_text(self, text: str, top_k: int = 10) -> list[Hit]:
        """Nearest entities to a description-like query in the text index."""
        if not text.strip():
            return []
        vector = self.text_encoder.encode([text])[0]
        return self._dense(TEXT, vector.tolist(), top_k, "text")

    def by_image(self, image: Image.Image | str | Path, top_k: int = 10) -> list[Hit]:
        """Entities whose image is nearest to a picture (PIL image, local path or URL)."""
        if not hasattr(image, "convert"):
            loaded = self._image_loader.load(str(image))
            if not loaded.ok:
                raise InputError(f"cannot use image {str(image)!r}: {loaded.skip}")
            image = loaded.image
        vector = self.image_encoder.encode_images([image.convert("RGB")])[0]
        return self._dense(IMAGE, vector.tolist(), top_k, "image")

    def by_image_text(self, text: str, top_k: int = 10) -> list[Hit]:
        """Entities whose image is nearest to a text, through the CLIP text tower."""
        vector = self.image_encoder.encode_texts([text])[0]
        return self._dense(IMAGE, vector.tolist(), top_k, "image")

    def by_vector_many(self, using: str, vectors: Any, top_k: int = 10, match: str = "vector") -> list[list[Hit]]:
        """Nearest entities to already-encoded vectors, one round trip for all (linkers encode contexts in batches)."""
        if len(vectors) == 0:
            return []
        self._check_collection(using)
        requests = [models.QueryRequest(query=[float(x) for x in v], using=using, limit=top_k, with_payload=HIT_FIELDS)
                    for v in vectors]
        results = self.vectors.client.query_batch_points(self.collection, requests=requests)
        return [[_hit(p, float(p.score), match) for p in r.points] for r in results]

    def vectors_of(self, qids: list[str], using: str) -> dict[str, Any]:
        """Stored vectors of some entities, for features that compare a mention with every candidate."""
        if not qids:
            return {}
        points = self.vectors.client.retrieve(self.collection, ids=[point_id(q) for q in qids], with_vectors=[using],
                                              with_payload=["qid"])
        out = {}
        for p in points:
            vec = p.vector.get(using) if isinstance(p.vector, dict) else None
            if vec is not None and p.payload:
                out[p.payload["qid"]] = vec
        return out

    def _dense(self, using: str, vector: list[float], top_k: int, match: str) -> list[Hit]:
        self._check_collection(using)
        result = self.vectors.client.query_points(
            self.collection, query=vector, using=using, limit=top_k, with_payload=HIT_FIELDS
        )
        return [_hit(p, float(p.score), match) for p in result.points]


def name_score(query_form: str, name_form: str) -> float:
    """rapidfuzz WRatio (0-100) of two normal forms; a very short one is compared whole, since WRatio's partial
    matching would find the alias "ms" (Mississippi) inside "douglas adams"."""
    if min(len(query_form), len(name_form)) <= SHORT_NAME:
        return fuzz.ratio(query_form, name_form)
    return fuzz.WRatio(query_form, name_form)


def _hit(point: models.ScoredPoint, score: float, match: str) -> Hit:
    return _hit_from(point.id, point.payload or {}, score, match)


def _hit_from(pid: Any, payload: dict[str, Any], score: float, match: str) -> Hit:
    return Hit(qid=payload.get("qid", str(pid)), label=payload.get("label"), score=round(score, 4), match=match,
               payload=payload)
