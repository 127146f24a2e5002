"""`kg export`: KB dumps written for other tools (the first bulk load of a large dump)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kg.cli.context import RegistryChoice, echo_json
from kg.indexers.bulk_export import ExportSummary, export_neo4j_bulk, import_command
from kg.indexers.formats import kb_formats
from kg.indexers.ingest import IngestOptions
from kg.kgstore.progress import progress_bar

EXIT_PARTIAL = 3


@click.group("export")
def export() -> None:
    """Write KB dumps as files other tools load."""


@export.command("neo4j-bulk")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Directory for the CSV files (created; must not hold an export already).")
@click.option("--format", "fmt", type=RegistryChoice(lambda: sorted(kb_formats())),
              help="Force the input format (default: detected from content).")
@click.option("--lang", "langs", multiple=True, default=("en",), show_default=True,
              help="Languages of labels, descriptions and aliases, in preference order (repeatable).")
@click.option("--fallback-lang", default="mul", show_default=True, help="Language used when none of --lang has a value.")
@click.option("--workers", type=click.IntRange(0), default=0, help="Decoding processes (default: one per core).")
@click.option("--errors", "errors_path", type=click.Path(path_type=Path),
              help="Where bad lines are recorded (default: OUT/export-errors.jsonl).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def neo4j_bulk(paths: tuple[Path, ...], out: Path, fmt: str | None, langs: tuple[str, ...], fallback_lang: str,
               workers: int, errors_path: Path | None, as_json: bool) -> None:
    """Write KB dumps as `neo4j-admin database import full` CSV files: the same parsers, properties, content
    hashes and stubs as `kg ingest`, so a later `kg ingest` of a newer dump only touches what changed.

    Exit code 0: everything exported; 3: some lines were bad (see the errors file); 1: failed (no files completed).
    """
    opts = IngestOptions(fmt=fmt, langs=langs, fallback=fallback_lang or None, workers=workers,
                         errors_path=errors_path)
    with progress_bar(desc="export neo4j-bulk", unit=" lines") as bar:
        def progress(lines: int, entities: int) -> None:
            bar.update(lines - bar.n)
            bar.set_postfix(entities=entities, refresh=False)

        summary = export_neo4j_bulk(list(paths), out, opts, progress)
    if as_json:
        echo_json(summary.to_dict())
    else:
        _print_summary(summary)
    if summary.status == "failed":
        sys.exit(1)
    if summary.status == "partial":
        sys.exit(EXIT_PARTIAL)


def _print_summary(s: ExportSummary) -> None:
    click.echo(f"{s.out}: entities {s.entities:,}  stubs {s.stubs:,}  relationships {s.relationships:,}  skipped "
               f"{s.skipped:,}  errors {s.errors:,}  {s.seconds:.1f} s  {s.entities_per_s:,.0f} entities/s")
    if s.errors_file:
        click.echo(f"  bad lines recorded in {s.errors_file}")
    if s.fatal:
        click.echo(f"error: {s.fatal}", err=True)
        return
    click.echo("load them into a new database (the Neo4j server stopped, the database absent) with:")
    click.echo(f"  {import_command(Path(s.out))}")
    click.echo("then start Neo4j, CREATE DATABASE if it is not the default one, and run `kg migrate`")
