"""`kg config`: every resolved setting, its value (never a secret's) and where it came from."""

from __future__ import annotations

import click

from kg.cli.context import AppContext, echo_json, pass_app
from kg.kgstore.config import ResolvedSetting, by_section, describe
from kg.linkers.config import describe as describe_link
from kg.linkers.evaluation.data_paths import describe as describe_data


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: {section: {name: {value, source, "
              "env}}}.")
@pass_app
def config_cmd(app: AppContext, as_json: bool) -> None:
    """Show every setting as resolved, grouped by section, with where its value came from.

    \b
    Each setting resolves as: command-line flag (--home, --graph-uri, --qdrant-url, --collection)
    > environment variable (the ENV column) > kg.toml in the data directory ([section] name = value;
    the link options' [link] and [link.llm]) > default. Secrets show only whether they are set; URLs show without user:password.
    Nothing is connected to: this reads the configuration only.
    """
    settings = describe(app.config) + describe_data(app.config) + describe_link(app.config)
    if as_json:
        echo_json(by_section((s.key, {"value": s.value, "source": s.source, "env": s.env}) for s in settings))
        return
    header = ("SETTING", "VALUE", "SOURCE", "ENV")
    # names in a section are indented under its [section] line
    rows = [(f"  {s.key.partition('.')[2]}" if "." in s.key else s.key, _text(s), s.source, s.env) for s in settings]
    widths = [max(len(row[i]) for row in [header, *rows]) + 2 for i in range(3)]
    click.echo("".join(h.ljust(w) for h, w in zip(header, widths)) + header[3])
    section = ""
    for s, (name, value, source, env) in zip(settings, rows):
        current = s.key.partition(".")[0] if "." in s.key else ""
        if current != section:
            section = current
            click.echo(f"[{section}]")
        click.echo(f"{name:<{widths[0]}}{value:<{widths[1]}}{source:<{widths[2]}}{env}")


def _text(setting: ResolvedSetting) -> str:
    if setting.secret:
        return "set" if setting.value else "not set"
    return "(unset)" if setting.value is None else str(setting.value)
