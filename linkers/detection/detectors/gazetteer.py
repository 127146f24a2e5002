"""The KB-name gazetteer detectors: every name and alias (gazetteer), and NER spans plus name-like KB names
(hybrid)."""

from __future__ import annotations

from kg.kgstore.config import Config
from kg.kgstore.entities import entity_names, kb_fingerprint
from kg.kgstore.graph import GraphStore
from kg.kgstore.progress import progress
from kg.linkers.detection.detect import GazetteerDetector
from kg.linkers.detection.detectors import Detector, DetectorServices, register_detector
from kg.linkers.detection.ner import GazetteerSpans, HybridDetector, NERDetector


def kb_gazetteer(config: Config, graph: GraphStore) -> GazetteerDetector:
    """Built from the KB's names once per KB change, then loaded from its cache file."""
    n, fingerprint = kb_fingerprint(graph)
    path = config.home / "cache" / f"gazetteer-{config.qdrant.collection}.bin"

    def aliases():
        progress(f"building the mention gazetteer from {n:,} entities' names (once per KB change; cached in {path})")
        yield from entity_names(graph)

    return GazetteerDetector.cached(path, f"{config.graph.uri or 'embedded'}|{n}|{fingerprint}", aliases)


def _hybrid(s: DetectorServices) -> HybridDetector:
    return HybridDetector(NERDetector.from_config(s.config), s.gazetteer)


register_detector(Detector("hybrid", _hybrid, "NER spans plus the KB names that look like names; the learned "
                                              "reranker leaves unlikely ones unlinked", order=0))
register_detector(Detector("gazetteer", lambda s: GazetteerSpans(s.gazetteer),
                           "every KB name and alias: high recall, low precision on news", order=20))
