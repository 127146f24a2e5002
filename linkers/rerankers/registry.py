"""Linking methods by name: each method module registers itself, so a new method is one new file here.

The CLI's `--method` choices and help, the LLM check and the method config's known sections all come from this
registry; the modules of `linkers.rerankers` are imported on first use to collect their registrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kgstore.errors import InputError
from kgstore.registry import Registry


@dataclass(frozen=True)
class MethodBuild:
    """What a method is built from; `services` (MethodServices), `llm` (LLMOptions) and `settings` (the method's
    table of the method config) matter to the LLM methods only."""

    weights: Path | None = None
    services: Any = None
    llm: Any = None
    settings: dict[str, Any] | None = None


@dataclass(frozen=True)
class Method:
    name: str
    build: Callable[[MethodBuild], Any]  # -> Reranker
    help: str
    needs_llm: bool = False
    default_budget: str | None = None  # LLM calls per mention when --llm-budget is not given, as help shows it
    order: int = 100  # place in --method's choices and help


_METHODS: Registry[Method] = Registry("linking method", "linkers.rerankers")
register_method = _METHODS.register
methods = _METHODS.entries  # every registered method, in help order


def get_method(name: str) -> Method:
    found = methods().get(name)
    if found is None:
        raise InputError(f"unknown linking method {name!r}; available: {', '.join(methods())}")
    return found


def method_help() -> str:
    """`--method`'s help: each method's own line."""
    return "Linking method: " + "; ".join(f"{m.name} ({m.help})" for m in methods().values()) + "."


def budget_help() -> str:
    budgets = [f"{m.name} {m.default_budget}" for m in methods().values() if m.needs_llm and m.default_budget]
    return "Most LLM calls per mention (cache hits count). Default: " + ", ".join(budgets) + "."
