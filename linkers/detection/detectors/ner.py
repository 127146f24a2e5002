"""The spaCy NER detector (KG_NER_MODEL)."""

from __future__ import annotations

from kg.linkers.detection.detectors import Detector, register_detector
from kg.linkers.detection.ner import NERDetector

register_detector(Detector("ner", lambda s: NERDetector.from_config(s.config), "spaCy NER only, KG_NER_MODEL",
                           order=10))
