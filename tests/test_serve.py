"""`kg serve` over real HTTP on a tiny KB (real graph and Qdrant servers, real MiniLM): the API's answers and
errors, write-back, the API key, encoder batching of concurrent requests, and the web pages in headless Chromium
(Debian's chromium + chromium-driver through selenium; skipped with the reason where they are not installed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from index_helpers import cli_env, indexed_kb
from markupsafe import escape

from kg.cli.context import AppContext
from kg.cli.main import cli
from kg.cli.web import paste
from kg.cli.web.app import ServeSettings, create_app
from kg.cli.web.batcher import LinkBatcher
from kg.cli.web.service import KgService
from kg.kgstore.config import Config, load_config
from kg.linkers.corpus import Document

KB = [
    {"qid": "Q76", "label": "Barack Obama", "aliases": ["Obama"], "description": "44th president of the United States",
     "types": ["Q5"], "relations": [{"pid": "P19", "target": "Q18094"}]},
    {"qid": "Q18094", "label": "Honolulu", "description": "capital city of Hawaii, United States"},
    {"qid": "Q64", "label": "Berlin", "description": "capital and largest city of Germany", "types": ["Q515"]},
    {"qid": "Q90", "label": "Paris", "description": "capital and largest city of France", "types": ["Q515"]},
    {"qid": "Q167646", "label": "Paris", "description": "son of Priam, king of Troy, in Greek mythology"},
    {"qid": "Q142", "label": "France", "description": "country in Western Europe"},
    {"qid": "Q5", "label": "human", "description": "any member of Homo sapiens"},
    {"qid": "Q515", "label": "city", "description": "large human settlement"},
]
TEXT = "Barack Obama was born in Honolulu and later visited Berlin."
FAST = {"detector": "gazetteer", "method": "features", "context": "static"}  # no NER model: seconds, not minutes


def span(text: str, surface: str) -> dict:
    start = text.index(surface)
    return {"start": start, "end": start + len(surface)}


class Running:
    """An app served by uvicorn in a thread on a socket bound to a free loopback port."""

    def __init__(self, app) -> None:
        self.app = app
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def serving(cfg: Config, settings: ServeSettings,
            make_service: Callable[[AppContext], KgService] = KgService) -> Iterator[Running]:
    """`kg serve`'s app on cfg's KB, as `kg serve` builds it, served on a free loopback port (its service is
    `running.app.state.service`); the server is stopped and the context closed after, whatever happened."""
    ctx = AppContext(cfg)
    try:
        running = Running(create_app(make_service(ctx), settings))
        try:
            yield running
        finally:
            running.stop()
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def kb(servers, graph_driver, tmp_path_factory):
    """The tiny KB ingested and indexed (text + names); (config, env, tmp dir)."""
    tmp = tmp_path_factory.mktemp("serve")
    cfg = indexed_kb(servers, graph_driver, tmp, KB, "t_serve_")
    return cfg, cli_env(cfg), tmp


@pytest.fixture(scope="module")
def report(kb) -> Path:
    """A real `kg eval --report --report-all` file, one gold label deliberately wrong (an error to show)."""
    _, env, tmp = kb
    corpus = tmp / "gold.jsonl"
    text = "Paris is the capital of France."
    corpus.write_text(json.dumps({"id": "g1", "text": text, "mentions": [
        {**span(text, "Paris"), "gold": "Q90"}, {**span(text, "France"), "gold": "Q64"}]}) + "\n")
    out = tmp / "eval-report.json"
    res = CliRunner().invoke(cli, ["eval", str(corpus), "--context", "static", "--report", str(out), "--report-all"],
                             env=env)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def span_reports(kb) -> tuple[Path, Path]:
    """Two real runs of one ELEVANT benchmark: A links the gold spans, B detects its own (gazetteer), and so also
    links "France", which no gold label covers (a spurious mention B breaks)."""
    _, env, tmp = kb
    text = "Paris is the capital of France. Barack Obama was born in Honolulu."
    labels = [{"id": i, "span": [text.index(s), text.index(s) + len(s)], "entity_id": q, "type": t}
              for i, (s, q, t) in enumerate((("Paris", "Q90", "Q515"), ("Barack Obama", "Q76", "Q5"),
                                             ("Honolulu", "Q18094", "OTHER")))]
    bench = tmp / "tiny.benchmark.jsonl"
    bench.write_text(json.dumps({"id": 7, "title": "t", "text": text, "evaluation_span": [0, len(text)],
                                 "labels": labels}) + "\n")
    runs = []
    for name, args in (("gold-spans.json", ["--spans", "gold"]), ("detected.json", ["--detector", "gazetteer"])):
        runs.append(tmp / name)
        res = CliRunner().invoke(cli, ["eval", str(bench), "--context", "static", "--method", "features", *args,
                                       "--report", str(runs[-1]), "--report-all"], env=env)
        assert res.exit_code == 0, res.output
    return runs[0], runs[1]


@pytest.fixture(scope="module")
def served(kb, report, span_reports):
    cfg, _, _ = kb

    def with_report(ctx: AppContext) -> KgService:
        service = KgService(ctx, [report, *span_reports])
        service.load_reports()
        return service

    with (serving(cfg, ServeSettings(max_body_bytes=64 << 10, timeout_s=120), with_report) as running,
          httpx.Client(base_url=running.url, timeout=120) as client):
        # two linked documents written through the API, as `kg link` would write them
        for doc_id, text in (("d1", TEXT), ("d2", "Obama spoke in Paris, France.")):
            res = client.post("/link", json={"id": doc_id, "text": text, "options": {**FAST, "write": True}})
            assert res.status_code == 200, res.text
        yield running, client, running.app.state.service


def test_health_search_card_and_mentions(served) -> None:
    _, client, _ = served
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["vectors"] == len(KB)
    found = client.get("/search", params={"q": "Barak Obama", "k": 3}).json()
    assert found["hits"] == [] and found["did_you_mean"][0]["qid"] == "Q76"  # misspelt: a suggestion, not a hit
    card = client.get("/entities/Q76").json()
    assert card["label"] == "Barack Obama" and {"pid": "P19", "target": "Q18094"}.items() <= card["relations"][0].items()
    mentions = client.get("/entities/Q76/mentions").json()["mentions"]
    assert {m["doc_id"] for m in mentions} == {"d1", "d2"}
    assert any(m["snippet"].startswith("[[Barack Obama]] was born") for m in mentions)


def test_link_detects_and_ranks_without_writing(served) -> None:
    _, client, _ = served
    res = client.post("/link", json={"id": "x1", "text": TEXT, "options": {**FAST, "explain": True}})
    assert res.status_code == 200, res.text
    body = res.json()
    by_surface = {m["surface"]: m for m in body["mentions"]}
    assert by_surface["Barack Obama"]["qid"] == "Q76" and by_surface["Honolulu"]["qid"] == "Q18094"
    assert body["written"] is False and "trace" in by_surface["Berlin"]["explain"]
    assert by_surface["Berlin"]["explain"]["candidates"]
    assert client.get("/documents/x1").status_code == 404  # nothing written


def test_given_spans_are_linked_and_written_documents_read_back(served) -> None:
    _, client, _ = served
    text = "Paris is the capital of France."
    res = client.post("/link", json={"id": "w1", "text": text, "mentions": [span(text, "Paris")],
                                     "options": {**FAST, "write": True}})
    assert [m["qid"] for m in res.json()["mentions"]] == ["Q90"]
    doc = client.get("/documents/w1").json()
    assert doc["text"] == text and [(m["surface"], m["qid"]) for m in doc["mentions"]] == [("Paris", "Q90")]
    page = client.get("/documents", params={"limit": 2}).json()
    assert [d["id"] for d in page["documents"]] == ["d1", "d2"] and page["next"] == "d2"
    assert "w1" in [d["id"] for d in client.get("/documents", params={"after": "d2"}).json()["documents"]]


def test_explain_shows_the_stored_ranking_and_rank_again_is_a_separate_action(served, kb) -> None:
    """`kg link` stores each mention's top candidates, scores, features and NIL decision; explain shows that
    record (a NIL mention as NIL, with its stored scores), and ranking again is a separate, labelled link."""
    _, client, _ = served
    _, env, tmp = kb
    text = "Barack Obama visited Paris."
    spans = [span(text, "Barack Obama"), span(text, "Paris")]
    ranked = client.post("/link", json={"text": text, "mentions": spans, "options": FAST}).json()["mentions"]
    top = {m["surface"]: m["score"] for m in ranked}
    assert top["Barack Obama"] != top["Paris"]
    nil_surface = min(top, key=top.__getitem__)  # a threshold between the two scores leaves the lower one NIL
    corpus = tmp / "explain.jsonl"
    corpus.write_text(json.dumps({"id": "e1", "text": text, "mentions": spans}) + "\n")
    res = CliRunner().invoke(cli, ["link", str(corpus), "--method", "features", "--context", "static",
                                   "--nil-threshold", str(sum(top.values()) / 2)], env=env)
    assert res.exit_code == 0, res.output
    stored = {m["surface"]: m for m in client.get("/documents/e1", params={"explain": True}).json()["mentions"]}
    nil = stored[nil_surface]
    assert nil["qid"] is None and nil["status"] == "NIL"
    record = nil["explain"]["stored_ranking"]
    assert record["status"] == "NIL" and record["nil_threshold"] == pytest.approx(sum(top.values()) / 2)
    assert record["candidates"][0]["score"] == pytest.approx(top[nil_surface], abs=1e-6)
    assert 1 <= len(record["candidates"]) <= 10 and record["candidates"][0]["features"]
    linked = next(m for s, m in stored.items() if s != nil_surface)
    assert linked["explain"]["stored_ranking"]["qid"] == linked["qid"] is not None
    assert linked["explain"]["stored_ranking"]["score"] == pytest.approx(linked["score"])
    page = client.get("/ui/documents/e1", params={"explain": 1}).text
    assert 'class="decision-nil">NIL</span>' in page and "below the NIL threshold" in page
    assert f"{top[nil_surface]:.3f}" in page and 'id="score-legend"' in page
    assert 'id="rerank-link" class="action" href="?rerank=1">Rank again now</a>' in page
    assert 'id="reranked"' not in page  # explain alone ranks nothing again
    again = client.get("/ui/documents/e1", params={"rerank": 1}).text
    assert 'id="reranked"' in again and "Ranked again now" in again and 'id="stored"' not in again


@pytest.mark.parametrize("method", ["auto", "features", "learned", "fusion"])
def test_every_method_returns_probabilities(served, method) -> None:
    """One score scale: every score /link returns (the chosen entity's, every candidate's, the NIL threshold) is a
    probability in [0, 1], for given spans and detected ones (the LLM methods: test_llm_methods)."""
    _, client, _ = served
    text = "Barack Obama visited Paris and Berlin."
    scores = []
    for spans in ([span(text, "Barack Obama"), span(text, "Paris")], None):
        body = {"text": text, "options": {**FAST, "method": method, "explain": True}}
        if spans:
            body["mentions"] = spans
        res = client.post("/link", json=body)
        assert res.status_code == 200, res.text
        for m in res.json()["mentions"]:
            scores += [m["score"], m["explain"]["trace"]["nil_threshold"]]
            scores += [c["score"] for c in m["explain"]["candidates"]]
    scores = [s for s in scores if s is not None]
    assert len(scores) > 8 and all(0.0 <= s <= 1.0 for s in scores), scores


@pytest.mark.parametrize("body, status, message", [
    ({"text": "abc", "mentions": [{"start": 0, "end": 9}]}, 400, "mentions[0]: span 0-9 is outside the text"),
    ({"text": "abc", "options": {"method": "magic"}}, 400, "method: 'magic' is not one of auto"),
    ({"text": "abc", "image": "/etc/passwd"}, 400, "image: must be an http(s) URL"),
    ({"text": "abc", "image_base64": "not base64!"}, 400, "image_base64: not valid base64"),
    ({"text": ""}, 400, "text: empty and no image given"),
    ({"text": "abc", "mention": []}, 422, "mention"),
    ({"text": "a" * (70 << 10)}, 413, "request body over 65,536 bytes"),
    ({"text": "Berlin. " * 2, "mentions": [{"start": 0, "end": 6}] * 1001}, 413,
     "mentions: 1,001, over the limit of 1,000 a request"),
    ({"text": "Berlin. " * 1001, "options": FAST}, 413, "detected mentions: 1,001, over the limit of 1,000"),
])
def test_bad_input_gets_a_4xx_naming_it(served, body, status, message) -> None:
    _, client, _ = served
    res = client.post("/link", json=body)
    assert res.status_code == status and message in res.text, res.text


def test_a_chunked_body_over_the_limit_gets_413(served) -> None:
    _, client, _ = served
    chunks = (json.dumps({"text": "a" * (70 << 10)})[i:i + 8192].encode() for i in range(0, 80 << 10, 8192))
    res = client.post("/link", content=chunks, headers={"Content-Type": "application/json"})  # no Content-Length
    assert res.status_code == 413 and "request body over 65,536 bytes" in res.json()["error"]["message"]


def test_document_text_is_escaped_in_the_page(served) -> None:
    _, client, _ = served
    text = "<script>alert(1)</script> Berlin"
    res = client.post("/link", json={"id": "esc", "text": text, "mentions": [span(text, "Berlin")],
                                     "options": {**FAST, "write": True}})
    assert res.status_code == 200, res.text
    page = client.get("/ui/documents/esc").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page


def test_unknown_ids_and_bad_queries(served) -> None:
    _, client, _ = served
    assert client.get("/entities/Q999").status_code == 404
    assert "unknown entity 'Q999'" in client.get("/entities/Q999/mentions").json()["error"]["message"]
    assert client.get("/documents/nope").status_code == 404
    assert client.get("/search", params={"q": " "}).status_code == 400
    assert client.get("/search", params={"q": "x", "by": "smell"}).json()["error"]["message"].startswith("by: 'smell'")
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/link", "/search", "/entities/{qid}",
                                                                   "/entities/{qid}/mentions", "/health"}


def test_api_key_is_required_when_set(kb) -> None:
    cfg, _, _ = kb
    with pytest.raises(Exception, match="set an API key"):
        ServeSettings(host="0.0.0.0").check()
    with pytest.raises(Exception, match=r"\[serve\] allowed_hosts"):
        ServeSettings(host="0.0.0.0", api_key="s3cret").check()
    with serving(cfg, ServeSettings(api_key="s3cret")) as running:
        with httpx.Client(base_url=running.url) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/entities/Q76").status_code == 401
            assert client.get("/entities/Q76", headers={"X-API-Key": "wrong"}).status_code == 401
            assert client.get("/entities/Q76", headers={"X-API-Key": "s3cret"}).status_code == 200
            assert client.get("/entities/Q76", headers={"Authorization": "Bearer s3cret"}).status_code == 200
            assert client.get("/ui").status_code == 303  # pages send the browser to the key form


def test_a_link_request_over_the_time_limit_gets_504(kb) -> None:
    cfg, _, _ = kb
    with serving(cfg, ServeSettings(timeout_s=0.001)) as running:
        res = httpx.post(running.url + "/link", json={"text": TEXT, "options": FAST}, timeout=120)
        assert res.status_code == 504 and "took over 0.001 s (the server's --timeout)" in res.json()["error"]["message"]


def test_waiting_requests_share_one_batch_and_get_their_own_results(served) -> None:
    _, _, service = served
    settings = service.link_options(FAST)
    batcher = LinkBatcher(service.linker, max_docs=8, wait_s=1.0)
    try:
        texts = {f"b{i}": t for i, t in enumerate([TEXT, "Paris, France.", "Obama in Berlin.", "Honolulu."])}
        futures = {i: batcher.submit(settings, Document(i, t, mentions=None)) for i, t in texts.items()}
        results = {i: f.result(timeout=120) for i, f in futures.items()}
    finally:
        batcher.close()
    assert batcher.stats.batches == 1 and batcher.stats.largest == 4
    for doc_id, rs in results.items():
        assert rs and all(r.doc_id == doc_id and texts[doc_id][r.start:r.end] == r.surface for r in rs)
    assert [r.qid for r in results["b3"]] == ["Q18094"]


def test_report_pages_and_eval_categories(served) -> None:
    _, client, _ = served
    page = client.get("/ui/reports/eval-report.json", params={"category": "wrong_entity"})
    assert page.status_code == 200
    assert "Q64" in page.text and 'href="?category=wrong_entity">1</a>' in page.text
    # the case in its sentence, linked to its annotated article; the category with its explanation
    assert 'Paris is the capital of </span><mark>France</mark>' in page.text
    assert 'href="/ui/reports/eval-report.json/documents/g1#m-1"' in page.text
    assert "the right span, linked to another entity" in page.text


# ---------------------------------------------------------------------------------------------- staying responsive
def _busy_text(sentences: int) -> tuple[str, list[dict]]:
    """A long text whose every sentence differs (no two mention contexts alike: each is encoded), and its spans."""
    parts, spans, at = [], [], 0
    for i in range(sentences):
        sentence = f"In year {i} Barack Obama flew from Honolulu to Berlin, then on to Paris for talk {i * 7}. "
        spans.append({"start": at + sentence.index("Barack"), "end": at + sentence.index(" flew")})
        parts.append(sentence)
        at += len(sentence)
    return "".join(parts), spans


def test_a_1mb_request_is_refused_and_a_timed_out_one_stops_so_the_next_answers_within_2s(kb) -> None:
    cfg, _, _ = kb
    with serving(cfg, ServeSettings(timeout_s=2.0)) as running:
        with httpx.Client(base_url=running.url, timeout=300) as client:
            small = {"text": TEXT, "options": FAST}
            deadline = time.monotonic() + 120  # the first calls load its linker, which a busy machine takes past 2 s
            while (first := client.post("/link", json=small)).status_code != 200:
                assert first.status_code == 504 and time.monotonic() < deadline, first.text
            res = client.post("/link", json={"text": "Berlin. " * (1 << 17), "options": FAST})  # 1 MiB
            assert res.status_code == 413 and "100,000 characters" in res.json()["error"]["message"], res.text
            schema = client.get("/openapi.json").json()["components"]["schemas"]["LinkIn"]["properties"]
            assert schema["text"]["maxLength"] == 100_000 and schema["mentions"]["anyOf"][0]["maxItems"] == 1000
            text, spans = _busy_text(1000)  # under both limits, and minutes of text-model encoding on a busy CPU
            res = client.post("/link", json={"text": text, "mentions": spans, "options": {**FAST, "context": "model"}})
            assert res.status_code == 504, res.text
            started = time.monotonic()
            res = client.post("/link", json=small)
            assert res.status_code == 200 and time.monotonic() - started < 2.0, res.text


class SlowToLoad(KgService):
    """A service whose linker takes until `release` is set to load (as a model load that hangs would)."""

    release = threading.Event()

    def linker(self, settings):
        self.release.wait(120)
        return super().linker(settings)


def test_health_reports_a_worker_stuck_past_its_deadline(kb) -> None:
    cfg, _, _ = kb
    with serving(cfg, ServeSettings(timeout_s=0.5), SlowToLoad) as running:
        try:
            with httpx.Client(base_url=running.url, timeout=60) as client:
                assert client.get("/health").json()["status"] == "ok"
                assert client.post("/link", json={"text": TEXT, "options": FAST}).status_code == 504
                deadline = time.monotonic() + 30
                while (res := client.get("/health")).status_code == 200:  # stuck: over a second past the deadline
                    assert time.monotonic() < deadline and res.json()["status"] == "ok", res.text
                    time.sleep(0.1)
                assert res.status_code == 503 and res.json()["error"]["code"] == "unavailable", res.text
                assert "longer than its deadline" in res.json()["error"]["message"]
                SlowToLoad.release.set()
                deadline = time.monotonic() + 60
                while client.get("/health").status_code != 200:
                    assert time.monotonic() < deadline, "the worker never came back"
                    time.sleep(0.1)
        finally:
            SlowToLoad.release.set()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kg_serve(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", "serve", "--no-warm", *args],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigterm_under_load_stops_kg_serve_within_5s(kb) -> None:
    _, env, _ = kb
    port = _free_port()
    proc = _kg_serve(env, "--port", str(port), "--timeout", "300")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        text, spans = _busy_text(1000)
        body = {"text": text, "mentions": spans, "options": {**FAST, "context": "model"}}
        load = [threading.Thread(target=lambda: _post_quietly(url + "/link", body), daemon=True) for _ in range(3)]
        for t in load:
            t.start()
        busy_by = time.monotonic() + 10
        while not httpx.get(url + "/health").json().get("worker", {}).get("busy_s") and time.monotonic() < busy_by:
            time.sleep(0.1)  # until the worker has the batch
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proc.wait(timeout=30)
        assert time.monotonic() - started < 5.0, f"kg serve took {time.monotonic() - started:.1f} s to stop"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _post_quietly(url: str, body: dict) -> None:
    try:
        httpx.post(url, json=body, timeout=300)
    except httpx.TransportError:
        pass  # the server went away under it: what the test wants


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example"])
def test_a_foreign_host_header_is_refused(served, host) -> None:
    _, client, _ = served
    res = client.get("/entities/Q76", headers={"Host": host})
    assert res.status_code == 421 and "allowed_hosts" in res.json()["error"]["message"], res.text
    res = client.post("/link", json={"text": TEXT, "options": {**FAST, "write": True}}, headers={"Host": host})
    assert res.status_code == 421


@pytest.mark.parametrize("host", ["localhost", "localhost:8765", "127.0.0.1:1", "[::1]:8765", "[::1]"])
def test_loopback_host_headers_are_allowed(served, host) -> None:
    _, client, _ = served
    assert client.get("/entities/Q76", headers={"Host": host}).status_code == 200


def test_allowed_hosts_from_kg_toml(kb, tmp_path) -> None:
    cfg, _, _ = kb
    (cfg.home / "kg.toml").write_text('[serve]\nallowed_hosts = "kg.example.org, 10.0.0.7"\n')
    try:
        config = load_config({"home": cfg.home}, env={})
        assert config.serve.allowed_hosts == "kg.example.org, 10.0.0.7"
    finally:
        (cfg.home / "kg.toml").unlink()
    with serving(cfg, ServeSettings(allowed_hosts=config.serve.allowed_hosts)) as running:
        with httpx.Client(base_url=running.url) as client:
            assert client.get("/entities/Q76", headers={"Host": "kg.example.org:8765"}).status_code == 200
            assert client.get("/entities/Q76", headers={"Host": "10.0.0.7"}).status_code == 200
            assert client.get("/entities/Q76", headers={"Host": "localhost"}).status_code == 200
            assert client.get("/entities/Q76", headers={"Host": "other.example.org"}).status_code == 421


def test_a_key_file_others_can_read_is_refused(kb, tmp_path) -> None:
    _, env, _ = kb
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    key_file.chmod(0o644)
    proc = _kg_serve(env, "--port", str(_free_port()), "--api-key-file", str(key_file))
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and f"chmod 600 {key_file}" in out and "Traceback" not in out, out


def test_login_sets_a_random_session_token_and_failures_are_throttled(kb) -> None:
    cfg, _, _ = kb
    with serving(cfg, ServeSettings(api_key="s3cret")) as running:
        with httpx.Client(base_url=running.url) as client:
            res = client.post("/ui/login", data={"key": "s3cret"})
            assert res.status_code == 303
            token = client.cookies.get("kg_session")
            assert token and "s3cret" not in (res.headers.get("set-cookie") or "") and len(token) >= 32
            assert client.get("/entities/Q76").status_code == 200  # the session cookie lets the browser in
        with httpx.Client(base_url=running.url) as client:
            client.cookies.set("kg_session", "s3cret")  # the key itself is no session
            assert client.get("/entities/Q76").status_code == 401
            codes = [client.post("/ui/login", data={"key": f"guess{i}"}).status_code for i in range(5)]
            assert codes == [401] * 5
            res = client.post("/ui/login", data={"key": "s3cret"})  # right, but too soon after 5 failures
            assert res.status_code == 429 and int(res.headers["retry-after"]) > 0
            assert client.get("/entities/Q76", headers={"X-API-Key": "s3cret"}).status_code == 429


# ---------------------------------------------------------------------------------------------- the browser
def test_the_pages_in_a_real_browser(served, browser) -> None:
    running, _, _ = served
    page = browser()
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page.get(running.url + "/ui")
    box = page.find_element(By.ID, "home-q")
    box.send_keys("Barak Obama", Keys.ENTER)  # misspelt: the fuzzy name index finds him
    first = page.find_element(By.CSS_SELECTOR, "#did-you-mean .result-title")
    assert first.text == "Barack Obama"
    first.click()
    assert page.find_element(By.ID, "entity-label").text.startswith("Barack Obama")
    relation = page.find_element(By.LINK_TEXT, "Honolulu")  # a relation, as a link to its card
    assert relation.get_attribute("href").endswith("/ui/entities/Q18094")
    page.find_element(By.CSS_SELECTOR, "#entity-documents a[href='/ui/documents/d1']").click()
    mention = page.find_element(By.CSS_SELECTOR, ".mention.linked[data-qid='Q76']")
    assert mention.text.startswith("Barack Obama")
    tip = mention.find_element(By.CSS_SELECTOR, ".tip")
    assert not tip.is_displayed()
    ActionChains(page).move_to_element(mention).perform()
    assert tip.is_displayed() and "probability" in tip.text
    page.find_element(By.ID, "explain-link").click()  # the candidates as ranked when the link was written
    rows = page.find_elements(By.CSS_SELECTOR, "details.explain")
    assert len(rows) == 3
    rows[0].click()
    assert "Barack Obama" in rows[0].find_element(By.CSS_SELECTOR, "tr.chosen").text
    page.find_element(By.LINK_TEXT, "Reports").click()
    page.find_element(By.PARTIAL_LINK_TEXT, "eval-report.json").click()
    assert "wrong entity" in page.find_element(By.ID, "categories").text
    page.get(running.url + "/ui/documents/d1")  # keyboard only: Tab walks the mentions, each shows its card
    seen = []
    for _ in range(40):
        page.switch_to.active_element.send_keys(Keys.TAB)
        focused = page.switch_to.active_element
        mention = focused if "mention" in (focused.get_attribute("class") or "").split() else None
        if mention is None and focused.tag_name == "a":  # a linked mention's own link inside its span
            parent = focused.find_element(By.XPATH, "..")
            mention = parent if "mention" in (parent.get_attribute("class") or "").split() else None
        if mention is not None:
            assert mention.find_element(By.CSS_SELECTOR, ".tip").is_displayed()
            seen.append(mention.get_attribute("data-qid"))
            if focused.tag_name == "a" and seen[-1] == "Q76":
                break
    assert "Q76" in seen and page.switch_to.active_element.tag_name == "a"
    page.switch_to.active_element.send_keys(Keys.ENTER)  # Enter on the focused mention's link opens its entity
    assert page.find_element(By.ID, "entity-label").text.startswith("Barack Obama")


def test_paste_a_text_and_see_its_mentions_linked_in_a_real_browser(served, browser) -> None:
    """The home page's first box: paste a text, choose method and detector, see the mentions highlighted in the
    colour of their entity's type, with a legend and a table; nothing is written unless asked."""
    running, _, _ = served
    page = browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page.get(running.url + "/ui")
    first = page.find_element(By.CSS_SELECTOR, "main form")
    assert first.get_attribute("id") == "link-form"  # the first box of the home page
    page.find_element(By.ID, "link-text").send_keys("Barack Obama visited Paris, France.")
    Select(page.find_element(By.ID, "link-detector")).select_by_value("gazetteer")
    Select(page.find_element(By.ID, "link-method")).select_by_value("features")
    page.find_element(By.ID, "link-submit").click()
    obama = page.find_element(By.CSS_SELECTOR, "#pasted-text .mention.linked[data-qid='Q76']")
    assert obama.text.startswith("Barack Obama")
    legend = page.find_element(By.ID, "type-legend").text
    assert "human" in legend and "NIL" in legend
    rows = page.find_elements(By.CSS_SELECTOR, "#mention-table tbody tr")
    assert len(rows) >= 2 and "Barack Obama" in rows[0].text and "human" in rows[0].text
    assert "not written" in page.find_element(By.ID, "linked-text").text
    assert page.find_element(By.ID, "link-text").get_attribute("value").startswith("Barack Obama")


