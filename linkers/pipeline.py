"""The linking pipeline: documents -> mentions -> candidates -> features -> reranker -> NIL decision -> results.

Documents are processed in batches so contexts are encoded together (the encoder is most of the cost) and
write-back is one transaction per batch. Every mention result carries a trace of what each stage did, which
`kg link --explain` prints and `kg eval --report` keeps.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from kgstore.chunks import chunked
from kgstore.encoders import TextEncoder
from kgstore.encoders.static_text import StaticTextEncoder, static_encoder
from kgstore.entity_index import TEXT
from kgstore.errors import ConfigError
from kgstore.graph import GraphStore
from kgstore.search import Searcher
from linkers import features as feats
from linkers.candidates import Candidate, CandidateRetriever, RetrievalConfig
from linkers.corpus import NIL, Document, Mention
from linkers.detect import MentionDetector
from linkers.rerankers import MentionInput, Ranking, Reranker, load_reranker
from linkers.rerankers.base import top_margin
from linkers.writeback import write_results


CONTEXT_ENCODERS = ("model", "static", "cascade")


@dataclass
class LinkOptions:
    method: str = "features"
    weights: Path | None = None
    top_k: int = 10
    nil_threshold: float | None = None  # None: the method's fitted default (None there too: never NIL)
    context_chars: int = 300  # characters of context either side of the mention for the context encoder
    # context encoder: the text model, "static" vectors distilled from it (fast, less exact), or "cascade": static
    # first, the text model again for mentions whose static top-1/top-2 score margin is below cascade_margin
    context: str = "cascade"
    cascade_margin: float = 0.2  # tuned on WikiMEL dev: Hits@1 as the text model's, at 1.9x its speed
    batch_docs: int = 64
    write: bool = True


@dataclass
class MentionResult:
    doc_id: str
    mention_id: str
    surface: str
    start: int | None
    end: int | None
    box: list[float] | None
    qid: str | None  # None: NIL
    score: float | None
    candidates: list[dict[str, Any]]
    retrieved: list[str]  # candidate qids in retrieval (fused) order, before reranking
    gold: str | None = None
    trace: dict[str, Any] = field(default_factory=dict)

    def to_json(self, explain: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["qid"] = self.qid or NIL
        if not explain:
            data.pop("trace")
            data.pop("retrieved")
            data["candidates"] = [{k: c[k] for k in ("qid", "label", "score")} for c in self.candidates]
        return data


def context_window(text: str, m: Mention, chars: int) -> str:
    """The text around a mention, snapped to a grid so nearby mentions share one window (encoded once).

    A mention starting in grid cell `b` (cells of `chars` characters) gets the window centred on that cell,
    `chars` either side of its centre: at least `chars // 2` characters of context on each side of its start.
    """
    if m.start is None or m.end is None or len(text) <= 2 * chars:
        return text or m.surface
    centre = (m.start // chars) * chars + chars // 2
    return text[max(0, centre - chars): max(centre + chars, m.end)]


class Linker:
    def __init__(self, searcher: Searcher, options: LinkOptions, *, graph: GraphStore | None = None,
                 detector: MentionDetector | None = None, reranker: Reranker | None = None):
        self.searcher = searcher
        self.options = options
        self.graph = graph
        self.detector = detector
        self.reranker = reranker or load_reranker(options.method, options.weights)
        self.retriever = CandidateRetriever(searcher, RetrievalConfig(top_k=options.top_k, name_k=options.top_k))
        if options.context not in CONTEXT_ENCODERS:
            raise ConfigError(f"unknown context encoder {options.context!r}; use one of {', '.join(CONTEXT_ENCODERS)}")
        self._context_encoder: TextEncoder | StaticTextEncoder | None = None
        # the cascade's first, static pass ranks with the features alone, whatever the method
        self._features = load_reranker("features", options.weights) if options.context == "cascade" else None
        threshold = options.nil_threshold
        if threshold is None:
            threshold = getattr(self.reranker, "nil_threshold", None)
        self.nil_threshold = threshold

    @property
    def context_encoder(self) -> TextEncoder | StaticTextEncoder:
        """What encodes mention contexts first: the text model the entities were indexed with, or its static
        distillation (loaded on first use with the text model, which a cascade also needs)."""
        if self._context_encoder is None:
            model = self.searcher.text_encoder
            self._context_encoder = model if self.options.context == "model" else static_encoder(model)
        return self._context_encoder

    @property
    def context_version(self) -> str:
        """The context encoding in run ids and protocols; a cascade names both encoders and its margin."""
        if self.options.context == "cascade":
            return (f"{self.context_encoder.version} then {self.searcher.text_encoder.version} where the margin is "
                    f"< {self.options.cascade_margin}")
        return self.context_encoder.version

    def models(self) -> list[str]:
        return [self.context_version, self.reranker.version()]

    def run_id(self) -> str:
        """Same settings, same run id: re-linking with unchanged settings rewrites identical edges."""
        key = json.dumps({"models": self.models(), "top_k": self.options.top_k, "nil": self.nil_threshold,
                          "context": self.options.context_chars, "collection": self.searcher.collection})
        return hashlib.sha1(key.encode()).hexdigest()[:12]

    def mentions_of(self, doc: Document) -> list[Mention]:
        if doc.mentions is not None:
            return doc.mentions
        if self.detector is None:
            return []
        return [Mention(f"{doc.id}#{s}-{e}", s, e, surface, detected=True)
                for s, e, surface in self.detector.detect(doc.text)]

    def link(self, docs: Iterable[Document]) -> Iterator[list[MentionResult]]:
        """Results per batch of documents (written back first when options.write)."""
        for batch in chunked(docs, self.options.batch_docs):
            yield self.link_batch(batch)

    def link_batch(self, docs: list[Document]) -> list[MentionResult]:
        """One batch: contexts encoded together, one write-back transaction."""
        t0 = time.perf_counter()
        work = [(doc, m) for doc in docs for m in self.mentions_of(doc)]
        contexts = [context_window(doc.text, m, self.options.context_chars) for doc, m in work]
        vectors = self._encode(contexts, self.context_encoder)
        t_encode = time.perf_counter() - t0
        retrieved = self._retrieve(work, vectors)
        t_retrieve = time.perf_counter() - t0 - t_encode
        items = self._items(work, contexts, vectors, retrieved)
        refined: list[int] = []
        if self.options.context == "cascade" and work:
            # the static ranking decides where the text model is worth running: mentions it is unsure about;
            # those are encoded, retrieved and featurised again, the others keep their static items
            first = self._features.rerank_many(items)
            refined = [i for i, ranking in enumerate(first) if top_margin(ranking.candidates) < self.options.cascade_margin]
            if refined:
                again = [work[i] for i in refined]
                contexts_again = [contexts[i] for i in refined]
                vectors_again = self._encode(contexts_again, self.searcher.text_encoder)
                redone = self._items(again, contexts_again, vectors_again, self._retrieve(again, vectors_again))
                for i, item in zip(refined, redone):
                    items[i], retrieved[i] = item, item[1]
        orders = [[c.qid for c in cands] for cands in retrieved]
        rankings = self.reranker.rerank_many(items)
        results = [self._result(doc, m, ranking, orders[i])
                   for i, ((doc, m), ranking) in enumerate(zip(work, rankings))]
        for i in refined:
            results[i].trace["context"] = "model (static ranking unsure)"
        if self.options.write and self.graph is not None:
            self._write(docs, results)
        elapsed = time.perf_counter() - t0
        for r in results:
            r.trace["batch_seconds"] = {"encode": round(t_encode, 4), "retrieve": round(t_retrieve, 4),
                                        "total": round(elapsed, 4)}
        return results

    @staticmethod
    def _encode(contexts: list[str], encoder: TextEncoder | StaticTextEncoder) -> np.ndarray:
        """Mentions of a short document share one context: each distinct context is encoded once."""
        unique = list(dict.fromkeys(contexts))
        if not unique:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        encoded = encoder.encode(unique)
        position = {c: i for i, c in enumerate(unique)}
        return encoded[[position[c] for c in contexts]]

    def _retrieve(self, work: list[tuple[Document, Mention]], vectors: np.ndarray) -> list[list[Candidate]]:
        if not work:
            return []
        return self.retriever.retrieve_many([m.surface for _, m in work], vectors,
                                            exact_only=[m.detected for _, m in work])

    def _items(self, work: list[tuple[Document, Mention]], contexts: list[str], vectors: np.ndarray,
               retrieved: list[list[Candidate]]) -> list[tuple[MentionInput, list[Candidate]]]:
        """Features computed in place, and each mention as the rerankers take it."""
        text_vectors = self.searcher.vectors_of(sorted({c.qid for cands in retrieved for c in cands}), TEXT, lazy=True)
        items = []
        for i, (doc, m) in enumerate(work):
            feats.compute(m.surface, retrieved[i], vectors[i], text_vectors)
            items.append((MentionInput(m.id, m.surface, contexts[i], image=doc.image, clues=dict(m.clues or {}),
                                       context_vector=vectors[i], text_vectors=text_vectors), retrieved[i]))
        return items

    def _result(self, doc: Document, m: Mention, ranking: Ranking, order: list[str]) -> MentionResult:
        ranked = ranking.candidates
        top = ranked[0] if ranked else None
        below = self.nil_threshold is not None and top is not None and top.score < self.nil_threshold
        is_nil = top is None or ranking.nil or (below and not ranking.decided)
        trace = {"stages": ["retrieve:" + "+".join(sorted({s for c in ranked for s in c.sources})),
                            f"rerank:{self.reranker.name}", "nil" if is_nil else "link"],
                 "nil_threshold": self.nil_threshold}
        if ranking.trace:
            trace[self.reranker.name] = ranking.trace
        return MentionResult(
            doc_id=doc.id, mention_id=m.id, surface=m.surface, start=m.start, end=m.end, box=m.box,
            qid=None if is_nil else top.qid, score=top.score if top else None,
            candidates=[{"qid": c.qid, "label": c.label, "score": c.score, "features": c.features,
                         "sources": c.sources} for c in ranked],
            retrieved=order, gold=m.gold, trace=trace,
        )

    def _write(self, docs: list[Document], results: list[MentionResult]) -> None:
        by_id = {d.id: d for d in docs}
        doc_rows = [{"id": d.id, "text": d.text, "image": d.image, "source": d.meta.get("source"),
                     "meta_json": json.dumps(d.meta, ensure_ascii=False, sort_keys=True) if d.meta else None}
                    for d in docs]
        mention_rows = [{
            "id": r.mention_id, "doc_id": r.doc_id, "surface": r.surface, "start": r.start, "end": r.end,
            "box": r.box, "image": by_id[r.doc_id].image, "status": "NIL" if r.qid is None else "linked",
            "qid": r.qid, "score": r.score,
        } for r in results]
        write_results(self.graph, doc_rows, mention_rows, self.reranker.name, self.run_id(), self.models())
