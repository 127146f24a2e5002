"""`kg index`: entities from the graph into the text, names, image and words indexes in Qdrant."""

from __future__ import annotations

import click

from kg.cli.context import AppContext, echo_json, pass_app
from kg.cli.engine import engine_options
from kg.indexers.index import Indexer, IndexOptions, IndexSummary
from kg.kgstore.encoders.static_text import static_encoder
from kg.kgstore.encoders.text import text_encoder_from_config
from kg.kgstore.entity_index import IMAGE, INDEXES, NAMES, TEXT, WORDS
from kg.kgstore.progress import progress_bar
from kg.ray_engine import RayOptions, ready


@click.command("index")
@click.option("--text", "want_text", is_flag=True, help="Build the text index (label, description, key attributes).")
@click.option("--names", "want_names", is_flag=True, help="Build the name index (exact and fuzzy lookup).")
@click.option("--images", "want_images", is_flag=True, help="Build the image index (needs an image model).")
@click.option("--words", "want_words", is_flag=True,
              help="Build the words index (description and attribute words, matched against mention contexts).")
@click.option("--recreate", is_flag=True,
              help="Drop and rebuild the collection (after adding an image model or changing the text model's size).")
@click.option("--page-size", type=click.IntRange(1), default=1000, show_default=True,
              help="Entities read from the graph and written to Qdrant per step.")
@click.option("--batch-size", type=click.IntRange(1), help="Texts per encoder batch (default: KG_TEXT_BATCH_SIZE, 64).")
@click.option("--limit", type=click.IntRange(1), help="Stop after N entities (in qid order).")
@click.option("--text-model", "text_model", type=click.Choice(["model", "static"]), default="model", show_default=True,
              help="How entity texts are encoded: model (the text model, KG_TEXT_MODEL); static (vectors distilled "
                   "from it, as kg link --context static: no network per text, for KBs too large to encode on the "
                   "available cores; a later run with model re-encodes them).")
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def index_cmd(app: AppContext, want_text: bool, want_names: bool, want_images: bool, want_words: bool, recreate: bool,
              page_size: int,
              batch_size: int | None, limit: int | None, text_model: str, ray: RayOptions | None, as_json: bool) -> None:
    """Encode the graph's entities into Qdrant: text vectors (sentence-transformers), names (normalised forms for
    exact lookup + character 3-grams for fuzzy lookup), images (CLIP) and words (description and attribute words,
    weighted by rarity). All four by default; a collection made before the words index gains it with --recreate.

    Incremental: only entities whose indexed content or model changed since the last run are encoded (a changed
    entity's payload is rewritten, however the graph was edited), so running it twice encodes nothing the second
    time, and an interrupted run continues when started again. Points of entities no longer in the graph are
    deleted. Images that
    cannot be fetched or decoded are skipped and reported, never fatal.
    """
    chosen = [i for i, wanted in ((TEXT, want_text), (NAMES, want_names), (IMAGE, want_images), (WORDS, want_words))
              if wanted]
    options = IndexOptions(
        indexes=tuple(chosen or INDEXES), explicit=bool(chosen), page_size=page_size,
        text_batch_size=batch_size,
        limit=limit, recreate=recreate,
    )
    if ray is not None:
        if text_model == "static":
            raise click.UsageError("--text-model static runs with --engine local only")
        ready(app.config)  # before any store is opened: the embedded ones are refused
    encoder = None
    if text_model == "static":
        encoder = static_encoder(text_encoder_from_config(app.config), app.config.models.cache_dir)
    indexer = Indexer(app.config, app.graph(), app.vectors(), options, text_encoder=encoder)
    with progress_bar(total=indexer.total(), desc="index", unit=" entities") as bar:
        def progress(n: int, summary: IndexSummary) -> None:
            bar.update(n)
            bar.set_postfix(encoded=summary.encoded, refresh=False)

        if ray is not None:
            from kg.ray_engine.index import index_on_ray  # Ray's pieces imported only when asked for

            summary = index_on_ray(indexer, ray, progress)
        else:
            summary = indexer.run(progress)
    if as_json:
        echo_json(summary.to_dict())
    else:
        _print_summary(summary)


def _print_summary(s: IndexSummary) -> None:
    click.echo(f"collection {s.collection}: {s.entities:,} entities in {s.seconds:.1f} s ({s.entities_per_s:,.0f}/s)")
    for name, st in s.indexes.items():
        skipped = sum(st.skipped.values())
        click.echo(f"  {name:<6} seen {st.seen:,}  encoded {st.encoded:,}  unchanged {st.unchanged:,}  skipped "
                   f"{skipped:,}  {st.seconds:.1f} s  {st.encoded_per_s:,.0f}/s")
        for reason, n in sorted(st.skipped.items()):
            examples = [e for e in st.skip_examples if e["reason"].split(" (")[0] == reason][:3]
            shown = ", ".join(f"{e['qid']} {e['source']}".strip() for e in examples)
            click.echo(f"         skipped {n:,}: {reason}" + (f" (e.g. {shown})" if shown else ""))
    for name, why in s.not_run.items():
        click.echo(f"  {name:<6} not run: {why}")
    if s.deleted:
        click.echo(f"  deleted {s.deleted:,} point(s) whose entity is no longer in the graph")
    if s.hnsw_restored:
        click.echo("  HNSW graph: deferred during the upload, now built by Qdrant in the background")
