"""Rerankers: one module per method behind the `Reranker` interface; `load_reranker` picks one by name."""

from __future__ import annotations

from pathlib import Path

from kgstore.errors import InputError
from linkers.rerankers.base import Reranker
from linkers.rerankers.features import FeatureReranker

METHODS = ("features",)


def load_reranker(method: str, weights: Path | None = None) -> Reranker:
    if method == "features":
        return FeatureReranker.from_file(weights)
    raise InputError(f"unknown linking method {method!r}; available: {', '.join(METHODS)}")


__all__ = ["METHODS", "Reranker", "load_reranker"]
