"""The LLM client against real HTTP servers: llama-cpp-python's server on SmolLM2-135M-Instruct for the real
code path (round trip, grammar-constrained JSON, cache), and a scripted http.server for what a real model cannot
be made to do on demand (503s, rejected response formats, slowness, malformed replies). No mocks."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from llm_server import StubServer, completion, free_port

from kg.kgstore.config import Secret, load_config
from kg.kgstore.errors import ConfigError, KgError
from kg.linkers.ranking.llm import (
    BudgetExhausted,
    CallLog,
    Choice,
    LLMClient,
    LLMError,
    LLMSettings,
    LLMUnavailable,
    Reply,
    RunStats,
    parse_choice,
)

CITIES = ["Paris", "Berlin", "Tokyo"]
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": CITIES}},
    "required": ["answer"],
    "additionalProperties": False,
}
# 1-based candidate number: grammar-constrained sampling in llama-cpp-python is ~3x faster than with a string enum
INDEX_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer", "minimum": 1, "maximum": len(CITIES)}},
    "required": ["answer"],
}
CHOICE_PROMPT = [
    {"role": "system", "content": "You pick one option. Reply with JSON only."},
    {"role": "user", "content": 'Which city is the capital of France?\n1. Paris\n2. Berlin\n3. Tokyo\n'
                                'Reply as {"answer": <number>}.'},
]
HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


def stub_settings(server: StubServer, tmp_path: Path | None = None, **kw) -> LLMSettings:
    defaults = dict(base_url=server.base_url, model="stub-model", timeout=5.0, retries=2, backoff=0.01,
                    concurrency=4, max_tokens=16, cache_path=None if tmp_path is None else tmp_path / "c.sqlite")
    defaults.update(kw)
    return LLMSettings(**defaults)


def ok(text: str = "Paris"):
    return lambda n, body, headers: (200, completion(text))


# --- real server: llama-cpp-python on SmolLM2 ---------------------------------------------------------------


def test_round_trip_returns_text_and_token_counts(llm_settings: LLMSettings) -> None:
    with LLMClient(llm_settings) as client:
        log = CallLog()
        reply = client.chat(HELLO, log=log, max_tokens=6)
    assert isinstance(reply, Reply) and reply.text.strip() and not reply.cached
    assert reply.prompt_tokens > 0 and 0 < reply.completion_tokens <= 6
    assert (log.calls, log.api_calls, log.cache_hits) == (1, 1, 0)
    assert log.prompt_tokens == reply.prompt_tokens and log.completion_tokens == reply.completion_tokens
    assert log.seconds > 0 and log.errors == []


def test_schema_constrained_answer_is_json_naming_an_option(llm_settings: LLMSettings) -> None:
    with LLMClient(llm_settings) as client:
        log = CallLog()
        reply = client.chat(CHOICE_PROMPT, log=log, schema=INDEX_SCHEMA, max_tokens=16)
        form = client._format
    data = json.loads(reply.text)  # the grammar makes even a 135M model emit valid JSON
    assert data["answer"] in (1, 2, 3)
    choice = parse_choice(reply.text, CITIES, allow_nil=False)
    assert choice == Choice(data["answer"] - 1, False, "json")
    assert log.api_calls == 1 and log.errors == []  # the rejected json_schema form is no error of the call
    # llama-cpp-python 0.3.36 rejects OpenAI's json_schema form (422) and compiles json_object+schema to a grammar
    assert form == "json_object"


def test_identical_call_is_a_cache_hit_and_the_cache_persists(llm_settings: LLMSettings) -> None:
    log = CallLog()
    with LLMClient(llm_settings) as client:
        first = client.chat(HELLO, log=log, max_tokens=4)
        second = client.chat(HELLO, log=log, max_tokens=4)
    assert second.cached and second.text == first.text
    assert second.completion_tokens == first.completion_tokens
    assert (log.calls, log.api_calls, log.cache_hits) == (2, 1, 1)
    assert log.completion_tokens == first.completion_tokens  # cached tokens count in no api counter
    # a new client on the same file, behind another address: the key is the model, not the URL
    other = replace(llm_settings, base_url=f"http://127.0.0.1:{free_port()}/v1")
    with LLMClient(other) as client:
        log2 = CallLog()
        third = client.chat(HELLO, log=log2, max_tokens=4)
    assert third.cached and third.text == first.text and (log2.api_calls, log2.cache_hits) == (0, 1)
    # other parameters are another question
    with LLMClient(llm_settings) as client:
        assert not client.chat(HELLO, log=CallLog(), max_tokens=1).cached


# --- budget, cache and errors against the scripted server ----------------------------------------------------


def test_budget_counts_logical_calls_and_stops_before_any_request(tmp_path: Path) -> None:
    with StubServer(ok()) as server, LLMClient(stub_settings(server, tmp_path)) as client:
        log = CallLog(budget=2)
        client.chat(HELLO, log=log)
        assert log.remaining() == 1
        client.chat(HELLO, log=log)  # a cache hit still spends budget: a cached re-run takes the same path
        assert log.remaining() == 0 and log.cache_hits == 1
        with pytest.raises(BudgetExhausted):
            client.chat([{"role": "user", "content": "another"}], log=log)
    assert len(server.requests) == 1 and log.calls == 2


def test_unreachable_server_marks_client_unavailable_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    settings = LLMSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m",
                           api_key=Secret("sk-SECRET-123"), retries=1, backoff=0.05, timeout=2.0)
    caplog.set_level(logging.WARNING)
    with LLMClient(settings) as client:
        log = CallLog()
        with pytest.raises(LLMUnavailable):
            client.chat(HELLO, log=log)
        assert client.available is False
        started = time.monotonic()
        with pytest.raises(LLMUnavailable):
            client.chat(HELLO, log=log)
        assert time.monotonic() - started < 0.5
        with pytest.raises(LLMUnavailable):
            client.chat(HELLO, log=CallLog())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("kg.linkers.ranking.llm")]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert settings.base_url in message and "non-LLM ranking" in message
    assert "sk-SECRET-123" not in caplog.text and "sk-SECRET-123" not in " ".join(log.errors)
    assert log.calls == 2 and len(log.errors) == 2 and isinstance(LLMUnavailable("x"), KgError)


def test_503_is_retried_then_succeeds() -> None:
    def behaviour(n, body, headers):
        return (503, {"error": "loading model"}) if n == 1 else (200, completion("Berlin", 11, 3))

    with StubServer(behaviour) as server, LLMClient(stub_settings(server)) as client:
        log = CallLog()
        reply = client.chat(HELLO, log=log)
    assert reply.text == "Berlin" and len(server.requests) == 2
    assert (log.api_calls, log.prompt_tokens, log.completion_tokens) == (1, 11, 3)
    assert client.available


def test_persistent_5xx_is_an_llm_error_not_unavailability() -> None:
    with StubServer(lambda n, b, h: (500, {"error": "boom " * 100})) as server:
        with LLMClient(stub_settings(server, retries=1)) as client:
            log = CallLog()
            with pytest.raises(LLMError, match="HTTP 500") as info:
                client.chat(HELLO, log=log)
            assert not isinstance(info.value, LLMUnavailable) and client.available
    assert len(server.requests) == 2 and len(log.errors) == 1 and len(log.errors[0]) <= 200


def test_client_errors_are_not_retried() -> None:
    with StubServer(lambda n, b, h: (401, {"error": "bad key"})) as server, LLMClient(stub_settings(server)) as client:
        with pytest.raises(LLMError, match="HTTP 401.*bad key"):
            client.chat(HELLO, log=CallLog())
    assert len(server.requests) == 1


def test_response_format_falls_back_and_remembers_what_worked(tmp_path: Path) -> None:
    def behaviour(n, body, headers):
        fmt = body.get("response_format")
        if fmt and fmt["type"] == "json_schema":
            return 400, {"error": "response_format json_schema not supported"}
        return 200, completion('{"answer": "Tokyo"}')

    with StubServer(behaviour) as server, LLMClient(stub_settings(server)) as client:
        first = client.chat(CHOICE_PROMPT, log=CallLog(), schema=SCHEMA)
        second = client.chat(CHOICE_PROMPT + [{"role": "user", "content": "again"}], log=CallLog(), schema=SCHEMA)
    sent = [r.get("response_format") for r in server.requests]
    assert sent[0]["type"] == "json_schema" and sent[0]["json_schema"]["schema"] == SCHEMA
    assert sent[0]["json_schema"]["strict"] is True
    assert sent[1] == {"type": "json_object", "schema": SCHEMA}
    assert sent[2] == {"type": "json_object", "schema": SCHEMA}  # straight to the form that worked
    assert len(sent) == 3 and parse_choice(first.text, CITIES, allow_nil=False).index == 2 == \
        parse_choice(second.text, CITIES, allow_nil=False).index


def test_response_format_dropped_when_no_form_is_accepted() -> None:
    def behaviour(n, body, headers):
        if "response_format" not in body:
            return 200, completion("Paris")
        if body["response_format"]["type"] == "json_schema":  # how llama-cpp-python 0.3.36 rejects a form
            return 500, {"error": {"message": "('body', 'response_format', 'type') Input should be 'text'"}}
        return 422, {"detail": "unknown field"}

    with StubServer(behaviour) as server, LLMClient(stub_settings(server)) as client:
        assert client.chat(CHOICE_PROMPT, log=CallLog(), schema=SCHEMA).text == "Paris"
        client.chat(HELLO, log=CallLog(), schema=SCHEMA)
    assert [r.get("response_format", {}).get("type") for r in server.requests] == \
        ["json_schema", "json_object", None, None]


def test_malformed_reply_is_an_error_and_never_cached(tmp_path: Path) -> None:
    with StubServer(lambda n, b, h: (200, {"choices": []})) as server:
        with LLMClient(stub_settings(server, tmp_path)) as client:
            log = CallLog()
            for _ in range(2):
                with pytest.raises(LLMError, match="malformed reply"):
                    client.chat(HELLO, log=log)
            assert len(client.cache) == 0
    assert len(server.requests) == 2 and log.cache_hits == 0 and len(log.errors) == 2


def test_api_key_is_sent_as_bearer_only_when_set() -> None:
    with StubServer(ok()) as server:
        with LLMClient(stub_settings(server, api_key=Secret("sk-xyz"))) as client:
            client.chat(HELLO, log=CallLog())
            assert "sk-xyz" not in repr(client.settings)
        with LLMClient(stub_settings(server)) as client:
            client.chat(HELLO, log=CallLog())
    assert server.headers[0]["authorization"] == "Bearer sk-xyz" and "authorization" not in server.headers[1]
    body = server.requests[0]
    assert body["model"] == "stub-model" and body["max_tokens"] == 16 and body["temperature"] == 0.0
    assert "response_format" not in body


def test_concurrency_caps_requests_in_flight(tmp_path: Path) -> None:
    with StubServer(ok(), delay=0.3) as server, LLMClient(stub_settings(server, tmp_path, concurrency=2)) as client:
        logs = [CallLog() for _ in range(6)]
        threads = [threading.Thread(target=client.chat, args=([{"role": "user", "content": f"q{i}"}],),
                                    kwargs={"log": logs[i]}) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert len(server.requests) == 6 and server.max_in_flight == 2
    stats = RunStats()
    for one in logs:
        stats.add(one)
    out = stats.to_json()
    assert out["calls"] == out["api_calls"] == 6 and out["calls_per_mention"] == 1.0
    assert out["cache_hit_rate"] == 0.0 and out["errors"] == 0 and out["unavailable"] is False


# --- settings -----------------------------------------------------------------------------------------------


def test_unconfigured_client_is_a_config_error_naming_the_variables() -> None:
    with pytest.raises(ConfigError, match="KG_LLM_BASE_URL and KG_LLM_MODEL"):
        LLMClient(LLMSettings(base_url=None, model=None))
    with pytest.raises(ConfigError, match="set KG_LLM_MODEL "):
        LLMClient(LLMSettings(base_url="http://x/v1", model=None))


def test_settings_from_config_env_and_toml(tmp_path: Path) -> None:
    (tmp_path / "kg.toml").write_text('[llm]\nmodel = "qwen"\ntimeout = 12.5\n')
    env = {"KG_LLM_BASE_URL": "http://gpu:8000/v1", "KG_LLM_API_KEY": "sk-hidden", "KG_LLM_CONCURRENCY": "8",
           "KG_LLM_RETRIES": "0"}
    cfg = load_config({"home": tmp_path}, env=env)
    assert cfg.llm.timeout == 12.5 and cfg.sources["llm.model"] == "kg.toml"
    assert cfg.sources["llm.api_key"] == "env KG_LLM_API_KEY"
    assert "sk-hidden" not in repr(cfg) and cfg.public()["llm"]["api_key"] == "set"
    settings = LLMSettings.from_config(cfg)
    assert settings.configured and settings.model == "qwen" and settings.base_url == "http://gpu:8000/v1"
    assert (settings.concurrency, settings.retries, settings.timeout) == (8, 0, 12.5)
    assert settings.cache_path == tmp_path.resolve() / "cache" / "llm.sqlite"
    assert "sk-hidden" not in repr(settings)
    assert LLMSettings.from_config(cfg, cache_path=tmp_path / "x.sqlite").cache_path == tmp_path / "x.sqlite"
    defaults = LLMSettings.from_config(load_config({"home": tmp_path / "empty"}, env={}))
    assert not defaults.configured and defaults.timeout == 60.0 and defaults.concurrency == 4
    with pytest.raises(ConfigError, match=r"llm.timeout must be a finite number, 0 or more, got 'soon' \(from env KG_LLM_TIMEOUT\)"):
        load_config({"home": tmp_path}, env={"KG_LLM_TIMEOUT": "soon"})


def test_model_id_names_model_and_host_without_credentials() -> None:
    client = LLMClient(LLMSettings(base_url="http://user:pw@gpu.local:8000/v1", model="qwen3"))
    try:
        assert client.model_id() == "qwen3@gpu.local:8000" and "pw" not in client.safe_url
    finally:
        client.close()


def test_call_log_and_run_stats_json() -> None:
    log = CallLog(budget=3, calls=2, api_calls=1, cache_hits=1, prompt_tokens=10, completion_tokens=4,
                  seconds=0.5, errors=["x"])
    assert log.remaining() == 1 and CallLog().remaining() is None
    assert log.to_json()["errors"] == ["x"] and log.to_json()["calls"] == 2
    stats = RunStats()
    stats.add(log)
    stats.add(CallLog(calls=2, cache_hits=2))
    stats.unavailable = True
    out = stats.to_json()
    assert out == {"mentions": 2, "calls": 4, "api_calls": 1, "cache_hits": 3, "cache_hit_rate": 0.75,
                   "prompt_tokens": 10, "completion_tokens": 4, "seconds": 0.5, "errors": 1,
                   "calls_per_mention": 2.0, "unavailable": True}


# --- parse_choice ------------------------------------------------------------------------------------------

OPTIONS = ["Paris", "Paris Hilton", "Barack Obama", "Michelle Obama", "2 Chainz", "New_York_City"]


@pytest.mark.parametrize(
    ("text", "index", "how"),
    [
        ('{"answer": "Barack Obama"}', 2, "json"),
        ('Sure!\n```json\n{"answer": 3}\n```', 2, "json"),
        ('{"choice": "4"}', 3, "json"),
        ('{"Entity": "michelle obama"}', 3, "json"),
        ('{"reason": "capital", "name": "Paris"}', 0, "json"),
        ('{"answer": "Barak Obama"}', 2, "json"),
        ("<|ANSWER|>: Michelle Obama", 3, "answer-tag"),
        ("The socialite, not the city.\n<|ANSWER|>: paris hilton.\n", 1, "answer-tag"),
        ("3", 2, "number"),
        ("3.", 2, "number"),
        ("[3]", 2, "number"),
        ("(4)", 3, "number"),
        ("3) Barack Obama", 2, "number"),
        ("Answer: 2", 1, "number"),
        ("The answer is 1.", 0, "number"),
        ("The answer is: 3. Tokyo", 2, "number"),  # SmolLM2's own phrasing
        ("<think>Paris or Barack Obama? The text says president.</think>3", 2, "number"),
        ("2 Chainz", 4, "exact"),  # an option that starts with a number is not option 2
        ("paris hilton", 1, "exact"),
        ("  PARIS!  ", 0, "exact"),
        ("New York City", 5, "exact"),
        ("The answer is Paris Hilton, the socialite.", 1, "contained"),
        ("I think it is Paris.", 0, "contained"),
        ("Barak Obama", 2, "fuzzy"),
        ("Michele Obama", 3, "fuzzy"),
    ],
)
def test_parse_choice_maps_answers(text: str, index: int, how: str) -> None:
    for allow_nil in (True, False):
        assert parse_choice(text, OPTIONS, allow_nil=allow_nil) == Choice(index, False, how)


@pytest.mark.parametrize(
    ("text", "how"),
    [('{"answer": "nil"}', "json"), ('{"answer": null}', "json"), ('{"answer": 0}', "json"),
     ("<|ANSWER|>: NIL", "answer-tag"), ("0", "number"), ("NIL", "nil"), ("none", "nil"),
     ("None of the above.", "nil"), ("No match.", "nil"), ("The entity is not in the list.", "nil")],
)
def test_parse_choice_nil_only_when_allowed(text: str, how: str) -> None:
    assert parse_choice(text, OPTIONS, allow_nil=True) == Choice(None, True, how)
    assert parse_choice(text, OPTIONS, allow_nil=False) is None


@pytest.mark.parametrize(
    "text",
    ["", "   ", "banana smoothie", "Obama", "99", '{"answer": 9}', '{"answer": true}', "{not json", "Choice 7",
     "<|ANSWER|>:"],
)
def test_parse_choice_nonsense_and_ambiguity_is_none(text: str) -> None:
    assert parse_choice(text, OPTIONS, allow_nil=True) is None


def test_parse_choice_duplicates_and_empty_options() -> None:
    assert parse_choice("Paris", ["Paris", "Paris", "Lyon"], allow_nil=False) == Choice(0, False, "exact")
    assert parse_choice("2", ["Paris", "Paris", "Lyon"], allow_nil=False) == Choice(1, False, "number")
    assert parse_choice("Paris", [], allow_nil=False) is None
    assert parse_choice("none", [], allow_nil=True) == Choice(None, True, "nil")


def test_threads_finding_the_server_gone_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    settings = LLMSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", retries=2, backoff=0.05)
    caplog.set_level(logging.WARNING)
    errors: list[BaseException] = []

    def call(client: LLMClient) -> None:
        try:
            client.chat(HELLO, log=CallLog())
        except LLMError as exc:
            errors.append(exc)

    with LLMClient(settings) as client:
        threads = [threading.Thread(target=call, args=(client,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert len(errors) == 4 and all(isinstance(e, LLMUnavailable) for e in errors)
    assert len([r for r in caplog.records if r.name.startswith("kg.linkers.ranking.llm")]) == 1
