"""`kg link`, `kg eval`, `kg train`: mentions to QIDs, measured, and the reranker fitted."""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Iterator

import click

from cli.context import AppContext, echo_json, pass_app
from kgstore.chunks import chunked
from kgstore.errors import InputError
from kgstore.progress import progress, progress_bar
from kgstore.queries import kb_fingerprint
from kgstore.search import Searcher
from linkers.corpus import NIL, BadLine, Document, corpus_size, read_corpus
from linkers.datasets import BUILTIN, load_dataset
from linkers.detect import GazetteerDetector
from linkers.ner import DETECTORS, GazetteerSpans, HybridDetector, NERDetector
from linkers import span_eval
from linkers.span_eval import SPAN_MODES
from linkers.metrics import Evaluator, Scored, protocol, render_table
from linkers.pipeline import CONTEXT_ENCODERS, Linker, LinkOptions, MentionResult
from linkers.methods import build_reranker, method_settings
from linkers.rerankers import LLM_METHODS, METHODS
from linkers.rerankers.llm_method import WHEN, LLMOptions
from linkers.writeback import linked_documents

EXIT_PARTIAL = 3


@dataclass
class MethodArgs:
    """The linking-method options shared by link and eval."""

    method: str
    weights: Path | None
    top_k: int
    nil_threshold: float | None
    context: str
    llm: str
    llm_margin: float
    llm_budget: int | None
    method_config: Path | None

    def link_options(self, write: bool) -> LinkOptions:
        return LinkOptions(method=self.method, weights=self.weights, top_k=self.top_k,
                           nil_threshold=self.nil_threshold, context=self.context, write=write)

    def llm_options(self) -> LLMOptions:
        return LLMOptions(when=self.llm, margin=self.llm_margin, budget=self.llm_budget)

    def settings(self) -> dict:
        return method_settings(self.method_config, self.method)


def detector_option(f):
    return click.option(
        "--detector", type=click.Choice(DETECTORS), default="hybrid", show_default=True,
        help="Mention detection for text without spans: hybrid (NER spans plus the KB names that look like "
             "names; the learned reranker leaves unlikely ones unlinked), ner (spaCy NER only, KG_NER_MODEL), "
             "gazetteer (every KB name and alias: high recall, low precision on news).")(f)


def method_options(f):
    """Adds the method options and hands them to the command as one `margs: MethodArgs`."""
    names = [field.name for field in fields(MethodArgs)]

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        margs = MethodArgs(**{n: kwargs.pop(n) for n in names})
        return f(*args, margs=margs, **kwargs)

    for opt in reversed([
        click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True,
                     help="Linking method: auto (features for given spans, learned for detected ones), features "
                          "(fitted weights, no NIL), learned (gradient-boosted trees with a fitted NIL decision), "
                          "or an LLM method on top of features: kar (one call, select one of the top 5), i2cr "
                          "(text, consistency and image checks, visual-clue rounds), thinklinker (question/answer "
                          "dialogue, 2 calls per candidate asked about)."),
        click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Weights file of the features method, or model file of the learned method (default: "
                          "the shipped ones; see kg train)."),
        click.option("--top-k", type=click.IntRange(1, 100), default=10, show_default=True, help="Candidates per mention."),
        click.option("--nil-threshold", type=float,
                     help="Leave a mention unlinked (NIL) when its best score is below this."),
        click.option("--context", type=click.Choice(CONTEXT_ENCODERS), default="cascade", show_default=True,
                     help="How mention contexts are encoded: cascade (static vectors first, the text model again "
                          "for the mentions whose static top-1/top-2 margin is under 0.2: the model's Hits@1 on "
                          "WikiMEL at twice its speed, 8x with detection); model (the text model for every "
                          "mention); static (vectors distilled from the text model only: fastest, a few points "
                          "of Hits@1 lower)."),
        click.option("--llm", type=click.Choice(WHEN), default="unsure", show_default=True,
                     help="When LLM methods call the LLM: only when the features ranking is unsure (top-1/top-2 "
                          "margin below --llm-margin), or always."),
        click.option("--llm-margin", type=float, default=LLMOptions.margin, show_default=True,
                     help="Score margin under which the features ranking counts as unsure."),
        click.option("--llm-budget", type=click.IntRange(0), default=None,
                     help="Most LLM calls per mention (cache hits count). Default: kar 1, i2cr 10, "
                          "thinklinker 2 x rounds."),
        click.option("--method-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="TOML file with a table per method, e.g. [i2cr] alpha = 0.6, beta = 31, "
                          "order = [\"ocr\", \"caption\"]; [kar] k = 5; [thinklinker] rounds = 3."),
    ]):
        wrapper = opt(wrapper)
    return wrapper


