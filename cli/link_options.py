"""The link options' click flags, generated from their one definition (kg.linkers.config.LinkConfig): `kg link`,
`kg eval`, `kg serve` and `kg train` take the same flags with the same types, defaults and help, and a new option
appears in each without a line here."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from kg.cli.context import RegistryChoice, RegistryOption
from kg.linkers.config import LinkConfig, OptionSpec, specs


def click_option(spec: OptionSpec, dest: str | None = None) -> Callable[[Any], Any]:
    """The flag of one option: a choice, a number in its range, a file, or a --x/--no-x switch."""
    kind: Any
    if spec.kind is bool:
        return click.option(spec.bool_flag or spec.flag, dest or spec.name, default=spec.default, show_default=True,
                            cls=RegistryOption, help_from=spec.help_from)
    if spec.choices is not None:
        kind = RegistryChoice(spec.choices)
    elif spec.kind is int:
        kind = click.IntRange(_whole(spec.low), _whole(spec.high)) if spec.low is not None or spec.high is not None else int
    elif spec.kind is Path:
        kind = click.Path(exists=True, dir_okay=False, path_type=Path)
    else:
        kind = spec.kind  # float: LinkConfig refuses NaN and out-of-range values with the flag's name
    return click.option(spec.flag, dest or spec.name, type=kind, default=spec.default,
                        show_default=spec.default is not None, cls=RegistryOption, help_from=spec.help_from)


def _whole(bound: float | None) -> int | None:
    return None if bound is None else int(bound)


def link_options(exclude: Collection[str] = (), cls: type[LinkConfig] = LinkConfig) -> Callable[[Any], Any]:
    """Adds every option of `cls` but `exclude`; the command gets `link`: the options given on the command line, by
    name (the rest come from the environment, kg.toml or the defaults when they are resolved: KG.link_options)."""
    chosen = [spec for spec in specs(cls) if spec.name not in exclude]

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            values = {spec.name: kwargs.pop(spec.name) for spec in chosen}
            return f(*args, link=given_on_command_line(ctx, values), **kwargs)

        for spec in reversed(chosen):
            wrapper = click_option(spec)(wrapper)
        return wrapper

    return decorate


def some_link_options(names: Mapping[str, str]) -> Callable[[Any], Any]:
    """Adds the link options `names` (option -> the command's parameter), each handed over as its own argument with
    the flag's value (`kg train`, whose options describe the model it fits rather than a linking run)."""
    chosen = [spec for spec in specs() if spec.name in names]

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for spec in reversed(chosen):
            f = click_option(spec, names[spec.name])(f)
        return f

    return decorate


def given_on_command_line(ctx: click.Context, values: Mapping[str, Any]) -> dict[str, Any]:
    """The options whose value the command line gave (a flag's default must not hide kg.toml's value)."""
    return {name: value for name, value in values.items()
            if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}
