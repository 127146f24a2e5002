"""Per-mention call logs and thread-safe run totals: what the LLM methods cost, for traces and reports."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallLog:
    """One per mention. The budget counts logical calls (cache hits too) so a cached re-run takes the same path."""

    budget: int | None = None  # max logical calls for this mention; None = unlimited
    calls: int = 0  # logical calls (api + cache)
    api_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def remaining(self) -> int | None:
        """Calls left in the budget (never negative); None when unlimited."""
        return None if self.budget is None else max(0, self.budget - self.calls)

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "calls": self.calls,
            "api_calls": self.api_calls,
            "cache_hits": self.cache_hits,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 4),
            "errors": list(self.errors),
        }


class RunStats:
    """Totals over a run; mentions are linked in a thread pool, so merging takes a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.mentions = 0
        self.calls = 0
        self.api_calls = 0
        self.cache_hits = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.seconds = 0.0
        self.errors = 0
        self.unavailable = False

    def add(self, log: CallLog) -> None:
        with self._lock:
            self.mentions += 1
            self.calls += log.calls
            self.api_calls += log.api_calls
            self.cache_hits += log.cache_hits
            self.prompt_tokens += log.prompt_tokens
            self.completion_tokens += log.completion_tokens
            self.seconds += log.seconds
            self.errors += len(log.errors)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "mentions": self.mentions,
                "calls": self.calls,
                "api_calls": self.api_calls,
                "cache_hits": self.cache_hits,
                "cache_hit_rate": round(self.cache_hits / self.calls, 4) if self.calls else 0.0,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "seconds": round(self.seconds, 3),
                "errors": self.errors,
                "calls_per_mention": round(self.calls / self.mentions, 3) if self.mentions else 0.0,
                "unavailable": self.unavailable,
            }