def _gazetteer(app: AppContext) -> GazetteerDetector:
    graph = app.graph()
    n, fingerprint = kb_fingerprint(graph)
    path = app.config.home / "cache" / f"gazetteer-{app.config.collection}.bin"

    def aliases() -> Iterator[tuple[str, str]]:
        progress(f"building the mention gazetteer from {n:,} entities' names (once per KB change; cached in {path})")
        after = ""
        while True:
            rows = graph.read("MATCH (e:Entity) WHERE e.stub = false AND e.qid > $after RETURN e.qid AS qid, "
                              "e.label AS label, e.aliases AS aliases ORDER BY e.qid LIMIT 5000", after=after)
            if not rows:
                return
            for r in rows:
                for a in [r["label"], *(r["aliases"] or [])]:
                    if a:
                        yield a, r["qid"]
            after = rows[-1]["qid"]

    return GazetteerDetector.cached(path, f"{app.config.graph_uri or 'embedded'}|{n}|{fingerprint}", aliases)


def _detector(app: AppContext, kind: str):
    """The mention detector by name: gazetteer (KB names), ner (spaCy), or hybrid (NER + name-like KB names)."""
    if kind == "gazetteer":
        return GazetteerSpans(_gazetteer(app))
    ner = NERDetector(app.config.ner_model)
    return ner if kind == "ner" else HybridDetector(ner, _gazetteer(app))


def _linker(app: AppContext, opts: LinkOptions, detect: str | None, margs: MethodArgs | None = None) -> Linker:
    searcher = Searcher(app.config, app.vectors())
    reranker = None
    if margs is not None and margs.method in LLM_METHODS:
        reranker = build_reranker(
            app.config, margs.method, margs.weights, llm=margs.llm_options(), settings=margs.settings(),
            encoder=searcher.text_encoder, image_encoder=searcher.image_encoder if app.config.image_backend else None,
            image_loader=searcher.image_loader, graph=app.graph())
    return Linker(searcher, opts, graph=app.graph(),
                  detector=_detector(app, detect) if detect else None, reranker=reranker)


def _llm_stats(linker_or_reranker) -> dict | None:
    reranker = getattr(linker_or_reranker, "reranker", linker_or_reranker)
    return reranker.stats_json() if hasattr(reranker, "stats_json") else None


def _llm_line(stats: dict | None) -> str | None:
    if not stats:
        return None
    return (f"LLM: {stats['calls']} calls ({stats['api_calls']} to the server, {stats['cache_hits']} from cache), "
            f"{stats['calls_per_mention_all']:.2f} per mention ({stats['mentions']:,} of {stats['mentions_seen']:,} "
            f"mentions consulted it), {stats['prompt_tokens']:,} prompt + "
            f"{stats['completion_tokens']:,} completion tokens, {stats['seconds']:.1f} s"
            + ("; server unreachable: fell back to the features ranking" if stats.get("unavailable") else ""))


def _good(items: Iterable[Document | BadLine], bad: list[BadLine]) -> Iterator[Document]:
    for item in items:
        if isinstance(item, BadLine):
            bad.append(item)
        else:
            yield item


