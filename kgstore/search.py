"""Queries over the entity collection, the store primitives retrieval is built from: entities by exact name
(keyword index) and by hashed name n-grams (sparse), by label words (full text), by name forms and initials, nearest
to a vector (dense, optionally filtered to labels holding some words or restricted to given entities), word overlaps,
payloads. How these are combined and scored into a mention's candidates (name similarity, surnames, namesakes) is the
linkers' (`linkers.candidates`). Payloads carry what a caller needs (qid, label, aliases, types, popularity,
description), so no graph query follows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qdrant_client import models

from kg.kgstore import entity_words
from kg.kgstore import names as name_index
from kg.kgstore.config import Config
from kg.kgstore.encoders import (
    ImageEncoder,
    TextEncoder,
    image_encoder_from_config,
    image_model_hint,
    text_encoder_from_config,
)
from kg.kgstore.entity_index import (
    HIT_FIELDS,
    IMAGE,
    LABEL_FIELD,
    NAMES,
    NAMES_FIELD,
    TEXT,
    WORDS,
    dense_sizes,
    has_words,
)
from kg.kgstore.errors import ConfigError
from kg.kgstore.images import ImageLoader
from kg.kgstore.model import point_id
from kg.kgstore.profiling import stage
from kg.kgstore.vector_backends import ScoredRow
from kg.kgstore.vectors import VectorStore

if TYPE_CHECKING:
    from PIL import Image

EXACT_LIMIT = 20  # entities sharing one exact name that are considered (most popular first)
# Qdrant's local mode cannot order by a payload field: it reads this many namesakes and sorts them itself, so the
# famous one of a crowded name is not lost to an arbitrary cut
LOCAL_EXACT_LIMIT = 500
MIN_FUZZY_CANDIDATES = 30  # decoding candidates' payloads is most of a lookup's cost; recall was the same at 50
RESCORE_FIELDS = [NAMES_FIELD, "popularity"]
SURNAME_LIMIT = 200  # labels holding a word that `label_rows_many` reads


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
        self.collection = config.qdrant.collection
        self._text_encoder = text_encoder
        self._image_encoder = image_encoder
        self._image_loader = image_loader or ImageLoader(config.home / "cache" / "images",
                                                         allow_private=config.models.image_allow_private)
        self._dense_sizes: dict[str, int] | None = None  # looked up once: a check per query would double latency
        self._has_words: bool | None = None

    @property
    def text_encoder(self) -> TextEncoder:
        if self._text_encoder is None:
            self._text_encoder = text_encoder_from_config(self.config)
        return self._text_encoder

    @property
    def image_encoder(self) -> ImageEncoder:
        if self._image_encoder is None:
            self._image_encoder = image_encoder_from_config(self.config)
            if self._image_encoder is None:
                raise ConfigError(f"image search needs an image model; {image_model_hint()}")
        return self._image_encoder

    @property
    def image_loader(self) -> ImageLoader:
        return self._image_loader

    def _check_collection(self, vector: str | None = None) -> None:
        if self._dense_sizes is None:
            if not self.vectors.collection_exists(self.collection):
                raise ConfigError(
                    f"collection {self.collection!r} does not exist in {self.vectors.location}; run `kg index` first")
            self._dense_sizes = dense_sizes(self.vectors, self.collection)
        if vector is not None and vector not in self._dense_sizes:
            raise ConfigError(f"collection {self.collection!r} has no {vector} vectors; run `kg index` with the "
                              f"{vector} model configured (add --recreate if the collection predates it)")

    def name_rows_many(self, forms: Mapping[str, bool], top_k: int = 10,
                       namesakes: int = 0) -> dict[str, list[tuple[Any, str, dict[str, Any]]]]:
        """For each normal form, the entities bearing exactly that name (keyword index, most popular first, up to
        `max(EXACT_LIMIT, namesakes)`) and, where its flag is true, the nearest hashed 3-gram vectors (sparse
        index): one round trip for all. Rows are (point id, "exact" or "fuzzy", payload of names and popularity);
        an entity found both ways comes once, as exact. Scoring them is the caller's (linkers.candidates.names)."""
        if not forms:
            return {}
        self._check_collection()
        requests, asked = [], []
        for form, wide in forms.items():
            asked.append((form, "exact"))
            requests.append(self._most_popular(NAMES_FIELD, models.MatchValue(value=form), max(EXACT_LIMIT, namesakes),
                                               RESCORE_FIELDS if wide else ["popularity"], local_limit=LOCAL_EXACT_LIMIT))
            if wide:
                vector = name_index.query_vector(form)
                asked.append((form, "fuzzy"))
                requests.append(models.QueryRequest(
                    query=models.SparseVector(indices=vector.indices, values=vector.values), using=NAMES,
                    limit=max(MIN_FUZZY_CANDIDATES, 3 * top_k), with_payload=RESCORE_FIELDS,
                ))
        found: dict[str, dict[Any, tuple[str, dict[str, Any]]]] = {}
        for (form, match), result in zip(asked, self._query_batch(requests, "names")):
            candidates = found.setdefault(form, {})
            for pid, _, payload in result:
                candidates.setdefault(pid, (match, payload))
        return {form: [(pid, match, payload) for pid, (match, payload) in rows.items()] for form, rows in found.items()}

    def label_rows_many(self, words: Sequence[str], limit: int = SURNAME_LIMIT) -> list[list[tuple[Any, dict[str, Any]]]]:
        """For each word, up to `limit` entities whose label holds it (the label's full-text index), most popular
        first, with their label and popularity: one request per word, one round trip."""
        if not words:
            return []
        self._check_collection()
        requests = [self._most_popular(LABEL_FIELD, models.MatchText(text=w), limit, [LABEL_FIELD, "popularity"])
                    for w in words]
        return [[(pid, payload) for pid, _, payload in rows] for rows in self._query_batch(requests, "surnames")]

    def hits(self, ranked: Sequence[Sequence[tuple[Any, float, str]]], fields: list[str] | None = None) -> list[list[Hit]]:
        """(point id, score, match) lists as Hits with their payload `fields` (default HIT_FIELDS): one request
        for every id of every list."""
        ids = sorted({pid for rows in ranked for pid, _, _ in rows}, key=str)
        payloads = self._payloads(ids, fields or HIT_FIELDS) if ids else {}
        return [[_hit_from(pid, payloads.get(pid, {}), score, match) for pid, score, match in rows] for rows in ranked]

    def by_forms_many(self, forms: Sequence[Sequence[str]], top_k: int = 10, fields: list[str] | None = None,
                      key: str = NAMES_FIELD, match: str = "variant", namesakes: int = 0) -> list[list[Hit]]:
        """Entities any of whose `key` forms (normal forms of names, or of their initials) is one of each list's,
        most popular first: one keyword-index request per non-empty list, then one for payloads. Where a mention
        may be written another way than the KB's names ("Microsoft Corp" / "Microsoft Corporation", "NYSE" / "New
        York Stock Exchange"), each way is looked up exactly, all in the same request. `namesakes`: as in
        `by_name_many`, up to this many are returned for the caller to rank before it cuts."""
        asked = [i for i, these in enumerate(forms) if these]
        if not asked:
            return [[] for _ in forms]
        self._check_collection()
        requests = [self._most_popular(key, models.MatchAny(any=list(forms[i])), max(top_k, namesakes), ["popularity"],
                                       local_limit=LOCAL_EXACT_LIMIT) for i in asked]
        ranked: dict[int, list[Any]] = {}
        for i, rows in zip(asked, self._query_batch(requests, "name forms")):
            rows = sorted(rows, key=lambda r: r[2].get("popularity") or 0, reverse=True)  # local mode: unordered
            ranked[i] = [pid for pid, _, _ in rows[:max(top_k, namesakes)]]
        ids = sorted({pid for pids in ranked.values() for pid in pids}, key=str)
        payloads = self._payloads(ids, fields or HIT_FIELDS) if ids else {}
        return [[_hit_from(pid, payloads.get(pid, {}), 1.0, match) for pid in ranked.get(i, [])]
                for i in range(len(forms))]

    def by_text(self, text: str, top_k: int = 10) -> list[Hit]:
        """Nearest entities to a description-like query in the text index."""
        if not text.strip():
            return []
        vector = self.text_encoder.encode([text])[0]
        return self._dense(TEXT, vector.tolist(), top_k, "text")

    def by_image(self, image: Image.Image | str | Path, top_k: int = 10) -> list[Hit]:
        """Entities whose image is nearest to a picture (PIL image, local path or URL)."""
        if not hasattr(image, "convert"):
            image = self._image_loader.open(str(image))
        vector = self.image_encoder.encode_images([image.convert("RGB")])[0]
        return self._dense(IMAGE, vector.tolist(), top_k, "image")

    def by_image_text(self, text: str, top_k: int = 10) -> list[Hit]:
        """Entities whose image is nearest to a text, through the CLIP text tower."""
        vector = self.image_encoder.encode_texts([text])[0]
        return self._dense(IMAGE, vector.tolist(), top_k, "image")

    def by_vector_many(self, using: str, vectors: Any, top_k: int = 10, match: str = "vector",
                       fields: list[str] | None = None) -> list[list[Hit]]:
        """Nearest entities to already-encoded vectors, one round trip for all (linkers encode contexts in batches).

        Equal vectors (mentions sharing a context) are searched once; `fields`: payload fields (default HIT_FIELDS).
        """
        if len(vectors) == 0:
            return []
        self._check_collection(using)
        keys = [_vector_key(v) for v in vectors]
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        distinct = list(dict.fromkeys(keys))
        requests = [models.QueryRequest(query=_floats(vectors[first[k]]), using=using, limit=top_k,
                                        with_payload=fields or HIT_FIELDS) for k in distinct]
        results = self._query_batch(requests, f"{using} vectors")
        hits = {k: [_hit_from(pid, payload, score, match) for pid, score, payload in r]
                for k, r in zip(distinct, results)}
        return [hits[k] if i == first[k] else [replace(h) for h in hits[k]] for i, k in enumerate(keys)]

    def by_vector_in_names_many(self, using: str, vectors: Any, names: Sequence[str | None], top_k: int = 10,
                                fields: list[str] | None = None) -> list[list[Hit]]:
        """Nearest entities to each vector among those whose label holds every word of its text (the label's
        full-text index): a dense query restricted by a filter, one round trip for all. Which texts to ask (a bare
        surname, say) is the caller's (linkers.candidates.retrieval); None or "": no query.
        """
        asked = [i for i, name in enumerate(names) if name]
        if not asked:
            return [[] for _ in names]
        self._check_collection(using)
        requests = [models.QueryRequest(
            query=_floats(vectors[i]), using=using, limit=top_k, with_payload=fields or HIT_FIELDS,
            filter=models.Filter(must=[models.FieldCondition(key=LABEL_FIELD,
                                                             match=models.MatchText(text=str(names[i])))]),
        ) for i in asked]
        out: list[list[Hit]] = [[] for _ in names]
        for i, rows in zip(asked, self._query_batch(requests, f"{using} vectors in names")):
            out[i] = [_hit_from(pid, payload, score, "named text") for pid, score, payload in rows]
        return out

    def similarities_many(self, using: str, vectors: Any, qids: list[list[str]]) -> list[dict[str, float]]:
        """Cosine of each vector with the stored `using` vectors of its own entities, computed by Qdrant.

        One round trip for all, and no vector leaves the server (fetching candidates' vectors costs far more).
        Entities without that vector are absent from the answer. Equal vectors are asked once, for the union
        of their entities.
        """
        if len(vectors) == 0:
            return []
        self._check_collection(using)
        keys = [_vector_key(v) for v in vectors]
        wanted: dict[bytes, dict[str, None]] = {}
        first: dict[bytes, int] = {}
        for i, (k, these) in enumerate(zip(keys, qids)):
            wanted.setdefault(k, {}).update(dict.fromkeys(these))
            first.setdefault(k, i)
        asked = [k for k in wanted if wanted[k]]
        requests = []
        for k in asked:
            ids: list[models.ExtendedPointId] = [point_id(q) for q in wanted[k]]
            requests.append(models.QueryRequest(
                query=_floats(vectors[first[k]]), using=using, limit=len(ids), with_payload=False,
                filter=models.Filter(must=[models.HasIdCondition(has_id=ids)])))
        results = self._query_batch(requests, f"{using} similarities") if requests else []
        scores = {k: _by_qid(result, wanted[k]) for k, result in zip(asked, results)}
        return [{q: scores.get(k, {})[q] for q in these if q in scores.get(k, {})} for k, these in zip(keys, qids)]

    def word_overlaps_many(self, texts: Sequence[str], qids: Sequence[Sequence[str]],
                           own: Sequence[str] = ()) -> list[dict[str, float]]:
        """How much each text (a mention's context) shares rare words with each of its entities' descriptions and
        attributes: Qdrant's IDF-weighted overlap with the words index, one round trip for all. `own[i]`: words
        not to count for text i (the mention's own name). Entities sharing nothing are absent; a collection made
        before the words index existed answers {} for every text.
        """
        if self._has_words is None:
            self._check_collection()
            self._has_words = has_words(self.vectors, self.collection)
        out: list[dict[str, float]] = [{} for _ in texts]
        if not self._has_words:
            return out
        asked, requests = [], []
        for i, (text, these) in enumerate(zip(texts, qids)):
            skip = set(entity_words.words(own[i])) if i < len(own) else set()
            terms = [w for w in entity_words.words(text) if w not in skip]
            if not terms or not these:
                continue
            vector = entity_words.sparse_vector(terms)
            asked.append(i)
            requests.append(models.QueryRequest(
                query=models.SparseVector(indices=vector.indices, values=vector.values), using=WORDS,
                limit=len(these), with_payload=False,
                filter=models.Filter(must=[models.HasIdCondition(has_id=[point_id(q) for q in these])])))
        for i, rows in zip(asked, self._query_batch(requests, "words overlap") if requests else []):
            out[i] = _by_qid(rows, qids[i])
        return out

    def vectors_of(self, qids: list[str], using: str, *, lazy: bool = False) -> Mapping[str, Any]:
        """Stored vectors of some entities, for features that compare a mention with every candidate.

        `lazy`: fetched on first access (a caller that may not need them pays nothing when it does not).
        """
        if lazy:
            return LazyVectors(lambda: self.vectors_of(qids, using))
        if not qids:
            return {}
        out = {}
        with stage(f"qdrant: stored {using} vectors"):
            for p in self.vectors.retrieve(self.collection, [point_id(q) for q in qids], ["qid"], [using]):
                vec = p.vectors.get(using)
                if vec is not None and p.payload:
                    out[p.payload["qid"]] = vec
        return out

    def _most_popular(self, key: str, match: Any, limit: int, payload: list[str],
                      local_limit: int | None = None) -> models.QueryRequest:
        """The entities whose payload `key` matches, most popular first. Qdrant's local mode cannot order by a payload
        field: there it reads `local_limit` of them (default `limit`) in no order, for the caller to sort."""
        local = self.vectors.local
        return models.QueryRequest(
            filter=models.Filter(must=[models.FieldCondition(key=key, match=match)]),
            limit=(local_limit or limit) if local else limit, with_payload=payload,
            query=None if local else models.OrderByQuery(
                order_by=models.OrderBy(key="popularity", direction=models.Direction.DESC)))

    def _query_batch(self, requests: list[models.QueryRequest], kind: str) -> list[list[ScoredRow]]:
        """One round trip; `kind` names it in a profile (`kgstore.profiling`)."""
        with stage(f"qdrant: {kind}"):
            return self.vectors.query_batch(self.collection, requests)

    def _payloads(self, ids: list[Any], fields: list[str]) -> dict[Any, dict[str, Any]]:
        with stage("qdrant: payloads"):
            return {p.id: p.payload for p in self.vectors.retrieve(self.collection, ids, fields)}

    def _dense(self, using: str, vector: list[float], top_k: int, match: str) -> list[Hit]:
        self._check_collection(using)
        rows = self.vectors.query(self.collection, models.QueryRequest(query=vector, using=using, limit=top_k,
                                                                         with_payload=HIT_FIELDS))
        return [_hit_from(pid, payload, score, match) for pid, score, payload in rows]


def _by_qid(rows: list[ScoredRow], qids: Iterable[str]) -> dict[str, float]:
    """Scores of a query restricted to these entities' points, by QID."""
    by_id = {str(point_id(q)): q for q in qids}
    return {by_id[str(pid)]: score for pid, score, _ in rows if str(pid) in by_id}


def _floats(vector: Any) -> list[float]:
    """A vector as the list of Python floats a query takes (numpy's tolist: a tenth of the time of a float() loop)."""
    return np.asarray(vector).tolist()


class LazyVectors(Mapping):
    """A read-only mapping filled by `load` the first time it is read."""

    def __init__(self, load: Callable[[], Mapping[str, Any]]):
        self._load = load
        self._data: Mapping[str, Any] | None = None

    def _loaded(self) -> Mapping[str, Any]:
        if self._data is None:
            self._data = self._load()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def _vector_key(vector: Any) -> bytes:
    """Equal vectors, equal keys (float32 bytes)."""
    return np.asarray(vector, dtype=np.float32).tobytes()


def _hit_from(pid: Any, payload: dict[str, Any], score: float, match: str) -> Hit:
    return Hit(qid=payload.get("qid", str(pid)), label=payload.get("label"), score=round(score, 4), match=match,
               payload=payload)
