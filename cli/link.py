"""`kg link`, `kg eval`, `kg train`: options parsed into linkers.run's calls, and what they return rendered."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click

from kg.api import KG
from kg.cli.context import AppContext, RegistryChoice, echo_json, pass_app
from kg.cli.engine import engine_options
from kg.cli.link_options import link_options, some_link_options
from kg.linkers.evaluation import span_eval
from kg.linkers.evaluation.data_paths import data_paths
from kg.linkers.evaluation.datasets import datasets, load_dataset, with_splits
from kg.linkers.evaluation.metrics import render_table
from kg.linkers.evaluation.span_eval import SPAN_MODES
from kg.linkers.pipeline import MentionResult
from kg.linkers.ranking.fusion import SCALARS as FUSION_SCALARS
from kg.linkers.ranking.registry import trainers
from kg.linkers.records import NIL
from kg.linkers.run import EvalResult, Stores, TrainRequest, link_corpus
from kg.linkers.training.learn import SIMULATE
from kg.ray_engine import RayOptions

EXIT_PARTIAL = 3


def _stores(app: AppContext) -> Stores:
    return Stores(app.config, app.graph(), app.vectors())


def _llm_line(stats: dict | None) -> str | None:
    if not stats:
        return None
    return (f"LLM: {stats['calls']} calls ({stats['api_calls']} to the server, {stats['cache_hits']} from cache), "
            f"{stats['calls_per_mention_all']:.2f} per mention ({stats['mentions']:,} of {stats['mentions_seen']:,} "
            f"mentions consulted it), {stats['prompt_tokens']:,} prompt + "
            f"{stats['completion_tokens']:,} completion tokens, {stats['seconds']:.1f} s"
            + ("; server unreachable: fell back to the features ranking" if stats.get("unavailable") else ""))


def _exit_if_bad(bad: list, show: bool) -> None:
    """Exit 3 after the output when some input lines were skipped, listing the first of them unless --json."""
    if bad:
        if show:
            for b in bad[:20]:
                click.echo(f"  skipped {b}", err=True)
        sys.exit(EXIT_PARTIAL)


@click.command("link")
@click.argument("corpus", nargs=-1, required=True, type=click.Path(path_type=Path))
@link_options()
@click.option("--no-write", is_flag=True, help="Do not write Document/Mention/REFERS_TO into the graph.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write one JSON line per mention here.")
@click.option("--explain", is_flag=True, help="Print each mention's candidates, features and scores per stage.")
@click.option("--resume", is_flag=True,
              help="Skip documents this run (same settings) already wrote: continue an interrupted job.")
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def link_cmd(app: AppContext, corpus: tuple[Path, ...], link: dict[str, Any], no_write: bool, out: Path | None,
             explain: bool, resume: bool, ray: RayOptions | None, as_json: bool) -> None:
    """Link the mentions of a corpus to KB entities and write the edges back into the graph.

    CORPUS: corpus JSONL files (docs/corpus-format.md), .txt files, or directories of them. Documents with
    `mentions` are linked at those spans/boxes; the others get mentions detected from the KB's names.
    Linking the same corpus again with the same settings changes nothing. Exit 3 when some lines were bad.
    """
    if resume and no_write:
        raise click.UsageError("--resume continues a run that writes to the graph; it cannot go with --no-write")
    kg = KG(app)
    options = kg.link_options(link, write=not no_write)
    if ray is not None:
        from kg.ray_engine.link import link_on_ray  # imports Ray's pieces only when asked for

        summary = link_on_ray(app.config, lambda: _stores(app), options, list(corpus), options=ray, resume=resume,
                              out=out, explain=explain, on_result=_explain if explain else None)
    else:
        linker = kg.build_linker(options)
        try:
            summary = link_corpus(linker, list(corpus), resume=resume, out=out, explain=explain,
                                  on_result=_explain if explain else None)
        finally:
            linker.close()
    if as_json:
        echo_json(summary)
    else:
        if summary["llm"]:
            click.echo(_llm_line(summary["llm"]))
        click.echo(f"documents {summary['documents']:,}  mentions {summary['mentions']:,}  "
                   f"linked {summary['linked']:,}  NIL {summary['nil']:,}  bad lines {summary['bad_lines']}  "
                   f"{summary['seconds']:.1f} s  {summary['mentions_per_s']:,.0f} mentions/s  run {summary['run_id']}")
    if summary["missing_entity"]:
        click.echo(f"kg: {summary['missing_entity']:,} mention(s) chose an entity the graph no longer holds and were "
                   "left NIL (their `missing_qid` names it): run `kg index` to drop deleted entities from the index, "
                   "then link again", err=True)
    _exit_if_bad(summary["bad"], show=not as_json)


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
    KG(app).ensure_kb(dataset)


class _EvalCommand(click.Command):
    """Its epilog lists the registered datasets when help is shown."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.epilog = "Registered datasets: " + "; ".join(f"{d.name} ({d.help})" for d in datasets().values()) + "."
        super().format_epilog(ctx, formatter)