def test_upload_a_file_and_choose_the_link_policy_in_a_real_browser(served, browser, tmp_path) -> None:
    """A .txt file uploaded instead of a pasted text, linked with the policy chosen on the form; the form is
    reachable by keyboard and reflows at 500 px."""
    running, _, _ = served
    page = browser()
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    notes = tmp_path / "notes.txt"
    notes.write_text("Barack Obama was born in Honolulu.", encoding="utf-8")
    page.get(running.url + "/ui/link")
    page.find_element(By.ID, "link-text").click()
    reached = []
    for _ in range(12):  # Tab from the text box onwards: the file, the options, write, Link
        ActionChains(page).send_keys(Keys.TAB).perform()  # as keys typed (a file input takes send_keys as a path)
        reached.append(page.switch_to.active_element.get_attribute("id"))
    assert {"link-file", "link-link", "link-coref", "link-submit"} <= set(reached), reached
    page.find_element(By.ID, "link-file").send_keys(str(notes))
    Select(page.find_element(By.ID, "link-detector")).select_by_value("gazetteer")
    Select(page.find_element(By.ID, "link-method")).select_by_value("features")
    Select(page.find_element(By.ID, "link-link")).select_by_value("all")
    page.find_element(By.ID, "link-submit").click()
    obama = WebDriverWait(page, 60).until(  # the upload's page load may start after click() returns
        lambda p: p.find_element(By.CSS_SELECTOR, "#pasted-text .mention.linked[data-qid='Q76']"))
    assert obama.text.startswith("Barack Obama")
    assert "link all" in page.find_element(By.ID, "link-used").text  # the request carried the chosen policy
    assert Select(page.find_element(By.ID, "link-link")).first_selected_option.get_attribute("value") == "all"
    assert page.find_element(By.ID, "link-text").get_attribute("value") == notes.read_text()
    page.set_window_size(500, 900)
    assert page.execute_script("return document.documentElement.scrollWidth") <= 500


