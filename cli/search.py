"""`kg search`: what the name, text and image indexes return for a query."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from kg.cli.context import AppContext, echo_json, echo_table, pass_app
from kg.kgstore.images import is_url
from kg.kgstore.search import Hit, Searcher

DESCRIPTION_WIDTH = 60
COLUMNS = ["rank", "qid", "label", "score", "match", "description"]


@click.command("search")
@click.argument("query")
@click.option("--by", type=click.Choice(["name", "text", "image"]), default="name", show_default=True,
              help="name: exact + fuzzy name lookup; text: meaning of a description-like query; image: an image "
                   "path or URL (any other query is matched to images through CLIP's text tower).")
@click.option("-k", "--top-k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Hits to show.")
@click.option("--json", "as_json", is_flag=True, help="Hits (with their payload) as JSON.")
@pass_app
def search_cmd(app: AppContext, query: str, by: str, top_k: int, as_json: bool) -> None:
    """Search the entity indexes built by `kg index`: kg search "Douglas Adams" --by name."""
    searcher = Searcher(app.config, app.vectors())
    if by == "name":
        hits = searcher.by_name(query, top_k)
    elif by == "text":
        hits = searcher.by_text(query, top_k)
    elif is_url(query) or Path(query).expanduser().is_file():
        hits = searcher.by_image(query, top_k)
    else:
        hits = searcher.by_image_text(query, top_k)
    if as_json:
        echo_json([asdict(h) for h in hits])
        return
    echo_table([_row(rank, h) for rank, h in enumerate(hits, 1)], COLUMNS)


def _row(rank: int, hit: Hit) -> dict[str, object]:
    description = hit.payload.get("description") or ""
    if len(description) > DESCRIPTION_WIDTH:
        description = description[: DESCRIPTION_WIDTH - 1] + "…"
    return {"rank": rank, "qid": hit.qid, "label": hit.label, "score": f"{hit.score:.3f}", "match": hit.match,
            "description": description}
