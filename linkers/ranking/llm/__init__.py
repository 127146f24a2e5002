"""LLM access for the LLM-based linking methods: an OpenAI-compatible chat client with a reply cache,
per-mention call budgets, run statistics, and tolerant parsing of a model's choice among candidates.

    settings = LLMSettings.from_config(config)
    client = LLMClient(settings)            # ConfigError when KG_LLM_BASE_URL / KG_LLM_MODEL are unset
    log = CallLog(budget=3)
    reply = client.chat(messages, log=log, schema={...})
    choice = parse_choice(reply.text, [c.name for c in candidates], allow_nil=True)

When the server is unreachable the client raises LLMUnavailable (once after retries, then immediately) and
the methods fall back to the non-LLM ranking."""

from kg.linkers.ranking.llm.answers import Choice, parse_choice
from kg.linkers.ranking.llm.client import LLMClient, Reply
from kg.linkers.ranking.llm.errors import BudgetExhausted, LLMError, LLMUnavailable
from kg.linkers.ranking.llm.settings import LLMSettings
from kg.linkers.ranking.llm.stats import CallLog, RunStats

__all__ = [
    "BudgetExhausted",
    "CallLog",
    "Choice",
    "LLMClient",
    "LLMError",
    "LLMSettings",
    "LLMUnavailable",
    "Reply",
    "RunStats",
    "parse_choice",
]
