"""Rerankers: one module per method behind the `Reranker` interface; `load_reranker` picks one by name.

`auto`, the default, ranks given spans with `features` (fitted weights) and detected spans with `learned`
(gradient-boosted trees over all features, with a fitted NIL decision); `kar`, `i2cr` and `thinklinker` run the papers' LLM steps on top of it and
fall back to it whenever the LLM cannot help (unreachable, over budget, unmappable answer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kgstore.errors import InputError
from linkers.rerankers.base import MentionInput, Ranking, Reranker
from linkers.rerankers.features import FeatureReranker

LLM_METHODS = ("kar", "i2cr", "thinklinker")
METHODS = ("auto", "features", "learned", "fusion", *LLM_METHODS)


def load_reranker(method: str, weights: Path | None = None, *, services: Any = None, llm: Any = None,
                  settings: dict[str, Any] | None = None) -> Reranker:
    """`services` (MethodServices), `llm` (LLMOptions) and `settings` (the method's section of the method
    config) matter to the LLM methods only."""
    if method in ("learned", "auto"):
        from linkers.rerankers.learned import LearnedReranker

        if method == "learned":
            return LearnedReranker.from_file(weights)
        from linkers.rerankers.auto import AutoReranker

        return AutoReranker(FeatureReranker.from_file(weights), LearnedReranker.from_file())
    if method == "fusion":
        from linkers.rerankers.fusion import FusionReranker

        return FusionReranker.from_file(weights)
    base = FeatureReranker.from_file(weights)
    if method == "features":
        return base
    if method not in LLM_METHODS:
        raise InputError(f"unknown linking method {method!r}; available: {', '.join(METHODS)}")
    from linkers.rerankers.i2cr import I2crReranker
    from linkers.rerankers.kar import KarReranker
    from linkers.rerankers.llm_method import MethodServices
    from linkers.rerankers.thinklinker import ThinkLinkerReranker

    cls = {"kar": KarReranker, "i2cr": I2crReranker, "thinklinker": ThinkLinkerReranker}[method]
    try:
        return cls(base, services or MethodServices(client=None), llm, settings)
    except ValueError as exc:
        raise InputError(f"{method}: {exc}") from exc


__all__ = ["LLM_METHODS", "METHODS", "MentionInput", "Ranking", "Reranker", "load_reranker"]
