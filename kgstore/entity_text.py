"""The text an entity's text vector encodes, one recipe for every place that encodes one.

The index encodes it for every entity; the given-candidates benchmarks and I2CR's consistency check encode it for
candidates at link time. A mention is compared with these vectors, so all of them must be spelled alike.
"""

from __future__ import annotations

from collections.abc import Sequence


def entity_text(label: str | None, description: str | None,
                attributes: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    """"label: description. born: 1952-03-11; ..." (at most two values per attribute); "" with neither a label nor
    a description."""
    head = ": ".join(p for p in (label, description) if p)
    if not head:
        return ""
    tail = "; ".join(f"{name}: {', '.join(values[:2])}" for name, values in attributes if values)
    return f"{head}. {tail}" if tail else head