@click.command("link")
@click.argument("corpus", nargs=-1, required=True, type=click.Path(path_type=Path))
@method_options
@click.option("--no-write", is_flag=True, help="Do not write Document/Mention/REFERS_TO into the graph.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write one JSON line per mention here.")
@click.option("--explain", is_flag=True, help="Print each mention's candidates, features and scores per stage.")
@click.option("--detect/--no-detect", default=True, show_default=True,
              help="Detect mentions in documents that give no spans (see --detector).")
@detector_option
@click.option("--resume", is_flag=True,
              help="Skip documents this run (same settings) already wrote: continue an interrupted job.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def link_cmd(app: AppContext, corpus: tuple[Path, ...], margs: MethodArgs, no_write: bool, out: Path | None,
             explain: bool, detect: bool, detector: str, resume: bool, as_json: bool) -> None:
    """Link the mentions of a corpus to KB entities and write the edges back into the graph.

    CORPUS: corpus JSONL files (docs/corpus-format.md), .txt files, or directories of them. Documents with
    `mentions` are linked at those spans/boxes; the others get mentions detected from the KB's names.
    Linking the same corpus again with the same settings changes nothing. Exit 3 when some lines were bad.
    """
    linker = _linker(app, margs.link_options(write=not no_write), detector if detect else None, margs)
    linker.context_encoder  # load the model before the clock starts: mentions/s measures linking
    bad: list[BadLine] = []
    if resume and no_write:
        raise click.UsageError("--resume continues a run that writes to the graph; it cannot go with --no-write")
    counts = {"documents": 0, "mentions": 0, "linked": 0, "nil": 0, "already_linked": 0}
    started = time.perf_counter()
    out_fh = open(out, "w", encoding="utf-8") if out else None
    try:
        with progress_bar(desc="link", unit=" docs", total=corpus_size(list(corpus))) as bar:
            docs = _good(read_corpus(list(corpus)), bad)
            if resume:
                docs = _not_yet_linked(linker, docs, counts)
                bar.total = None  # the already linked ones are skipped unseen: no ETA
            for batch_docs, results in _batches(linker, docs):
                counts["documents"] += batch_docs
                bar.update(batch_docs)
                for r in results:
                    counts["mentions"] += 1
                    counts["linked" if r.qid else "nil"] += 1
                    if out_fh:
                        out_fh.write(json.dumps(r.to_json(explain), ensure_ascii=False) + "\n")
                    if explain:
                        _explain(r)
    finally:
        if out_fh:
            out_fh.close()
    seconds = time.perf_counter() - started
    if not counts["documents"] and not counts["already_linked"] and not bad:
        raise InputError(f"no documents in {', '.join(map(str, corpus))}: the corpus is empty, nothing was linked")
    summary = {**counts, "bad_lines": len(bad), "seconds": round(seconds, 3),
               "mentions_per_s": round(counts["mentions"] / seconds, 1) if seconds else 0.0,
               "documents_per_s": round(counts["documents"] / seconds, 1) if seconds else 0.0,
               "run_id": linker.run_id(), "written": not no_write, "out": str(out) if out else None,
               "bad": [str(b) for b in bad[:100]], "llm": _llm_stats(linker)}
    if as_json:
        echo_json(summary)
    else:
        if summary["llm"]:
            click.echo(_llm_line(summary["llm"]))
        click.echo(f"documents {counts['documents']:,}  mentions {counts['mentions']:,}  linked {counts['linked']:,}  "
                   f"NIL {counts['nil']:,}  bad lines {len(bad)}  {seconds:.1f} s  "
                   f"{summary['mentions_per_s']:,.0f} mentions/s  run {summary['run_id']}")
        for b in bad[:20]:
            click.echo(f"  skipped {b}", err=True)
    if bad:
        sys.exit(EXIT_PARTIAL)


