"""The `kg serve` API's one shape (issue #28): every answer matches the model openapi.json names for its route and
status, every error has the one error body, mentions have the same fields in /link and /documents/{id}, search
ranks exact names first, and /docs works with no network beyond loopback (headless Chromium)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from test_serve import FAST, TEXT, _free_port, _kg_serve, kb, serving, span  # noqa: F401  (kb: the module's fixture)

from kg.cli.web import schemas
from kg.cli.web.app import ServeSettings
from kg.kgstore.config import load_config
from kg.linkers.ranking.registry import methods

MENTION_KEYS = set(schemas.MentionOut.model_fields)


@pytest.fixture(scope="module")
def api(kb):  # noqa: F811
    cfg, _, _ = kb
    with (serving(cfg, ServeSettings(max_body_bytes=64 << 10, timeout_s=120)) as running,
          httpx.Client(base_url=running.url, timeout=120) as client):
        res = client.post("/link", json={"id": "a1", "text": TEXT, "options": {**FAST, "write": True}})
        assert res.status_code == 200, res.text
        yield running, client, client.get("/openapi.json").json()


def _model(openapi: dict[str, Any], method: str, template: str, status: int) -> type:
    """The pydantic model of cli.web.schemas that openapi.json names for this route and status."""
    responses = openapi["paths"][template][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {template} does not document status {status}"
    ref = responses[str(status)]["content"]["application/json"]["schema"]["$ref"]
    return getattr(schemas, ref.rsplit("/", 1)[1])


OK_CALLS = [
    ("get", "/health", "/health", {}),
    ("post", "/link", "/link", {"json": {"text": TEXT, "options": FAST}}),
    ("post", "/link", "/link", {"json": {"text": TEXT, "options": {**FAST, "explain": True}}}),
    ("get", "/search", "/search", {"params": {"q": "obama"}}),
    ("get", "/search", "/search", {"params": {"q": "capital of Germany", "by": "text"}}),
    ("get", "/entities/q76", "/entities/{qid}", {}),
    ("get", "/entities/Q76/mentions", "/entities/{qid}/mentions", {}),
    ("get", "/documents", "/documents", {}),
    ("get", "/documents/a1", "/documents/{doc_id}", {}),
    ("get", "/documents/a1", "/documents/{doc_id}", {"params": {"explain": "true"}}),
]


@pytest.mark.parametrize("method, path, template, kwargs", OK_CALLS)
def test_every_answer_matches_its_openapi_model(api, method, path, template, kwargs) -> None:
    _, client, openapi = api
    res = client.request(method, path, **kwargs)
    assert res.status_code == 200, res.text
    _model(openapi, method, template, 200).model_validate(res.json())  # extra fields are refused too


ERROR_CALLS = [
    ("get", "/entities/Q999", "/entities/{qid}", {}, 404, None),
    ("get", "/entities/Q999/mentions", "/entities/{qid}/mentions", {}, 404, None),
    ("get", "/documents/nope", "/documents/{doc_id}", {}, 404, None),
    ("get", "/search", "/search", {"params": {"q": " "}}, 400, "q"),
    ("get", "/search", "/search", {"params": {"q": "x", "by": "smell"}}, 400, "by"),
    ("get", "/search", "/search", {"params": {"q": "x", "by": "image"}}, 400, "by"),  # no image model configured
    ("get", "/search", "/search", {"params": {"q": "x", "k": 0}}, 422, "query.k"),
    ("get", "/documents", "/documents", {"params": {"limit": "many"}}, 422, "query.limit"),
    ("post", "/link", "/link", {"json": {"text": "abc", "options": {"method": "magic"}}}, 400, "method"),
    ("post", "/link", "/link", {"json": {"text": "abc", "mentions": [{"start": 0, "end": 9}]}}, 400, "mentions[0]"),
    ("post", "/link", "/link", {"json": {"text": "abc", "mention": []}}, 422, "body.mention"),
    ("post", "/link", "/link", {"json": {"text": "abc", "options": {"top_k": 0}}}, 422, "body.options.top_k"),
    ("post", "/link", "/link", {"json": {"text": "a" * (70 << 10)}}, 413, None),
    ("post", "/link", "/link", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422,
     "body.1"),
]


@pytest.mark.parametrize("method, path, template, kwargs, status, field", ERROR_CALLS)
def test_every_error_has_the_one_error_body_and_a_documented_status(api, method, path, template, kwargs, status,
                                                                     field) -> None:
    _, client, openapi = api
    res = client.request(method, path, **kwargs)
    assert res.status_code == status, res.text
    body = schemas.ErrorOut.model_validate(res.json()).error
    assert body.code == schemas.ERROR_CODES[status] and body.message and body.field == field, res.text
    assert _model(openapi, method, template, status) is schemas.ErrorOut


@pytest.mark.parametrize("method, path, status", [("get", "/nope", 404), ("delete", "/link", 405),
                                                  ("get", "/entities/Q76/nope", 404)])
def test_unknown_paths_and_methods_have_the_error_body(api, method, path, status) -> None:
    _, client, _ = api
    res = client.request(method, path)
    assert res.status_code == status
    assert schemas.ErrorOut.model_validate(res.json()).error.code == schemas.ERROR_CODES[status]


def test_key_and_host_refusals_have_the_error_body(kb) -> None:  # noqa: F811
    cfg, _, _ = kb
    with serving(cfg, ServeSettings(api_key="s3cret")) as running:
        for headers, status in (({}, 401), ({"X-API-Key": "wrong"}, 401), ({"Host": "evil.example"}, 421)):
            res = httpx.get(running.url + "/entities/Q76", headers=headers)
            assert res.status_code == status
            assert schemas.ErrorOut.model_validate(res.json()).error.code == schemas.ERROR_CODES[status]
        openapi = httpx.get(running.url + "/openapi.json", headers={"X-API-Key": "s3cret"}).json()
        assert {"401", "421", "429"} <= openapi["paths"]["/entities/{qid}"]["get"]["responses"].keys()


def test_pages_show_errors_as_pages_not_json(api) -> None:
    _, client, _ = api
    for path, status in (("/ui/nope", 404), ("/ui/search?q=berlin&k=0", 422), ("/ui/entities/Q999", 404)):
        res = client.get(path)
        assert res.status_code == status and res.headers["content-type"].startswith("text/html"), path
        assert '"error"' not in res.text and f"<h1>{status}</h1>" in res.text


def test_one_mention_shape_in_link_and_documents(api) -> None:
    _, client, _ = api
    linked = client.post("/link", json={"text": TEXT, "options": FAST}).json()["mentions"]
    stored = client.get("/documents/a1").json()["mentions"]
    for m in linked + stored:
        assert set(m) == MENTION_KEYS and m["explain"] is None, m  # no gold, keyphrase, candidates... unless asked
    obama = next(m for m in linked if m["surface"] == "Barack Obama")
    assert obama == {**obama, "qid": "Q76", "status": "linked", "label": "Barack Obama",
                     "description": "44th president of the United States", "span": {"start": 0, "end": 12}}
    again = next(m for m in stored if m["surface"] == "Barack Obama")
    assert {k: v for k, v in again.items() if k != "id"} == {k: v for k, v in obama.items() if k != "id"}
    text = "Paris is the capital of France."
    nil = client.post("/link", json={"text": text, "mentions": [span(text, "Paris")],
                                     "options": {**FAST, "nil_threshold": 1e9}}).json()["mentions"][0]
    assert (nil["qid"], nil["status"], nil["label"], nil["description"]) == (None, "NIL", None, None)


def test_qids_are_case_insensitive(api) -> None:
    _, client, _ = api
    assert client.get("/entities/q76").json()["qid"] == "Q76"
    assert client.get("/entities/q76/mentions").json()["entity"]["qid"] == "Q76"
    assert client.get("/ui/entities/q76").status_code == 200


def test_openapi_lists_every_method_and_the_error_body(api) -> None:
    _, _, openapi = api
    help_ = openapi["components"]["schemas"]["LinkOptionsIn"]["properties"]["method"]["description"]
    # the methods kg ships (a test elsewhere registers a toy one after this module built the schema)
    shipped = ("auto", "features", "learned", "fusion", "kar", "i2cr", "thinklinker")
    assert set(shipped) <= set(methods()) and all(m in help_ for m in shipped), help_
    for template, operations in openapi["paths"].items():
        for method, operation in operations.items():
            refs = {s: r["content"]["application/json"]["schema"].get("$ref", "")
                    for s, r in operation["responses"].items() if "content" in r}
            assert refs.get("200", "").startswith("#/components/schemas/"), (method, template)
            assert all(r.endswith("/ErrorOut") for s, r in refs.items() if s not in ("200", "422")), (method, template)
            assert refs.get("422", "/ErrorOut").endswith("/ErrorOut"), (method, template)


def test_search_ranks_exact_and_alias_hits_first_and_suggests_past_a_cutoff(api) -> None:
    _, client, _ = api
    found = client.get("/search", params={"q": "obama"}).json()  # an alias of Barack Obama
    assert [h["qid"] for h in found["hits"]] == ["Q76"] and found["hits"][0]["match"] == "exact"
    assert found["did_you_mean"] == []
    # names containing the query's words are no spelling of it (the name index's partial match scores them 0.9)
    assert client.get("/search", params={"q": "Paris France"}).json()["did_you_mean"] == []
    assert [h["qid"] for h in client.get("/search", params={"q": "Berln"}).json()["did_you_mean"]] == ["Q64"]
    assert found["modes"] == ["name", "text"]  # no image model configured: no image search offered
    paris = client.get("/search", params={"q": "Paris"}).json()
    assert {h["qid"] for h in paris["hits"]} == {"Q90", "Q167646"}
    assert [h["qid"] for h in client.get("/search", params={"q": "Paris", "type": "q515"}).json()["hits"]] == ["Q90"]
    by_text = client.get("/search", params={"q": "a city", "by": "text", "type": "Q515", "k": 2}).json()["hits"]
    assert {h["qid"] for h in by_text} == {"Q64", "Q90"} and all(h["types"] == ["Q515"] for h in by_text)
    assert 'href="/ui/entities/Q167646"' not in client.get("/ui/search", params={"q": "Paris", "type": "Q515"}).text
    page = client.get("/ui/search", params={"q": "Berln"}).text
    assert 'id="did-you-mean"' in page and "Berlin" in page and 'value="image"' not in page
    assert 'value="image"' not in client.get("/ui").text


def test_cors_origins_from_kg_toml(kb) -> None:  # noqa: F811
    cfg, env, _ = kb
    cfg.home.mkdir(parents=True, exist_ok=True)
    (cfg.home / "kg.toml").write_text('[serve]\ncors_origins = "https://app.example.org"\n')
    try:
        config = load_config({"home": cfg.home}, env={})
        assert config.serve.cors_origins == "https://app.example.org"
    finally:
        (cfg.home / "kg.toml").unlink()
    assert load_config({"home": cfg.home}, env={}).serve.cors_origins == ""  # default: none
    port = _free_port()
    served = _kg_serve({**env, "KG_SERVE_CORS_ORIGINS": "https://app.example.org"}, "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    preflight = {"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type, x-api-key"}
    with serving(cfg, ServeSettings()) as closed:
        try:
            deadline = time.monotonic() + 120
            while True:
                assert served.poll() is None and time.monotonic() < deadline, (
                    served.stdout.read() if served.stdout else "")
                try:
                    if httpx.get(url + "/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            res = httpx.options(url + "/link", headers=preflight)
            assert res.status_code == 200 and res.headers["access-control-allow-origin"] == "https://app.example.org"
            res = httpx.get(url + "/entities/Q76", headers={"Origin": "https://app.example.org"})
            assert res.headers["access-control-allow-origin"] == "https://app.example.org"
            res = httpx.get(url + "/entities/Q76", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in res.headers
            res = httpx.get(closed.url + "/entities/Q76", headers={"Origin": "https://app.example.org"})
            assert "access-control-allow-origin" not in res.headers
        finally:
            served.terminate()
            served.wait(timeout=30)


def test_docs_are_served_from_the_package(api) -> None:
    _, client, _ = api
    for path in ("/docs", "/redoc"):
        page = client.get(path).text
        assert "cdn." not in page and "fonts.googleapis" not in page and "/static/api-docs/" in page, page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert client.get("/static/api-docs/" + asset).status_code == 200


def test_docs_open_in_a_browser_with_no_network_beyond_loopback(api, browser) -> None:
    running, _, _ = api
    # every host name but loopback fails to resolve: a CDN asset could not load
    page = browser("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    page.get(running.url + "/ui")
    page.find_element(By.LINK_TEXT, "API").click()
    assert page.current_url == running.url + "/docs"
    wait = WebDriverWait(page, 60)
    link = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".opblock-post [data-path='/link']")))
    assert link.text.replace("\u200b", "") == "/link"
    page.get(running.url + "/redoc")
    assert wait.until(ec.visibility_of_element_located((By.XPATH, "//h2[contains(., 'Link')]")))
