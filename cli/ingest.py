"""`kg ingest`: KB files into the graph."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from kg.cli.context import AppContext, RegistryChoice, echo_json, pass_app
from kg.cli.engine import engine_options
from kg.indexers.formats import kb_formats
from kg.indexers.ingest import IngestOptions, IngestSummary, ingest
from kg.kgstore.progress import progress_bar
from kg.ray_engine import RayOptions, import_ray

EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130  # as a shell reports a command ended by Ctrl-C


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=RegistryChoice(lambda: sorted(kb_formats())), help="Force the input format (default: detected from content).")
@click.option("--lang", "langs", multiple=True, default=("en",), show_default=True,
              help="Languages of labels, descriptions and aliases, in preference order (repeatable).")
@click.option("--fallback-lang", default="mul", show_default=True, help="Language used when none of --lang has a value.")
@click.option("--workers", type=click.IntRange(0), default=0, help="Decoding processes (default: one per core).")
@click.option("--batch-size", type=click.IntRange(1), default=2000, show_default=True, help="Entities per write transaction.")
@click.option("--limit", type=click.IntRange(1), help="Stop after N entities.")
@click.option("--resume", is_flag=True, help="Continue after the last committed batch of an interrupted ingest of the same file.")
@click.option("--errors", "errors_path", type=click.Path(path_type=Path), help="Where bad lines are recorded (default: under the home).")
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def ingest_cmd(app: AppContext, paths: tuple[Path, ...], fmt: str | None, langs: tuple[str, ...], fallback_lang: str,
               workers: int, batch_size: int, limit: int | None, resume: bool, errors_path: Path | None,
               ray: RayOptions | None, as_json: bool) -> None:
    """Load KB files into the graph: Wikidata JSON dumps (.json, .gz, .bz2, as published), JSON lines, single
    entities, wbgetentities responses, custom entity JSONL, or a WikiMEL KB directory.

    Streaming in constant memory; bad lines are skipped and recorded; re-running changes nothing.
    Exit code 0: everything ingested; 3: some lines were bad (see the errors file); 1: failed (e.g. truncated
    file: what was read before the damage is kept, rerun with --resume once the file is complete); 130: interrupted
    (Ctrl-C; the last committed line and the --resume command are printed).
    """
    parser = None
    if ray is not None:
        import_ray()  # its tasks only parse (the writes stay here): the embedded graph serves too
        from kg.ray_engine.ingest import parsed_chunks_on_ray  # Ray's pieces imported only when asked for

        parser = parsed_chunks_on_ray(ray)
    graph = app.graph()
    summaries: list[IngestSummary] = []
    for path in paths:
        opts = IngestOptions(
            fmt=fmt, langs=langs, fallback=fallback_lang or None, workers=workers, batch_size=batch_size,
            limit=limit, resume=resume, parser=parser,
            errors_path=errors_path or app.config.home / "ingest-errors" / f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.jsonl",
        )
        with progress_bar(desc=f"ingest {path.name}", unit=" lines") as bar:
            def progress(lines: int, entities: int) -> None:
                bar.update(lines - bar.n)
                bar.set_postfix(entities=entities, refresh=False)

            summary = ingest(graph, path, opts, progress)
        summaries.append(summary)
        if not as_json:
            _print_summary(summary)
        if summary.interrupted:  # Ctrl-C: the files after this one are not started
            break
    if as_json:
        echo_json(_json_summary(summaries))
    statuses = {s.status for s in summaries}
    if summaries[-1].interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if "failed" in statuses:
        sys.exit(1)
    if "partial" in statuses:
        sys.exit(EXIT_PARTIAL)


def _print_summary(s: IngestSummary) -> None:
    resumed = f" (resumed after line {s.resumed_from_line:,})" if s.resumed_from_line else ""
    click.echo(f"{s.path} [{s.format}]{resumed}")
    click.echo(
        f"  lines {s.lines_read:,}  entities written {s.entities:,}  unchanged {s.unchanged:,}  relationships "
        f"{s.relationships:,}  skipped {s.skipped:,}  errors {s.errors:,}  {s.seconds:.1f} s  {s.entities_per_s:,.0f} entities/s"
    )
    if s.note:
        click.echo(f"  note: {s.note}")
    if s.errors_file:
        click.echo(f"  bad lines recorded in {s.errors_file}")
    if s.fatal:
        click.echo(f"error: {s.fatal}", err=True)


def _json_summary(summaries: list[IngestSummary]) -> dict:
    """One object whatever the number of files: the totals, and `files` with each file's summary."""
    files = [x.to_dict() for x in summaries]
    totals = {k: sum(f[k] for f in files) for k in ("lines_read", "entities", "unchanged", "relationships", "skipped",
                                                    "errors")}
    seconds = sum(x.seconds for x in summaries)
    worst = next((st for st in ("failed", "partial") if any(f["status"] == st for f in files)), "ok")
    return {**totals, "seconds": round(seconds, 3),
            "entities_per_s": round(totals["entities"] / seconds, 1) if seconds else 0.0, "status": worst,
            "files": files}