def _not_yet_linked(linker: Linker, docs: Iterator[Document], counts: dict[str, int]) -> Iterator[Document]:
    """Documents this run has not written yet (write-back is per batch, so an interrupted job lost nothing)."""
    run_id = linker.run_id()
    for batch in chunked(docs, 500):
        done = linked_documents(linker.graph, [d.id for d in batch], run_id)
        counts["already_linked"] += len(done)
        yield from (d for d in batch if d.id not in done)


def _batches(linker: Linker, docs: Iterator[Document]) -> Iterator[tuple[int, list[MentionResult]]]:
    """(documents in the batch, their results): counts documents without mentions too."""
    for batch in chunked(docs, linker.options.batch_docs):
        yield len(batch), linker.link_batch(batch)


def _explain(r: MentionResult) -> None:
    span = f"[{r.start}:{r.end}]" if r.start is not None else (f"box {r.box}" if r.box else "")
    click.echo(f"\n{r.doc_id} {span} {r.surface!r} -> {r.qid or NIL}" + (f" ({r.score:.3f})" if r.score is not None else ""))
    click.echo(f"  stages: {' -> '.join(r.trace['stages'])}   retrieved: {', '.join(r.retrieved)}")
    if r.trace.get("image"):  # what of the document's image was encoded for this mention
        click.echo(f"  image: {r.trace['image']}")
    if r.trace.get("context"):  # the cascade re-encoded this mention's context with the text model
        click.echo(f"  context: re-encoded, {r.trace['context']}")
    for i, c in enumerate(r.candidates, 1):
        f = " ".join(f"{k}={v:.3f}" for k, v in c["features"].items() if v)
        s = " ".join(f"{k}={v:.3f}" for k, v in c["sources"].items())
        click.echo(f"  {i:>2}. {c['qid']:<12} {str(c['label'])[:40]:<40} score={c['score']:.3f}  [{s}]  {f}")
    for name, value in r.trace.items():
        if isinstance(value, dict) and "method" in value:
            click.echo(f"  {name}: {json.dumps(value, ensure_ascii=False, default=str)}")


def _ensure_kb(app: AppContext, dataset) -> None:
    """A built-in dataset's KB slice is ingested and indexed when the graph does not have it yet."""
    if dataset.kb is None:
        return
    from indexers.index import Indexer
    from indexers.ingest import IngestOptions, ingest

    graph = app.graph()
    if not graph.count("MATCH (e:Entity) WHERE e.source = $s RETURN count(e)", s=dataset.kb.name):
        progress(f"the graph lacks the {dataset.name} KB slice: ingesting it from {dataset.kb} (once)")
        with progress_bar(desc=f"ingest {dataset.kb.name}", unit=" lines") as bar:
            ingest(graph, dataset.kb, IngestOptions(errors_path=app.config.home / "ingest-errors" / f"{dataset.name}.jsonl"),
                   lambda lines, entities: bar.update(lines - bar.n))
    indexer = Indexer(app.config, graph, app.vectors())
    with progress_bar(total=indexer.total(), desc="index", unit=" entities") as bar:
        indexer.run(lambda n, summary: bar.update(n))


def _evaluate(linker: Linker, docs: list[Document], k: int, report: list | None, report_all: bool = False,
              boxes: Evaluator | None = None) -> Evaluator:
    """All mentions into the returned evaluator; image-region (box, no span) mentions also into `boxes`."""
    ev = Evaluator(k=k)
    with progress_bar(desc="eval", unit=" docs", total=len(docs)) as bar:
        for n, results in _batches(linker, iter(docs)):
            bar.update(n)
            for r in results:
                if r.gold is None:
                    continue
                ranked = [c["qid"] for c in r.candidates]
                scored = Scored(gold=r.gold, ranked=ranked, retrieved=r.retrieved, predicted=r.qid or NIL)
                ev.add(scored)
                if boxes is not None and r.box is not None and r.start is None:
                    boxes.add(scored)
                correct = (r.qid or NIL) == r.gold
                if report is not None and (report_all or not correct):
                    report.append({**r.to_json(explain=True), "correct": correct})
    return ev


