"""What every command shares: the resolved configuration and lazily opened stores (kg.context's, which the Python API
and `kg serve` use too), and the output helpers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from typing import Any

import click

from kg.context import StoreContext

AppContext = StoreContext  # the commands' name for it


pass_app = click.make_pass_decorator(AppContext)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def echo_table(rows: Iterable[dict[str, Any]], columns: list[str], *, empty: str = "(none)",
               page: int = 1000) -> None:
    """A plain aligned table for people, printed as the rows come (widths fit the first `page` rows, so a long
    result is never held whole); `--json` is the format for programs."""
    it = iter(rows)
    first = list(itertools.islice(it, page))
    if not first:
        click.echo(empty)
        return

    def cells(row: dict[str, Any]) -> list[str]:
        return ["" if row.get(c) is None else str(row.get(c)) for c in columns]

    widths = [max(len(c), *(len(row[i]) for row in map(cells, first))) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)))
    for row in itertools.chain(first, it):
        click.echo("  ".join(v.ljust(w) for v, w in zip(cells(row), widths)))


class RegistryChoice(click.Choice):
    """Choices read from a registry when used, so that a name registered after the CLI was built counts too."""

    def __init__(self, names: Callable[[], Iterable[str]]) -> None:
        self._names = names
        super().__init__(list(names()))

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, value: Any) -> None:  # click's __init__ assigns it; the registry stays the source
        pass


class RegistryOption(click.Option):
    """An option whose help is built from a registry when shown (use with `cls=` and `help_from=`)."""

    def __init__(self, *args: Any, help_from: Callable[[], str], **kwargs: Any) -> None:
        kwargs["help"] = help_from()
        super().__init__(*args, **kwargs)
        self._help_from = help_from

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = self._help_from()
        return super().get_help_record(ctx)
