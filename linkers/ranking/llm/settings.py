"""How to reach the LLM: one dataclass, built from the kgstore Config or directly in tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kg.kgstore.config import Config, LLMSection, Secret


@dataclass
class LLMSettings:
    base_url: str | None  # e.g. http://127.0.0.1:8080/v1 ; "/chat/completions" is appended
    model: str | None
    api_key: Secret | None = None
    timeout: float = LLMSection.timeout  # the defaults are the Config's: one place for them
    retries: int = LLMSection.retries  # retries after the first try, on connect errors/timeouts/429/5xx
    backoff: float = 0.5  # seconds before the first retry, doubled per retry
    concurrency: int = LLMSection.concurrency  # max simultaneous HTTP requests across threads
    max_tokens: int = 96
    temperature: float = 0.0
    cache_path: Path | None = None  # None: no cache

    @classmethod
    def from_config(cls, config: Config, cache_path: Path | None = None) -> LLMSettings:
        """Settings from a kgstore Config; the reply cache lives under the data directory unless given."""
        return cls(
            base_url=config.llm.base_url,
            model=config.llm.model,
            api_key=config.llm.api_key,
            timeout=config.llm.timeout,
            retries=config.llm.retries,
            concurrency=config.llm.concurrency,
            cache_path=cache_path if cache_path is not None else config.home / "cache" / "llm.sqlite",
        )

    @property
    def configured(self) -> bool:
        return bool(self.base_url) and bool(self.model)