@click.command("eval")
@click.argument("dataset")
@click.option("--split", type=click.Choice(["train", "dev", "test"]), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Evaluate on the first N documents of the split.")
@method_options
@click.option("--spans", type=click.Choice(SPAN_MODES), default="detect", show_default=True,
              help="Span-level benchmarks (ELEVANT's): detect the mentions (end to end), or link the gold spans "
                   "(disambiguation only).")
@detector_option
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Write metrics, protocol and every wrong mention (with its trace) to this JSON file; for "
                   "span-level benchmarks every counted case with its error category.")
@click.option("--report-all", is_flag=True,
              help="The report lists every mention (`mentions`, each with `correct`), not only the wrong ones "
                   "(span-level benchmarks: `cases` holds the correct ones too).")
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON (hits@1, hits@3, hits@5, mrr, recall@k, n).")
@pass_app
def eval_cmd(app: AppContext, dataset: str, split: str, limit: int | None, margs: MethodArgs, spans: str,
             detector: str, report: Path | None, report_all: bool, as_json: bool) -> None:
    """Measure linking on a dataset with gold answers. Nothing is written.

    DATASET: wikimel or wikidiverse (KB retrieval; their KB slice is loaded when the graph does not have it),
    i2cr-wikidiverse (given-candidates protocol: each mention brings 10 candidates and image clues; no KB,
    no servers), oke-2015-train, oke-2016-train, derczynski or any ELEVANT *.benchmark.jsonl (raw text linked end
    to end and scored by ELEVANT's span rules: precision, recall, F1, error categories; the user's KB), or a
    corpus JSONL whose mentions carry `gold` (QID or NIL).
    """
    if dataset not in BUILTIN and click.get_current_context().get_parameter_source("split").name == "COMMANDLINE":
        raise click.UsageError(f"--split chooses a split of {' or '.join(BUILTIN)}; {dataset} has none (it is "
                               "evaluated whole; --limit N takes its first N documents)")
    if report_all and not report:
        raise click.UsageError("--report-all needs --report FILE")
    ds = load_dataset(dataset, split if dataset in BUILTIN else None, limit)
    if ds.given is not None:
        return _eval_given(app, ds, margs, report, report_all, as_json)
    if ds.articles is not None:
        return _eval_spans(app, ds, margs, spans, detector, report, report_all, as_json)
    _ensure_kb(app, ds)
    linker = _linker(app, margs.link_options(write=False), detect=None, margs=margs)
    linker.context_encoder  # load the model before the clock starts
    bad: list[BadLine] = []
    errors: list | None = [] if report else None
    started = time.perf_counter()
    boxes = Evaluator(k=margs.top_k)
    ev = _evaluate(linker, list(_good(ds.documents(), bad)), margs.top_k, errors, report_all, boxes)
    seconds = time.perf_counter() - started
    metrics = ev.metrics()
    proto = protocol(ds.name, ds.split, kb_size=app.vectors().count(app.config.collection), candidates=margs.top_k,
                     method=linker.reranker.version(), retrieval="exact+fuzzy name, dense context (RRF)",
                     context_encoder=linker.context_version,
                     mentions_per_s=round(metrics.n / seconds, 1) if seconds else None)
    data = metrics.to_json(proto)
    if boxes.n:  # image-region mentions (VP-MEL's setting), reported apart from the text spans
        box = boxes.metrics()
        data["box_mentions"] = {"n": box.n, "hits@1": box.hits[1], "mrr": box.mrr, f"recall@{box.k}": box.recall[box.k]}
    _print_eval(data, metrics, proto, _llm_stats(linker), errors, report, as_json, report_all)
    if boxes.n and not as_json:
        click.echo("box mentions   " + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                  for k, v in data["box_mentions"].items()))


