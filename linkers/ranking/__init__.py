"""Rerankers: one module per method behind the `Reranker` interface; `load_reranker` picks one by name.

`auto`, the default, ranks given spans with `fusion` (the neural fusion scorer) and detected spans with `learned`
(gradient-boosted trees over all features, with a fitted NIL decision); `kar`, `i2cr` and `thinklinker` run the papers' LLM steps on top of it and
fall back to it whenever the LLM cannot help (unreachable, over budget, unmappable answer). Each method module
registers itself in `linkers.ranking.registry`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kg.linkers.ranking.base import MentionInput, Ranker, RankerBase, Ranking, Reranker
from kg.linkers.ranking.registry import MethodBuild, get_method


def load_reranker(method: str, weights: Path | None = None, *, services: Any = None, llm: Any = None,
                  settings: dict[str, Any] | None = None) -> Ranker:
    """`services` (MethodServices) and `llm` (LLMOptions) matter to the LLM methods only; `settings` (the method's
    table of kg.toml's [link] or of the method config) to the methods that declare settings."""
    return get_method(method).build(MethodBuild(weights=weights, services=services, llm=llm, settings=settings))


__all__ = ["MentionInput", "Ranker", "RankerBase", "Ranking", "Reranker", "load_reranker"]
