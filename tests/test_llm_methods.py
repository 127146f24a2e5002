"""The LLM linking methods (KAR, I2CR, ThinkLinker) end to end on I2CR fixture mentions, through a real
OpenAI-compatible server (llama-cpp-python on SmolLM2-135M-Instruct). SmolLM2's answers are weak: these tests
check the plumbing, parsing, budgets, caching and fallbacks, never accuracy."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm_server import StubServer, completion

from kg.cli.main import cli
from kg.kgstore.encoders.text import load_text_encoder
from kg.kgstore.errors import ConfigError
from kg.linkers.evaluation.benchmarks import read_i2cr_fixture
from kg.linkers.evaluation.given import rank_given
from kg.linkers.ranking import load_reranker
from kg.linkers.ranking.llm import LLMClient, LLMSettings
from kg.linkers.ranking.llm_method import LLMOptions, MethodServices
from kg.linkers.records import NIL

MEL = Path(__file__).resolve().parents[2] / "shared" / "data" / "mel"
FIXTURE = MEL / "i2cr-wikidiverse"
pytestmark = pytest.mark.models  # every test here ranks with the real MiniLM text encoder


@pytest.fixture(scope="module")
def encoder():
    return load_text_encoder("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def mentions():
    return list(read_i2cr_fixture(FIXTURE))


def method(name: str, settings: LLMSettings, encoder, when: str = "always", budget: int | None = None, **extra):
    services = MethodServices(client=LLMClient(settings), encode=encoder.encode, model_version=encoder.version)
    return load_reranker(name, services=services, llm=LLMOptions(when=when, budget=budget), settings=extra)


def run(reranker, encoder, mentions):
    return list(rank_given(mentions, reranker, encoder.encode))


def features_order(encoder, mentions):
    return [r.ranked for r in run(load_reranker("features"), encoder, mentions)]


@pytest.mark.parametrize("name,settings,limit", [
    ("kar", {}, 1),
    ("i2cr", {"reselects": 1}, 4),
    ("thinklinker", {"rounds": 1}, 2),
])
def test_method_runs_end_to_end_then_second_run_is_all_cache(name, settings, limit, llm_settings, encoder,
                                                              mentions) -> None:
    sample = mentions[:2]
    first = method(name, llm_settings, encoder, budget=limit, **settings)
    results = run(first, encoder, sample)
    stats = first.stats.to_json()
    assert stats["api_calls"] > 0 and stats["cache_hits"] == 0 and stats["errors"] == 0
    assert stats["completion_tokens"] > 0
    for r in results:
        titles = [c.title for c in r.mention.candidates]
        assert r.predicted == NIL or r.predicted in titles
        assert sorted(r.ranked) == sorted(titles)  # a permutation of the given candidates, nothing invented
        trace = r.trace
        assert trace["method"] == name and trace["invoked"]
        assert 1 <= trace["llm"]["calls"] <= limit
    if name == "i2cr":
        assert all(r.trace["rounds"][0]["steps"] for r in results)
    if name == "thinklinker":
        assert any(r.trace.get("dialogue") for r in results)

    second = method(name, llm_settings, encoder, budget=limit, **settings)
    again = run(second, encoder, sample)
    stats2 = second.stats.to_json()
    assert stats2["api_calls"] == 0 and stats2["cache_hits"] == stats["calls"]
    assert [(r.predicted, r.ranked) for r in again] == [(r.predicted, r.ranked) for r in results]


@pytest.mark.parametrize("name,settings", [("kar", {}), ("i2cr", {"reselects": 1}), ("thinklinker", {"rounds": 1})])
def test_llm_methods_return_probabilities(name, settings, llm_settings, encoder, mentions) -> None:
    """One score scale: an LLM method's scores are its features base's calibrated probabilities, in [0, 1]."""
    from kg.linkers.evaluation.given import candidates_of
    from kg.linkers.features import scalar as feats
    from kg.linkers.ranking import MentionInput

    items = []
    for m in mentions[:2]:
        cands = candidates_of(m)
        vectors = encoder.encode([c.label for c in cands] + [m.text])
        text_vectors = {c.qid: v for c, v in zip(cands, vectors)}
        feats.compute(m.surface, cands, vectors[-1], text_vectors)
        items.append((MentionInput(m.id, m.surface, m.text, image=None, clues=dict(m.clues),
                                   context_vector=vectors[-1], text_vectors=text_vectors), cands))
    rankings = method(name, llm_settings, encoder, budget=2, **settings).rerank_many(items)
    scores = [c.score for r in rankings for c in r.candidates]
    assert scores and all(0.0 <= s <= 1.0 for s in scores), scores
    assert any(r.trace["invoked"] for r in rankings)  # the LLM was asked: its ranking, not only the base's


def test_stopped_server_gives_the_features_ranking_and_one_warning(encoder, mentions, tmp_path, caplog) -> None:
    from llm_server import free_port

    settings = LLMSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", model="smollm2", retries=1,
                           backoff=0.01, timeout=2.0, concurrency=2, cache_path=tmp_path / "c.sqlite")
    sample = mentions[:6]
    with caplog.at_level(logging.WARNING):
        for name in ("kar", "i2cr", "thinklinker"):
            reranker = method(name, settings, encoder)
            results = run(reranker, encoder, sample)
            assert [r.ranked for r in results] == features_order(encoder, sample)
            assert all(r.predicted != NIL for r in results)
            assert all("unavailable" in r.trace["fallback"] for r in results)
            stats = reranker.stats_json()
            assert stats["unavailable"] and stats["completion_tokens"] == 0 and stats["cache_hits"] == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3  # one per client (one per run), not one per mention
    assert "127.0.0.1" in warnings[0].getMessage()


def test_nonsense_answer_is_recorded_and_falls_back(encoder, mentions) -> None:
    sample = mentions[:3]
    with StubServer(lambda n, body, headers: (200, completion("The weather is lovely today."))) as server:
        settings = LLMSettings(base_url=server.base_url, model="stub", retries=0, concurrency=2)
        for name in ("kar", "i2cr"):
            reranker = method(name, settings, encoder)
            results = run(reranker, encoder, sample)
            assert [r.ranked for r in results] == features_order(encoder, sample)
            for r in results:
                assert "maps to no candidate" in r.trace["fallback"]
                answers = r.trace.get("answer") or r.trace["rounds"][0]["steps"][0]["answer"]
                assert "weather" in answers


def test_budget_is_never_exceeded(encoder, mentions) -> None:
    """A server that always answers the first offered candidate, which never passes I2CR's consistency check
    (alpha 0.99), would take up to 20 calls a mention."""
    sample = mentions[:4]
    with StubServer(lambda n, body, headers: (200, completion('{"answer": 1}'))) as server:
        settings = LLMSettings(base_url=server.base_url, model="stub", retries=0, concurrency=1)
        for budget in (0, 1, 3):
            reranker = method("i2cr", settings, encoder, budget=budget, alpha=0.99, iav="clues", beta_text=0.99)
            before = len(server.requests)
            results = run(reranker, encoder, sample)
            for r in results:
                assert r.trace["llm"]["calls"] <= budget
            assert len(server.requests) - before <= budget * len(sample)
            if budget == 3:
                assert all(r.trace["llm"]["calls"] == 3 for r in results)  # reselects used the whole budget


def test_selective_invocation_consults_the_llm_only_when_unsure(encoder, mentions) -> None:
    sample = mentions[:10]
    with StubServer(lambda n, body, headers: (200, completion('{"answer": 1}'))) as server:
        settings = LLMSettings(base_url=server.base_url, model="stub", retries=0)
        unsure = method("kar", settings, encoder, when="unsure")
        unsure.options.margin = 0.2
        results = run(unsure, encoder, sample)
        consulted = [r for r in results if r.trace["invoked"]]
        skipped = [r for r in results if not r.trace["invoked"]]
        assert consulted and skipped  # the fixture has both sure and unsure mentions at this margin
        assert all(r.trace["margin"] >= 0.2 for r in skipped)
        assert all(r.trace["margin"] < 0.2 for r in consulted)
        assert len(server.requests) == len(consulted)


def test_kar_pick_moves_to_top_and_the_rest_keep_their_order(encoder, mentions) -> None:
    sample = mentions[:3]
    base = features_order(encoder, sample)
    with StubServer(lambda n, body, headers: (200, completion('{"answer": 3}'))) as server:
        settings = LLMSettings(base_url=server.base_url, model="stub", retries=0)
        results = run(method("kar", settings, encoder), encoder, sample)
    for r, order in zip(results, base):
        assert r.ranked == [order[2]] + order[:2] + order[3:]
        assert r.predicted == order[2]


def test_eval_given_candidates_cli_with_i2cr(llm_server, tmp_path) -> None:
    env = {"KG_HOME": str(tmp_path / "home"), "KG_MEL_DATA": str(MEL), "KG_LLM_BASE_URL": llm_server.base_url,
           "KG_LLM_MODEL": llm_server.model}
    args = ["eval", "i2cr-wikidiverse", "--method", "i2cr", "--llm", "always", "--llm-budget", "2", "--limit", "3",
            "--report", str(tmp_path / "report.json"), "--json"]
    res = CliRunner().invoke(cli, args, env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["n"] == 3 and data["protocol"]["candidates"] == 10
    assert data["llm"]["api_calls"] >= 3 and data["llm"]["calls_per_mention"] <= 2
    res = CliRunner().invoke(cli, args, env=env)  # the same evaluation again: all from the cache
    assert json.loads(res.stdout)["llm"]["api_calls"] == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert all("rounds" in e["trace"] for e in report["errors"])


def test_llm_method_without_configured_llm_is_a_clear_error(tmp_path) -> None:
    env = {"KG_HOME": str(tmp_path / "home"), "KG_MEL_DATA": str(MEL), "KG_LLM_BASE_URL": "", "KG_LLM_MODEL": ""}
    res = CliRunner().invoke(cli, ["eval", "i2cr-wikidiverse", "--method", "kar", "--limit", "1"], env=env)
    assert isinstance(res.exception, ConfigError)  # `kg` prints it as "error: ..."
    assert "KG_LLM_BASE_URL" in str(res.exception) and "KG_LLM_MODEL" in str(res.exception)