def _eval_spans(app: AppContext, ds, margs: MethodArgs, spans: str, detector: str, report: Path | None,
                report_all: bool, as_json: bool) -> None:
    gold = spans == "gold"
    linker = _linker(app, margs.link_options(write=False), detect=None if gold else detector, margs=margs)
    linker.context_encoder  # load the models before the clock starts
    articles = list(ds.articles())
    with progress_bar(total=len(articles), desc="eval", unit=" docs") as bar:
        ev = span_eval.evaluate(linker, articles, gold_spans=gold, progress=bar)
    proto = {"dataset": ds.name, "kb_size": app.vectors().count(app.config.collection), "candidates": margs.top_k,
             "method": linker.reranker.version(), "spans": "gold" if gold else f"detected ({detector})",
             "context_encoder": linker.context_version, "scorer": "ELEVANT rules, IGNORED mode"}
    data = {**ev.to_json(), "protocol": proto}
    if report:
        traces = {r.mention_id: r.to_json(explain=True) for r in ev.results}
        cases = [{**c.to_json(), "trace": traces.get(f"{c.article_id}#{c.start}-{c.end}")} for c in ev.scores.cases
                 if report_all or c.category != "correct"]
        report.write_text(json.dumps({"metrics": data, "cases": cases}, indent=2, ensure_ascii=False, default=str))
    if as_json:
        echo_json(data)
    else:
        click.echo(span_eval.render(ev, proto))


def _eval_given(app: AppContext, ds, margs: MethodArgs, report: Path | None, report_all: bool, as_json: bool) -> None:
    from kgstore.encoders.text import load_text_encoder
    from linkers.given import evaluate_given, rank_given

    encoder = load_text_encoder(app.config.text_model)
    reranker = build_reranker(app.config, margs.method, margs.weights, llm=margs.llm_options(),
                              settings=margs.settings(), encoder=encoder)
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
    _print_eval(metrics.to_json(proto), metrics, proto, _llm_stats(reranker), errors, report, as_json, report_all)


def _print_eval(data: dict, metrics, proto: dict, llm: dict | None, errors: list | None, report: Path | None,
                as_json: bool, report_all: bool = False) -> None:
    if llm:
        data["llm"] = llm
    if report:
        report.write_text(json.dumps({"metrics": data, "mentions" if report_all else "errors": errors}, indent=2,
                                     ensure_ascii=False, default=str))
    if as_json:
        echo_json(data)
    else:
        click.echo(render_table(metrics, proto))
        if llm:
            click.echo(_llm_line(llm))


@click.command("train")
@click.argument("dataset")
@click.option("--reranker", type=click.Choice(["features", "learned", "fusion"]), default="learned", show_default=True,
              help="learned: gradient-boosted trees over every feature plus the NIL thresholds, fitted on the "
                   "split and stopped early / thresholded on --dev-split (examples from detected and from gold "
                   "spans); features: the five weights of the features method (coordinate search on Hits@1); "
                   "fusion: the neural fusion scorer (listwise loss on the gold spans, early stopping on "
                   "--dev-split).")
@click.option("--split", type=click.Choice(["train", "dev", "test"]), default="train", show_default=True)
@click.option("--dev-split", type=click.Choice(["train", "dev", "test"]), default="dev", show_default=True,
              help="Held-apart split for early stopping and the NIL thresholds (learned only).")
@click.option("--dev-data", help="Dev documents from another dataset or corpus JSONL (default: DATASET's --dev-split; "
                                 "needed when DATASET is a corpus file, which has no splits).")
@click.option("--limit", type=click.IntRange(1), help="Fit on the first N documents of the split (default: all).")
@click.option("--top-k", type=click.IntRange(1, 100), default=10, show_default=True, help="Candidates per mention.")
@click.option("--context", type=click.Choice(CONTEXT_ENCODERS), default="cascade", show_default=True,
              help="Context encoder the model is for (kg link/eval --context; the same default).")
