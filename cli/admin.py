"""Administration commands: the embedded server, migrations, status."""

from __future__ import annotations

import click

from kg.cli.context import AppContext, echo_json, echo_table, pass_app
from kg.kgstore import embedded, migrate, stats


@click.group()
def server() -> None:
    """See, start or stop the embedded graph server (used when KG_GRAPH_URI is unset)."""


@server.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def server_status(app: AppContext, as_json: bool) -> None:
    """Is the embedded server running, on which port, with which pid."""
    state = embedded.read_state(app.config.home)
    data = {"running": state is not None, "home": str(app.config.home)}
    if state:
        data.update(pid=state.pid, uri=state.uri, http_port=state.http_port, root=state.root)
    if as_json:
        echo_json(data)
    elif state:
        click.echo(f"running: pid {state.pid}, {state.uri} (data {state.root})")
    else:
        click.echo(f"not running (home {app.config.home})")
        _point_at_others(app)


def _point_at_others(app: AppContext) -> None:
    """A server started under another KG_HOME (the demo's .kg-demo) is invisible from this one: name it."""
    for home in embedded.running_homes():
        if home != app.config.home:
            click.echo(f"an embedded graph server runs under {home}: kg --home {home} server stop")


@server.command("start")
@pass_app
def server_start(app: AppContext) -> None:
    """Start the embedded server now (commands also start it on demand)."""
    state = embedded.ensure_server(app.config.home, app.config.graph.heap, app.config.graph.idle_timeout)
    click.echo(f"running: pid {state.pid}, {state.uri}")


@server.command("stop")
@pass_app
def server_stop(app: AppContext) -> None:
    """Stop the embedded server cleanly; data stays under the home directory."""
    if embedded.stop_server(app.config.home):
        click.echo("stopped")
    else:
        click.echo(f"not running (home {app.config.home})")
        _point_at_others(app)


@click.command("migrate")
@click.option("--status", "show_status", is_flag=True, help="List applied and pending migrations; apply nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def migrate_cmd(app: AppContext, show_status: bool, as_json: bool) -> None:
    """Apply pending schema migrations (constraints, indexes) in order, each once."""
    graph = app.graph(migrate=False)
    if not show_status:
        applied = migrate.migrate(graph)
        if not as_json:
            for m in applied:
                click.echo(f"applied {m.version:04d}_{m.name}")
            if not applied:
                click.echo("schema is up to date")
    rows = [vars(s) for s in migrate.status(graph)]
    if as_json:
        echo_json(rows)
    elif show_status:
        echo_table(rows, ["version", "name", "state", "applied_at"])


COUNT_NOTES = {"entities": "ingested (each gets a vector from `kg index`)",
               "stubs": "claim targets not ingested (no vector)"}


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status_cmd(app: AppContext, as_json: bool) -> None:
    """Backends, their versions and locations (no secrets), and counts of what is stored."""
    data = stats.status(app.config, app.graph(), app.vectors())
    if as_json:
        echo_json(data)
        return
    g, v = data["graph"], data["vectors"]
    click.echo(f"home     {data['home']}")
    click.echo(f"graph    {g['kind']}  {g['uri']}  db={g['database']}  {g['server']}  bolt {g['bolt']}")
    click.echo(f"vectors  {v['kind']}  {v['location']}  {v['version']}  collection={v['collection']}")
    for name, n in data["counts"].items():
        click.echo(f"{name:<14}{n:>12,}" + (f"  {COUNT_NOTES[name]}" if name in COUNT_NOTES else ""))
