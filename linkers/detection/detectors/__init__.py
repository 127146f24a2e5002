"""Mention detectors by name: each module of this package registers the detectors it builds, so a new detector
is one new file here; `--detector`'s choices and help come from this registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from kg.kgstore.config import Config
from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore
from kg.kgstore.registry import Registry


@dataclass
class DetectorServices:
    """What a detector is built from; the KB-name gazetteer is built (or loaded from its cache) on first use."""

    config: Config
    graph: GraphStore

    @cached_property
    def gazetteer(self) -> Any:
        from kg.linkers.detection.detectors.gazetteer import kb_gazetteer

        return kb_gazetteer(self.config, self.graph)


@dataclass(frozen=True)
class Detector:
    name: str
    build: Callable[[DetectorServices], Any]  # -> a span detector (linkers.detection.ner.SpanDetector)
    help: str
    order: int = 100


_DETECTORS: Registry[Detector] = Registry("mention detector", __name__)
register_detector = _DETECTORS.register
detectors = _DETECTORS.entries


def build_detector(name: str, config: Config, graph: GraphStore) -> Any:
    found = detectors().get(name)
    if found is None:
        raise InputError(f"unknown mention detector {name!r}; available: {', '.join(detectors())}")
    return found.build(DetectorServices(config, graph))


def detector_help() -> str:
    return ("Mention detection for text without spans: "
            + "; ".join(f"{d.name} ({d.help})" for d in detectors().values()) + ".")
