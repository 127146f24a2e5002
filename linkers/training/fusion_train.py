"""Fitting the fusion scorer (linkers/ranking/fusion.py): listwise loss over each mention's retrieved candidates.

The frozen encoders' outputs are computed once, while the training and dev documents are linked with the features
method (the same retrieval, cascade and features `kg link` computes), and kept in memory as small arrays; training
then touches only those arrays (seconds to minutes on CPU). Seeds are fixed; training stops early on dev Hits@1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from kg.kgstore.errors import InputError
from kg.kgstore.files import atomic_file, atomic_write
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.corpus import NIL, Document
from kg.linkers.features.scalar import OVERLAP
from kg.linkers.pipeline import Linker
from kg.linkers.ranking.base import MentionInput, Ranker, RankerBase, Ranking
from kg.linkers.ranking.fusion import SCALARS, input_index, scalar_rows, vector_rows


@dataclass
class FusionSet:
    """Per mention: scalars (K x S), context vector (D), candidate text vectors (K x D), gold index (-1: absent),
    and its id and candidates' QIDs (what an error analysis or a new feature joins on)."""
    scalars: list[np.ndarray] = field(default_factory=list)
    mention: list[np.ndarray] = field(default_factory=list)
    entities: list[np.ndarray] = field(default_factory=list)
    gold: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    qids: list[list[str]] = field(default_factory=list)

    def arrays(self, k: int) -> tuple[np.ndarray, ...]:
        """Padded to k candidates: (scalars, mention vectors, entity vectors, mask, gold)."""
        n, s, d = len(self.gold), self.scalars[0].shape[1], self.mention[0].shape[0]
        xs, xe = np.zeros((n, k, s), np.float32), np.zeros((n, k, d), np.float32)
        mask = np.zeros((n, k), bool)
        for i, (a, e) in enumerate(zip(self.scalars, self.entities)):
            xs[i, :len(a)], xe[i, :len(e)], mask[i, :len(a)] = a[:k], e[:k], True
        return xs, np.stack(self.mention), xe, mask, np.asarray(self.gold)

    def save(self, path: Path) -> None:
        """The frozen inputs, so refitting (other seeds, ranks) skips the linking run."""
        sizes = np.asarray([len(a) for a in self.scalars])
        with atomic_file(path) as tmp:
            np.savez(tmp, sizes=sizes, scalars=np.concatenate(self.scalars), mention=np.stack(self.mention),
                     entities=np.concatenate(self.entities).astype(np.float16), gold=np.asarray(self.gold),
                     ids=np.asarray(self.ids, dtype=str), qids=np.asarray([q for qs in self.qids for q in qs], dtype=str))

    @classmethod
    def load(cls, path: Path) -> FusionSet:
        data = np.load(path)
        cuts = np.cumsum(data["sizes"])[:-1]
        named = "ids" in data.files  # caches written before ids and QIDs were kept lack them
        return cls(list(np.split(data["scalars"], cuts)), list(data["mention"]),
                   [e.astype(np.float32) for e in np.split(data["entities"], cuts)], data["gold"].tolist(),
                   data["ids"].tolist() if named else [],
                   [q.tolist() for q in np.split(data["qids"], cuts)] if named else [])

    def without(self, names: Sequence[str]) -> None:
        """Set these scalar inputs to 0 everywhere: the scorer is fitted without them (and `fit` gives them weight 0,
        as it does an input training never saw)."""
        for name in names:
            column = SCALARS.index(name)
            for rows in self.scalars:
                rows[:, column] = 0.0

    def unseen(self) -> list[str]:
        """Scalar inputs that are 0 in every example (e.g. the image features without an image model)."""
        always = np.asarray(~np.concatenate(self.scalars).any(axis=0))
        return [name for name, zero in zip((*SCALARS, "rank"), always) if zero]


class _Recorder(RankerBase):
    """Ranks with the features method and keeps each mention's inputs (the frozen vectors are fetched here)."""

    def __init__(self, base: Ranker, into: FusionSet, gold: dict[str, str | None]):
        self.base, self.into, self.gold = base, into, gold
        self.name = base.name
        self.nil_threshold = base.nil_threshold
        self._pending: list[tuple[MentionInput, list[Candidate]]] = []

    def nil_threshold_for(self, detected: bool, detector: str | None = None) -> float | None:
        return self.base.nil_threshold_for(detected, detector)

    def version(self) -> str:
        return self.base.version()

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        return self.rerank_many([(mention, candidates)])[0]

    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        self._pending = items
        return self.base.rerank_many(items)

    def keep(self) -> None:
        """The final items of a batch (after the cascade re-did the unsure ones)."""
        for mention, cands in self._pending:
            gold = self.gold.get(mention.id)
            if not gold or gold == NIL or not cands:
                continue
            ordered = sorted(cands, key=lambda c: c.rrf, reverse=True)  # retrieval order, as at link time
            qids = [c.qid for c in ordered]
            if mention.context_vector is None:  # the linker encodes every mention's context
                raise InputError(f"mention {mention.id}: no context vector to fit the fusion scorer with")
            m, e = vector_rows(mention, ordered, len(mention.context_vector))
            self.into.scalars.append(scalar_rows(ordered))
            self.into.mention.append(m)
            self.into.entities.append(e)
            self.into.gold.append(qids.index(gold) if gold in qids else -1)
            self.into.ids.append(mention.id)
            self.into.qids.append(qids)
        self._pending = []


