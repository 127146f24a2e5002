"""Indexes for Qdrant local mode, so that `kg serve` and `kg link` on the embedded default are not held up by it.

qdrant-client's local mode answers a filtered request by testing the filter on every point in Python, and a sparse
query by a merge with every point's sparse vector: on the demo's 3,000 entities a /link of 55 words asks about a
hundred such requests, 6 s of a 6.5 s answer on a loaded machine (issue 30). `LocalIndex` answers the same steps
from what it builds once per collection state: the points each payload value and id is at (for the filters kg sends:
`must` of id lists and exact, any-of and text matches), each sparse dimension's points (a query's scores summed in
the order the merge sums them), the points in id order (for scrolls), and whether a dense matrix is already
normalised (local mode divides every stored vector by its norm again on each cosine query, a pass over the whole
matrix that moves its float64 values by an ulp or so each time; where every norm is 1 within NORM_TOLERANCE, that
pass is skipped, and under a filter that leaves a few points only theirs are scored). Every other request shape
takes local mode's own path. The answers are the same: the same points, order and payloads, sparse scores float for
float, cosines within 1e-12 (local mode's own renormalising changes them by about 1e-16 from one query to the next;
tests/test_local_index.py compares both paths). The indexes are dropped
on every write (`LocalBackend`), and local mode admits one process, so nothing else changes the points behind them.

It is installed on qdrant-client's `LocalCollection` object by replacing two of its methods on that instance: a
private API, so qdrant-client is pinned to a minor version (pyproject.toml) and the test runs on every upgrade.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import numpy as np
from qdrant_client import models
from qdrant_client.local.distances import EPSILON
from qdrant_client.local.local_collection import LocalCollection
from qdrant_client.local.payload_filters import check_match
from qdrant_client.local.payload_value_extractor import value_by_key
from qdrant_client.local.sparse import sort_sparse_vector, validate_sparse_vector
from qdrant_client.local.sparse_distances import sparse_dot_product

ATTRIBUTE = "_kg_local_index"  # where the collection keeps its LocalIndex
SEPARATOR = "\x00"  # between the values of a key joined for text matches
MAX_CACHED_TEXTS = 4096  # text-match masks kept (a surname asked by two stages of one batch is scanned once)
FEW_POINTS = 256  # a filter leaving at most this many points: only theirs are scored (a sparse query merged with each)
NORMALISE_TRIES = 3  # cosine queries after a write that check whether the stored vectors are normalised
NORM_TOLERANCE = 1e-12  # a stored vector whose norm is this close to 1 is not divided by it again


class LocalIndex:
    """The indexes of one local collection; `reset` after any write to it."""

    def __init__(self, collection: LocalCollection):
        self.collection = collection
        self._mask = collection._payload_and_non_deleted_mask  # local mode's own methods, for the other shapes
        self._search = collection.search
        self._scroll_by_id = collection._scroll_by_id
        self._lock = threading.Lock()
        self.reset()

    @classmethod
    def install(cls, collection: LocalCollection) -> LocalIndex:
        """The collection's index, installed the first time (its filter and sparse search then use it)."""
        index = getattr(collection, ATTRIBUTE, None)
        if index is None:
            index = cls(collection)
            collection._payload_and_non_deleted_mask = index.payload_and_non_deleted_mask  # type: ignore[method-assign]
            collection.search = index.search  # type: ignore[method-assign]
            collection._scroll_by_id = index.scroll_by_id  # type: ignore[method-assign]
            setattr(collection, ATTRIBUTE, index)
        return index

    def reset(self) -> None:
        with self._lock:
            self._values: dict[str, list[list[Any] | None]] = {}  # payload key -> each point's values
            self._postings: dict[str, dict[Any, list[int]] | None] = {}  # key -> value -> points (None: unhashable)
            self._texts: dict[tuple[str, str], np.ndarray] = {}
            self._joined: dict[str, tuple[str, list[int], list[int]] | None] = {}
            self._ids: dict[Any, list[int]] | None = None
            self._sparse: dict[str, dict[int, list[tuple[int, Any]]]] = {}
            self._id_order: tuple[list[Any], np.ndarray] | None = None  # ids sorted as local mode sorts them
            self._normal: dict[str, bool | int] = {}  # dense name -> normalised (True) or the checks left

    # ------------------------------------------------------------------------------------------------ filters
    def payload_and_non_deleted_mask(self, payload_filter: models.Filter | None,
                                     vector_name: str | None = None) -> np.ndarray:
        """As local mode's method of that name: points the filter accepts that are not deleted."""
        accepted = self.filter_mask(payload_filter) if payload_filter is not None else None
        if accepted is None:
            return self._mask(payload_filter, vector_name)
        return self._mask(None, vector_name) & accepted

    def filter_mask(self, payload_filter: models.Filter) -> np.ndarray | None:
        """The points the filter accepts, or None for a filter shape not indexed here."""
        if payload_filter.should is not None or payload_filter.must_not is not None \
                or payload_filter.min_should is not None or payload_filter.must is None:
            return None
        must = payload_filter.must if isinstance(payload_filter.must, list) else [payload_filter.must]
        mask = np.ones(len(self.collection.payload), dtype=bool)
        for condition in must:
            found = self._condition_mask(condition)
            if found is None:
                return None
            mask &= found
        return mask

    def _condition_mask(self, condition: Any) -> np.ndarray | None:
        n = len(self.collection.payload)
        if isinstance(condition, models.HasIdCondition):
            ids = self._id_positions()
            positions = [p for i in condition.has_id for p in ids.get(str(i) if isinstance(i, UUID) else i, ())]
            return _mask_of(n, positions)
        if not isinstance(condition, models.FieldCondition) or condition.match is None:
            return None
        match = condition.match
        if isinstance(match, (models.MatchValue, models.MatchAny)):
            postings = self._value_positions(condition.key)
            if postings is None:
                return self._scan(condition.key, match)
            wanted = [match.value] if isinstance(match, models.MatchValue) else list(match.any)
            try:
                return _mask_of(n, [p for value in wanted for p in postings.get(value, ())])
            except TypeError:  # an unhashable value asked for: compared as local mode does
                return self._scan(condition.key, match)
        if isinstance(match, models.MatchText):
            key = (condition.key, match.text)
            found = self._texts.get(key)
            if found is None:
                found = self._find_text(condition.key, match)
                if len(self._texts) >= MAX_CACHED_TEXTS:
                    self._texts.clear()
                self._texts[key] = found
            return found
        return None

    def _find_text(self, key: str, match: models.MatchText) -> np.ndarray:
        """Local mode's substring test (`text in value`) run by `str.find` over the key's values joined by a
        separator no value holds; a scan where some value is not a string or the text is empty or holds it."""
        joined = self._joined_text(key)
        if joined is None or not match.text or SEPARATOR in match.text:
            return self._scan(key, match)
        text, starts, owners = joined
        mask = np.zeros(len(self.collection.payload), dtype=bool)
        at = text.find(match.text)
        while at >= 0:
            value = bisect_right(starts, at) - 1
            mask[owners[value]] = True
            following = value + 1
            if following >= len(starts):
                break
            at = text.find(match.text, starts[following])
        return mask

    def _joined_text(self, key: str) -> tuple[str, list[int], list[int]] | None:
        """The key's string values joined by SEPARATOR, where each starts and whose point it is; None where a value
        is not a string or holds the separator."""
        if key not in self._joined:
            parts: list[str] = []
            starts: list[int] = []
            owners: list[int] = []
            joined: tuple[str, list[int], list[int]] | None = None
            at = 0
            for point, values in enumerate(self._key_values(key)):
                for v in values or ():
                    if v is None:
                        continue  # local mode: no match
                    if not isinstance(v, str) or SEPARATOR in v:
                        break
                    parts.append(v)
                    starts.append(at)
                    owners.append(point)
                    at += len(v) + 1
                else:
                    continue
                break
            else:
                joined = (SEPARATOR.join(parts), starts, owners)
            self._joined[key] = joined
        return self._joined[key]

    def _scan(self, key: str, match: Any) -> np.ndarray:
        """Local mode's test (`check_match` on each of a point's values), over values read once per key."""
        values = self._key_values(key)
        return np.fromiter((vs is not None and any(check_match(match, v) for v in vs) for vs in values),
                           dtype=bool, count=len(values))

    def _key_values(self, key: str) -> list[list[Any] | None]:
        values = self._values.get(key)
        if values is None:
            with self._lock:
                values = [value_by_key(p, key) for p in self.collection.payload]
                self._values[key] = values
        return values

    def _value_positions(self, key: str) -> dict[Any, list[int]] | None:
        """Each value of the key and the points holding it; None where a value is unhashable (a dict or list
        inside a list), which only a scan can compare."""
        if key not in self._postings:
            postings: dict[Any, list[int]] | None = {}
            try:
                for i, values in enumerate(self._key_values(key)):
                    for v in values or ():
                        postings.setdefault(v, []).append(i)  # type: ignore[union-attr]
            except TypeError:
                postings = None
            self._postings[key] = postings
        return self._postings[key]

    def _id_positions(self) -> dict[Any, list[int]]:
        if self._ids is None:
            ids: dict[Any, list[int]] = {}
            for i, pid in enumerate(self.collection.ids_inv[:len(self.collection.payload)]):
                ids.setdefault(pid, []).append(i)
            self._ids = ids
        return self._ids

    # ------------------------------------------------------------------------------------------------ sparse
    def search(self, query_vector: Any, query_filter: models.Filter | None = None, limit: int = 10,
               offset: int | None = None, with_payload: Any = True, with_vectors: Any = False,
               score_threshold: float | None = None) -> list[models.ScoredPoint]:
        """Local mode's search: a plain sparse query is scored from the postings, a plain cosine one without
        normalising the stored vectors again where that changes nothing, the rest as local mode does."""
        call: Callable[[], list[models.ScoredPoint]] = lambda: self._search(  # noqa: E731
            query_vector, query_filter=query_filter, limit=limit, offset=offset, with_payload=with_payload,
            with_vectors=with_vectors, score_threshold=score_threshold)
        if not isinstance(query_vector, tuple) or len(query_vector) != 2:
            return call()
        name, query = query_vector
        coll = self.collection
        if isinstance(query, models.SparseVector) and name in coll.sparse_vectors:
            validate_sparse_vector(query)
            if (coll.config.sparse_vectors or {})[name].modifier == models.Modifier.IDF:
                query = coll._rescore_idf(query, name)
            mask = coll._payload_and_non_deleted_mask(query_filter, vector_name=name)
            scores = self.sparse_scores(name, sort_sparse_vector(query), mask)
            return self._best(scores, mask, True, limit, offset or 0, with_payload, with_vectors, score_threshold)
        elif isinstance(query, (list, np.ndarray)) and name in coll.vectors \
                and coll.get_vector_params(name).distance == models.Distance.COSINE:
            mask = coll._payload_and_non_deleted_mask(query_filter, vector_name=name)
            cosines = self.cosine_scores(name, np.array(query), mask)
            if cosines is None:
                return call()
            return self._best(cosines, mask, False, limit, offset or 0, with_payload, with_vectors, score_threshold)
        return call()  # another kind of query, or local mode's error for an unknown vector

    def cosine_scores(self, name: str, query: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """What local mode's `cosine_similarity` answers for the points of `mask` (a filter to a few points: only
        theirs are computed; the others are never read), without its division of every stored vector by its norm
        once every norm is known to be 1 (within NORM_TOLERANCE) or 0; None: not known yet (local mode's path then
        divides, and the next queries check again, a few times after each write)."""
        if query.ndim != 1 or np.isnan(query).any():
            return None
        state = self._normal.get(name, NORMALISE_TRIES)
        vectors = self.collection.vectors[name][:len(self.collection.payload)]
        if state is not True:
            if not state:
                return None
            norms = np.linalg.norm(vectors, axis=-1)
            normalised = bool(np.all((np.abs(norms - 1.0) <= NORM_TOLERANCE) | (norms == 0.0)))
            self._normal[name] = True if normalised else int(state) - 1
            if not normalised:
                return None
        norm = np.linalg.norm(query)
        query /= np.where(norm != 0.0, norm, EPSILON)
        allowed = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(allowed) > FEW_POINTS:
            return np.dot(vectors, query)
        scores = np.full(len(vectors), -np.inf)
        scores[allowed] = np.dot(vectors[allowed], query)
        return scores

    def scroll_by_id(self, scroll_filter: models.Filter | None = None, limit: int = 10, offset: Any = None,
                     with_payload: Any = True, with_vectors: Any = False) -> tuple[list[models.Record], Any]:
        """Local mode's scroll in id order, from the points' order sorted once (local mode sorts on every call)."""
        if offset is not None:
            return self._scroll_by_id(scroll_filter=scroll_filter, limit=limit, offset=offset,
                                      with_payload=with_payload, with_vectors=with_vectors)
        coll = self.collection
        if self._id_order is None:
            ordered = sorted(coll.ids.items(), key=lambda x: coll._universal_id(x[0]))
            self._id_order = ([pid for pid, _ in ordered], np.array([idx for _, idx in ordered], dtype=np.intp))
        ids, positions = self._id_order
        mask = np.asarray(coll._payload_and_non_deleted_mask(scroll_filter), dtype=bool)
        kept = np.flatnonzero(mask[positions])[:limit + 1]  # places in id order of the first accepted points
        result = [models.Record(id=ids[at], payload=coll._get_payload(positions[at], with_payload),
                                vector=coll._get_vectors(positions[at], with_vectors))  # type: ignore[arg-type]
                  for at in kept.tolist()]
        if len(result) > limit:
            return result[:limit], result[limit].id
        return result, None

    def sparse_scores(self, name: str, query: models.SparseVector, mask: np.ndarray) -> np.ndarray:
        """What local mode's `calculate_distance_sparse` answers for the points of `mask` (each one's dot product
        with the sorted query, summed in the same order; -inf where they share no dimension): the others are
        never read. A few points (a filter to some ids) are merged with the query one by one as local mode does,
        many are summed from the points of each query dimension."""
        scores = np.full(len(self.collection.payload), np.float32("-inf"), dtype=np.float32)
        allowed = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(allowed) <= FEW_POINTS:
            stored = self.collection.sparse_vectors[name]
            for i in allowed.tolist():
                dot = sparse_dot_product(query, stored[i])
                if dot is not None:
                    scores[i] = np.float32(dot)
            return scores
        postings = self._sparse_postings(name)
        sums: dict[int, Any] = {}
        for index, value in zip(query.indices, query.values):
            for point, found in postings.get(index, ()):
                sums[point] = sums.get(point, 0.0) + value * found
        for point, total in sums.items():
            scores[point] = np.float32(total)
        return scores

    def _sparse_postings(self, name: str) -> dict[int, list[tuple[int, Any]]]:
        postings = self._sparse.get(name)
        if postings is None:
            with self._lock:
                postings = {}
                for point, vector in enumerate(self.collection.sparse_vectors[name][:len(self.collection.payload)]):
                    for index, value in zip(vector.indices, vector.values):
                        postings.setdefault(index, []).append((point, value))
                self._sparse[name] = postings
        return postings

    def _best(self, scores: np.ndarray, mask: np.ndarray, sparse: bool, limit: int, offset: int, with_payload: Any,
              with_vectors: Any, score_threshold: float | None) -> list[models.ScoredPoint]:
        """Local mode's selection: highest score first, skipping filtered-out points (and, for a sparse query,
        those that share no dimension with it), stopping at the threshold."""
        coll = self.collection
        result: list[models.ScoredPoint] = []
        order = np.argsort(scores)[::-1]
        for idx in order[np.asarray(mask, dtype=bool)[order]]:  # (local mode's masks may be integers)
            if len(result) >= limit + offset:
                break
            score = scores[idx]
            if sparse and score == -np.inf:
                continue
            if score_threshold is not None and score < score_threshold:
                break
            result.append(models.ScoredPoint(id=coll.ids_inv[idx], score=float(score), version=0,
                                             payload=coll._get_payload(idx, with_payload),
                                             vector=coll._get_vectors(idx, with_vectors)))  # type: ignore[arg-type]
        return result[offset:]


def _mask_of(n: int, positions: Sequence[int]) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    if positions:
        mask[np.fromiter(positions, dtype=np.intp, count=len(positions))] = True
    return mask

