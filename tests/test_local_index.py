"""`LocalIndex` answers local mode's requests as qdrant-client's own local mode does: the same points, order and
payloads, sparse scores float for float and cosines within 1e-12, for every request shape kg sends (and others, which
take local mode's path), also after writes that must drop its indexes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from kg.kgstore.vector_backends import LocalBackend, ScoredRow
from kg.kgstore.vector_backends.local_index import ATTRIBUTE, FEW_POINTS

NAME = "entities"
WORDS = ["paris", "texas", "hilton", "obama", "barack", "chicago", "berlin", "london", "rome", "japan", "club", "fc"]


def _point(i: int, rng: random.Random) -> models.PointStruct:
    names = rng.sample(WORDS, rng.randint(1, 3))
    label = " ".join(w.capitalize() for w in names)
    dims = sorted(rng.sample(range(60), rng.randint(1, 8)))
    text = [rng.uniform(-1, 1) for _ in range(8)]
    payload: dict[str, Any] = {"qid": f"Q{i}", "label": label, "names": [" ".join(names), names[0]],
                               "popularity": rng.randint(0, 50), "initials": "".join(w[0] for w in names)}
    if i % 7 == 0:
        payload["label"] = None  # local mode: no text match
    return models.PointStruct(id=i, payload=payload, vector={
        "text": text,
        "names": models.SparseVector(indices=dims, values=[rng.uniform(0.1, 2) for _ in dims]),
        "words": models.SparseVector(indices=dims[:3], values=[1.0] * len(dims[:3]))})


def _create(client: Any, points: list[models.PointStruct]) -> None:
    client.create_collection(NAME, vectors_config={"text": models.VectorParams(size=8, distance=models.Distance.COSINE)},
                             sparse_vectors_config={"names": models.SparseVectorParams(),
                                                    "words": models.SparseVectorParams(modifier=models.Modifier.IDF)})
    client.upsert(NAME, points=points, wait=True)


def _requests(rng: random.Random) -> list[models.QueryRequest]:
    """The shapes kgstore.search sends in local mode, and a few it does not."""
    def sparse() -> models.SparseVector:
        dims = sorted(rng.sample(range(60), rng.randint(1, 6)))
        return models.SparseVector(indices=dims, values=[rng.uniform(0.1, 2) for _ in dims])

    def dense() -> list[float]:
        return [rng.uniform(-1, 1) for _ in range(8)]

    def field(key: str, match: Any) -> models.Filter:
        return models.Filter(must=[models.FieldCondition(key=key, match=match)])

    ids = rng.sample(range(200), 12)
    few = models.Filter(must=[models.HasIdCondition(has_id=ids)])
    many = models.Filter(must=[models.HasIdCondition(has_id=list(range(FEW_POINTS + 20)))])
    return [
        models.QueryRequest(query=sparse(), using="names", limit=30, with_payload=["names", "popularity"]),
        models.QueryRequest(query=sparse(), using="words", limit=12, with_payload=False, filter=few),
        models.QueryRequest(query=sparse(), using="words", limit=40, with_payload=False, filter=many),
        models.QueryRequest(query=sparse(), using="names", limit=5, score_threshold=1.0),
        models.QueryRequest(query=dense(), using="text", limit=5, with_payload=True),
        models.QueryRequest(query=dense(), using="text", limit=12, with_payload=False, filter=few),
        models.QueryRequest(query=dense(), using="text", limit=10, with_payload=["qid", "label"],
                            filter=field("label", models.MatchText(text="Paris"))),
        models.QueryRequest(query=dense(), using="text", limit=10, filter=field("label", models.MatchText(text="z"))),
        models.QueryRequest(query=None, limit=500, with_payload=["popularity"],
                            filter=field("names", models.MatchValue(value="paris"))),
        models.QueryRequest(query=None, limit=7, with_payload=True,
                            filter=field("names", models.MatchAny(any=["rome", "texas hilton", "nowhere"]))),
        models.QueryRequest(query=None, limit=50, filter=field("initials", models.MatchAny(any=["pt", "o"]))),
        models.QueryRequest(query=None, limit=50, filter=models.Filter(must=[
            models.FieldCondition(key="names", match=models.MatchValue(value="club")), models.HasIdCondition(has_id=ids)])),
        # shapes kg does not send: local mode's own path
        models.QueryRequest(query=None, limit=20, filter=models.Filter(must_not=[
            models.FieldCondition(key="names", match=models.MatchValue(value="paris"))])),
        models.QueryRequest(query=dense(), using="text", limit=5,
                            filter=models.Filter(must=[models.FieldCondition(key="popularity",
                                                                             range=models.Range(gte=20))])),
    ]


def _same(expected: list[list[ScoredRow]], got: list[list[ScoredRow]]) -> None:
    assert len(expected) == len(got)
    for want, have in zip(expected, got):
        assert [r.id for r in have] == [r.id for r in want]
        assert [r.payload for r in have] == [r.payload for r in want]
        assert [r.score for r in have] == pytest.approx([r.score for r in want], abs=1e-12, rel=0)


def _plain(client: QdrantClient, requests: list[models.QueryRequest]) -> list[list[ScoredRow]]:
    return [[ScoredRow(p.id, float(p.score), p.payload or {}) for p in r.points]
            for r in client.query_batch_points(NAME, requests=requests)]


def test_local_index_answers_as_local_mode(tmp_path: Path) -> None:
    rng = random.Random(7)
    points = [_point(i, rng) for i in range(400)]
    for path in ("plain", "indexed"):  # written by one process, read by the next (as `kg index`, then `kg serve`)
        client = QdrantClient(path=str(tmp_path / path))
        _create(client, points)
        client.close()
    plain = QdrantClient(path=str(tmp_path / "plain"))
    backend = LocalBackend.open(tmp_path / "indexed")
    try:
        for round_ in range(3):
            requests = _requests(rng)
            _same(_plain(plain, requests), backend.query_batch(NAME, requests))
            # the cosine queries skip local mode's renormalising (the stored float64 vectors are normalised)
            assert getattr(backend.client._client.collections[NAME], ATTRIBUTE)._normal == {"text": True}
            # writes through the backend drop the indexes: new points, a changed payload, deleted points
            new = [_point(1000 + round_ * 10 + i, rng) for i in range(5)]
            moved = models.PointStruct(id=3, payload={"qid": "Q3", "label": "Paris Texas", "names": ["paris"],
                                                      "popularity": 99}, vector=points[3].vector)
            plain.upsert(NAME, points=[*new, moved], wait=True)
            backend.upsert(NAME, [*new, moved])
            plain.delete(NAME, points_selector=models.PointIdsList(points=[5 + round_, 40 + round_]), wait=True)
            backend.delete(NAME, [5 + round_, 40 + round_])
        requests = _requests(rng)
        _same(_plain(plain, requests), backend.query_batch(NAME, requests))
    finally:
        plain.close()
        backend.close()
