"""How to reach the LLM: one dataclass, built from the kgstore Config or directly in tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgstore.config import Config


@dataclass
class LLMSettings:
    base_url: str | None  # e.g. http://127.0.0.1:8080/v1 ; "/chat/completions" is appended
    model: str | None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = Config.llm_timeout  # the defaults are the Config's: one place for them
    retries: int = Config.llm_retries  # retries after the first try, on connect errors/timeouts/429/5xx
    backoff: float = 0.5  # seconds before the first retry, doubled per retry
    concurrency: int = Config.llm_concurrency  # max simultaneous HTTP requests across threads
    max_tokens: int = 96
    temperature: float = 0.0
    cache_path: Path | None = None  # None: no cache

    @classmethod
    def from_config(cls, config: Any, cache_path: Path | None = None) -> "LLMSettings":
        """Settings from a kgstore Config; the reply cache lives under the data directory unless given."""
        return cls(
            base_url=config.llm_base_url,
            model=config.llm_model,
            api_key=config.llm_api_key,
            timeout=float(config.llm_timeout),
            retries=int(config.llm_retries),
            concurrency=int(config.llm_concurrency),
            cache_path=cache_path if cache_path is not None else Path(config.home) / "cache" / "llm.sqlite",
        )

    @property
    def configured(self) -> bool:
        return bool(self.base_url) and bool(self.model)
