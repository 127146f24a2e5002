"""The learned method: gradient-boosted trees (LightGBM) over every feature, with a calibrated NIL decision.

A weighted sum of five features cannot tell "Steve" (Jobs) from a hundred other Steves, nor a common word the
gazetteer marked from a name: that takes interactions (a high prior matters when the name is short, coherence
when the context is weak) and mention-level evidence (which detector found the span, its NER label, its shape).

The model scores each (mention, candidate) pair with the probability that linking the mention to the candidate is
right. It learns from annotated mentions, from detected spans that no annotator marked (every candidate wrong), and
from simulated out-of-KB mentions (an annotated mention again with its gold removed from the candidates: the right
answer is then none), so that NIL also means "not in the KB". A mention whose best probability is under the fitted
threshold (one for detected, one for given spans, on the same probability scale) stays unlinked.

`kg train --span-model` fits two models instead, so that what a benchmark's annotators chose to mark stays out of
which entity a name refers to: an **entity model** fitted on annotated (and simulated) mentions only, without the
keyphraseness, and a **span model** that scores whether a detected span is worth linking at all, from its shape and
the best evidence among its candidates; a detected span's scores are then the product of both. On the
leave-one-benchmark-out protocol it transferred worse than one model (README), so one model is the default; a file
without a span model scores detected spans with its one model.

The fitted model ships as one JSON file (`linkers/weights/learned.json`: the feature list, the thresholds, the
training protocol, the keyphraseness table and the LightGBM models' text, averaged at prediction); `kg train
--reranker learned` refits it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kg.kgstore.errors import InputError
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.detection.keyphrases import Keyphrases
from kg.linkers.features.scalar import AGE, COMMON, FEATURES, OVERLAP
from kg.linkers.ranking.base import FittedRanker, MentionInput, Ranking
from kg.linkers.ranking.registry import Method, Trainer, later, register_method

DEFAULT_MODEL = "learned.json"
DETECTORS = {None: 0.0, "ner": 1.0, "gazetteer": 2.0}
NER_LABELS = ("PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE")
PLATEAU = 0.002  # NIL thresholds whose dev F1 is this close to the best are equally good: take their middle
MENTION_FEATURES = ("m_detector", "m_ner", "m_tokens", "m_chars", "m_upper", "m_allcaps", "m_candidates",
                    "m_keyphrase", "m_exact", "name_gap", "context_gap", "prior_gap", "coherence_gap", "overlap_gap",
                    "age_gap")
# what each candidate carries in `features` (the rest of a row is the mention's shape and the gaps)
CANDIDATE_FEATURES = (*FEATURES, OVERLAP, AGE, COMMON)
ALL_FEATURES = CANDIDATE_FEATURES + MENTION_FEATURES
GAPS = ("name", "context", "prior", "coherence", OVERLAP, AGE)
# the entity model reads no keyphraseness: whether annotators mark a surface is the span model's question
ENTITY_FEATURES = tuple(k for k in ALL_FEATURES if k != "m_keyphrase")
# the span model: the mention's shape and, per feature, the best value among its candidates
BEST = ("name", "exact", "context", "popularity", "prior", "degree", "alias", "type", "coherence", "described",
        OVERLAP)
SPAN_FEATURES = ("m_detector", "m_ner", "m_tokens", "m_chars", "m_upper", "m_allcaps", "m_candidates",
                 "m_keyphrase", *(f"best_{k}" for k in BEST))


def mention_shape(mention: MentionInput, candidates: list[Candidate]) -> dict[str, float]:
    """What the mention itself looks like: which detector found it, its NER label, length, case, candidates."""
    surface = mention.surface.strip()
    words = surface.split()
    return {
        "m_detector": DETECTORS.get(mention.detector, 0.0),
        "m_ner": float(NER_LABELS.index(mention.ner_label) + 1) if mention.ner_label in NER_LABELS else 0.0,
        "m_tokens": float(len(words)),
        "m_chars": float(len(surface)),
        "m_upper": 1.0 if surface[:1].isupper() else 0.0,
        "m_allcaps": 1.0 if surface.isupper() and len(surface) > 1 else 0.0,
        "m_candidates": float(len(candidates)),
        # how many candidates bear the mention's own form as a name: 1 is an unambiguous KB name ("Denise Fox"),
        # 4 four bare namesakes that only renown tells apart ("Imperia")
        "m_exact": float(sum(1 for c in candidates if c.features.get("exact"))),
        "m_keyphrase": -1.0 if mention.keyphrase is None else mention.keyphrase,
    }


def span_row(mention: MentionInput, candidates: list[Candidate],
             features: tuple[str, ...] = SPAN_FEATURES) -> np.ndarray:
    """The span model's row of a detected mention: its shape and the best value of each feature among its
    candidates (the columns named by `features`)."""
    values = {**mention_shape(mention, candidates),
              **{f"best_{k}": max((c.features.get(k, 0.0) for c in candidates), default=0.0) for k in BEST}}
    return np.array([values[k] for k in features], dtype=np.float64)


def mention_rows(mention: MentionInput, candidates: list[Candidate],
                 features: tuple[str, ...] = ALL_FEATURES) -> np.ndarray:
    """One row per candidate: its features, the mention's shape and where it stands among the candidates (the
    columns named by `features`: a model keeps the ones it was fitted on)."""
    shape = mention_shape(mention, candidates)
    best = {k: max((c.features.get(k, 0.0) for c in candidates), default=0.0) for k in GAPS}
    rows = np.zeros((len(candidates), len(features)), dtype=np.float64)
    for i, c in enumerate(candidates):
        values = {**{k: c.features.get(k, 0.0) for k in CANDIDATE_FEATURES}, **shape,
                  **{f"{k}_gap": c.features.get(k, 0.0) - best[k] for k in best}}
        rows[i] = [values[k] for k in features]
    return rows


@dataclass
class Ensemble:
    """Boosters fitted with different bagging seeds, averaged: one refit's trees (and the end-to-end F1 with them)
    move with a handful of training rows; the mean of a few moves less."""

    boosters: list[Any]  # lightgbm.Booster

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.mean([b.predict(x) for b in self.boosters], axis=0)

    def model_strings(self) -> list[str]:
        return [b.model_to_string() for b in self.boosters]


@dataclass
class LearnedReranker(FittedRanker):
    booster: Ensemble
    features: tuple[str, ...]
    nil_detected: float | None  # threshold on the top probability for detected spans
    nil_given: float | None  # ... and for given spans
    meta: dict = field(default_factory=dict)
    digest: str = ""
    name: str = "learned"
    keyphrases: Keyphrases | None = None  # learned with the model: the detector's filter and a feature
    span: Ensemble | None = None  # the span model (detected spans); None: a model fitted before it
    span_features: tuple[str, ...] = SPAN_FEATURES
    nil_gazetteer: float | None = None  # a higher threshold for detected spans only the gazetteer found

    @classmethod
    def from_file(cls, path: Path | None = None) -> LearnedReranker:
        import lightgbm

        source = Path(path) if path else Path(__file__).resolve().parents[1] / "weights" / DEFAULT_MODEL
        try:
            text = source.read_text(encoding="utf-8")
            data = json.loads(text)
            booster = Ensemble([lightgbm.Booster(model_str=m) for m in data.get("models") or [data["model"]]])
            features = tuple(data["features"])
            span = Ensemble([lightgbm.Booster(model_str=m) for m in data["span_models"]]) \
                if data.get("span_models") else None
            span_features = tuple(data.get("span_features") or SPAN_FEATURES)
        except (OSError, ValueError, KeyError, TypeError, lightgbm.basic.LightGBMError) as exc:
            raise InputError(f"{source}: not a learned reranker model ({exc}); create one with "
                             "`kg train DATASET --reranker learned`") from exc
        unknown = [k for k in features if k not in ALL_FEATURES] + [k for k in span_features if k not in SPAN_FEATURES]
        if unknown or any(b.num_feature() != len(features) for b in booster.boosters) or (
                span is not None and any(b.num_feature() != len(span_features) for b in span.boosters)):
            raise InputError(f"{source}: its trees read {booster.boosters[0].num_feature()} columns, its features are "
                             f"{', '.join(features)}, and this kg computes {', '.join(ALL_FEATURES)}; refit it with "
                             "`kg train --reranker learned`")
        return cls(booster, features, data.get("nil_detected"), data.get("nil_given"), data.get("meta", {}),
                   hashlib.sha1(text.encode()).hexdigest()[:8], keyphrases=Keyphrases.from_json(data.get("keyphrases")),
                   span=span, span_features=span_features, nil_gazetteer=data.get("nil_gazetteer"))

    def version(self) -> str:
        return f"learned-{self.digest}"

    @property  # type: ignore[override]
    def wants(self) -> tuple[str, ...]:
        """Inputs the linker computes only for a method that asks (the words overlap: a vector-store request)."""
        return (OVERLAP,) if OVERLAP in self.features else ()

    def probabilities(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[np.ndarray]:
        """P(linking the mention to the candidate is right) for every candidate of every mention, one call of each
        model per batch: the entity model's probability, times the span model's for a detected span."""
        blocks = [mention_rows(m, c, self.features) for m, c in items]
        if not any(len(b) for b in blocks):
            return [np.zeros(0) for _ in blocks]
        scores = self.booster.predict(np.vstack([b for b in blocks if len(b)]))
        out, at = [], 0
        for b in blocks:
            out.append(scores[at:at + len(b)])
            at += len(b)
        detected = [i for i, (m, c) in enumerate(items) if m.detector is not None and c]
        if self.span is not None and detected:
            worth = self.span.predict(np.vstack([span_row(*items[i], self.span_features) for i in detected]))
            for i, p in zip(detected, worth):
                out[i] = out[i] * p
        return out

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        return self.rerank_many([(mention, candidates)])[0]

    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        rankings = []
        for (_, candidates), probs in zip(items, self.probabilities(items)):
            for c, p in zip(candidates, probs):
                c.score = round(float(p), 6)
            ranked = sorted(candidates, key=lambda c: (c.score, c.features.get("popularity", 0.0)), reverse=True)
            rankings.append(Ranking(ranked))
        return rankings

    def nil_threshold_for(self, detected: bool, detector: str | None = None) -> float | None:
        """The NIL threshold for a kind of span; a KB name that NER did not mark (a word of a longer name, a common
        noun) needs more evidence where the model says so."""
        if detected and detector == "gazetteer" and self.nil_gazetteer is not None:
            return max(self.nil_detected or 0.0, self.nil_gazetteer)
        return self.nil_detected if detected else self.nil_given


def best_threshold(tops: list[tuple[float, bool]], missed: int,
                   plateau: float = PLATEAU) -> tuple[float | None, float]:
    """The threshold on the top probability that maximises F1, and that F1.

    `tops`: per linked mention its top probability and whether the top candidate is right; mentions whose top
    is wrong or that are no mention at all count as false positives when linked. `missed`: gold mentions with
    no chance (not detected, or gold not retrieved) that are false negatives whatever the threshold. F1 is flat
    near its top, so the arg-max jumps with a few training rows (0.17 or 0.24 for two refits that differ in two
    rows): the threshold returned is the middle one of those within `plateau` of the best F1.
    """
    gold = sum(1 for _, ok in tops if ok) + missed
    if not tops or not gold:
        return None, 0.0
    scored = []
    for t in sorted({round(p, 4) for p, _ in tops} | {0.0}):
        tp = sum(1 for p, ok in tops if ok and p >= t)
        fp = sum(1 for p, ok in tops if not ok and p >= t)
        scored.append((t, 2 * tp / (2 * tp + fp + (gold - tp)) if tp else 0.0))
    best_f1 = max(f1 for _, f1 in scored)
    near = [t for t, f1 in scored if f1 >= best_f1 - plateau]
    best_t = near[len(near) // 2]
    return (None if best_t <= 0 or math.isclose(best_t, 0.0) else best_t), best_f1


register_method(Method("learned", lambda b: LearnedReranker.from_file(b.weights),
                       "gradient-boosted trees with a fitted NIL decision", order=20,
                       trainer=Trainer(later("kg.linkers.run:fit_learned"), later("kg.linkers.run:learned_line"),
                                       dev="the dev split stops training and sets the NIL thresholds",
                                       takes=frozenset({"also"}))))
