"""The fusion method: a small neural scorer over frozen encoder outputs and the scalar features.

In the spirit of the seed papers' trained scorers, within CPU reach: a candidate's score is

    mlp(scalar features) + <P m, Q e>        (ThinkLinker-style low-rank bilinear interaction)

where m is the mention's context vector and e the candidate's stored text vector (both from the frozen text
encoder), P and Q project them to a rank-r space whose element-wise product is summed, and the MLP sees the scalar
features (name, prior, coherence, image, era, word overlap, ... as `kg link` computes them): the fine-grained string
evidence next to the coarse-grained semantic match (FissFuse's fission/fusion of views, reduced to these two
branches). A scorer fitted with `relative` inputs sees each scalar three ways: its value, its distance from the best
value among the mention's candidates, and that best value (a listwise view: 0.9 name similarity means little when
every candidate has it). Missing inputs
fall back cleanly: no context vector or no entity text vector leaves the interaction at 0; the image features are 0
without an image model or image, as for the features method.

Trained with a listwise loss over each mention's retrieved candidates (`kg train DATASET --reranker fusion`,
linkers/training/fusion_train.py); the fitted scorer ships as one JSON file, linkers/weights/fusion.json.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kg.kgstore.errors import InputError
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.features.scalar import ERA_FEATURES, FEATURES, NAME_WORDS, OVERLAP
from kg.linkers.ranking.base import FittedRanker, MentionInput, Ranking
from kg.linkers.ranking.registry import Method, Trainer, later, register_method

DEFAULT_MODEL = "fusion.json"
SCALARS = (*FEATURES, "image_text", *ERA_FEATURES, OVERLAP, NAME_WORDS)
VIEWS = 3  # relative inputs: value, value - best among the candidates, best


def scalar_rows(candidates: list[Candidate], scalars: tuple[str, ...] = SCALARS) -> np.ndarray:
    """The scalar inputs of each candidate, with its retrieval rank (0 first) scaled to 0..1."""
    n = len(candidates)
    rows = np.zeros((n, len(scalars) + 1), dtype=np.float32)
    for i, c in enumerate(candidates):
        rows[i, :-1] = [c.features.get(k, 0.0) for k in scalars]
        rows[i, -1] = i / max(1, n - 1)
    return rows


def relative_rows(rows: np.ndarray) -> np.ndarray:
    """[x, x - best, best] per column, best over the mention's candidates (the rows)."""
    best = rows.max(axis=0, keepdims=True) if len(rows) else np.zeros((1, rows.shape[1]), rows.dtype)
    return np.concatenate([rows, rows - best, np.broadcast_to(best, rows.shape)], axis=1)


def input_index(name: str, scalars: tuple[str, ...], relative: bool) -> list[int]:
    """The first-layer rows that read a scalar (three with relative inputs)."""
    i = (*scalars, "rank").index(name)
    width = len(scalars) + 1
    return [i + v * width for v in range(VIEWS)] if relative else [i]


