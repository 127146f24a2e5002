"""A small, thread-safe client for OpenAI-compatible chat APIs (vLLM, Ollama, llama.cpp server, hosted APIs).

Why not an SDK: the linkers need only chat completions, but they need them cached (re-runs and evaluations cost
nothing), budgeted per mention, capped in concurrency, retried with backoff, and degrading to the non-LLM ranking
when the server is gone, without waiting on it again for every mention."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from kg.kgstore.config import redact_secrets, redact_url
from kg.kgstore.errors import ConfigError
from kg.linkers.ranking.llm.cache import ResponseCache
from kg.linkers.ranking.llm.errors import BudgetExhausted, LLMError, LLMUnavailable
from kg.linkers.ranking.llm.settings import LLMSettings
from kg.linkers.ranking.llm.stats import CallLog

log = logging.getLogger(__name__)

# response_format forms, tried in this order until the server accepts one: OpenAI's structured outputs (OpenAI,
# vLLM, Ollama), llama-cpp-python's json_object with a schema (compiled to a grammar; 0.3.36 rejects json_schema),
# then nothing (the prompt must ask for JSON).
FORMATS = ("json_schema", "json_object", "none")
RETRY_STATUS = {429, 500, 502, 503, 504}
UNSUPPORTED_STATUS = {400, 422}
MAX_RETRY_AFTER = 30.0


@dataclass
class Reply:
    text: str
    cached: bool
    prompt_tokens: int
    completion_tokens: int
    seconds: float


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def response_format(form: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    if form == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
    if form == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


class LLMClient:
    def __init__(self, settings: LLMSettings) -> None:
        if not settings.configured:
            missing = [env for env, value in (("KG_LLM_BASE_URL", settings.base_url), ("KG_LLM_MODEL", settings.model))
                       if not value]
            raise ConfigError(
                f"no LLM configured: set {' and '.join(missing)} (or [llm] base_url / model in kg.toml) to an "
                "OpenAI-compatible chat API, e.g. KG_LLM_BASE_URL=http://127.0.0.1:8080/v1"
            )
        self.settings = settings
        self.base_url = str(settings.base_url).rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.safe_url = redact_url(self.url)
        self.available = True
        self._lock = threading.Lock()
        self._semaphore = threading.BoundedSemaphore(max(1, settings.concurrency))
        self._format: str | None = None  # the response_format form that worked, once one has
        headers = {"Content-Type": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key.reveal()}"
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.timeout),
            headers=headers,
            limits=httpx.Limits(max_connections=max(1, settings.concurrency),
                                max_keepalive_connections=max(1, settings.concurrency)),
        )
        self.cache = ResponseCache(settings.cache_path) if settings.cache_path is not None else None

    def model_id(self) -> str:
        """`model@host:port`: identifies the LLM in traces and method versions (never credentials)."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or self.base_url
        return f"{self.settings.model}@{host}:{parts.port}" if parts.port else f"{self.settings.model}@{host}"

    def cache_key(self, messages: list[dict[str, str]], schema: dict | None, max_tokens: int,
                  temperature: float) -> str:
        """Independent of the server URL: the same model behind another address gives the same answers."""
        payload = {"model": self.settings.model, "messages": messages, "schema": schema,
                   "max_tokens": max_tokens, "temperature": temperature}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def chat(self, messages: list[dict[str, str]], *, log: CallLog, schema: dict | None = None,
             max_tokens: int | None = None, temperature: float | None = None) -> Reply:
        """One logical call: budget check, cache, then the server (retried); counts everything into `log`.

        Cached replies are served even after the server was found unavailable: they cost no waiting."""
        if log.remaining() == 0:
            raise BudgetExhausted(f"LLM call budget of {log.budget} spent for this mention")
        log.calls += 1
        started = time.monotonic()
        max_tokens = self.settings.max_tokens if max_tokens is None else max_tokens
        temperature = self.settings.temperature if temperature is None else temperature
        key = self.cache_key(messages, schema, max_tokens, temperature)
        try:
            if self.cache is not None:
                hit = self.cache.get(key)
                if hit is not None:
                    log.cache_hits += 1
                    return Reply(hit.text, True, hit.prompt_tokens, hit.completion_tokens, time.monotonic() - started)
            if not self.available:
                log.errors.append("llm unavailable")
                raise LLMUnavailable(f"LLM server {self.safe_url} is unavailable"
                                     " (found unreachable earlier in this run)")
            log.api_calls += 1
            try:
                data = self._complete(messages, schema, max_tokens, temperature)
                text, prompt_tokens, completion_tokens = self._parse(data)
            except LLMError as exc:
                log.errors.append(_short(str(exc)))
                raise
            log.prompt_tokens += prompt_tokens
            log.completion_tokens += completion_tokens
            if self.cache is not None:
                self.cache.put(key, text, model=str(self.settings.model), prompt_tokens=prompt_tokens,
                               completion_tokens=completion_tokens)
            return Reply(text, False, prompt_tokens, completion_tokens, time.monotonic() - started)
        finally:
            log.seconds += time.monotonic() - started

    def _complete(self, messages: list[dict[str, str]], schema: dict | None, max_tokens: int,
                  temperature: float) -> dict[str, Any]:
        """POST with the response_format form the server accepts; falls back form by form on 400/422."""
        body: dict[str, Any] = {"model": self.settings.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": temperature, "stream": False}
        if schema is None:
            return self._post(body)
        forms = FORMATS[FORMATS.index(self._format):] if self._format else FORMATS
        for n, form in enumerate(forms):
            fmt = response_format(form, schema)
            attempt = dict(body, response_format=fmt) if fmt is not None else body
            try:
                data = self._post(attempt, unsupported_ok=n + 1 < len(forms))
            except _Unsupported:
                continue
            if self._format != form:
                with self._lock:
                    self._format = form
            return data
        raise AssertionError("unreachable: the last form raises instead of _Unsupported")

    def _post(self, body: dict[str, Any], *, unsupported_ok: bool = False) -> dict[str, Any]:
        """Send with retries and exponential backoff; raise LLMUnavailable/LLMError when they run out."""
        tries = max(0, self.settings.retries) + 1
        delay = self.settings.backoff
        failure = ""
        for attempt in range(tries):
            if attempt:
                time.sleep(delay * (1 + 0.25 * random.random()))
                delay *= 2
            if not self.available:  # another thread found the server gone while this one waited
                raise LLMUnavailable(f"LLM server {self.safe_url} is unavailable")
            try:
                with self._semaphore:
                    response = self._http.post(self.url, json=body)
            except httpx.TransportError as exc:  # connect errors, timeouts, dropped connections
                failure = f"{type(exc).__name__}: {_short(str(exc), 120)}" if str(exc) else type(exc).__name__
                continue
            status = response.status_code
            if status < 400:
                try:
                    return response.json()
                except ValueError:
                    excerpt = _short(self._redacted(response.text), 120)
                    raise LLMError(f"malformed reply from {self.safe_url}: not JSON ({excerpt!r})") from None
            if unsupported_ok and self._unsupported(response):
                raise _Unsupported(status)
            excerpt = _short(self._redacted(response.text), 200)
            if status in RETRY_STATUS and attempt + 1 < tries:
                failure = f"HTTP {status}"
                delay = max(delay, self._retry_after(response))
                continue
            raise LLMError(f"LLM server {self.safe_url} answered HTTP {status}: {excerpt}")
        self._mark_unavailable(failure, tries)
        raise LLMUnavailable(f"LLM server {self.safe_url} unreachable after {tries} tries ({failure})")

    def _redacted(self, body: str) -> str:
        """A reply's body as kept in errors, traces and --out files: without the key or anything like a secret."""
        return redact_secrets(body, self.settings.api_key)

    @staticmethod
    def _unsupported(response: httpx.Response) -> bool:
        """The server rejects the response_format form: 400/422 (OpenAI, vLLM), or llama-cpp-python's 500 that
        wraps its request validation error ("Input should be 'text' or 'json_object'")."""
        if response.status_code in UNSUPPORTED_STATUS:
            return True
        return response.status_code == 500 and "response_format" in response.text

    @staticmethod
    def _retry_after(response: httpx.Response) -> float:
        try:
            return min(MAX_RETRY_AFTER, max(0.0, float(response.headers.get("retry-after", 0))))
        except ValueError:
            return 0.0

    def _mark_unavailable(self, failure: str, tries: int) -> None:
        """The first thread to find the server gone warns, once; later calls fail fast."""
        with self._lock:
            if not self.available:
                return
            self.available = False
        log.warning(
            "LLM server %s unreachable after %d tries (%s): linking falls back to the non-LLM ranking for the rest "
            "of this run", self.safe_url, tries, failure,
        )

    def _parse(self, data: Any) -> tuple[str, int, int]:
        try:
            text = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            text = None
        if not isinstance(text, str):
            raise LLMError(f"malformed reply from {self.safe_url}: no choices[0].message.content")
        usage = data.get("usage") or {}
        return text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)

    def close(self) -> None:
        self._http.close()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Unsupported(Exception):
    """Internal: the server rejected this response_format form (400/422); try the next one."""
