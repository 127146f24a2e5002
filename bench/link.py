"""Linking throughput (no LLM) against the stores configured by KG_* (use a Qdrant server: KG_QDRANT_URL).

Expects the WikiMEL KB slice ingested and indexed in that configuration (`kg eval wikimel --limit 1` does both).
Measures in one run:
  1. spans given: WikiMEL dev captions with their mention spans, mentions/s (target >= 100);
  2. detection: news-length documents (WikiMEL train captions joined into ~450-word texts), documents/s (target >= 20),
     with each mention detector (`kg link --detector gazetteer|ner|hybrid`; the NER model's own time on the same
     documents is printed apart);
  both with each context encoder (`kg link --context model|static|cascade`);
  3. the BASELINES.md candidate step for comparison: brute-force rapidfuzz WRatio over all KB names, mentions/s.

    python bench/link.py --mentions 1000 --documents 60 [--text-runtime torch] [--context model static cascade]
                         [--detector gazetteer ner hybrid] [--method features learned fusion] [--batch-docs N]
                         [--profile] [--json PATH]

`--profile`: each linking run (not its one-batch-after-another baseline) also prints where its time went, stage by
stage (`kgstore.profiling`): the linking thread's stages add up to the run's wall clock, the background threads'
(the next batch's detection, the words overlap, the graph reads ahead) are busy time beside it. `--json PATH`
writes every run's figures (and profile) and the process's peak RSS, which is that of a `kg link` with the same
models and stores (this process links as `kg link` does; besides, it holds only the benchmark texts and the
rapidfuzz name list).

Documents are linked in batches of --batch-docs (kg link's 64 by default); with more documents than that, the next
batch's mentions are detected while one links, as in `kg link`, and each detector is also timed one batch after
another (the baseline).

The text encoder runs on ONNX Runtime where it is installed (see kgstore/encoders/text.py); `--text-runtime torch`
measures the sentence-transformers/torch runtime instead, for comparison.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process, utils

from kg.kgstore.chunks import chunked
from kg.kgstore.config import load_config
from kg.kgstore.encoders.text import load_text_encoder
from kg.kgstore.graph import GraphStore
from kg.kgstore.profiling import Profile, recording
from kg.kgstore.search import Searcher
from kg.kgstore.vectors import VectorStore
from kg.linkers.config import CONTEXT_ENCODERS
from kg.linkers.detection.detect import GazetteerDetector
from kg.linkers.detection.detectors import detectors as registered_detectors
from kg.linkers.detection.ner import PROCESS_FROM, GazetteerSpans, HybridDetector, NERDetector, ner_worker_pids
from kg.linkers.evaluation.benchmarks import read_wikimel
from kg.linkers.evaluation.data_paths import data_paths
from kg.linkers.pipeline import Linker, LinkOptions
from kg.linkers.records import Document


def timed(linker: Linker, docs: list[Document], ahead: bool = True) -> tuple[float, int]:
    """Seconds and mentions linking `docs`; `ahead=False`: one batch after another, each detected when its turn
    comes (the baseline for detecting the next batch while one links)."""
    start = time.perf_counter()
    if ahead:
        mentions = sum(len(results) for results in linker.link(docs))
    else:
        mentions = sum(len(linker.link_batch(batch)) for batch in chunked(docs, linker.options.batch_docs))
    return time.perf_counter() - start, mentions


def profiled(linker: Linker, docs: list[Document], profile: bool) -> tuple[float, int, Profile | None]:
    """`timed` (detecting ahead), with its stages recorded when `profile`."""
    if not profile:
        return (*timed(linker, docs), None)
    with recording() as stages:
        seconds, mentions = timed(linker, docs)
    return seconds, mentions, stages


def peak_rss_mib() -> float:
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ner_worker_rss_mib() -> float:
    """The NER worker processes' peak resident memory together (VmHWM; 0 when none runs)."""
    total = 0
    for pid in ner_worker_pids():
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            total += next((int(line.split()[1]) for line in status.read_text().splitlines()
                           if line.startswith("VmHWM:")), 0)
    return total / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mentions", type=int, default=1000)
    ap.add_argument("--documents", type=int, default=60)
    ap.add_argument("--text-runtime", choices=["auto", "onnx", "torch"], default="auto")
    ap.add_argument("--context", nargs="+", choices=CONTEXT_ENCODERS, default=list(CONTEXT_ENCODERS),
                    help="context encoders to measure (kg link --context)")
    ap.add_argument("--detector", nargs="+", choices=list(registered_detectors()), default=list(registered_detectors()),
                    help="mention detectors to measure on the news documents (kg link --detector)")
    ap.add_argument("--method", nargs="+", default=["features"], choices=["features", "learned", "fusion"],
                    help="kg link --method; several: each measured in the same run (the first is the baseline)")
    ap.add_argument("--batch-docs", type=int, default=LinkOptions.batch_docs,
                    help="documents per linking batch (kg link's default)")
    ap.add_argument("--ner-process", nargs="+", choices=["on", "off"],
                    help="the NER model in a worker process of its own (on) or in a thread of the linking process (off); "
                         "default: as KG_NER_PROCESS says; both ('off on'): each measured in the same run")
    ap.add_argument("--profile", action="store_true", help="print each linking run's time by stage")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the runs' figures (and profiles) here")
    args = ap.parse_args()
    config = load_config()
    args.ner_process = args.ner_process or ["on" if config.models.ner_process else "off"]
    graph, vectors = GraphStore.from_config(config), VectorStore.from_config(config)
    # model load is not linking time
    encoder = load_text_encoder(config.models.text, runtime=None if args.text_runtime == "auto" else args.text_runtime,
                                cache_dir=config.home / "cache")
    searcher = Searcher(config, vectors, text_encoder=encoder)
    print(f"text encoder: {encoder.name} on {encoder.runtime}")
    runs: list[dict[str, Any]] = []

    def report(run: dict[str, Any], stages: Profile | None) -> None:
        """Keeps a run's figures for --json, and prints its profile."""
        if stages is not None:
            print(stages.table())
            run["profile"] = stages.to_json()
        runs.append(run)

    wikimel = data_paths(config).mel / "wikimel"
    dev = list(read_wikimel(wikimel, "dev", None))
    spans: list[Document] = []
    n = 0
    for doc in dev:
        doc.mentions = [m for m in doc.mentions or [] if m.start is not None]
        spans.append(doc)
        n += len(doc.mentions)
        if n >= args.mentions:
            break
    names = [r["label"] for r in graph.read("MATCH (e:Entity) WHERE e.stub = false RETURN e.label AS label") if r["label"]]
    gazetteer = GazetteerDetector.build((name, "") for name in names)
    ners = {mode: NERDetector(config.models.ner, process=mode == "on") for mode in args.ner_process}
    detectors = {(name, mode): d for mode, ner in ners.items()
                 for name, d in (("gazetteer", GazetteerSpans(gazetteer)), ("ner", ner),
                                 ("hybrid", HybridDetector(ner, gazetteer)))}
    captions = list(read_wikimel(wikimel, "train", None))  # 15k: room for 300 documents of 50 captions
    if args.documents * 50 > len(captions):
        raise SystemExit(f"--documents: at most {len(captions) // 50} news documents of 50 WikiMEL captions")
    news = [Document(f"news{i}", " ".join(d.text for d in captions[i * 50:(i + 1) * 50])) for i in range(args.documents)]
    words = sum(len(d.text.split()) for d in news) / len(news)
    if {"ner", "hybrid"} & set(args.detector):
        for mode, ner in ners.items():
            # model load (and the worker's start: it takes PROCESS_FROM texts or more) is not detection time
            ner.spans_many([d.text for d in news[:PROCESS_FROM]])
            start = time.perf_counter()
            ner.spans_many([d.text for d in news])
            seconds = time.perf_counter() - start
            print(f"NER model alone ({ner.version()}, own process {mode}): {len(news)} documents in {seconds:.1f} s "
                  f"= {len(news) / seconds:,.1f} documents/s")

    def fresh(options: LinkOptions, detector: tuple[str, str] | None = None) -> Linker:
        """A new linker, warmed up (and the static table distilled, when not cached): what one run has read from
        the graph (kept for the job) must not speed up the next one."""
        linker = Linker(searcher, options, graph=graph)
        linker.link(spans[:5]).__next__()
        linker.detector = detectors[detector] if detector else None
        return linker

    for context, method in ((c, m) for c in args.context for m in args.method):
        options = LinkOptions(method=method, write=False, context=context, batch_docs=args.batch_docs)
        seconds, mentions, stages = profiled(fresh(options), spans, args.profile)
        print(f"spans given, context {context:6}, method {method:8}: {mentions:,} mentions in {seconds:.1f} s = "
              f"{mentions / seconds:,.1f} mentions/s (target >= 100)")
        report({"run": "spans given", "context": context, "method": method, "documents": len(spans),
                "mentions": mentions, "seconds": seconds}, stages)
        detections = [(d, m) for d in args.detector for m in args.ner_process if d != "gazetteer" or m == args.ner_process[0]]
        for name, mode in detections:
            label = name if name == "gazetteer" else f"{name} (NER process {mode})"
            seconds, mentions, stages = profiled(fresh(options, (name, mode)), news, args.profile)
            print(f"detection {label}, context {context:6}: {len(news)} documents (~{words:.0f} words, "
                  f"{mentions:,} mentions) in {seconds:.1f} s = {len(news) / seconds:,.1f} documents/s (target >= 20)")
            report({"run": "detection", "detector": name, "ner_process": mode, "context": context, "method": method,
                    "documents": len(news), "mentions": mentions, "seconds": seconds}, stages)
            if len(news) > args.batch_docs:
                seconds, mentions = timed(fresh(options, (name, mode)), news, ahead=False)
                print(f"  baseline, one batch after another: {len(news) / seconds:,.1f} documents/s")

    sample = [m.surface for d in spans for m in d.mentions][:200]
    choices = [utils.default_process(x) for x in names]
    start = time.perf_counter()
    for surface in sample:
        process.extract(utils.default_process(surface), choices, scorer=fuzz.WRatio, limit=10, processor=None)
    base = len(sample) / (time.perf_counter() - start)
    print(f"baseline    : brute-force rapidfuzz top-10 over {len(names):,} names: {base:,.1f} mentions/s "
          f"(candidates only, no context model)")
    rss, worker = peak_rss_mib(), ner_worker_rss_mib()
    print(f"peak RSS of this process (the linking process, as kg link's): {rss:,.0f} MiB; of the NER worker "
          f"process: {worker:,.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "rapidfuzz_mentions_per_s": base, "peak_rss_mib": rss,
                                         "ner_worker_peak_rss_mib": worker},
                                        indent=1) + "\n")


if __name__ == "__main__":
    main()
