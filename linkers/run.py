"""Linking runs: a corpus linked in batches (resume, bad-line accounting, summary), a dataset evaluated, a reranker
fitted. The CLI parses options into these calls and renders what they return."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kg.kgstore.chunks import chunked
from kg.kgstore.config import Config
from kg.kgstore.entities import has_entities
from kg.kgstore.errors import ConfigError, InputError
from kg.kgstore.graph import GraphStore
from kg.kgstore.links import linked_documents
from kg.kgstore.model import point_id
from kg.kgstore.progress import progress_bar
from kg.kgstore.search import Searcher
from kg.kgstore.vectors import VectorStore
from kg.linkers.config import LinkConfig
from kg.linkers.corpus import corpus_size, read_corpus
from kg.linkers.detection import keyphrases
from kg.linkers.detection.detectors import build_detector
from kg.linkers.detection.detectors.gazetteer import kb_gazetteer
from kg.linkers.evaluation import span_eval
from kg.linkers.evaluation.datasets import Dataset
from kg.linkers.evaluation.datasets.text import HALVES, half_of, split_half
from kg.linkers.evaluation.eval_report import readable
from kg.linkers.evaluation.metrics import Evaluator, Metrics, Scored, protocol
from kg.linkers.methods import build_reranker, configured_settings
from kg.linkers.pipeline import Linker, LinkOptions, MentionResult
from kg.linkers.ranking.base import Ranker
from kg.linkers.ranking.features import FeatureReranker
from kg.linkers.records import NIL, BadLine, Document


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Stores:
    config: Config
    graph: GraphStore
    vectors: VectorStore

    def kb_size(self) -> int:
        return self.vectors.count(self.config.qdrant.collection)


def require_kb(stores: Stores) -> None:
    """Linking against an empty KB would find no candidate, call every mention NIL and succeed: refuse it, saying
    which step is missing."""
    if not has_entities(stores.graph):
        raise ConfigError(f"nothing ingested: run kg ingest first (the graph at {stores.graph.uri} holds "
                          "no entities)")
    if not stores.kb_size():
        raise ConfigError(f"nothing indexed: run kg index first (collection {stores.config.qdrant.collection!r} "
                          "holds no entities)")


def build_linker(stores: Stores, opts: LinkOptions, detector: str | None) -> Linker:
    """`detector` names a registered mention detector (None: link only given spans)."""
    searcher = Searcher(stores.config, stores.vectors)
    reranker = build_reranker(
        stores.config, opts.method, opts.weights, llm=opts.llm_options(),
        settings=configured_settings(stores.config, opts.method_config, opts.method), encoder=searcher.text_encoder,
        image_encoder=searcher.image_encoder if stores.config.models.image_backend else None,
        image_loader=searcher.image_loader, graph=stores.graph)
    return Linker(searcher, opts, graph=stores.graph,
                  detector=build_detector(detector, stores.config, stores.graph) if detector else None,
                  reranker=reranker)


def llm_stats(ranker: Ranker) -> dict | None:
    """The method's run totals (an LLM method's calls and tokens), None for a method without."""
    return ranker.stats_json()


def good_documents(items: Iterable[Document | BadLine], bad: list[BadLine]) -> Iterator[Document]:
    """The documents of `items`; the bad lines go to `bad`."""
    for item in items:
        if isinstance(item, BadLine):
            bad.append(item)
        else:
            yield item


def batches(linker: Linker, docs: Iterable[Document]) -> Iterator[tuple[int, list[MentionResult]]]:
    """(documents in the batch, their results): counts documents without mentions too."""
    for batch, results in linker.link_batches(docs):
        yield len(batch), results


# What links a stream of documents (and counts those it skips as already linked): (documents, results) per batch.
LinkBatches = Callable[[Iterator[Document], dict[str, int]], Iterable[tuple[int, list[MentionResult]]]]


def link_corpus(linker: Linker, corpus: list[Path], *, resume: bool = False, out: Path | None = None,
                explain: bool = False, on_result: Callable[[MentionResult], None] | None = None) -> dict[str, Any]:
    """Link every document of `corpus`, writing one JSON line per mention to `out`; returns the run's summary
    (counts, bad lines, speed). An empty corpus is an InputError."""
    _ = linker.context_encoder  # load the model before the clock starts: mentions/s measures linking

    def link(docs: Iterator[Document], counts: dict[str, int]) -> Iterable[tuple[int, list[MentionResult]]]:
        return batches(linker, _not_yet_linked(linker, docs, counts) if resume else docs)

    summary = run_corpus(corpus, link, resume=resume, out=out, explain=explain, on_result=on_result)
    return {**summary, "run_id": linker.run_id(), "written": linker.options.write, "llm": llm_stats(linker.reranker)}


def run_corpus(corpus: list[Path], link: LinkBatches, *, resume: bool = False, out: Path | None = None,
               explain: bool = False, on_result: Callable[[MentionResult], None] | None = None) -> dict[str, Any]:
    """The documents of `corpus` read (bad lines counted), linked by `link` (the local engine or Ray's), and the
    results counted, written to `out` and handed to `on_result` in order; returns counts and speed."""
    bad: list[BadLine] = []
    counts = {"documents": 0, "mentions": 0, "linked": 0, "nil": 0, "missing_entity": 0, "already_linked": 0}
    started = time.perf_counter()
    out_fh = open(out, "w", encoding="utf-8") if out else None  # noqa: SIM115 (closed in the finally below)
    try:
        with progress_bar(desc="link", unit=" docs", total=corpus_size(corpus)) as bar:
            if resume:
                bar.total = None  # the already linked ones are skipped unseen: no ETA
            for batch_docs, results in link(good_documents(read_corpus(corpus), bad), counts):
                counts["documents"] += batch_docs
                bar.update(batch_docs)
                for r in results:
                    counts["mentions"] += 1
                    counts["linked" if r.qid else "missing_entity" if r.missing_entity else "nil"] += 1
                    if out_fh:
                        out_fh.write(json.dumps(r.to_json(explain), ensure_ascii=False) + "\n")
                    if on_result:
                        on_result(r)
    finally:
        if out_fh:
            out_fh.close()
    seconds = time.perf_counter() - started
    if not counts["documents"] and not counts["already_linked"] and not bad:
        raise InputError(f"no documents in {', '.join(map(str, corpus))}: the corpus is empty, nothing was linked")
    return {**counts, "bad_lines": len(bad), "seconds": round(seconds, 3),
            "mentions_per_s": round(counts["mentions"] / seconds, 1) if seconds else 0.0,
            "documents_per_s": round(counts["documents"] / seconds, 1) if seconds else 0.0,
            "out": str(out) if out else None, "bad": [str(b) for b in bad[:100]]}


def _not_yet_linked(linker: Linker, docs: Iterator[Document], counts: dict[str, int]) -> Iterator[Document]:
    """Documents this run has not written yet (write-back is per batch, so an interrupted job lost nothing)."""
    run_id, graph = linker.run_id(), linker.graph
    if graph is None:
        raise InputError("--resume reads what a run wrote to the graph: this linker has no graph")
    for batch in chunked(docs, 500):
        done = linked_documents(graph, [d.id for d in batch], run_id)
        counts["already_linked"] += len(done)
        yield from (d for d in batch if d.id not in done)


@dataclass
class EvalResult:
    """What an evaluation measured; `report` is the JSON file's content when one was asked for."""

    data: dict[str, Any]  # the metrics as JSON, with the protocol (and the LLM statistics)
    protocol: dict[str, Any]
    metrics: Metrics | None = None  # mention-level benchmarks
    spans: Any = None  # span-level benchmarks: a span_eval.SpanEvaluation
    report: dict[str, Any] | None = None
    bad: list[BadLine] = field(default_factory=list)


def evaluate_mentions(stores: Stores, ds: Dataset, method: LinkConfig, *, report: bool = False,
                      report_all: bool = False) -> EvalResult:
    """Gold spans retrieved against the KB and ranked by `method`."""
    require_kb(stores)
    linker = build_linker(stores, LinkOptions.of(method, write=False), detector=None)
    _ = linker.context_encoder  # load the model before the clock starts
    bad: list[BadLine] = []
    errors: list | None = [] if report else None
    started = time.perf_counter()
    docs = list(good_documents(ds.documents(), bad))
    ev = Evaluator(k=method.top_k)
    boxes = Evaluator(k=method.top_k)  # image-region (box, no span) mentions, VP-MEL's setting, also apart
    with progress_bar(desc="eval", unit=" docs", total=len(docs)) as bar:
        for n, results in batches(linker, docs):
            bar.update(n)
            for r in results:
                if r.gold is None:
                    continue
                ranked = [c["qid"] for c in r.candidates]
                scored = Scored(gold=r.gold, ranked=ranked, retrieved=r.retrieved, predicted=r.qid or NIL)
                ev.add(scored)
                if r.box is not None and r.start is None:
                    boxes.add(scored)
                correct = (r.qid or NIL) == r.gold
                if errors is not None and (report_all or not correct):
                    errors.append({**r.to_json(explain=True), "correct": correct})
    seconds = time.perf_counter() - started
    metrics = ev.metrics()
    proto = protocol(ds.name, ds.split, kb_size=stores.kb_size(), candidates=method.top_k,
                     method=linker.reranker.version(), retrieval="exact+fuzzy name, dense context (RRF)",
                     context_encoder=linker.context_version,
                     mentions_per_s=round(metrics.n / seconds, 1) if seconds else None)
    result = _mention_result(metrics, proto, llm_stats(linker.reranker), errors, report_all, bad)
    if result.report is not None and errors is not None:
        with_cases = {e["doc_id"] for e in errors}
        result.report.update(readable(stores.graph, {d.id: d.text for d in docs if d.id in with_cases and d.text},
                                      {q for e in errors for q in (e["gold"], e["qid"])}))
    if boxes.n:
        box = boxes.metrics()
        result.data["box_mentions"] = {"n": box.n, "hits@1": box.hits[1], "mrr": box.mrr,
                                       f"recall@{box.k}": box.recall[box.k]}
    return result


def evaluate_spans(stores: Stores, ds: Dataset, method: LinkConfig, *, gold_spans: bool,
                   report: bool = False, report_all: bool = False) -> EvalResult:
    """Raw text linked end to end (or at the gold spans, `method.detector` else) and scored by ELEVANT's span
    rules."""
    require_kb(stores)
    detector = method.detector
    linker = build_linker(stores, LinkOptions.of(method, write=False), detector=None if gold_spans else detector)
    if ds.articles is None:
        raise InputError(f"{ds.name} is no span-level benchmark")
    _ = linker.context_encoder  # load the models before the clock starts
    articles = list(ds.articles())
    with progress_bar(total=len(articles), desc="eval", unit=" docs") as bar:
        ev = span_eval.evaluate(linker, articles, gold_spans=gold_spans, progress=bar)
    ev.diagnosis = span_eval.diagnose(ev.scores, ev.results, partial(in_kb, stores))
    trained_with = linker.reranker.trained_with(detected=not gold_spans)
    proto = {"dataset": ds.name, "kb_size": stores.kb_size(), "candidates": method.top_k,
             "method": linker.reranker.version(), "spans": "gold" if gold_spans else f"detected ({detector})",
             "context_encoder": linker.context_version, "scorer": "ELEVANT rules, IGNORED mode",
             "learned_model_also_trained_on": trained_with or None,
             "held_out": held_out(trained_with, ds.name)}
    data = {**ev.to_json(), "protocol": proto}
    content = None
    if report:
        traces = {r.mention_id: r.to_json(explain=True) for r in ev.results}
        cases = [{**c.to_json(), "trace": traces.get(f"{c.article_id}#{c.start}-{c.end}")} for c in ev.scores.cases
                 if report_all or c.category != "correct"]
        with_cases = {c["article"] for c in cases}
        content = {"metrics": data, "all_cases": report_all, "cases": cases,
                   **readable(stores.graph, {str(a.id): a.text for a in articles if str(a.id) in with_cases},
                              {q for c in cases for q in (c["gold"], c["predicted"])})}
    return EvalResult(data, proto, spans=ev, report=content)


def in_kb(stores: Stores, qids: set[str]) -> set[str]:
    """The QIDs that are entities of the indexed KB."""
    rows = stores.vectors.retrieve(stores.config.qdrant.collection, [point_id(q) for q in sorted(qids)], ["qid"])
    return {str(row.payload.get("qid")) for row in rows if row.payload}


SHARED_TEXTS = ({"oke-2015-train", "oke-2016-train"},)  # benchmarks that share documents


def held_out(trained_with: list[str], dataset: str) -> bool:
    """Whether a text benchmark's figures are held out from a model trained with `trained_with` benchmarks.

    Another benchmark is held apart from it unless the two share texts (`SHARED_TEXTS`: 86 of oke-2015's 95
    sentences are in oke-2016), where only the other half of it counts (halves go by a hash of the text, so a
    shared sentence lands in the same half of both). Of the benchmark itself only the other half counts."""
    base, half = split_half(dataset)
    family = next((f for f in SHARED_TEXTS if base in f), {base})
    return all(other not in family or (h is not None and half is not None and h != half)
               for other, h in map(split_half, trained_with))


def evaluate_given_candidates(config: Config, ds: Dataset, method: LinkConfig, *, report: bool = False,
                              report_all: bool = False) -> EvalResult:
    """Each mention brings its own candidates: no KB, no servers."""
    from kg.kgstore.encoders.text import text_encoder_from_config
    from kg.linkers.evaluation.given import evaluate_given, rank_given

    if ds.given is None:
        raise InputError(f"{ds.name} brings no candidates of its own")
    encoder = text_encoder_from_config(config)
    reranker = build_reranker(config, method.method, method.weights, llm=method.llm_options(),
                              settings=configured_settings(config, method.method_config, method.method), encoder=encoder)
    started = time.perf_counter()
    mentions = list(ds.given())
    with progress_bar(mentions, desc="eval", unit=" mentions") as bar:
        ev, results = evaluate_given(rank_given(bar, reranker, encoder.encode), k=10)
    seconds = time.perf_counter() - started
    metrics = ev.metrics()
    proto = protocol(ds.name, ds.split, kb_size=None, candidates=10, method=reranker.version(),
                     retrieval="given candidates (10 per mention, from the dataset)",
                     mentions_per_s=round(metrics.n / seconds, 1) if seconds else None)
    errors = [{**r.to_json(), "correct": r.predicted == r.mention.gold} for r in results
              if report_all or r.predicted != r.mention.gold] if report else None
    return _mention_result(metrics, proto, llm_stats(reranker), errors, report_all, [])


def _mention_result(metrics: Metrics, proto: dict, llm: dict | None, errors: list | None, report_all: bool,
                    bad: list[BadLine]) -> EvalResult:
    data = metrics.to_json(proto)
    if llm:
        data["llm"] = llm
    content = ({"metrics": data, "all_cases": report_all, "mentions" if report_all else "errors": errors}
               if errors is not None else None)
    return EvalResult(data, proto, metrics=metrics, report=content, bad=bad)


@dataclass
class TrainResult:
    summary: dict[str, Any]
    bad: list[BadLine] = field(default_factory=list)


@dataclass
class TrainRequest:
    """Everything `kg train` was asked, for whichever method's `Trainer` fits it (each reads what it takes)."""

    stores: Stores
    train: Dataset
    dev: Dataset | None  # held-apart documents, for a trainer with `dev` set
    split: str
    dev_split: str
    limit: int | None
    top_k: int
    context: str
    detector: str
    out: Path
    split_names: tuple[str, ...]  # datasets whose documents list their splits
    cache_dir: Path
    log: Callable[[str], None]
    also: Sequence[Dataset] = ()
    also_weight: float = 1.0
    link: str = "named"
    span_model: bool = False
    simulate: int | None = None
    nil_detected: float | None = None
    nil_gazetteer: float | None = None
    seeds: int = 1
    without: Sequence[str] = ()


def fit_features(r: TrainRequest) -> TrainResult:
    return train_features(r.stores, r.train, r.split, r.top_k, r.context, r.out)


def features_line(s: dict[str, Any], r: TrainRequest) -> str:
    return (f"fitted on {s['mentions']:,} mentions of {r.train.name}/{r.split}: Hits@1 {s['hits@1_before']:.3f} "
            f"-> {s['hits@1_after']:.3f}\nweights {json.dumps(s['weights'])} written to {r.out}")


def fit_fusion(r: TrainRequest) -> TrainResult:
    assert r.dev is not None  # the fusion trainer declares `dev`
    return train_fusion(r.stores, r.train, r.dev, r.split, r.dev_split, r.limit, r.top_k, r.context, r.out,
                        split_names=r.split_names, cache_dir=r.cache_dir, seeds=r.seeds, log=r.log, without=r.without)


def fusion_line(s: dict[str, Any], r: TrainRequest) -> str:
    return (f"fusion scorer fitted on {s['train_mentions']:,} mentions of {r.train.name}/{r.split} in "
            f"{s['seconds']} s: dev Hits@1 {s['dev_hits@1']:.4f} (seed {s['seed']}, epoch {s['best_epoch']}; "
            f"seeds tried: {s['dev_hits@1_by_seed']}); written to {r.out}")


def fit_learned(r: TrainRequest) -> TrainResult:
    assert r.dev is not None  # the learned trainer declares `dev`
    return train_learned(r.stores, r.train, r.dev, r.split, r.dev_split, r.top_k, r.context, r.detector, r.out,
                         split_names=r.split_names, log=r.log, also=r.also, also_weight=r.also_weight, link=r.link,
                         span_model=r.span_model, simulate=r.simulate, nil_detected=r.nil_detected,
                         nil_gazetteer=r.nil_gazetteer)


def learned_line(s: dict[str, Any], r: TrainRequest) -> str:
    return (f"fitted on {s['train_mentions']:,} mentions of {r.train.name}/{r.split} "
            f"({s['train_rows']:,} candidate rows); dev Hits@1 {s['dev_hits@1']:.3f}; NIL "
            f"thresholds detected {s['nil_detected']}, given {s['nil_given']}; written to {r.out}")


def train_features(stores: Stores, ds: Dataset, split: str, top_k: int, context: str, out: Path) -> TrainResult:
    """The features method's weights by coordinate search on Hits@1."""
    from kg.linkers.training.train import TrainingMention, calibrate, fit, hits_at_1, save

    linker = build_linker(stores, LinkOptions(method="features", top_k=top_k, context=context, write=False),
                          detector=None)
    bad: list[BadLine] = []
    data: list[TrainingMention] = []
    with progress_bar(desc="features", unit=" docs") as bar:
        for n, results in batches(linker, good_documents(ds.documents(), bad)):
            bar.update(n)
            data += [TrainingMention(r.gold, [(c["qid"], c["features"]) for c in r.candidates])
                     for r in results if r.gold and r.gold != NIL]
    if not isinstance(linker.reranker, FeatureReranker):
        raise TypeError(f"kg train fits the features method's weights, not {linker.reranker.name}'s")
    start = dict(linker.reranker.weights)
    before = hits_at_1(data, start)
    weights, after = fit(data, start)
    meta = {"dataset": ds.name, "split": split, "mentions": len(data), "top_k": top_k, "context": context,
            "hits@1_before": round(before, 4), "hits@1_after": round(after, 4)}
    save(out, weights, meta, calibrate(data, weights, f"{ds.name} {split}"))
    return TrainResult({"weights": weights, **meta, "out": str(out)}, bad)


def train_fusion(stores: Stores, train_ds: Dataset, dev_ds: Dataset, split: str, dev_split: str, limit: int | None,
                 top_k: int, context: str, out: Path, *, split_names: tuple[str, ...], cache_dir: Path,
                 log: Callable[[str], None], seeds: int = 1, without: Sequence[str] = ()) -> TrainResult:
    """The neural fusion scorer (`linkers.training.fusion_train`) on the gold spans, stopped early on the dev split, fitted
    with `seeds` seeds and the best on dev kept (the first, on a tie); the frozen inputs are cached per
    dataset/split/limit, KB collection and size, settings and models, so a refit skips the linking run. `without`:
    scalar inputs the scorer is fitted without (weight 0), such as a training KB's popularity that means something
    else in the KBs it will rank."""
    import hashlib

    from kg.linkers.training import fusion_train, learn
    linker = build_linker(stores, LinkOptions(method="features", top_k=top_k, context=context, write=False),
                          detector=None)
    bad: list[BadLine] = []
    sets: dict[str, fusion_train.FusionSet] = {}
    kb = f"{stores.config.qdrant.collection}-{stores.kb_size()}"
    for name, ds, exclude in (("train", train_ds, (dev_split,)), ("dev", dev_ds, ())):
        key = hashlib.sha1(json.dumps([ds.name, ds.split, limit if name == "train" else None, kb, top_k, context,
                                       linker.models(), fusion_train.SCALARS]).encode()).hexdigest()[:16]
        cache = cache_dir / f"fusion-inputs-{key}.npz"
        if cache.is_file():
            sets[name] = fusion_train.FusionSet.load(cache)
            log(f"{name}: {len(sets[name].gold):,} mentions' inputs from {cache}")
            continue
        docs = list(learn.documents_only(good_documents(ds.documents(), bad),
                                         exclude if ds.name in split_names else ()))
        sets[name] = fusion_train.FusionSet()
        with progress_bar(total=len(docs), desc=f"{name} vectors", unit=" docs") as bar:
            fusion_train.collect(linker, docs, sets[name], bar.update)
        sets[name].save(cache)
    for fusion_set in sets.values():
        fusion_set.without(without)
    best: tuple[dict, dict] | None = None
    by_seed: dict[str, float] = {}
    for seed in range(seeds):
        log(f"seed {seed}")
        params, fitted = fusion_train.fit(sets["train"], sets["dev"], k=top_k, seed=seed, log=log)
        by_seed[str(seed)] = fitted["dev_hits@1"]
        if best is None or fitted["dev_hits@1"] > best[1]["dev_hits@1"]:
            best = params, fitted
    assert best is not None
    params, fitted = best
    fitted["dev_hits@1_by_seed"] = by_seed
    meta = {"dataset": train_ds.name, "split": split, "dev": f"{dev_ds.name}/{dev_ds.split or 'all'}",
            "top_k": top_k, "context": context, **fitted, "without": sorted(without)}
    fusion_train.save(out, params, meta)
    return TrainResult({**meta, "out": str(out)}, bad)


def train_learned(stores: Stores, train_ds: Dataset, dev_ds: Dataset, split: str, dev_split: str, top_k: int,
                  context: str, detector: str, out: Path, *, split_names: tuple[str, ...],
                  log: Callable[[str], None], also: Sequence[Dataset] = (), also_weight: float = 1.0,
                  link: str = "named", span_model: bool = False, simulate: int | None = None,
                  nil_detected: float | None = None, nil_gazetteer: float | None = None) -> TrainResult:
    """Gradient-boosted trees over every feature plus the NIL thresholds; `split_names` are the datasets whose
    documents list the splits they belong to (the dev split's are held apart from training). `also`: more
    training documents (another domain's small annotated set), each mention counting `also_weight` times.
    `span_model`: a separate span model (`learn.fit`); `simulate`: one annotated mention in this many also teaches
    NIL as if its entity were not in the KB (0: none; None: learn.SIMULATE). `nil_detected`: the detected spans'
    NIL threshold, instead of the one fitted on the dev split; `nil_gazetteer`: a higher one for the detected spans
    only the gazetteer found."""
    from kg.linkers.training import learn
    for name, value in (("--nil-detected", nil_detected), ("--nil-gazetteer", nil_gazetteer)):
        if value is not None and not (_finite(value) and 0 <= value <= 1):
            raise InputError(f"{name} {value}: a NIL threshold is a number from 0 to 1")
    simulate = learn.SIMULATE if simulate is None else simulate

    # features come from the features method's retrieval and cascade, exactly as `kg link` computes them
    linker = build_linker(stores, LinkOptions(method="features", top_k=top_k, context=context, write=False,
                                              link=link), detector=detector)
    bad: list[BadLine] = []
    parts = [("train", train_ds, (dev_split,), 1.0), *(("train", ds, (), also_weight) for ds in also),
             ("dev", dev_ds, (), 1.0)]
    loaded = [(name, ds, list(learn.documents_only(good_documents(ds.documents(), bad),
                                                   exclude if ds.name in split_names else ())), weight)
              for name, ds, exclude, weight in parts]
    # keyphraseness from the training documents; a training document's comes from the other half's, so the model
    # learns from the feature (and the detector's filter) as they behave on text never seen
    gazetteer = kb_gazetteer(stores.config, stores.graph)
    training = [(d, weight) for name, _, docs, weight in loaded if name == "train" for d in docs]
    half = {h: keyphrases.learn(((d, w) for d, w in training if half_of(d.text) == h), gazetteer) for h in HALVES}
    a, b = HALVES
    table, other_half = half[a] + half[b], {a: half[b], b: half[a]}
    log(f"keyphraseness of {len(table):,} surfaces learned from {len(training):,} training documents")
    sets: dict[str, learn.Examples] = {}
    for name, ds, docs, weight in loaded:
        examples = sets.setdefault(name, learn.Examples())
        groups = [(other_half[h], [d for d in docs if half_of(d.text) == h]) for h in HALVES] \
            if name == "train" else [(table, docs)]
        for detect in (True, False):
            with progress_bar(total=len(docs), desc=f"{name} {ds.name} {'detected' if detect else 'gold'} spans",
                              unit=" docs") as bar:
                for kp, group in groups:
                    linker.use_keyphrases(kp)
                    learn.collect(linker, group, detect, examples, bar.update, weight=weight,
                                  simulate=simulate if name == "train" else 0)
    booster, span, fitted = learn.fit(sets["train"], sets["dev"], log=log, span_model=span_model)
    if nil_detected is not None:
        dev_fitted = fitted["meta"]["nil_detected"]["dev_fitted"] = fitted["nil_detected"]
        fitted["nil_detected"] = fitted["meta"]["nil_detected"]["threshold"] = nil_detected
        log(f"detected spans' NIL threshold set to {nil_detected} (dev-fitted: {dev_fitted})")
    fitted["nil_gazetteer"] = nil_gazetteer
    proto = {"dataset": train_ds.name, "split": split, "also": [ds.name for ds in also],
             "also_weight": also_weight if also else None, "dev": f"{dev_ds.name}/{dev_ds.split or 'all'}",
             "top_k": top_k, "context": context, "detector": detector, "link": link, "span_model": span_model,
             "simulate_nil": simulate, "kb_size": stores.kb_size()}
    learn.save(out, booster, span, fitted, proto, table)
    return TrainResult({**fitted["meta"], **proto, "nil_detected": fitted["nil_detected"],
                        "nil_given": fitted["nil_given"], "nil_gazetteer": nil_gazetteer, "out": str(out)}, bad)
