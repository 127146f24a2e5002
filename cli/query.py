"""`kg query`: read the graph: entity cards (and, with linking, mentions, documents, co-occurrence, paths)."""

from __future__ import annotations

from dataclasses import asdict

import click

from cli.context import AppContext, echo_json, pass_app
from kgstore.queries import entity_card


@click.group("query")
def query() -> None:
    """Ask the graph: `kg query entity Q42`."""


@query.command("entity")
@click.argument("qid")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def entity_cmd(app: AppContext, qid: str, as_json: bool) -> None:
    """The card of one entity: labels, aliases, description, types, relations, attributes, images."""
    card = entity_card(app.graph(), qid.strip())
    if as_json:
        echo_json(asdict(card))
        return
    click.echo(f"{card.qid}  {card.label or '(no label)'}" + ("  [stub: referenced, not ingested]" if card.stub else ""))
    if card.description:
        click.echo(f"  {card.description}")
    if card.aliases:
        click.echo(f"  aliases: {', '.join(card.aliases)}")
    if card.types:
        click.echo("  types: " + ", ".join(f"{t['label'] or t['qid']} ({t['qid']})" for t in card.types))
    if card.wikipedia_url:
        click.echo(f"  wikipedia: {card.wikipedia_url}   sitelinks: {card.sitelinks}")
    for img in card.images:
        click.echo(f"  image: {img['url']}")
    if card.attributes:
        click.echo("  attributes:")
        for a in card.attributes:
            name = f"{a['property']} ({a['key']})" if a["property"] else a["key"]
            click.echo(f"    {name}: {'; '.join(a['values'])}")
    if card.relations:
        click.echo("  relations:")
        for r in card.relations:
            prop = f"{r['property']} ({r['pid']})" if r["property"] else r["pid"]
            click.echo(f"    {prop} -> {r['target_label'] or '?'} ({r['target']})")
