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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kg.kgstore.errors import InputError
from kg.kgstore.graph import GraphStore
from kg.linkers.candidates.retrieval import Candidate
from kg.linkers.ranking.base import MentionInput, RankerBase, Ranking, top_margin
from kg.linkers.ranking.features import FeatureReranker
from kg.linkers.ranking.llm import BudgetExhausted, CallLog, LLMClient, LLMError, LLMUnavailable, RunStats
from kg.linkers.ranking.registry import MethodBuild, SettingType, check_settings

WHEN = ("unsure", "always")


@dataclass
class LLMOptions:
    when: str = "unsure"  # "unsure": only when the base top-1/top-2 margin is below `margin`; "always"
    margin: float = 0.3  # in the base ranking's raw weighted sums (the shipped weights put them in 0..3)
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


class LLMReranker(RankerBase):
    name = "llm"
    default_budget = 1
    setting_types: dict[str, SettingType] = {}  # its [method] table in --method-config: keys and their types

    def __init__(self, base: FeatureReranker, services: MethodServices, options: LLMOptions | None = None,
                 settings: dict[str, Any] | None = None):
        self.options = options or LLMOptions()
        if self.options.when not in WHEN:
            raise ValueError(f"--llm must be one of {', '.join(WHEN)}")
        self.base = base
        self.services = services
        self.client = services.client
        self.settings = settings or {}
        check_settings(self.name, self.settings, self.setting_types, "the method settings")
        self.stats = RunStats()
        self.seen = 0  # mentions ranked, consulted or not
        self._seen_lock = threading.Lock()
        self.nil_threshold = base.nil_threshold

    @property
    def llm(self) -> LLMClient:
        """The client, for `decide`: `_consult` calls that only with a client, and falls back when there is none."""
        if self.client is None:
            raise LLMUnavailable(f"method {self.name} has no LLM client")
        return self.client

    @property
    def budget(self) -> int:
        return self.options.budget if self.options.budget is not None else self.default_budget

    def version(self) -> str:
        key = {"base": self.base.version(), "llm": self.client.model_id() if self.client else None,
               "options": asdict(self.options), "settings": self.settings, "encoder": self.services.model_version}
        return f"{self.name}-{hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:8]}"

    # ---------------------------------------------------------------------------------------------- driving
    def rerank_many(self, items: list[tuple[MentionInput, list[Candidate]]]) -> list[Ranking]:
        """Rank everything with the base first; only the mentions that will consult the LLM are prepared
        (e.g. their top candidates' facts read from the graph) and run, in a thread pool so calls overlap."""
        with self._seen_lock:
            self.seen += len(items)
        plans = [self._plan(candidates) for _, candidates in items]
        rankings = [Ranking(ranked, trace=trace) for ranked, trace, _ in plans]
        consult = [i for i, (_, _, ask) in enumerate(plans) if ask]
        self.prepare([(items[i][0], plans[i][0]) for i in consult])

        def run(i: int) -> Ranking:
            ranked, trace, _ = plans[i]
            return self._consult(items[i][0], ranked, trace)

        workers = self.client.settings.concurrency if self.client else 1
        if workers <= 1 or len(consult) <= 1:
            done = [run(i) for i in consult]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                done = list(pool.map(run, consult))
        for i, ranking in zip(consult, done):
            rankings[i] = ranking
        for ranking in rankings:  # margins were measured on the raw sums; what is returned is the probability
            self.base.probabilities(ranking.candidates)
        return rankings

    def rerank(self, mention: MentionInput, candidates: list[Candidate]) -> Ranking:
        return self.rerank_many([(mention, candidates)])[0]

    def prepare(self, items: list[tuple[MentionInput, list[Candidate]]]) -> None:
        """Batch work for the mentions about to consult the LLM, given their base rankings (best first)."""

    def stats_json(self) -> dict[str, Any]:
        """Run totals; `calls_per_mention` is over consulted mentions, `calls_per_mention_all` over all."""
        data = self.stats.to_json()
        data["mentions_seen"] = self.seen
        data["calls_per_mention_all"] = round(data["calls"] / self.seen, 3) if self.seen else 0.0
        return data

    def _plan(self, candidates: list[Candidate]) -> tuple[list[Candidate], dict[str, Any], bool]:
        """The base ranking, its trace, and whether the LLM is to be consulted (selective invocation)."""
        ranked = self.base.rank(candidates)
        trace: dict[str, Any] = {"method": self.name, "invoked": False}
        if not ranked:
            return ranked, trace, False
        margin = top_margin(ranked)
        trace["margin"] = round(margin, 4) if margin != math.inf else None
        if self.options.when == "unsure" and margin >= self.options.margin:
            trace["skipped"] = f"base ranking is sure (margin {margin:.3f} >= {self.options.margin})"
            return ranked, trace, False
        return ranked, trace, True

    def _consult(self, mention: MentionInput, ranked: list[Candidate], trace: dict[str, Any]) -> Ranking:
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


def llm_method_builder(cls: type[LLMReranker]) -> Callable[[MethodBuild], LLMReranker]:
    """The registry's build function of an LLM method: `cls` on top of the features ranking."""
    def build(b: MethodBuild) -> LLMReranker:
        try:
            return cls(FeatureReranker.from_file(b.weights), b.services or MethodServices(client=None), b.llm,
                       b.settings)
        except ValueError as exc:
            raise InputError(f"{cls.name}: {exc}") from exc
    return build
