"""Linking methods by name: each method module registers itself, so a new method is one new file here.

The CLI's `--method` choices and help, the LLM check and the method config's known sections all come from this
registry; the modules of `linkers.ranking` are imported on first use to collect their registrations.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.kgstore.errors import InputError
from kg.kgstore.registry import Registry


@dataclass(frozen=True)
class MethodBuild:
    """What a method is built from; `services` (MethodServices), `llm` (LLMOptions) and `settings` (the method's
    table of the method config) matter to the LLM methods only."""

    weights: Path | None = None
    services: Any = None
    llm: Any = None
    settings: dict[str, Any] | None = None


# The TOML type(s) a method setting takes: int, float (an integer too), str, bool, list, or a tuple of them.
SettingType = type | tuple[type, ...]
TYPE_NAMES = {int: "a whole number", float: "a number", str: "text", bool: "true or false", list: "a list"}


def later(target: str) -> Callable[..., Any]:
    """The function "module:name", imported on its first call: a method module registers its trainer without
    importing the training code (which imports the linker, which imports the methods)."""
    module, name = target.split(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


@dataclass(frozen=True)
class Trainer:
    """How `kg train --reranker NAME` fits a method's model: `fit` takes a `linkers.run.TrainRequest` and returns a
    `TrainResult`, `line` says in one human line what was fitted. `dev` says why the method needs held-apart dev
    documents (None: it needs none); `takes` names the method-specific options it reads ("also", "without")."""

    fit: Callable[[Any], Any]
    line: Callable[[Any, Any], str]  # (TrainResult summary, TrainRequest) -> the line `kg train` prints
    dev: str | None = None
    takes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Method:
    name: str
    build: Callable[[MethodBuild], Any]  # -> Reranker
    help: str
    needs_llm: bool = False
    default_budget: str | None = None  # LLM calls per mention when --llm-budget is not given, as help shows it
    order: int = 100  # place in --method's choices and help
    settings: Mapping[str, SettingType] = field(default_factory=dict)  # its [name] table of --method-config
    trainer: Trainer | None = None  # how `kg train` fits it (None: it is not fitted by kg train)


_METHODS: Registry[Method] = Registry("linking method", "kg.linkers.ranking")
register_method = _METHODS.register
methods = _METHODS.entries  # every registered method, in help order


def get_method(name: str) -> Method:
    found = methods().get(name)
    if found is None:
        raise InputError(f"unknown linking method {name!r}; available: {', '.join(methods())}")
    return found


def check_settings(method: str, settings: Mapping[str, Any], types: Mapping[str, SettingType], where: str) -> None:
    """Refuse a key the method does not know (a misspelt setting would silently keep its default) and a value of
    the wrong type; `where` names the input (the method config file)."""
    unknown = sorted(set(settings) - set(types))
    if unknown:
        known = f"known: {', '.join(sorted(types))}" if types else f"{method} takes no settings"
        raise InputError(f"{where}: unknown {method} setting(s) {', '.join(unknown)} in [{method}]; {known}")
    for key, value in settings.items():
        wanted_type = types[key]
        kinds: tuple[type, ...] = wanted_type if isinstance(wanted_type, tuple) else (wanted_type,)
        if not any(_is(value, kind) for kind in kinds):
            wanted = " or ".join(TYPE_NAMES.get(kind, kind.__name__) for kind in kinds)
            raise InputError(f"{where}: [{method}] {key} must be {wanted}, got {value!r}")


def _is(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)


def trainers() -> dict[str, Trainer]:
    """The methods `kg train --reranker` fits, by name, in help order."""
    return {name: m.trainer for name, m in methods().items() if m.trainer is not None}


def method_help() -> str:
    """`--method`'s help: each method's own line."""
    return "Linking method: " + "; ".join(f"{m.name} ({m.help})" for m in methods().values()) + "."


def budget_help() -> str:
    budgets = [f"{m.name} {m.default_budget}" for m in methods().values() if m.needs_llm and m.default_budget]
    return "Most LLM calls per mention (cache hits count). Default: " + ", ".join(budgets) + "."