@detector_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Model or weights file to write (use it with --method learned|features --weights FILE).")
@click.option("--json", "as_json", is_flag=True, help="Print the fitted model's figures as JSON.")
@pass_app
def train_cmd(app: AppContext, dataset: str, reranker: str, split: str, dev_split: str, dev_data: str | None,
              limit: int | None, top_k: int, context: str, detector: str, out: Path, as_json: bool) -> None:
    """Fit a reranker on a dataset with gold spans and save it.

    DATASET: wikimel, wikidiverse, or a corpus JSONL whose mentions carry `gold`. The learned reranker is fitted
    on every document of --split (documents also listed in --dev-split are left out) and shipped as
    linkers/weights/learned.json.
    """
    if reranker == "fusion":
        return _train_fusion(app, dataset, split, dev_split, dev_data, limit, top_k, context, out, as_json)
    if reranker == "learned":
        return _train_learned(app, dataset, split, dev_split, dev_data, limit, top_k, context, detector, out,
                              as_json)
    from linkers.train import TrainingMention, fit, hits_at_1, save

    ds = load_dataset(dataset, split if dataset in BUILTIN else None, limit)
    _ensure_kb(app, ds)
    linker = _linker(app, LinkOptions(method="features", top_k=top_k, context=context, write=False), detect=None)
    data: list[TrainingMention] = []
    with progress_bar(desc="features", unit=" docs") as bar:
        for n, results in _batches(linker, _good(ds.documents(), [])):
            bar.update(n)
            data += [TrainingMention(r.gold, [(c["qid"], c["features"]) for c in r.candidates])
                     for r in results if r.gold and r.gold != NIL]
    start = dict(linker.reranker.weights)
    before = hits_at_1(data, start)
    weights, after = fit(data, start)
    meta = {"dataset": ds.name, "split": split, "mentions": len(data), "top_k": top_k, "context": context,
            "hits@1_before": round(before, 4), "hits@1_after": round(after, 4)}
    save(out, weights, meta)
    if as_json:
        echo_json({"weights": weights, **meta, "out": str(out)})
    else:
        click.echo(f"fitted on {len(data):,} mentions of {ds.name}/{split}: Hits@1 {before:.3f} -> {after:.3f}")
        click.echo(f"weights {json.dumps(weights)} written to {out}")


def _train_fusion(app: AppContext, dataset: str, split: str, dev_split: str, dev_data: str | None,
                  limit: int | None, top_k: int, context: str, out: Path, as_json: bool) -> None:
    from linkers import fusion_train, learn

    if dev_data is None and (dataset not in BUILTIN or split == dev_split):
        raise click.UsageError("the fusion scorer stops early on held-apart documents: give --dev-split (another "
                               "split than --split) or --dev-data FILE")
    train_ds = load_dataset(dataset, split if dataset in BUILTIN else None, limit)
    dev_name = dev_data or dataset
    dev_ds = load_dataset(dev_name, dev_split if dev_name in BUILTIN else None, None)
    _ensure_kb(app, train_ds)
    linker = _linker(app, LinkOptions(method="features", top_k=top_k, context=context, write=False), detect=None)
    sets = {}
    kb = f"{app.config.collection}-{app.vectors().count(app.config.collection)}"
    for name, ds, exclude in (("train", train_ds, (dev_split,)), ("dev", dev_ds, ())):
        # the frozen inputs are cached per dataset/split/limit, KB collection and size, settings and models
        key = hashlib.sha1(json.dumps([ds.name, ds.split, limit if name == "train" else None, kb, top_k, context,
                                       linker.models()]).encode()).hexdigest()[:16]
        cache = app.config.home / "cache" / f"fusion-inputs-{key}.npz"
        if cache.is_file():
            sets[name] = fusion_train.FusionSet.load(cache)
            progress(f"{name}: {len(sets[name].gold):,} mentions' inputs from {cache}")
            continue
        docs = list(learn.documents_only(_good(ds.documents(), []), exclude if ds.name in BUILTIN else ()))
        sets[name] = fusion_train.FusionSet()
        with progress_bar(total=len(docs), desc=f"{name} vectors", unit=" docs") as bar:
            fusion_train.collect(linker, docs, sets[name], bar.update)
        sets[name].save(cache)
    params, fitted = fusion_train.fit(sets["train"], sets["dev"], k=top_k, log=lambda line: click.echo(line, err=True))
    meta = {"dataset": train_ds.name, "split": split, "dev": f"{dev_name}/{dev_split}", "top_k": top_k,
            "context": context, **fitted}
    fusion_train.save(out, params, meta)
    if as_json:
        echo_json({**meta, "out": str(out)})
    else:
        click.echo(f"fusion scorer fitted on {fitted['train_mentions']:,} mentions of {train_ds.name}/{split} in "
                   f"{fitted['seconds']} s: dev Hits@1 {fitted['dev_hits@1']:.4f} (epoch {fitted['best_epoch']}); "
                   f"written to {out}")


