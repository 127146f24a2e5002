"""kg as a library: `from kg import KG; with KG.open() as kg: kg.link(text)` (see kg.api), and the spaCy component
"kg_linker" (kg.spacy_component, registered through spaCy's entry points).

The names below are imported on first use: spaCy imports kg.spacy_component (and so this package) through its entry
point whenever any pipeline loads, which must not pull in the linkers, the stores and their models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kg.api import KG, LinkedDoc, LinkedMention
    from kg.linkers.config import LinkConfig
    from kg.service import SearchResult

__all__ = ["KG", "LinkConfig", "LinkedDoc", "LinkedMention", "SearchResult"]
_HOMES = {"KG": "kg.api", "LinkedDoc": "kg.api", "LinkedMention": "kg.api", "LinkConfig": "kg.linkers.config",
          "SearchResult": "kg.service"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'kg' has no attribute {name!r}")