def _select(page: str, name: str) -> tuple[list[str], str | None]:
    """A <select>'s option values in a page, and the selected one."""
    import re

    found = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert found, name
    options = re.findall(r'<option value="([^"]*)"( selected)?>', found.group(1))
    return [v for v, _ in options], next((v for v, chosen in options if chosen), None)


def test_the_link_form_offers_link_config_s_options(served) -> None:
    """Method, detector and link policy are LinkConfig's choices (methods that need an LLM aside) with the server's
    defaults, coreference its checkbox, each with LinkConfig's help; no image field without an image model."""
    from kg.linkers.config import LinkConfig, specs
    from kg.linkers.ranking.registry import methods

    _, client, _ = served
    page = client.get("/ui/link").text
    by_name = {spec.name: spec for spec in specs()}
    for name in ("method", "detector", "link"):
        choices, chosen = _select(page, name)
        want = [c for c in by_name[name].choices() if name != "method" or not methods()[c].needs_llm]
        assert choices == list(want) and chosen == getattr(LinkConfig(), name), name
    assert 'name="coref" value="on" id="link-coref" checked' in page
    for name in ("method", "detector", "link", "coref"):
        assert str(escape(by_name[name].help)) in page, name
    assert 'id="link-image-off"' in page and 'name="image"' not in page


