"""I2CR: intra- and inter-modal collaborative reflections (digest in shared/docs/papers/i2cr.md).

Round 1 is text only: the LLM picks among the top-10 or answers nil (TES); the pick must be consistent with the
mention's text (ICR: text-embedding cosine > alpha, else it is excluded and the LLM picks again, up to
`reselects` times); then it must agree with the image (IAV: CLIP score of the mention image against the pick's
description >= beta). A failed IAV starts a visual round: one clue kind per round, in `order`, never repeated,
fed back into the text step. When clues run out, the round-1 pick stands (the repository's fallback).

Deviations, all configuration: the text embedder is the KB's text encoder (the paper uses SFR-Embedding-Mistral),
so alpha is on MiniLM's cosine scale; without a mention image or an image model, IAV compares the image's clue
text (caption and tags) with the description through the text encoder (threshold `beta_text`) instead of
failing every round; the answer is asked for as JSON with the candidate's number, 0 for nil (constrained where the
server can: a number grammar is much cheaper than a grammar over names), and names and the paper's `<|ANSWER|>:`
form are still parsed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kg.kgstore.entity_text import entity_text
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.features.clues import KINDS, build_sources, first_clue
from kg.linkers.features.scalar import cosine
from kg.linkers.ranking.base import MentionInput
from kg.linkers.ranking.llm import BudgetExhausted, CallLog, parse_choice
from kg.linkers.ranking.llm_method import LLMReranker, Outcome, candidate_description, llm_method_builder
from kg.linkers.ranking.registry import Method, SettingType, register_method

SYSTEM = ("Your task is to create matches between the mention and candidate entities to select the best-matched "
          "entity for the given mention. If no candidate matches the mention, you ANSWER: nil.")
DEFAULTS: dict[str, Any] = {
    "k": 10,  # candidates offered to the LLM
    "alpha": 0.35,  # ICR: accept when cosine(mention + context [+ clue], name + description) > alpha (MiniLM scale)
    "reselects": 3,  # ICR: re-picks after an inconsistent pick (the repository's cycle_num)
    "icr_fallback": "best",  # when every pick fails ICR: "best" cosine (repository) or "last" pick (paper)
    "iav": "auto",  # "clip" | "clues" | "none" | "auto" (clip when an image and image model exist, else clues)
    "beta": 31.0,  # IAV with CLIP: 100 x cosine(image, description), the paper's logit scale
    "beta_text": 0.15,  # IAV with clues: cosine(caption + tags, name + description) through the text encoder
    "order": ["ocr", "caption", "dense_captions", "tags"],  # one clue kind per visual round
}


class I2crReranker(LLMReranker):
    name = "i2cr"
    setting_types: dict[str, SettingType] = {
        "k": int, "alpha": float, "reselects": int, "icr_fallback": str, "iav": str, "beta": float, "beta_text": float,
        "order": list,
        "ocr": str, "caption_model": str, "tag_vocabulary": (str, list),  # these three: linkers.features.clues
    }
    default_budget = 10

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.settings = {**DEFAULTS, **self.settings}
        unknown = [k for k in self.settings["order"] if k not in KINDS]
        if unknown:
            raise ValueError(f"i2cr order: unknown clue kind(s) {unknown}; known: {', '.join(KINDS)}")
        self.sources = build_sources(self.settings, self.services.image_encoder, self.services.load_image)

    # ------------------------------------------------------------------------------------------------- steps
    def prompt(self, mention: MentionInput, options: list[Candidate], clue: str | None,
               excluded: Candidate | None) -> list[dict[str, str]]:
        given: dict[str, Any] = {"mention": mention.surface, "mention context text": mention.context}
        if clue:
            given["mention image information"] = f"Pay special attention to the mention image information: {clue}"
        given["candidate entities"] = {f"{i}. {c.label or c.qid}": candidate_description(c)
                                       for i, c in enumerate(options, 1)}
        user = (f"GIVEN:\n{given}\nChoose only one option from candidate entities; no explanations or multiple "
                'choices.\nAnswer as JSON: {"answer": <the number of the entity you selected, or 0 for nil>}')
        if excluded is not None:
            user += f"\nNote that {excluded.label or excluded.qid} in the candidates has been excluded."
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def _embed(self, texts: list[str]) -> np.ndarray | None:
        return self.services.encode(texts) if self.services.encode else None

    def _entity_text(self, c: Candidate) -> str:
        return entity_text(c.label or c.qid, c.payload.get("description"))

    def _icr(self, mention: MentionInput, pick: Candidate, clue: str | None) -> float | None:
        text = " ".join(p for p in (mention.surface, mention.context, clue) if p)
        vectors = self._embed([text, self._entity_text(pick)])
        return None if vectors is None else round(cosine(vectors[0], vectors[1]), 4)

    def _select(self, mention: MentionInput, cands: list[Candidate], clue: str | None, log: CallLog,
                record: dict[str, Any]) -> tuple[Candidate | None, bool, list[Candidate]]:
        """TES with ICR reflection: (pick or None, nil, picks that failed ICR)."""
        excluded: list[Candidate] = []
        scored: list[tuple[Candidate, float]] = []
        for _ in range(1 + int(self.settings["reselects"])):
            options = [c for c in cands if c not in excluded]
            if not options:
                break
            names = [c.label or c.qid for c in options]
            schema = {"type": "object", "properties": {"answer": {"type": "integer", "minimum": 0,
                                                                  "maximum": len(names)}}, "required": ["answer"]}
            reply = self.llm.chat(self.prompt(mention, options, clue, excluded[-1] if excluded else None),
                                  log=log, schema=schema)
            choice = parse_choice(reply.text, names, allow_nil=True)
            step: dict[str, Any] = {"answer": reply.text[:200]}
            record["steps"].append(step)
            if choice is None:
                step["unmapped"] = True
                return None, False, excluded
            if choice.nil or choice.index is None:  # the index is None exactly when NIL
                step["pick"] = "NIL"
                return None, True, excluded
            pick = options[choice.index]
            icr = self._icr(mention, pick, clue)
            step.update(pick=pick.qid, icr=icr)
            if icr is None or icr > float(self.settings["alpha"]):
                return pick, False, excluded
            excluded.append(pick)
            scored.append((pick, icr))
        if not scored:
            return None, False, excluded
        pick = max(scored, key=lambda s: s[1])[0] if self.settings["icr_fallback"] == "best" else scored[-1][0]
        record["icr_fallback"] = pick.qid
        return pick, False, [c for c in excluded if c is not pick]

    def _iav(self, mention: MentionInput, pick: Candidate) -> tuple[bool, float | None, str]:
        mode = self.settings["iav"]
        can_clip = self.services.image_encoder is not None and self.services.load_image and mention.image
        if mode == "auto":
            mode = "clip" if can_clip else "clues"
        if mode == "none":
            return True, None, "none"
        if mode == "clip":
            load_image = self.services.load_image
            if not can_clip or load_image is None or mention.image is None:  # the last two: can_clip says so
                return False, None, "clip: no image or image model"
            description = pick.payload.get("description") or pick.label or ""
            try:
                image = load_image(mention.image)
                iv = self.services.image_encoder.encode_images([image])[0]
                tv = self.services.image_encoder.encode_texts([description])[0]
            except Exception as exc:  # noqa: BLE001 - a broken image fails the check, as a missing one does
                return False, None, f"clip: {exc}"
            score = round(100 * cosine(iv, tv), 3)
            return score >= float(self.settings["beta"]), score, "clip"
        image_text = self._image_text(mention)
        if image_text is None and self.settings["iav"] == "auto":
            return True, None, "none"  # neither an image model nor image clues: nothing to check against
        vectors = self._embed([image_text, self._entity_text(pick)]) if image_text else None
        if vectors is None:
            return False, None, "clues: no caption or tags"
        score = round(cosine(vectors[0], vectors[1]), 4)
        return score >= float(self.settings["beta_text"]), score, "clues"

    def _image_text(self, mention: MentionInput) -> str | None:
        parts = [first_clue(self.sources[k], mention) for k in ("caption", "tags")]
        return ". ".join(p for p in parts if p) or None

    # ---------------------------------------------------------------------------------------------- control
    def decide(self, mention: MentionInput, ranked: list[Candidate], log: CallLog, trace: dict[str, Any]) -> Outcome:
        cands = ranked[: int(self.settings["k"])]
        rounds: list[dict[str, Any]] = []
        trace["rounds"] = rounds
        first: Candidate | None = None
        failed: list[Candidate] = []
        kinds = iter(self.settings["order"])
        kind: str | None = None
        clue: str | None = None
        try:
            while True:
                record: dict[str, Any] = {"round": len(rounds) + 1, "clue_kind": kind, "clue": clue, "steps": []}
                rounds.append(record)
                pick, nil, inconsistent = self._select(mention, cands, clue, log, record)
                failed += inconsistent
                if nil:
                    return Outcome(nil=True)
                if pick is None:
                    trace["fallback"] = "answer maps to no candidate"
                    return Outcome(pick=first, sink=failed) if first else Outcome()
                first = first or pick
                passed, score, how = self._iav(mention, pick)
                record.update(pick=pick.qid, iav=score, iav_mode=how, accepted=passed)
                if passed:
                    return Outcome(pick=pick, sink=failed)
                failed.append(pick)
                kind, clue = self._next_clue(kinds, mention)
                if kind is None:
                    trace["final"] = "clues exhausted: round-1 pick"
                    return Outcome(pick=first, sink=failed)
        except BudgetExhausted:
            trace["fallback"] = f"call budget ({self.budget}) spent"
            if first is None:
                raise
            return Outcome(pick=first, sink=failed)

    def _next_clue(self, kinds: Any, mention: MentionInput) -> tuple[str | None, str | None]:
        for kind in kinds:
            clue = first_clue(self.sources[kind], mention)
            if clue:
                return kind, clue
        return None, None


register_method(Method('i2cr', llm_method_builder(I2crReranker), 'text, consistency and image checks, visual-clue rounds', needs_llm=True,
                       default_budget='10', order=40, settings=I2crReranker.setting_types))
