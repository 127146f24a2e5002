"""The spaCy NER detector (KG_NER_MODEL)."""

from __future__ import annotations

from linkers.detectors import Detector, register_detector
from linkers.ner import NERDetector

register_detector(Detector("ner", lambda s: NERDetector(s.config.models.ner), "spaCy NER only, KG_NER_MODEL",
                           order=10))