@click.command("eval", cls=_EvalCommand)
@click.argument("dataset")
@click.option("--split", type=click.Choice(["train", "dev", "test"]), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Evaluate on the first N documents of the split.")
@link_options(exclude=("detect",))  # a dataset's --spans says whether its mentions are detected
@click.option("--spans", type=click.Choice(SPAN_MODES), default="detect", show_default=True,
              help="Span-level benchmarks (ELEVANT's): detect the mentions (end to end), or link the gold spans "
                   "(disambiguation only).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Write metrics, protocol and every wrong mention (with its trace) to this JSON file; for "
                   "span-level benchmarks every counted case with its error category.")
@click.option("--report-all", is_flag=True,
              help="The report lists every mention (`mentions`, each with `correct`), not only the wrong ones "
                   "(span-level benchmarks: `cases` holds the correct ones too).")
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON (hits@1, hits@3, hits@5, mrr, recall@k, n).")
@pass_app
def eval_cmd(app: AppContext, dataset: str, split: str, limit: int | None, link: dict[str, Any], spans: str,
             report: Path | None, report_all: bool, as_json: bool) -> None:
    """Measure linking on a dataset with gold answers. Nothing is written.

    DATASET: wikimel or wikidiverse (KB retrieval; their KB slice is loaded when the graph does not have it),
    i2cr-wikidiverse (given-candidates protocol: each mention brings 10 candidates and image clues; no KB,
    no servers), oke-2015-train, oke-2016-train, derczynski, news-fair-v2-dev, wiki-fair-v2-dev or any ELEVANT *.benchmark.jsonl (raw text linked end
    to end and scored by ELEVANT's span rules: precision, recall, F1, error categories; the user's KB), or a
    corpus JSONL whose mentions carry `gold` (QID or NIL). Exit 3 when some lines were bad.
    """
    source = click.get_current_context().get_parameter_source("split")
    split_given = source is not None and source.name == "COMMANDLINE"
    if dataset not in with_splits() and split_given:
        raise click.UsageError(f"--split chooses a split of {' or '.join(with_splits())}; {dataset} has none (it is "
                               "evaluated whole; --limit N takes its first N documents)")
    if report_all and not report:
        raise click.UsageError("--report-all needs --report FILE")
    kg = KG(app)
    result = kg.evaluate(dataset, split, limit, kg.link_options(link), spans=spans, report=report is not None,
                         report_all=report_all)
    if result.spans is not None and not result.protocol["held_out"]:
        click.echo(f"kg: note: the learned model was also trained on "
                   f"{', '.join(result.protocol['learned_model_also_trained_on'])}: these figures are not held "
                   "out; python bench/text_cv.py measures them two-fold cross-validated", err=True)
    _print_eval(result, report, as_json)
    _exit_if_bad(result.bad, show=not as_json)


def _print_eval(result: EvalResult, report: Path | None, as_json: bool) -> None:
    if report:
        report.write_text(json.dumps(result.report, indent=2, ensure_ascii=False, default=str))
    if as_json:
        echo_json(result.data)
    elif result.spans is not None:
        click.echo(span_eval.render(result.spans, result.protocol))
    elif result.metrics is not None:
        click.echo(render_table(result.metrics, result.protocol))
        if result.data.get("llm"):
            click.echo(_llm_line(result.data["llm"]))
        if result.data.get("box_mentions"):  # image-region mentions, reported apart from the text spans
            click.echo("box mentions   " + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                      for k, v in result.data["box_mentions"].items()))


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """click's FloatRange lets NaN through (every comparison with it is false)."""
    if value is not None and math.isnan(value):
        raise click.BadParameter(f"{value} is not a number from 0 to 1", ctx, param)
    return value


