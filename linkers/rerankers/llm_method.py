"""What the LLM methods share: base ranking first, selective invocation, call budgets, fallbacks, traces.

An LLM method never crashes linking and never links from an answer it could not map: an unreachable server,
an exhausted budget, an error or an unmappable answer all leave the base (non-LLM) ranking in place, with the
reason in the mention's trace. Mentions of a batch run in a thread pool so their calls overlap.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from kgstore.graph import GraphStore
from linkers.candidates import Candidate
from linkers.llm import BudgetExhausted, CallLog, LLMClient, LLMError, LLMUnavailable, RunStats
from linkers.rerankers.base import MentionInput, Ranking
from linkers.rerankers.features import FeatureReranker

WHEN = ("unsure", "always")


@dataclass
class LLMOptions:
    when: str = "unsure"  # "unsure": only when the base top-1/top-2 margin is below `margin`; "always"
    margin: float = 0.3  # in base-score units (the shipped weights put scores in 0..3)
    budget: int | None = None  # LLM calls per mention (cache hits count); None: the method's default


@dataclass
class MethodServices:
    """The models and stores a method may use; any of them may be absent."""

    client: LLMClient | None
    encode: Callable[[list[str]], np.ndarray] | None = None  # text encoder, L2-normalised rows
    image_encoder: Any = None  # kgstore.encoders.clip.ImageEncoder
    load_image: Callable[[str], Any] | None = None  # path/URL -> PIL image
    graph: GraphStore | None = None
    model_version: str | None = None  # text encoder version, part of the method version


@dataclass
class Outcome:
    """What a method's LLM step decided: a candidate (moved to the top), NIL, or nothing (keep the base)."""

    pick: Candidate | None = None
    nil: bool = False
    order: list[Candidate] | None = None  # a full new order, when the method re-scores everything
    sink: list[Candidate] = field(default_factory=list)  # candidates that failed checks: moved to the end


class LLMReranker:
    name = "llm"
    default_budget = 1

    def __init__(self, base: FeatureReranker, services: MethodServices, options: LLMOptions | None = None,
                 settings: dict[str, Any] | None = None):
        if (options or LLMOptions()).when not in WHEN:
            raise ValueError(f"--llm must be one of {', '.join(WHEN)}")
        self.base = base
        self.services = services
        self.client = services.client
        self.options = options or LLMOptions()
        self.settings = settings or {}
        self.stats = RunStats()
        self.seen = 0  # mentions ranked, consulted or not
        self._seen_lock = threading.Lock()
        self.nil_threshold = base.nil_threshold

    @property
    def budget(self) -> int:
        return self.options.budget if self.options.budget is not None else self.default_budget

    def version(self) -> str:
        key = {"base": self.base.version(), "llm": self.client.model_id() if self.client else None,
               "options": asdict(self.options), "settings": self.settings, "encoder": self.services.model_version}
        return f"{self.name}-{hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:8]}"

    # ---------------------------------------------------------------------------------------------- driving
    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        self.prepare(items)
        workers = self.client.settings.concurrency if self.client else 1
        if workers <= 1 or len(items) <= 1:
            return [self.rerank(m, c) for m, c in items]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda item: self.rerank(*item), items))

    def prepare(self, items: list[tuple[MentionInput, list[Candidate]]]) -> None:
        """Batch work before the per-mention calls (e.g. one graph query for all candidates' facts)."""

    def stats_json(self) -> dict[str, Any]:
        """Run totals; `calls_per_mention` is over consulted mentions, `calls_per_mention_all` over all."""
        data = self.stats.to_json()
        data["mentions_seen"] = self.seen
        data["calls_per_mention_all"] = round(data["calls"] / self.seen, 3) if self.seen else 0.0
        return data

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        with self._seen_lock:
            self.seen += 1
        ranked = self.base.rank(candidates)
        trace: dict[str, Any] = {"method": self.name, "invoked": False}
        if not ranked:
            return Ranking(ranked, trace=trace)
        margin = ranked[0].score - ranked[1].score if len(ranked) > 1 else math.inf
        trace["margin"] = round(margin, 4) if margin != math.inf else None
        if self.options.when == "unsure" and margin >= self.options.margin:
            trace["skipped"] = f"base ranking is sure (margin {margin:.3f} >= {self.options.margin})"
            return Ranking(ranked, trace=trace)
        if self.client is None or not self.client.available:
            self.stats.unavailable = True
            trace["fallback"] = "LLM unavailable: base ranking kept"
            return Ranking(ranked, trace=trace)
        trace["invoked"] = True
        log = CallLog(budget=self.budget)
        try:
            outcome = self.decide(mention, ranked, log, trace)
        except LLMUnavailable:
            self.stats.unavailable = True
            outcome, trace["fallback"] = Outcome(), "LLM unavailable: base ranking kept"
        except BudgetExhausted:
            outcome, trace["fallback"] = Outcome(), f"call budget ({self.budget}) spent: base ranking kept"
        except LLMError as exc:
            outcome, trace["fallback"] = Outcome(), f"LLM error ({exc}): base ranking kept"
        finally:
            self.stats.add(log)
            trace["llm"] = log.to_json()
        return self._apply(ranked, outcome, trace)

    def decide(self, mention: MentionInput, ranked: list[Candidate], log: CallLog, trace: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    @staticmethod
    def _apply(ranked: list[Candidate], outcome: Outcome, trace: dict[str, Any]) -> Ranking:
        order = list(outcome.order or ranked)
        if outcome.nil:
            trace["decision"] = "NIL"
            return Ranking(order, nil=True, trace=trace, decided=True)
        sunk = [c for c in order if c in outcome.sink and c is not outcome.pick]
        order = [c for c in order if c not in sunk] + sunk
        if outcome.pick is not None:
            order = [outcome.pick] + [c for c in order if c is not outcome.pick]
            trace["decision"] = outcome.pick.qid
            return Ranking(order, trace=trace, decided=True)
        return Ranking(order, trace=trace, decided=outcome.order is not None)


def clip_text(text: str | None, chars: int = 160) -> str:
    """The leading sentences of a description, about `chars` long (prompts stay short)."""
    text = " ".join((text or "").split())
    if len(text) <= chars:
        return text
    cut = text.rfind(". ", 0, chars)
    return text[: cut + 1] if cut >= chars // 2 else text[:chars].rstrip() + "…"


def candidate_description(c: Candidate) -> str:
    return clip_text(c.payload.get("description") or "")