def _upload(client: httpx.Client, content: bytes, **fields: str) -> httpx.Response:
    return client.post("/ui/link", data={**FAST, **fields}, files={"file": ("notes.txt", content, "text/plain")})


def test_an_uploaded_file_is_linked_and_a_bad_one_gets_a_clear_message(served) -> None:
    _, client, _ = served
    res = _upload(client, "\ufeffBarack Obama visited <b>Paris</b>.".encode(), link="all", coref="off")
    assert res.status_code == 200, res.text
    assert 'data-qid="Q76"' in res.text and "&lt;b&gt;Paris&lt;/b&gt;" in res.text and "<b>Paris" not in res.text
    assert "link <code>all</code>" in res.text and "coref <code>off</code>" in res.text
    res = _upload(client, "Obama in M\u00fcnchen".encode("latin-1"))
    assert res.status_code == 400 and escape("file 'notes.txt': not UTF-8 text (byte 10 is 0xfc)") in res.text
    res = _upload(client, b"a" * (paste.MAX_TEXT + 1))
    assert res.status_code == 400 and escape(f"20,001 characters, over the page's {paste.MAX_TEXT:,}") in res.text
    res = _upload(client, b"  \n")
    assert res.status_code == 400 and escape("file 'notes.txt': empty") in res.text
    for bad in (res, _upload(client, b"x", link="some")):
        assert bad.headers["content-type"].startswith("text/html") and "Traceback" not in bad.text
    assert escape("link: 'some' is not one of named, all") in _upload(client, b"x", link="some").text