@click.command("train")
@click.argument("dataset")
@click.option("--reranker", "--scorer", type=RegistryChoice(lambda: list(trainers())), default="learned",
              show_default=True,
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
@click.option("--also", "also", multiple=True, metavar="DATASET",
              help="More training documents with gold spans (learned only; repeatable): an ELEVANT benchmark, one "
                   "half of one (oke-2016-train:a, for two-fold cross-validation) or a corpus JSONL. Their mentions "
                   "count --also-weight times each.")
@click.option("--also-weight", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True,
              help="How much each --also mention counts against one of DATASET's: a few hundred in-domain mentions "
                   "among WikiDiverse's 24,000.")
@some_link_options({"top_k": "top_k", "context": "context", "link": "link_policy", "detector": "detector"})
@click.option("--span-model/--one-model", default=False, show_default=True,
              help="Learned only: decide whether a detected span is worth linking with a model of its own (the entity "
                   "model then learns from annotated mentions only), or let one model decide both.")
@click.option("--simulate-nil", type=click.IntRange(0), default=SIMULATE, show_default=True,
              help="Learned only: one annotated training mention in N is also taught as out of the KB (its gold taken "
                   "out of the candidates, so the right answer is NIL); 0: none.")
@click.option("--nil-detected", type=click.FloatRange(0, 1), default=None, callback=_finite,
              help="Learned only: the NIL threshold for detected spans, instead of the one that maximises F1 on the "
                   "dev split (which fits the dev set's annotation, not other text's): the shipped model's was chosen "
                   "on the leave-one-benchmark-out figures (bench/text_cv.py, README).")
@click.option("--nil-gazetteer", type=click.FloatRange(0, 1), default=None, callback=_finite,
              help="Learned only: a higher NIL threshold for detected spans that only the KB gazetteer found (KB names "
                   "NER did not mark, often a word of a longer name or a common noun); the higher of the two applies. "
                   "The shipped model's was chosen on the leave-one-benchmark-out figures (README).")
@click.option("--seeds", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Fusion only: fit with seeds 0..N-1 (seconds each, on the cached inputs) and keep the one with "
                   "the best dev Hits@1.")
@click.option("--without", multiple=True, type=click.Choice(FUSION_SCALARS), metavar="FEATURE",
              help="Fusion only (repeatable): fit the scorer without this input, which then has weight 0. The shipped "
                   "scorer is fitted --without popularity: the WikiMEL slice's sitelink counts taught it to prefer "
                   "the less popular namesake, which cost 6 points of Hits@1 on WikiDiverse.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Model or weights file to write (use it with --method learned|features --weights FILE).")
@click.option("--json", "as_json", is_flag=True, help="Print the fitted model's figures as JSON.")
@pass_app
def train_cmd(app: AppContext, dataset: str, reranker: str, split: str, dev_split: str, dev_data: str | None,
              limit: int | None, also: tuple[str, ...], also_weight: float, top_k: int, context: str, detector: str,
              link_policy: str, span_model: bool, simulate_nil: int, nil_detected: float | None,
              nil_gazetteer: float | None, seeds: int,
              without: tuple[str, ...], out: Path, as_json: bool) -> None:
    """Fit a reranker on a dataset with gold spans and save it.

    DATASET: wikimel, wikidiverse, or a corpus JSONL whose mentions carry `gold`. The learned reranker is fitted
    on every document of --split (documents also listed in --dev-split are left out) and of each --also dataset,
    and shipped as linkers/weights/learned.json (see README for the command that made it).
    """
    trainer = trainers()[reranker]  # each fitted method registers its trainer (linkers.ranking.registry.Trainer)
    if without and "without" not in trainer.takes:
        raise click.UsageError("--without leaves inputs out of the fusion scorer only (--reranker fusion)")
    if also and "also" not in trainer.takes:
        raise click.UsageError("--also adds training documents for the learned reranker only")
    # a bad name is refused before any KB loading or linking
    data = data_paths(app.config)
    also_ds = [load_dataset(name, data=data) for name in also]
    if trainer.dev is not None:
        train_ds, dev_ds = _train_and_dev(app, dataset, split, dev_split, dev_data, limit, trainer.dev)
    else:
        train_ds, dev_ds = load_dataset(dataset, split if dataset in with_splits() else None, limit, data), None
        _ensure_kb(app, train_ds)
    request = TrainRequest(_stores(app), train_ds, dev_ds, split, dev_split, limit, top_k, context, detector, out,
                           split_names=with_splits(), cache_dir=app.config.home / "cache",
                           log=lambda line: click.echo(line, err=True), also=also_ds, also_weight=also_weight,
                           link=link_policy, span_model=span_model, simulate=simulate_nil,
                           nil_detected=nil_detected, nil_gazetteer=nil_gazetteer, seeds=seeds, without=without)
    result = trainer.fit(request)
    if as_json:
        echo_json(result.summary)
    else:
        click.echo(trainer.line(result.summary, request))
    _exit_if_bad(result.bad, show=not as_json)


def _train_and_dev(app: AppContext, dataset: str, split: str, dev_split: str, dev_data: str | None,
                   limit: int | None, why: str):
    """The training split and the held-apart dev documents (`why` says what they are for); the dataset's KB slice
    is loaded when the graph lacks it."""
    if dev_data is None and dataset not in with_splits():
        raise click.UsageError(f"{dataset} has no splits: give the held-apart documents with --dev-data FILE")
    if dev_data is None and split == dev_split:
        raise click.UsageError(f"--split and --dev-split must differ: {why}")
    data = data_paths(app.config)
    train_ds = load_dataset(dataset, split if dataset in with_splits() else None, limit, data)
    dev_name = dev_data or dataset
    dev_ds = load_dataset(dev_name, dev_split if dev_name in with_splits() else None, None, data)
    _ensure_kb(app, train_ds)
    return train_ds, dev_ds


__all__ = ["eval_cmd", "link_cmd", "train_cmd"]