def collect(linker: Linker, documents: Iterable[Document], into: FusionSet,
            progress: Callable[[int], None] | None = None) -> None:
    """Link the documents' gold spans with the features method and keep every mention's inputs (the words overlap,
    which the features method does not read, included)."""
    from kg.kgstore.chunks import chunked

    linker.extra_inputs.add(OVERLAP)
    base = linker.reranker
    for batch in chunked(documents, linker.options.batch_docs):
        gold = {m.id: m.gold for d in batch for m in d.mentions or []}
        recorder = _Recorder(base, into, gold)
        linker.reranker = recorder
        try:
            linker.link_batch(batch)
        finally:
            linker.reranker = base
        recorder.keep()
        if progress:
            progress(len(batch))


def fit(train: FusionSet, dev: FusionSet, *, k: int, rank: int = 16, hidden: int = 64, layers: int = 2,
        relative: bool = True, epochs: int = 60, patience: int = 6, seed: int = 0,
        log: Callable[[str], None] = lambda _: None) -> tuple[dict, dict]:
    """Adam on the listwise (softmax) loss over candidates; the epoch with the best dev Hits@1 is kept. `layers`:
    hidden layers of the scalar MLP (1 or 2); `relative`: each scalar also as its distance from the best candidate's
    and that best value."""
    import torch

    if layers not in (1, 2):
        raise ValueError(f"layers must be 1 or 2, not {layers}")

    def views(a: torch.Tensor, msk: torch.Tensor) -> torch.Tensor:
        if not relative:
            return a
        best = a.masked_fill(~msk.unsqueeze(-1), -1e4).max(1, keepdim=True).values
        best = torch.where(msk.any(1, keepdim=True).unsqueeze(-1), best, torch.zeros_like(best))
        return torch.cat([a, a - best, best.expand_as(a)], -1) * msk.unsqueeze(-1)

    torch.manual_seed(seed)
    np.random.seed(seed)
    xs, xm, xe, mask, gold = (torch.from_numpy(a) for a in train.arrays(k))
    keep = gold >= 0  # mentions whose gold entity was retrieved: the only ones a ranking can get right
    xs, xm, xe, mask, gold = xs[keep], xm[keep], xe[keep], mask[keep], gold[keep]
    ds, dm, de, dmask, dgold = (torch.from_numpy(a) for a in dev.arrays(k))
    xs, ds = views(xs, mask), views(ds, dmask)
    s, d = xs.shape[2], xm.shape[1]
    deep = [torch.nn.Linear(hidden, hidden), torch.nn.ReLU()] if layers == 2 else []
    mlp = torch.nn.Sequential(torch.nn.Linear(s, hidden), torch.nn.ReLU(), *deep, torch.nn.Linear(hidden, 1))
    p = torch.nn.Linear(d, rank, bias=False)
    q = torch.nn.Linear(d, rank, bias=False)
    torch.nn.init.normal_(p.weight, std=0.01)
    torch.nn.init.normal_(q.weight, std=0.01)
    params = [*mlp.parameters(), *p.parameters(), *q.parameters()]
    optimiser = torch.optim.Adam(params, lr=3e-3, weight_decay=1e-5)

    def score(a, m, e, msk):
        out = mlp(a).squeeze(-1) + (q(e) * p(m).unsqueeze(1)).sum(-1)
        return out.masked_fill(~msk, -1e9)

    def dev_hits() -> float:
        with torch.no_grad():
            top = score(ds, dm, de, dmask).argmax(1)
        return float((top == dgold).float().mean())

    best, best_epoch, waited = -1.0, 0, 0
    state: list[torch.Tensor] | None = None
    started = time.monotonic()
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(gold), generator=generator)
        total = 0.0
        for start in range(0, len(order), 256):
            idx = order[start:start + 256]
            loss = torch.nn.functional.cross_entropy(score(xs[idx], xm[idx], xe[idx], mask[idx]), gold[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        hits = dev_hits()
        log(f"epoch {epoch}: train loss {total / len(order):.4f}, dev Hits@1 {hits:.4f}")
        if hits > best:
            best, best_epoch, waited = hits, epoch, 0
            state = [t.detach().clone() for t in params]
        else:
            waited += 1
            if waited >= patience:
                break
    if state is None:  # no epoch ran
        raise ValueError(f"epochs must be at least 1, not {epochs}")
    for t, saved in zip(params, state):
        t.data.copy_(saved)
    first, last = cast(torch.nn.Linear, mlp[0]), cast(torch.nn.Linear, mlp[-1])
    fitted = {"w1": first.weight.T, "b1": first.bias, "w2": last.weight[0], "b2": last.bias[0],
              "p": p.weight.T, "q": q.weight.T}
    if layers == 2:
        inner = cast(torch.nn.Linear, mlp[2])
        fitted.update({"wh": inner.weight.T, "bh": inner.bias})
    out = {k: v.detach().numpy().copy() for k, v in fitted.items()}
    unseen = train.unseen()
    drop_inputs(out, unseen, relative)
    return out, {"dev_hits@1": round(best, 4), "best_epoch": best_epoch, "seconds": round(time.monotonic() - started, 1),
                 "train_mentions": int(len(gold)), "dev_mentions": len(dev.gold), "rank": rank, "hidden": hidden,
                 "layers": layers, "relative": relative, "seed": seed, "unseen_inputs": unseen}


def drop_inputs(params: dict[str, np.ndarray], names: list[str], relative: bool = False) -> None:
    """Zero the first layer's weights of inputs training never saw non-zero: they were never fitted, and must not
    add their random initial weights when such an input appears at link time (an image model turned on later)."""
    for name in names:
        params["w1"][input_index(name, SCALARS, relative)] = 0.0


def save(path: Path, params: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    data = {"scalars": list(SCALARS), "inputs": "relative" if meta.get("relative") else "plain",
            "nil_threshold": None, "meta": meta,
            "params": {k: np.round(v.astype(np.float64), 5).tolist() for k, v in params.items()}}
    atomic_write(path, json.dumps(data, separators=(",", ":")) + "\n")