def test_a_report_carries_its_texts_and_entity_types_and_old_reports_still_load(report, span_reports, tmp_path):
    """Format 2: the report alone shows each case in its sentence and groups it by type (no KB needed)."""
    from kg.linkers.evaluation.eval_report import load_report
    from kg.linkers.evaluation.report_view import context, run_scores, type_breakdown

    data = json.loads(span_reports[1].read_text())
    assert data["format"] == 2 and data["all_cases"] is True
    assert data["documents"] == {"7": "Paris is the capital of France. Barack Obama was born in Honolulu."}
    assert data["entities"]["Q76"] == {"label": "Barack Obama", "type": "human"}
    rep = load_report(span_reports[1])
    france = next(c for c in rep.cases if c.text == "France")
    assert france.category == "spurious_mention" and france.fp == 1
    assert context(rep, france) == ("Paris is the capital of ", "France", ". Barack Obama was born in Honolulu.")
    assert type_breakdown(rep)["human"] == {"correct": 1}
    scores = run_scores(rep)
    assert (scores.tp, scores.fp) == (data["metrics"]["true_positives"], data["metrics"]["false_positives"])
    mentions = load_report(report)  # the corpus run, mention level: counted from its cases
    assert mentions.documents["g1"] == "Paris is the capital of France." and mentions.complete
    assert run_scores(mentions).fn == sum(c.category != "correct" for c in mentions.cases)
    old = tmp_path / "old.json"  # a format-1 file (before texts and entities): loads, with no sentence shown
    old.write_text(json.dumps({k: v for k, v in data.items() if k not in ("format", "documents", "entities",
                                                                        "all_cases")}))
    before = load_report(old)
    assert before.complete and before.documents == {} and context(before, before.cases[0]) is None