def vector_rows(mention: MentionInput, candidates: list[Candidate], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(the mention's context vector, the candidates' text vectors); zeros where one is missing."""
    m = np.zeros(dim, dtype=np.float32) if mention.context_vector is None else \
        np.asarray(mention.context_vector, dtype=np.float32)
    e = np.zeros((len(candidates), dim), dtype=np.float32)
    for i, c in enumerate(candidates):
        v = mention.text_vectors.get(c.qid) if mention.text_vectors is not None else None
        if v is not None:
            e[i] = np.asarray(v, dtype=np.float32)
    return m, e


@dataclass
class FusionReranker(FittedRanker):
    params: dict[str, np.ndarray]  # w1 (S x H), b1 (H), [wh (H x H), bh (H)], w2 (H), b2 (), p (D x R), q (D x R)
    nil_threshold: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    name: str = "fusion"
    scalars: tuple[str, ...] = SCALARS  # the features it was fitted on, by name (a later kg may compute more)
    relative: bool = False  # inputs seen three ways (relative_rows)

    @classmethod
    def from_file(cls, path: Path | None = None) -> FusionReranker:
        source = Path(path or Path(__file__).resolve().parents[1] / "weights" / DEFAULT_MODEL)
        try:
            data = json.loads(source.read_text())
            params = {k: np.asarray(v, dtype=np.float32) for k, v in data["params"].items()}
            scalars = tuple(data["scalars"])
            relative = data.get("inputs", "plain") == "relative"
        except FileNotFoundError as exc:
            raise InputError(f"{source}: no fusion scorer; fit one with `kg train DATASET --reranker fusion "
                             f"--out {source}`") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{source}: not a fusion scorer file ({exc}); fit one with `kg train --reranker "
                             "fusion`") from exc
        unknown = [k for k in scalars if k not in SCALARS]
        width = (len(scalars) + 1) * (VIEWS if relative else 1)
        if unknown or "w1" not in params or params["w1"].shape[0] != width:
            raise InputError(f"{source}: fitted on features {', '.join(scalars)}, this kg computes "
                             f"{', '.join(SCALARS)}; refit it with `kg train --reranker fusion`")
        return cls(params, data.get("nil_threshold"), data.get("meta", {}), scalars=scalars, relative=relative)

    @property  # type: ignore[override]
    def wants(self) -> tuple[str, ...]:
        """Inputs the linker computes only for a method that asks (a round trip to the vector store)."""
        return (OVERLAP,) if OVERLAP in self.scalars else ()

    @property
    def dim(self) -> int:
        return int(self.params["p"].shape[0])

    def version(self) -> str:
        digest = hashlib.sha1(b"".join(self.params[k].tobytes() for k in sorted(self.params))).hexdigest()[:8]
        return f"fusion-{digest}"

    def interaction_queries(self, context_vectors: np.ndarray) -> np.ndarray:  # type: ignore[override]
        """u = Q P^T m per mention: the bilinear term <P m, Q e> is <u, e>, a dot product the vector store can
        compute against the stored entity text vectors (the linker asks it; fetching every candidate's vector
        instead cost more than the rest of the scorer)."""
        return (np.asarray(context_vectors, dtype=np.float32) @ self.params["p"]) @ self.params["q"].T

    def scores(self, mention: MentionInput, candidates: list[Candidate]) -> np.ndarray:
        p = self.params
        rows = scalar_rows(candidates, self.scalars)
        hidden = np.maximum((relative_rows(rows) if self.relative else rows) @ p["w1"] + p["b1"], 0.0)
        if "wh" in p:
            hidden = np.maximum(hidden @ p["wh"] + p["bh"], 0.0)
        out = hidden @ p["w2"] + p["b2"]
        if mention.interactions is not None:  # no entity text vector: 0, as vector_rows has it
            return out + np.asarray([mention.interactions.get(c.qid, 0.0) for c in candidates], dtype=np.float32)
        m, e = vector_rows(mention, candidates, self.dim)
        return out + (e @ p["q"]) @ (m @ p["p"])

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        """Candidates by score; each candidate's `score` is the scorer's probability that it is the mention's
        entity (the softmax over the mention's candidates that its listwise loss was fitted on), so scores read
        on the same 0..1 scale as the learned model's. The order is the raw scores'."""
        if not candidates:
            return Ranking([])
        raw = np.asarray(self.scores(mention, candidates), dtype=np.float64)
        probs = np.exp(raw - raw.max())
        probs /= probs.sum()
        order = np.argsort(-raw, kind="stable")
        for c, p in zip(candidates, probs):
            c.score = round(float(p), 6)
        return Ranking([candidates[i] for i in order])

    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        return [self.rerank(m, c) for m, c in items]


register_method(Method("fusion", lambda b: FusionReranker.from_file(b.weights),
                       "neural fusion scorer over frozen encoder outputs (kg train --reranker fusion)", order=25,
                       trainer=Trainer(later("kg.linkers.run:fit_fusion"), later("kg.linkers.run:fusion_line"),
                                       dev="the fusion scorer stops early on the dev split",
                                       takes=frozenset({"without"}))))
