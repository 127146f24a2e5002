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

Documents are linked in batches of --batch-docs (kg link's 64 by default); with more documents than that, the next
batch's mentions are detected while one links, as in `kg link`, and each detector is also timed one batch after
another (the baseline).

The text encoder runs on ONNX Runtime where it is installed (see kgstore/encoders/text.py); `--text-runtime torch`
measures the sentence-transformers/torch runtime instead, for comparison.
"""

from __future__ import annotations

import argparse
import time

from rapidfuzz import fuzz, process, utils

from kgstore.chunks import chunked
from kgstore.config import load_config
from kgstore.encoders.text import load_text_encoder
from kgstore.graph import GraphStore
from kgstore.search import Searcher
from kgstore.vectors import VectorStore
from linkers.benchmarks import read_wikimel
from linkers.records import Document
from linkers.detect import GazetteerDetector
from linkers.detectors import detectors as registered_detectors
from linkers.ner import GazetteerSpans, HybridDetector, NERDetector
from linkers.pipeline import CONTEXT_ENCODERS, Linker, LinkOptions

def timed(linker: Linker, docs: list[Document], ahead: bool = True) -> tuple[float, int]:
    """Seconds and mentions linking `docs`; `ahead=False`: one batch after another, each detected when its turn
    comes (the baseline for detecting the next batch while one links)."""
    start = time.perf_counter()
    if ahead:
        mentions = sum(len(results) for results in linker.link(docs))
    else:
        mentions = sum(len(linker.link_batch(batch)) for batch in chunked(docs, linker.options.batch_docs))
    return time.perf_counter() - start, mentions


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
    args = ap.parse_args()
    config = load_config()
    graph, vectors = GraphStore.from_config(config), VectorStore.from_config(config)
    # model load is not linking time
    encoder = load_text_encoder(config.models.text, runtime=None if args.text_runtime == "auto" else args.text_runtime,
                                cache_dir=config.home / "cache")
    searcher = Searcher(config, vectors, text_encoder=encoder)
    print(f"text encoder: {encoder.name} on {encoder.runtime}")

    dev = list(read_wikimel(config.data.mel / "wikimel", "dev", None))
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
    ner = NERDetector(config.models.ner)
    detectors = {"gazetteer": GazetteerSpans(gazetteer), "ner": ner, "hybrid": HybridDetector(ner, gazetteer)}
    captions = list(read_wikimel(config.data.mel / "wikimel", "train", None))  # 15k: room for 300 documents of 50 captions
    if args.documents * 50 > len(captions):
        raise SystemExit(f"--documents: at most {len(captions) // 50} news documents of 50 WikiMEL captions")
    news = [Document(f"news{i}", " ".join(d.text for d in captions[i * 50:(i + 1) * 50])) for i in range(args.documents)]
    words = sum(len(d.text.split()) for d in news) / len(news)
    if {"ner", "hybrid"} & set(args.detector):
        ner.spans_many([d.text for d in news[:2]])  # model load is not detection time
        start = time.perf_counter()
        ner.spans_many([d.text for d in news])
        seconds = time.perf_counter() - start
        print(f"NER model alone ({ner.version()}): {len(news)} documents in {seconds:.1f} s = "
              f"{len(news) / seconds:,.1f} documents/s")

    def fresh(options: LinkOptions, detector: str | None = None) -> Linker:
        """A new linker, warmed up (and the static table distilled, when not cached): what one run has read from
        the graph (kept for the job) must not speed up the next one."""
        linker = Linker(searcher, options, graph=graph)
        linker.link(spans[:5]).__next__()
        linker.detector = detectors[detector] if detector else None
        return linker

    for context, method in ((c, m) for c in args.context for m in args.method):
        options = LinkOptions(method=method, write=False, context=context, batch_docs=args.batch_docs)
        seconds, mentions = timed(fresh(options), spans)
        print(f"spans given, context {context:6}, method {method:8}: {mentions:,} mentions in {seconds:.1f} s = "
              f"{mentions / seconds:,.1f} mentions/s (target >= 100)")
        for name in args.detector:
            seconds, mentions = timed(fresh(options, name), news)
            print(f"detection {name:9}, context {context:6}: {len(news)} documents (~{words:.0f} words, "
                  f"{mentions:,} mentions) in {seconds:.1f} s = {len(news) / seconds:,.1f} documents/s (target >= 20)")
            if len(news) > args.batch_docs:
                seconds, mentions = timed(fresh(options, name), news, ahead=False)
                print(f"  baseline, one batch after another: {len(news) / seconds:,.1f} documents/s")

    sample = [m.surface for d in spans for m in d.mentions][:200]
    choices = [utils.default_process(x) for x in names]
    start = time.perf_counter()
    for surface in sample:
        process.extract(utils.default_process(surface), choices, scorer=fuzz.WRatio, limit=10, processor=None)
    base = len(sample) / (time.perf_counter() - start)
    print(f"baseline    : brute-force rapidfuzz top-10 over {len(names):,} names: {base:,.1f} mentions/s "
          f"(candidates only, no context model)")


if __name__ == "__main__":
    main()