def test_a_report_as_annotated_articles_and_two_runs_compared_in_a_real_browser(served, browser) -> None:
    """ELEVANT's evaluation view: the runs' P/R/F1 table, two runs compared mention by mention, a case opened in
    its annotated article (gold and prediction side by side, coloured, reachable by keyboard), at 500 px too."""
    running, _, _ = served
    page = browser("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    page.get(running.url + "/ui/reports")
    rows = page.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["detected.json", "eval-report.json",
                                                                     "gold-spans.json"]
    Select(page.find_element(By.ID, "compare-a")).select_by_value("gold-spans.json")
    Select(page.find_element(By.ID, "compare-b")).select_by_value("detected.json")
    page.find_element(By.ID, "compare-submit").click()
    broken = page.find_element(By.ID, "group-broken")
    assert "France" in broken.text and "spurious mention" in broken.text
    broken.find_element(By.CSS_SELECTOR, "a.cat-spurious_mention").click()  # B's side of it, in its article
    predicted = page.find_element(By.ID, "predicted-layer")
    france = predicted.find_element(By.CSS_SELECTOR, ".am-fp")
    assert france.text.startswith("France") and france.get_attribute("data-category") == "spurious_mention"
    gold = page.find_element(By.ID, "gold-layer")
    assert "France" not in [m.text.split("\n")[0] for m in gold.find_elements(By.CSS_SELECTOR, ".am")]
    assert "FP" in page.find_element(By.ID, "legend").text
    for _ in range(30):  # keyboard only: Tab reaches the annotated mentions, and each shows its tooltip
        page.switch_to.active_element.send_keys(Keys.TAB)
        focused = page.switch_to.active_element
        if "am" in (focused.get_attribute("class") or "").split():
            break
    assert "am" in focused.get_attribute("class").split()
    assert focused.find_element(By.CSS_SELECTOR, ".tip").is_displayed()
    page.set_window_size(500, 900)
    for path in ("/ui/reports", "/ui/reports/detected.json", "/ui/reports/detected.json/documents/7",
                 "/ui/reports/compare?a=gold-spans.json&b=detected.json"):
        page.get(running.url + path)
        assert page.execute_script("return document.documentElement.scrollWidth") <= 500, path
    page.get(running.url + "/ui/reports/detected.json?type=human")  # a figure of the type table: its cases
    assert page.find_element(By.ID, "cases-title").text.startswith("1 case")


def test_screenshots_of_every_page_at_both_widths(served, browser, tmp_path) -> None:
    """scripts/web_screenshots.py on the served KB: each page, the report pages included, at 1400 and 500 px."""
    import importlib.util

    running, _, _ = served
    spec = importlib.util.spec_from_file_location("web_screenshots", Path(__file__).parents[1] / "scripts" /
                                                  "web_screenshots.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    written = script.main(running.url, tmp_path, "Q76", "d1", "detected.json", "gold-spans.json")
    names = {p.name for p in written}
    assert names == {f"{n}-{w}.png" for w in (1400, 500) for n in (
        "home", "link", "search", "entity", "documents", "document", "api-docs", "reports", "report",
        "report-article", "report-compare")}
    for p in written:
        width = int.from_bytes(p.read_bytes()[16:20], "big")  # the PNG header's width
        assert width == int(p.stem.rsplit("-", 1)[1]), p.name
