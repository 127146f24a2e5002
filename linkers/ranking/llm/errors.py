"""Errors of the LLM client; all are KgError so the CLI reports them without a traceback."""

from __future__ import annotations

from kg.kgstore.errors import KgError


class LLMError(KgError):
    """The LLM server answered, but not usefully (HTTP error after retries, malformed reply)."""


class LLMUnavailable(LLMError):
    """The server cannot be reached (after retries), or this client already found it unreachable.

    Callers fall back to the non-LLM ranking instead of failing the run."""


class BudgetExhausted(LLMError):
    """The mention's call budget is spent; the method must decide with what it has."""
