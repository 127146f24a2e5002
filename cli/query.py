"""`kg query`: read the graph: entity cards (and, with linking, mentions, documents, co-occurrence, paths)."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import click

from kg.cli.context import AppContext, echo_json, echo_table, pass_app
from kg.kgstore.cards import entity_card
from kg.kgstore.console import DEFAULT_LIMIT, DEFAULT_TIMEOUT, open_cypher, parse_params
from kg.kgstore.linked import cooccurring_entities, entity_documents, entity_mentions
from kg.kgstore.paths import MAX_PATH_HOPS, shortest_path

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
limit_option = click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True,
                            help="At most this many rows.")


def _name(label: str | None, qid: str) -> str:
    return f"{label} ({qid})" if label else qid


def _score(value: Any) -> str:
    return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


@click.group("query")
def query() -> None:
    """Ask the graph: `kg query entity Q42`, `kg query mentions Q42`, `kg query path Q42 Q5`, `kg query cypher ...`."""


@query.command("entity")
@click.argument("qid")
@json_option
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


@query.command("mentions")
@click.argument("qid")
@limit_option
@json_option
@pass_app
def mentions_cmd(app: AppContext, qid: str, limit: int, as_json: bool) -> None:
    """Where an entity is mentioned: linked mentions, best score first, with a context snippet each."""
    res = entity_mentions(app.graph(), qid.strip(), limit=limit)
    if as_json:
        echo_json(asdict(res))
        return
    name = _name(res.entity.label, res.entity.qid)
    if not res.mentions:
        click.echo(f"{name} has no linked mentions in the graph (`kg link` writes them).")
        return
    click.echo(f"Mentions of {name}, best score first ({len(res.mentions)} shown):")
    echo_table([
        {"score": _score(m.score), "document": m.doc_id, "surface": m.surface,
         "span": f"{m.start}-{m.end}" if m.start is not None else ("box" if m.box is not None else ""),
         "method": m.method, "context": m.snippet}
        for m in res.mentions
    ], ["score", "document", "surface", "span", "method", "context"])


@query.command("documents")
@click.argument("qid")
@limit_option
@json_option
@pass_app
def documents_cmd(app: AppContext, qid: str, limit: int, as_json: bool) -> None:
    """Documents mentioning an entity, with the number of its mentions in each and the best score."""
    res = entity_documents(app.graph(), qid.strip(), limit=limit)
    if as_json:
        echo_json(asdict(res))
        return
    name = _name(res.entity.label, res.entity.qid)
    if not res.documents:
        click.echo(f"{name} is not mentioned in any document in the graph (`kg link` writes mentions).")
        return
    click.echo(f"Documents mentioning {name}, most mentions first ({len(res.documents)} shown):")
    echo_table([{"document": d.doc_id, "mentions": d.mentions, "best_score": _score(d.best_score),
                 "source": d.source} for d in res.documents],
               ["document", "mentions", "best_score", "source"])


@query.command("cooccur")
@click.argument("qid")
@click.option("--limit", "--top", "-n", "limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="The top N entities.")
@json_option
@pass_app
def cooccur_cmd(app: AppContext, qid: str, limit: int, as_json: bool) -> None:
    """Entities mentioned in the same documents as QID, by number of shared documents."""
    res = cooccurring_entities(app.graph(), qid.strip(), limit=limit)
    if as_json:
        echo_json(asdict(res))
        return
    name = _name(res.entity.label, res.entity.qid)
    if not res.documents:
        click.echo(f"{name} is not mentioned in any document in the graph (`kg link` writes mentions).")
        return
    if not res.entities:
        click.echo(f"{name} is mentioned in {res.documents} document(s), with no other linked entity.")
        return
    click.echo(f"Entities in the {res.documents} document(s) mentioning {name}:")
    echo_table([{"qid": e.qid, "label": e.label, "shared_documents": e.shared_documents, "mentions": e.mentions}
                for e in res.entities], ["qid", "label", "shared_documents", "mentions"])


@query.command("path")
@click.argument("source")
@click.argument("target")
@click.option("--max-hops", type=click.IntRange(1, MAX_PATH_HOPS), default=4, show_default=True,
              help="Longest path searched, in claims.")
@json_option
@pass_app
def path_cmd(app: AppContext, source: str, target: str, max_hops: int, as_json: bool) -> None:
    """A shortest path between two entities over claims, in either direction."""
    res = shortest_path(app.graph(), source.strip(), target.strip(), max_hops=max_hops)
    if as_json:
        echo_json(asdict(res))
        return
    a, b = _name(res.source.label, res.source.qid), _name(res.target.label, res.target.qid)
    if not res.found:
        click.echo(f"No path between {a} and {b} within {max_hops} hops over claim relationships.")
        return
    if not res.hops:
        click.echo(f"{a} is the same entity as {b}: a path of 0 hops.")
        return
    click.echo(f"{len(res.hops)} hop(s) from {a} to {b}:")
    for h in res.hops:
        prop = _name(h.property, h.pid or "?")
        left, right = _name(h.from_label, h.from_qid), _name(h.to_label, h.to_qid)
        click.echo(f"  {left} -[{prop}]-> {right}" if h.forward else f"  {left} <-[{prop}]- {right}")


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal) end the command as Ctrl-C does, through the code that stops the
    query on the server, instead of ending the process on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _echo_json_rows(rows: Iterable[dict[str, Any]]) -> None:
    """One JSON array, written a row at a time as the rows arrive."""
    click.echo("[", nl=False)
    sep = "\n  "
    for row in rows:
        click.echo(sep + json.dumps(row, ensure_ascii=False, default=str), nl=False)
        sep = ",\n  "
    click.echo("\n]" if sep != "\n  " else "]")


@query.command("cypher")
@click.argument("statement", metavar="QUERY")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Query parameter $NAME (repeatable); VALUE is read as JSON when it parses, else as a string.")
@click.option("--write", is_flag=True, help="Allow the query to change the graph (default: read-only).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS",
              help="Time limit for the whole query, from start to the last row (and commit). It is sent to the server "
                   "as the transaction timeout (Neo4j enforces it); kg also stops waiting at the limit, drops the "
                   "connection and terminates the transaction on the server (TERMINATE TRANSACTION; ArcadeDB "
                   "needs this), then exits with an error. A --write query stopped so is rolled back. Ctrl-C, "
                   "SIGTERM and SIGHUP stop the query on the server the same way.")
@click.option("--limit", "-n", type=click.IntRange(min=0), default=DEFAULT_LIMIT, show_default=True,
              help="Print at most this many rows (0: all); rows are printed as they arrive, and stderr says when "
                   "more were cut. A --write query still runs to the end.")
@json_option
@pass_app
def cypher_cmd(app: AppContext, statement: str, params: tuple[str, ...], write: bool, timeout: float, limit: int,
               as_json: bool) -> None:
    """Run a Cypher query (read-only unless --write): `kg query cypher "MATCH (e:Entity) RETURN count(e) AS n"`."""
    values = parse_params(params)
    graph = app.graph()
    with _signals_interrupt(), open_cypher(graph, statement, values, write=write, timeout=timeout,
                                           limit=limit) as rows:
        if as_json:
            _echo_json_rows(rows)
        else:
            echo_table(({k: _cell(v) for k, v in row.items()} for row in rows), rows.columns,
                       empty="done: the query returned no rows" if write else "(no rows)")
    if rows.cut:
        click.echo(f"showing the first {rows.count} rows; more were cut: raise --limit, or --limit 0 for all",
                   err=True)