def _train_learned(app: AppContext, dataset: str, split: str, dev_split: str, dev_data: str | None,
                   limit: int | None, top_k: int, context: str, detector: str, out: Path, as_json: bool) -> None:
    from linkers import learn

    if dev_data is None and dataset not in BUILTIN:
        raise click.UsageError(f"{dataset} has no splits: give the held-apart documents with --dev-data FILE")
    if dev_data is None and split == dev_split:
        raise click.UsageError("--split and --dev-split must differ: the dev split stops training and sets the "
                               "NIL thresholds")
    train_ds = load_dataset(dataset, split if dataset in BUILTIN else None, limit)
    dev_name = dev_data or dataset
    dev_ds = load_dataset(dev_name, dev_split if dev_name in BUILTIN else None, None)
    _ensure_kb(app, train_ds)
    # features come from the features method's retrieval and cascade, exactly as `kg link` computes them
    linker = _linker(app, LinkOptions(method="features", top_k=top_k, context=context, write=False), detect=detector)
    sets = {}
    for name, ds, exclude in (("train", train_ds, (dev_split,)), ("dev", dev_ds, ())):
        examples = learn.Examples()
        docs = list(learn.documents_only(_good(ds.documents(), []), exclude if ds.name in BUILTIN else ()))
        for detect in (True, False):
            with progress_bar(total=len(docs), desc=f"{name} {'detected' if detect else 'gold'} spans",
                              unit=" docs") as bar:
                learn.collect(linker, docs, detect, examples, bar.update)
        sets[name] = examples
    booster, fitted = learn.fit(sets["train"], sets["dev"], log=lambda line: click.echo(line, err=True))
    protocol = {"dataset": train_ds.name, "split": split, "dev": f"{dev_ds.name}/{dev_ds.split or 'all'}", "top_k": top_k,
                "context": context, "detector": detector, "kb_size": app.vectors().count(app.config.collection)}
    learn.save(out, booster, fitted, protocol)
    summary = {**fitted["meta"], **protocol, "nil_detected": fitted["nil_detected"],
               "nil_given": fitted["nil_given"], "out": str(out)}
    if as_json:
        echo_json(summary)
    else:
        click.echo(f"fitted on {summary['train_mentions']:,} mentions of {train_ds.name}/{split} "
                   f"({summary['train_rows']:,} candidate rows); dev Hits@1 {summary['dev_hits@1']:.3f}; NIL "
                   f"thresholds detected {fitted['nil_detected']}, given {fitted['nil_given']}; written to {out}")


__all__ = ["eval_cmd", "link_cmd", "train_cmd"]
