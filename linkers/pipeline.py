"""The linking pipeline: documents -> mentions -> candidates -> features -> reranker -> NIL decision -> results.

Documents are processed in batches so contexts are encoded together (the encoder is most of the cost) and
write-back is one transaction per batch. Every mention result carries a trace of what each stage did, which
`kg link --explain` prints and `kg eval --report` keeps.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import numpy as np

from kg.kgstore.chunks import chunked
from kg.kgstore.encoders import TextEncoder
from kg.kgstore.encoders.static_text import StaticTextEncoder, static_encoder
from kg.kgstore.entity_index import TEXT
from kg.kgstore.graph import GraphStore
from kg.kgstore.links import write_results
from kg.kgstore.names import normalise
from kg.kgstore.neighbourhood import Neighbourhood
from kg.kgstore.profiling import stage
from kg.kgstore.search import Searcher
from kg.linkers.candidates.generator import CandidateGenerator, KBCandidates, longer_names
from kg.linkers.candidates.retrieval import Candidate, CandidateRetriever, RetrievalConfig
from kg.linkers.config import LinkConfig
from kg.linkers.detection.base import SpanDetector
from kg.linkers.detection.detect import GazetteerDetector
from kg.linkers.detection.keyphrases import Keyphrases
from kg.linkers.detection.ner import as_span_detector
from kg.linkers.features import scalar as feats
from kg.linkers.features.extractor import FeatureBatch, FeatureExtractor
from kg.linkers.features.image_evidence import ImageEvidence, MentionImages
from kg.linkers.nil import NilPolicy, ThresholdNil
from kg.linkers.postprocess.base import PostBatch, PostProcessor
from kg.linkers.postprocess.longer_names import FollowLongerNames, follow_longer_names
from kg.linkers.postprocess.pronouns import PronounCoreference
from kg.linkers.ranking import MentionInput, Ranker, Ranking, load_reranker
from kg.linkers.ranking.base import top_margin
from kg.linkers.records import Document, Mention, MentionResult

CANCEL_SLICES = (4, 256)  # contexts encoded between two cancellation checks: the first slice, the largest
CHECK_EVERY_S = 0.25  # a cancellable encoding checks about this often


class Cancelled(Exception):
    """The caller gave up on the batch (its deadline passed, or the server is stopping): nothing was written."""


@dataclass(frozen=True)
class LinkOptions(LinkConfig):
    """What a `Linker` runs with: the link options (`LinkConfig`, defined there once) and what the caller decides
    (`write`) or kg fixes. `nil_threshold` None: the method's fitted default (None there too: never NIL); `context`:
    the text model, "static" vectors distilled from it (fast, less exact), or "cascade": static first, the text
    model again for mentions whose static top-1/top-2 score margin is below cascade_margin."""

    write: bool = True
    context_chars: int = 300  # characters of context either side of the mention for the context encoder
    cascade_margin: float = 0.2  # tuned on WikiMEL dev: Hits@1 as the text model's, at 1.9x its speed
    batch_docs: int = 64

    @classmethod
    def of(cls, config: LinkConfig, **rest: Any) -> LinkOptions:
        """`config`'s link options with the caller's `write` (and any of kg's fixed ones)."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(LinkConfig)}, **rest)


STORED_CANDIDATES = 10  # candidates kept with a written mention: what explain shows of the ranking that happened


def stored_ranking(r: MentionResult, method: str, run_id: str) -> str:
    """What ranking a mention did, as written with it (JSON): its top candidates with score and features, the
    NIL threshold and the decision, so that the explain view shows what happened rather than a new ranking."""
    return json.dumps({
        "method": method, "run_id": run_id, "ranked_by": next((s[len("rerank:"):] for s in r.trace.get("stages", ())
                                                               if s.startswith("rerank:")), method),
        "status": "NIL" if r.qid is None else "linked", "qid": r.qid, "score": r.score,
        "nil_threshold": r.trace.get("nil_threshold"),
        "candidates": [{"qid": c["qid"], "label": c.get("label"), "score": c.get("score"),
                        "features": {k: round(float(v), 4) for k, v in (c.get("features") or {}).items() if v}}
                       for c in r.candidates[:STORED_CANDIDATES]],
    }, ensure_ascii=False, sort_keys=True)


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
    """The loop that runs the stages over batches of documents: detection (`SpanDetector`), candidates
    (`CandidateGenerator`), features (kg's, then each `FeatureExtractor`), ranking (`Ranker`), NIL (`NilPolicy`)
    and post-processing (`PostProcessor`s), then write-back. Each stage is given or kg's default."""

    def __init__(self, searcher: Searcher, options: LinkOptions, *, graph: GraphStore | None = None,
                 detector: SpanDetector | GazetteerDetector | None = None, reranker: Ranker | None = None,
                 candidates: CandidateGenerator | None = None, features: Sequence[FeatureExtractor] = (),
                 nil: NilPolicy | None = None, post: Sequence[PostProcessor] | None = None):
        self.searcher = searcher
        self.options = options
        self.graph = graph
        self.detector = as_span_detector(detector) if detector is not None else None
        self.reranker = reranker or load_reranker(options.method, options.weights)
        self.candidates = candidates or KBCandidates(
            CandidateRetriever(searcher, RetrievalConfig(top_k=options.top_k, name_k=options.top_k)))
        self.feature_extractors = list(features)
        self.nil = nil or ThresholdNil(options.nil_threshold)
        self._background: ThreadPoolExecutor | None = None  # vector-store requests that overlap other work
        self._detecting: ThreadPoolExecutor | None = None  # the next batch's mention detection
        self._graph_reads: ThreadPoolExecutor | None = None  # the candidates' neighbours, read ahead of coherence
        self._neighbours_ahead: tuple[set[str], Future] | None = None
        self.extra_inputs: set[str] = set()  # inputs computed whatever the method (a trainer records them)
        self._neighbourhood = Neighbourhood(graph) if graph is not None else None  # graph neighbours read this job
        if self.detector is not None:
            self.detector.concepts = options.link == "all"
        self._context_encoder: TextEncoder | StaticTextEncoder | None = None
        # the cascade's first, static pass ranks with the features alone, whatever the method
        # (the learned and fusion methods' --weights is their model file; auto's may be either kind of file)
        features_weights = None if options.method in ("learned", "fusion", "auto") else options.weights
        self._features = load_reranker("features", features_weights) if options.context == "cascade" else None
        # the threshold in the run id: the given one, else the method's (per kind of span: `self.nil` decides)
        self.nil_threshold = options.nil_threshold if options.nil_threshold is not None else self.reranker.nil_threshold
        # the image channel: on when an image model is configured (documents without images link from text alone);
        # without one, box mentions still get their region cut out for the methods' image clues
        self.images = ImageEvidence(searcher, encode=bool(searcher.config.models.image_backend))
        self.keyphrases: Keyphrases | None = None
        self.use_keyphrases(self.reranker.keyphrases)
        gazetteer = self.detector.gazetteer if self.detector is not None else None
        self.post_processors: list[PostProcessor] = list(post) if post is not None else (
            [FollowLongerNames(gazetteer.lowercase_name if gazetteer is not None else None)]
            + ([PronounCoreference(self._neighbourhood)] if options.coref else []))

    def close(self) -> None:
        """Shuts down the background threads (detection ahead, vector-store and graph reads) once their work is done:
        a program that builds linkers one after another (the API, `kg serve`'s per-option linkers) would otherwise
        keep three idle threads per linker for its lifetime. Idempotent; a later call starts them again."""
        pools = (self._detecting, self._background, self._graph_reads)
        self._detecting = self._background = self._graph_reads = None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._neighbours_ahead = None

    def use_keyphrases(self, table: Keyphrases | None) -> None:
        """The keyphraseness table the mentions' feature and the detector's filter read (the learned model's)."""
        self.keyphrases = table
        if self.detector is not None:
            self.detector.keyphrases = table

    @property
    def context_encoder(self) -> TextEncoder | StaticTextEncoder:
        """What encodes mention contexts first: the text model the entities were indexed with, or its static
        distillation (loaded on first use with the text model, which a cascade also needs)."""
        if self._context_encoder is None:
            model = self.searcher.text_encoder
            self._context_encoder = model if self.options.context == "model" else \
                static_encoder(model, self.searcher.config.models.cache_dir)
        return self._context_encoder

    @property
    def context_version(self) -> str:
        """The context encoding in run ids and protocols; a cascade names both encoders and its margin."""
        if self.options.context == "cascade":
            return (f"{self.context_encoder.version} then {self.searcher.text_encoder.version} where the margin is "
                    f"< {self.options.cascade_margin}")
        return self.context_encoder.version

    def models(self) -> list[str]:
        return [self.context_version, self.reranker.version()] + ([self.images.version()] if self.images.encode else [])

    def run_id(self) -> str:
        """Same settings, same run id: re-linking with unchanged settings rewrites identical edges."""
        key = json.dumps({"models": self.models(), "top_k": self.options.top_k, "nil": self.nil_threshold,
                          "context": self.options.context_chars, "collection": self.searcher.collection,
                          "link": self.options.link})
        return hashlib.sha1(key.encode()).hexdigest()[:12]

    def mentions_of(self, doc: Document) -> list[Mention]:
        return self.mentions_many([doc])[0]

    def mentions_many(self, docs: list[Document]) -> list[list[Mention]]:
        """Given mentions, or detected ones (one detector call per batch: NER models run faster on many texts)."""
        need = [d for d in docs if d.mentions is None]
        with stage("detection: other"):
            found = dict(zip((d.id for d in need), self.detector.spans_many([d.text for d in need]))) \
                if need and self.detector is not None else {}
            return [doc.mentions if doc.mentions is not None else
                    [Mention(f"{doc.id}#{sp.start}-{sp.end}", sp.start, sp.end, sp.surface, detected=True,
                             detector=sp.source, ner_label=sp.label, kb_name=sp.kb_name) for sp in found.get(doc.id, [])]
                    for doc in docs]

    def link(self, docs: Iterable[Document]) -> Iterator[list[MentionResult]]:
        """Results per batch of documents (written back first when options.write)."""
        for _, results in self.link_batches(docs):
            yield results

    def link_batches(self, docs: Iterable[Document]) -> Iterator[tuple[list[Document], list[MentionResult]]]:
        """Each batch of documents with its results. The mentions of the next batch are detected in a background
        thread while this one is linked: the NER model spends most of its time in matrix products and its parser,
        which let the linking thread run (on 2 cores, a batch's detection then costs about a third of its time)."""
        batches = iter(chunked(docs, self.options.batch_docs))
        batch = next(batches, None)
        ahead = self._detect_ahead(batch) if batch is not None else None
        while batch is not None and ahead is not None:
            with stage("waiting: detection ahead"):
                mentions = ahead.result()
            following = next(batches, None)
            ahead = self._detect_ahead(following) if following is not None else None
            yield batch, self.link_batch(batch, mentions)
            batch = following

    def _detect_ahead(self, docs: list[Document]) -> Future:
        """The batch's mentions: detected in the background when some document needs a detector, else at once."""
        if self.detector is None or all(d.mentions is not None for d in docs):
            done: Future = Future()
            done.set_result(self.mentions_many(docs))
            return done
        if self._detecting is None:
            self._detecting = ThreadPoolExecutor(1, thread_name_prefix="kg-detect")
        return self._detecting.submit(self.mentions_many, docs)

    def link_batch(self, docs: list[Document], mentions: list[list[Mention]] | None = None,
                   cancelled: Callable[[], bool] | None = None) -> list[MentionResult]:
        """One batch: contexts encoded together, one write-back transaction. `mentions`: each document's, when
        already detected (link_batches detects the next batch while this one links). `cancelled` is asked between
        stages and encoder slices (a server frees its worker when a request times out): when it says yes, the
        batch stops with `Cancelled` and writes nothing."""
        def check(stage: str) -> None:
            if cancelled is not None and cancelled():
                raise Cancelled(f"cancelled before {stage}")
        sliced = check if cancelled is not None else None

        t0 = time.perf_counter()
        found = mentions if mentions is not None else self.mentions_many(docs)
        check("encoding")
        work = [(doc, m) for doc, ms in zip(docs, found) for m in ms]
        contexts = [context_window(doc.text, m, self.options.context_chars) for doc, m in work]
        with stage("context encoding"):
            vectors = self._encode(contexts, self.context_encoder, sliced)
        with stage("image regions"):
            images = self.images.mention_vectors(work) if work else None
        t_encode = time.perf_counter() - t0
        check("retrieval")
        with stage("candidates"):
            retrieved = self.candidates.generate(work, vectors, images, self._read_neighbours_ahead)
        t_retrieve = time.perf_counter() - t0 - t_encode
        check("features")
        with stage("features"):
            items = self._items(work, contexts, vectors, retrieved, images)
        check("ranking")
        refined: list[int] = []
        if self.options.context == "cascade" and work:
            # the static ranking decides where the text model is worth running: mentions it is unsure about;
            # those are encoded, retrieved and featurised again, the others keep their static items
            assert self._features is not None  # loaded for the cascade
            with stage("model: cascade's static ranking"):
                first = self._features.rerank_many(items)
            # (detected spans keep their static vectors: the learned model ranks them with those, and a news
            # document has tens of them)
            refined = [i for i, ranking in enumerate(first)
                       if not work[i][1].detected and top_margin(ranking.candidates) < self.options.cascade_margin]
            if refined:
                again = [work[i] for i in refined]
                contexts_again = [contexts[i] for i in refined]
                with stage("context encoding: cascade's text model"):
                    vectors_again = self._encode(contexts_again, self.searcher.text_encoder, sliced)
                images_again = images.subset(refined) if images is not None else None
                with stage("candidates"):
                    retrieved_again = self.candidates.generate(again, vectors_again, images_again,
                                                               self._read_neighbours_ahead)
                with stage("features"):
                    redone = self._items(again, contexts_again, vectors_again, retrieved_again, images_again)
                for i, item in zip(refined, redone):
                    items[i], retrieved[i] = item, item[1]
                check("ranking")
        orders = [[c.qid for c in cands] for cands in retrieved]
        with stage("model"):
            self._interactions(items)
            rankings = self.reranker.rerank_many(items)
        with stage("post-processing"):
            results = self._post_process(docs, work, rankings, orders, items, retrieved, refined, images)
        if self.options.write and self.graph is not None:
            check("writing")
            with stage("write-back"):
                self._write(docs, results)
        elapsed = time.perf_counter() - t0
        for r in results:
            r.trace["batch_seconds"] = {"encode": round(t_encode, 4), "retrieve": round(t_retrieve, 4),
                                        "total": round(elapsed, 4)}
        return results

    def _post_process(self, docs: list[Document], work: list[tuple[Document, Mention]], rankings: list[Ranking],
                      orders: list[list[str]], items: list[tuple[MentionInput, list[Candidate]]],
                      retrieved: list[list[Candidate]], refined: list[int],
                      images: MentionImages | None) -> list[MentionResult]:
        """The rankings as results: NIL decisions, a short name following its longer one, traces, pronouns."""
        results = [self._result(doc, m, ranking, orders[i], items[i][0].keyphrase)
                   for i, ((doc, m), ranking) in enumerate(zip(work, rankings))]
        batch = PostBatch(docs, work, results, retrieved)
        for processor in self.post_processors:
            processor.process(batch)
        for i in refined:  # (after the post-processors, as the traces always had these keys last)
            results[i].trace["context"] = "model (static ranking unsure)"
        for r, note in zip(results, images.notes if images is not None else []):
            if note:
                r.trace["image"] = note
        return batch.results

    _follow_longer_names = staticmethod(follow_longer_names)  # the step FollowLongerNames runs

    @staticmethod
    def _encode(contexts: list[str], encoder: TextEncoder | StaticTextEncoder,
                check: Callable[[str], None] | None = None) -> np.ndarray:
        """Mentions of a short document share one context: each distinct context is encoded once. With a
        cancellation `check`, in slices with a check between them (without, in one call: the CLI's vectors stay
        bit for bit as they were)."""
        unique = list(dict.fromkeys(contexts))
        if not unique:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        if check is None:
            encoded = encoder.encode(unique)
        else:  # small slices first, twice as large while one takes under CHECK_EVERY_S (slow CPUs stay small)
            slices, at, size = [], 0, CANCEL_SLICES[0]
            while at < len(unique):
                check("encoding")
                started = time.perf_counter()
                slices.append(encoder.encode(unique[at:at + size]))
                at += size
                if time.perf_counter() - started < CHECK_EVERY_S:
                    size = min(2 * size, CANCEL_SLICES[1])
            encoded = np.concatenate(slices)
        position = {c: i for i, c in enumerate(unique)}
        return encoded[[position[c] for c in contexts]]

    def _items(self, work: list[tuple[Document, Mention]], contexts: list[str], vectors: np.ndarray,
               retrieved: list[list[Candidate]], images: MentionImages | None = None
               ) -> list[tuple[MentionInput, list[Candidate]]]:
        """Features computed in place, and each mention as the rerankers take it."""
        overlaps = self._word_overlaps(work, contexts, retrieved)
        text_vectors = self.searcher.vectors_of(sorted({c.qid for cands in retrieved for c in cands}), TEXT, lazy=True)
        longer = longer_names(work)
        for i, (_, m) in enumerate(work):
            feats.compute(m.surface, retrieved[i], vectors[i], text_vectors, ner_label=m.ner_label, longer=longer[i])
            feats.add_era(retrieved[i], feats.text_years(contexts[i]))
        if images is not None:
            self.images.add_features(images, retrieved)
        self._coherence(work, retrieved)
        if overlaps is not None:
            with stage("waiting: words overlap"):
                found_overlaps = overlaps.result()
            for cands, found in zip(retrieved, found_overlaps):
                feats.add_overlap(cands, found)
        if self.feature_extractors:
            batch = FeatureBatch(work, contexts, vectors, retrieved)
            for extractor in self.feature_extractors:
                extractor.add(batch)
        items = []
        for i, (doc, m) in enumerate(work):
            image = (images.regions[i] if images is not None else None) or doc.image  # a box mention: its region
            items.append((MentionInput(m.id, m.surface, contexts[i], image=image, clues=dict(m.clues or {}),
                                       context_vector=vectors[i], text_vectors=text_vectors,
                                       detector=m.detector, ner_label=m.ner_label,
                                       keyphrase=self.keyphrases.score(m.surface) if self.keyphrases is not None
                                       else None),
                          retrieved[i]))
        return items

    def _word_overlaps(self, work: list[tuple[Document, Mention]], contexts: list[str],
                       retrieved: list[list[Candidate]]) -> Future | None:
        """The words-index overlap of each context with its candidates, for a method that reads it. Against a vector
        server it is asked in the background while the features and the graph coherence are computed (the server
        answers on another core); the embedded store is asked in this thread."""
        wanted = self.extra_inputs | set(self.reranker.wants) | {w for e in self.feature_extractors for w in e.wants}
        if feats.OVERLAP not in wanted:
            return None
        ask = partial(self.searcher.word_overlaps_many, contexts, [[c.qid for c in cands] for cands in retrieved],
                      own=[m.surface for _, m in work])
        if self.searcher.vectors.local:
            done: Future = Future()
            done.set_result(ask())
            return done
        if self._background is None:
            self._background = ThreadPoolExecutor(1, thread_name_prefix="kg-overlap")
        return self._background.submit(ask)

    def _interactions(self, items: list[tuple[MentionInput, list[Candidate]]]) -> None:
        """A method whose score has a term <u, entity text vector> (fusion) gets it from the vector store in one
        round trip: Qdrant's cosine of u with the stored (unit) text vectors, times |u|."""
        queries = self.reranker.interaction_queries
        pairs = [(m, cands) for m, cands in items
                 if cands and m.context_vector is not None and self.reranker.wants_interactions(m)]
        if queries is None or not pairs:
            return
        u = queries(np.stack([m.context_vector for m, _ in pairs if m.context_vector is not None]))
        norms = np.linalg.norm(u, axis=1)
        for m, _ in pairs:
            m.interactions = {}  # u = 0: the term is 0 for every candidate
        asked = np.flatnonzero(norms > 0)
        cosines = self.searcher.similarities_many(TEXT, u[asked], [[c.qid for c in pairs[j][1]] for j in asked])
        for j, found in zip(asked, cosines):
            pairs[j][0].interactions = {q: float(norms[j]) * cos for q, cos in found.items()}

    def _coherence(self, work: list[tuple[Document, Mention]], retrieved: list[list[Candidate]]) -> None:
        """Graph coherence of every candidate with the other mentions of its document (at most one graph read per
        batch: the outgoing neighbours of the candidates this job has not met before)."""
        if self._neighbourhood is None or not work:
            for cands in retrieved:
                for c in cands:
                    c.features["coherence"] = 0.0
            return
        qids = {c.qid for cands in retrieved for c in cands}
        ahead, self._neighbours_ahead = self._neighbours_ahead, None
        with stage("waiting: graph reads ahead"):
            out = ahead[1].result() if ahead is not None else None  # waited for: one thread reads the graph at once
        if ahead is None or ahead[0] != qids or out is None:
            out = self._neighbourhood.out(qids)
        edges = self._neighbourhood.edges_among(qids, out)
        by_doc: dict[str, list[tuple[str, list[Candidate]]]] = {}
        for (doc, m), cands in zip(work, retrieved):
            by_doc.setdefault(doc.id, []).append((normalise(m.surface), cands))
        for mentions in by_doc.values():
            feats.add_coherence(mentions, edges, out)

    def _read_neighbours_ahead(self, retrieved: list[list[Candidate]]) -> None:
        """Starts the graph read of the candidates' neighbours (coherence) in the background as soon as they are
        known, so that it runs while the vector store computes their context cosines and the words overlap."""
        if self._neighbourhood is None or not retrieved or self._neighbours_ahead is not None:
            return
        qids = {c.qid for cands in retrieved for c in cands}
        if self._graph_reads is None:
            self._graph_reads = ThreadPoolExecutor(1, thread_name_prefix="kg-graph")
        self._neighbours_ahead = (qids, self._graph_reads.submit(self._neighbourhood.out, qids))

    def _result(self, doc: Document, m: Mention, ranking: Ranking, order: list[str],
                keyphrase: float | None) -> MentionResult:
        ranked = ranking.candidates
        top = ranked[0] if ranked else None
        decision = self.nil.decide(self.reranker, m, ranking)
        is_nil = decision.nil
        trace: dict[str, Any] = {"stages": ["retrieve:" + "+".join(sorted({s for c in ranked for s in c.sources})),
                            f"rerank:{self.reranker.name_for(m.detected)}", "nil" if is_nil else "link"],
                 "nil_threshold": decision.threshold}
        if ranking.trace:
            trace[self.reranker.name] = ranking.trace
        return MentionResult(
            doc_id=doc.id, mention_id=m.id, surface=m.surface, start=m.start, end=m.end, box=m.box,
            qid=None if is_nil or top is None else top.qid, score=top.score if top else None,
            candidates=[{"qid": c.qid, "label": c.label, "score": c.score, "features": c.features,
                         "sources": c.sources} for c in ranked],
            retrieved=order, gold=m.gold, detector=m.detector, ner_label=m.ner_label, keyphrase=keyphrase,
            trace=trace,
        )

    def _write(self, docs: list[Document], results: list[MentionResult]) -> None:
        assert self.graph is not None  # write-back is asked only of a linker with a graph
        by_id = {d.id: d for d in docs}
        doc_rows = [{"id": d.id, "text": d.text, "image": d.image, "source": d.meta.get("source"),
                     "meta_json": json.dumps(d.meta, ensure_ascii=False, sort_keys=True) if d.meta else None}
                    for d in docs]
        mention_rows = [{
            "id": r.mention_id, "doc_id": r.doc_id, "surface": r.surface, "start": r.start, "end": r.end,
            "box": r.box, "image": by_id[r.doc_id].image, "status": "NIL" if r.qid is None else "linked",
            "qid": r.qid, "score": r.score, "ranking_json": stored_ranking(r, self.reranker.name, self.run_id()),
        } for r in results]
        written = write_results(self.graph, doc_rows, mention_rows, self.reranker.name, self.run_id(), self.models())
        for r in results:  # a result says what the graph holds: a link whose edge could not be written is none
            if r.qid and r.mention_id not in written.linked:
                r.trace["write"] = f"{r.qid} is not in the graph: the index is older than its deletion (run `kg index`)"
                r.missing_entity, r.qid = r.qid, None
