"""Entry point: global options resolve the configuration; errors a user can fix print without a traceback."""

from __future__ import annotations

import logging
import sys

import click
from neo4j.exceptions import DriverError, Neo4jError

from kg.cli.admin import migrate_cmd, server, status_cmd
from kg.cli.config_cmd import config_cmd
from kg.cli.context import AppContext
from kg.cli.export import export
from kg.cli.index import index_cmd
from kg.cli.ingest import ingest_cmd
from kg.cli.link import eval_cmd, link_cmd, train_cmd
from kg.cli.query import query
from kg.cli.search import search_cmd
from kg.cli.serve import serve_cmd
from kg.kgstore.config import load_config
from kg.kgstore.errors import KgError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--home", type=click.Path(file_okay=False), help="Data directory (env KG_HOME, default ~/.kg).")
@click.option("--graph-uri", help="bolt:// or neo4j:// URI of a graph server (env KG_GRAPH_URI; unset: embedded).")
@click.option("--qdrant-url", help="URL of a Qdrant server (env KG_QDRANT_URL; unset: local mode under the home).")
@click.option("--collection", help="Qdrant collection of the KB (env KG_COLLECTION, default kg_entities).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="kg")
@click.pass_context
def cli(ctx: click.Context, home: str | None, graph_uri: str | None, qdrant_url: str | None,
        collection: str | None, verbose: int) -> None:
    """kg: an entity knowledge graph (Bolt/Cypher graph + Qdrant vectors) with entity linkers.

    \b
    Typical use:
      kg ingest latest-all.json.bz2     # KB into the graph
      kg index                          # text, name and image vectors into Qdrant
      kg link corpus.jsonl              # mentions -> QIDs, written back into the graph
      kg query mentions Q42             # where an entity is mentioned

    Settings: command-line flag > environment (KG_*) > kg.toml in the data directory > defaults; `kg config`
    shows each one and where it came from.
    With no KG_GRAPH_URI, kg starts (and reuses) an embedded ArcadeDB Bolt server under the data directory.
    """
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    config = load_config({"home": home, "graph.uri": graph_uri, "qdrant.url": qdrant_url,
                          "qdrant.collection": collection})
    app = AppContext(config)
    ctx.obj = app
    ctx.call_on_close(app.close)


cli.add_command(server)
cli.add_command(migrate_cmd)
cli.add_command(status_cmd)
cli.add_command(config_cmd)
cli.add_command(ingest_cmd)
cli.add_command(export)
cli.add_command(query)
cli.add_command(link_cmd)
cli.add_command(eval_cmd)
cli.add_command(train_cmd)
cli.add_command(index_cmd)
cli.add_command(search_cmd)
cli.add_command(serve_cmd)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KgError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (DriverError, Neo4jError) as exc:  # the graph server went away mid-command
        message = exc.message if isinstance(exc, Neo4jError) and exc.message else str(exc)
        click.echo(f"error: lost the graph server ({type(exc).__name__}: {' '.join(message.split())[:300]}); "
                   "what was committed before is kept: rerun the command once the server is back (`kg ingest` "
                   "and `kg link` with --resume)", err=True)
        sys.exit(1)
    except OSError as exc:  # e.g. a read-only or full KG_HOME
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"error: cannot use{where}: {exc.strerror or exc}; KG_HOME (or --home) must be a writable "
                   "directory with free space: fix it, or point KG_HOME elsewhere, and rerun", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
