"""The ASGI application of `kg serve`: JSON API under the root paths, web pages under /ui, docs at /docs."""

from __future__ import annotations

import asyncio
import importlib.resources
import ipaddress
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from neo4j.exceptions import DriverError, Neo4jError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kg.cli.web import schemas
from kg.cli.web.auth import SESSION_COOKIE, Access, client_address, throttled
from kg.cli.web.batcher import LinkBatcher
from kg.cli.web.limits import MAX_MENTIONS, MAX_TEXT_CHARS, TooLarge, text_too_long, too_many_mentions
from kg.cli.web.link_models import link_models
from kg.cli.web.schemas import error_response as _error
from kg.cli.web.schemas import errors
from kg.cli.web.service import KgService
from kg.kgstore.errors import ConfigError, InputError, KgError
from kg.linkers.pipeline import LinkOptions
from kg.linkers.records import repaired

HERE = Path(__file__).parent
OPEN_PATHS = ("/health", "/ui/login", "/static/")  # answered without the API key
NOT_FOUND = ("unknown entity", "unknown document", "unknown report")  # InputErrors that mean 404
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})  # Host headers always answered
WILDCARDS = ("0.0.0.0", "::", "")
FIELD = re.compile(r"([A-Za-z_][\w.\[\]]*): ")  # "mentions[0]: span ..." names the field at fault
# Swagger UI and ReDoc as the fastapi-offline package ships them (MIT; Swagger UI Apache-2.0, ReDoc MIT): /docs
# works on a machine with no internet
DOCS_ASSETS = importlib.resources.files("fastapi_offline") / "static"

log = logging.getLogger(__name__)


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    api_key: str | None = field(default=None, repr=False)
    max_body_bytes: int = 2 << 20
    timeout_s: float = 60.0
    max_batch_docs: int = 32
    batch_wait_ms: float = 0.0
    allowed_hosts: str = ""  # [serve] allowed_hosts: more Host header names, comma-separated; "*": any
    cors_origins: str = ""  # [serve] cors_origins: web origins allowed to call the API from a browser; "*": any

    def check(self) -> ServeSettings:
        if not is_loopback(self.host) and not self.api_key:
            raise ConfigError(f"kg serve binds {self.host}, which other machines can reach: set an API key "
                              "(KG_API_KEY or --api-key-file FILE), or bind 127.0.0.1")
        if self.host in WILDCARDS and not self.allowed_hosts.strip():
            raise ConfigError(f"kg serve binds {self.host or 'every address'}: name the host names clients use in "
                              "kg.toml ([serve] allowed_hosts = \"kg.example.org\", or env "
                              "KG_SERVE_ALLOWED_HOSTS); requests with other Host headers are refused")
        return self

    def hosts(self) -> frozenset[str] | None:
        """The Host header names answered (None: any): loopback, the address bound, and allowed_hosts."""
        names = {n.strip().lower().strip("[]") for n in self.allowed_hosts.split(",") if n.strip()}
        if "*" in names:
            return None
        bound = {self.host.lower().strip("[]")} if self.host not in WILDCARDS else set()
        return LOOPBACK_NAMES | names | bound


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------------ request bodies
class LinkInBase(BaseModel):
    """One document as in a corpus JSONL line (docs/corpus-format.md), plus an uploaded image and the options (the
    `options` field is added by `link_models`, from the one definition of the link options)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Barack Obama met Angela Merkel in Berlin."},
        {"id": "n1", "text": "Paris is the capital of France.", "mentions": [{"start": 0, "end": 5}],
         "options": {"explain": True}},
    ]})
    id: str | None = Field(None, description="document id (default: a fresh one); the graph key when written")
    text: str = Field("", max_length=MAX_TEXT_CHARS, description=f"at most {MAX_TEXT_CHARS:,} characters (longer: "
                                                                   "413; send the parts as separate requests)")
    mentions: list[dict[str, Any]] | None = Field(None, max_length=MAX_MENTIONS,
                                                  description=f"spans {{start, end}} or boxes {{box}}; absent: detect "
                                                              f"them; at most {MAX_MENTIONS:,}, given or detected")
    image: str | None = Field(None, description="http(s) URL of the document's image")
    image_base64: str | None = Field(None, description="the image's bytes, base64")
    meta: dict[str, Any] | None = None

    @field_validator("text", mode="before")
    @classmethod
    def _repair(cls, text: Any) -> Any:
        """A lone surrogate or control character becomes U+FFFD before validation (which refuses a string it cannot
        encode), as the corpus reader repairs a file's documents: offsets unchanged, logged."""
        if not isinstance(text, str):
            return text
        text, count = repaired(text)
        if count:
            log.warning("/link: %d character%s that cannot be linked (lone surrogates, control characters) replaced "
                        "by U+FFFD; offsets unchanged", count, "s" if count > 1 else "")
        return text


# ------------------------------------------------------------------------------------------------ middleware
class Guard:
    """Host header, API key and request size, checked before a route runs. A Host that is not one of this server's
    names is refused (a page served elsewhere cannot reach the API through DNS rebinding). The key comes as
    `X-API-Key` or `Authorization: Bearer`, or a browser holds the session cookie the login page sets; keys are
    compared in constant time, never logged, and wrong ones throttled."""

    def __init__(self, app: ASGIApp, settings: ServeSettings, access: Access):
        self.app = app
        self.settings = settings
        self.hosts = settings.hosts()
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.hosts is not None and host_name(host) not in self.hosts:
            refusal = _error(421, f"Host {host!r} is not one of this server's names: add it to [serve] "
                                  "allowed_hosts in kg.toml (or KG_SERVE_ALLOWED_HOSTS) if clients use it")
            return await refusal(scope, receive, send)
        if self.access.key and not scope["path"].startswith(OPEN_PATHS):
            refused = self._refused(headers, scope)
            if refused is not None:
                return await refused(scope, receive, send)
        limit = self.settings.max_body_bytes
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _too_large(limit)(scope, receive, send)
        body = bytearray()
        more = True
        while more:  # the whole body first (chunked uploads have no length to check), then replayed to the app
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return await _too_large(limit)(scope, receive, send)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # after the body: a disconnect, when it comes
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    def _refused(self, headers: dict[str, str], scope: Scope) -> Response | None:
        """The answer to a request without a valid session or key; None when it may go on."""
        if self.access.session_ok(_cookie(headers, SESSION_COOKIE) or ""):
            return None
        given = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if given is None:
            if scope["path"].startswith("/ui") or scope["path"] == "/":
                return RedirectResponse("/ui/login", status_code=303)
            return _error(401, "missing API key: send it as the X-API-Key header")
        client = client_address(scope)
        wait = self.access.wait_s(client)
        if wait:
            return throttled(wait)
        if self.access.key_ok(given):
            return None
        self.access.failed(client)
        return _error(401, "wrong API key: send the server's key as the X-API-Key header")


def host_name(host: str) -> str:
    """The name of a Host header, without its port: "[::1]:8765" -> "::1", "Localhost." -> "localhost"."""
    if host.startswith("["):
        name = host[1:].partition("]")[0]
    else:
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
    return name.lower().rstrip(".")


def _cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _validation_message(error: dict[str, Any]) -> str:
    """"body.options.top_k: Input should be ...", without echoing the input (which may not even be encodable)."""
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error.get('msg', 'invalid')}"


def _too_large(limit: int) -> JSONResponse:
    return _error(413, f"request body over {limit:,} bytes (the server's --max-body-bytes): send less text or a "
                       "smaller image")


def _field(message: str) -> str | None:
    """The field an error message starts with ("method: 'magic' is not one of ..." -> "method")."""
    found = FIELD.match(message)
    return found.group(1) if found else None


def _ui(request: Request) -> bool:
    return request.url.path == "/ui" or request.url.path.startswith("/ui/")


def _status(exc: KgError) -> int:
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, InputError):
        return 404 if str(exc).startswith(NOT_FOUND) else 400
    return 503  # configuration or a store the server cannot reach: nothing the client can fix


# ------------------------------------------------------------------------------------------------ the app
def _hit(h: Any) -> dict[str, Any]:
    return {"qid": h.qid, "label": h.label, "description": h.payload.get("description"),
            "types": list(h.payload.get("types") or []), "score": h.score, "match": h.match}


def create_app(service: KgService, settings: ServeSettings) -> FastAPI:
    # the batcher's keys are the requests' LinkOptions
    batcher = LinkBatcher(lambda key: service.linker(cast(LinkOptions, key)), settings.max_batch_docs,
                          settings.batch_wait_ms / 1000)
    link_in = link_models(service.link_options(), LinkInBase)
    access = Access(settings.api_key)
    app = FastAPI(title="kg", version="1", summary="Entity linking and the entity knowledge graph over HTTP",
                  description="Link text to KB entities and read entity cards, mentions and linked documents. "
                              "The web pages are under [/ui](/ui). Every error has the body "
                              "`{\"error\": {\"code\", \"message\", \"field\"}}`.",
                  docs_url=None, redoc_url=None)
    app.state.service = service
    app.state.batcher = batcher
    app.state.settings = settings
    app.state.access = access

    def failed(request: Request, status: int, message: str, field_: str | None = None,
               headers: dict[str, str] | None = None) -> Response:
        """The one error body for the API; the error page for a web page."""
        if _ui(request):
            from kg.cli.web.pages import error_page

            return error_page(request, status, message)
        return _error(status, message, field_, headers)

    @app.exception_handler(KgError)
    async def kg_error(request: Request, exc: KgError) -> Response:
        return failed(request, _status(exc), str(exc), _field(str(exc)))

    @app.exception_handler(DriverError)
    @app.exception_handler(Neo4jError)
    async def graph_lost(request: Request, exc: Exception) -> Response:
        return failed(request, 503, f"the graph server did not answer ({type(exc).__name__}); try again once it "
                                    "is back")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Unknown paths (404) and methods (405) in the same body as every other error."""
        message = {404: f"no such path {request.url.path!r}: the API is listed at /docs, the pages start at /ui",
                   405: f"{request.method} is not allowed on {request.url.path} (see /docs)"}.get(
            exc.status_code, str(exc.detail))
        return failed(request, exc.status_code, message, headers=dict(exc.headers or {}) or None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        """A text or mention list over its limit is 413 naming the limit (the schema states it); the rest 422,
        naming the first field at fault."""
        for error in exc.errors():
            if error.get("type") in ("string_too_long", "too_long") and tuple(error.get("loc", ()))[:2] in (
                    ("body", "text"), ("body", "mentions")):
                value = error.get("input")
                size = len(value) if isinstance(value, (str, list)) else 0
                too_large = text_too_long(size) if error["loc"][1] == "text" else too_many_mentions(size, False)
                return failed(request, 413, str(too_large), f"body.{error['loc'][1]}")
        first = exc.errors()[0] if exc.errors() else {}
        return failed(request, 422, "; ".join(_validation_message(e) for e in exc.errors()),
                      ".".join(str(part) for part in first.get("loc", ())) or None)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        """A bug: the body every error has (Starlette then re-raises it, and uvicorn logs the traceback)."""
        return failed(request, 500, f"the server failed on this request ({type(exc).__name__}); its log has the "
                                    "details")

    @app.get("/health", tags=["service"], response_model=schemas.HealthOut,
             responses=errors(503, keyed=False))
    def health() -> JSONResponse:
        """Both stores answer and the link worker is not stuck; counts of what is loaded."""
        data = service.health()
        data["worker"] = batcher.worker()
        data["batches"] = asdict(batcher.stats)
        if data["worker"]["problem"]:
            return _error(503, data["worker"]["problem"])
        return JSONResponse(data)

    async def link(body: Any) -> JSONResponse:
        """Link one document: its mentions (given or detected) to KB entities, as `kg link --no-write --out` writes
        them (`write: true` also writes them into the graph). Concurrent requests share encoder batches."""
        settings_ = service.link_options(body.options.model_dump(exclude={"explain", "write"}),
                                         write=body.options.write)
        record = body.model_dump(exclude={"options", "image_base64"})
        doc = service.document(record, body.image_base64)
        try:
            results = await batcher.link(settings_, doc, settings.timeout_s)
        except TimeoutError:  # its work has stopped: the worker is free for the next request
            return _error(504, f"linking took over {settings.timeout_s:g} s (the server's --timeout): send a "
                               "shorter text, or ask the operator to raise the limit")
        described = await asyncio.to_thread(service.described, [r.qid for r in results if r.qid])
        # a JSONResponse of plain JSON skips FastAPI's per-value encoder walk (a millisecond per detected document)
        return JSONResponse({"id": doc.id, "written": settings_.write,
                             "mentions": [schemas.from_result(r, described, body.options.explain) for r in results]})

    link.__annotations__["body"] = link_in  # the request model this server's defaults made (not a module name)
    app.post("/link", tags=["linking"], response_model=schemas.LinkOut,
             responses=errors(400, 413, 422, 503, 504))(link)

    @app.get("/search", tags=["entities"], response_model=schemas.SearchOut, responses=errors(400, 422, 503))
    def search(q: str = Query(..., description="a name, a description (by=text), or an image URL (by=image)"),
               by: str = Query("name", description="name, text or image (image: with an image model configured; "
                                                   "`modes` in the answer lists what this server offers)"),
               k: int = Query(10, ge=1, le=100),
               type_: str = Query("", alias="type", description="only entities of this type (a QID such as Q5, "
                                                                  "human)")
               ) -> dict[str, Any]:
        """Entities for a query. By name: the entities with the query as a name or alias first, and names spelt
        like it (above a cutoff) as `did_you_mean`; by text or image: the nearest entities."""
        found = service.search(q, by, k, type_)
        return {"query": q, "by": by, "hits": [_hit(h) for h in found.hits],
                "did_you_mean": [_hit(h) for h in found.did_you_mean], "modes": list(service.search_modes())}

    @app.get("/entities/{qid}", tags=["entities"], response_model=schemas.EntityCardOut,
             responses=errors(404, 422, 503))
    def entity(qid: str) -> dict[str, Any]:
        """The entity card, as `kg query entity --json` (the id in any case: q76 is Q76)."""
        return asdict(service.card(qid))

    @app.get("/entities/{qid}/mentions", tags=["entities"], response_model=schemas.EntityMentionsOut,
             responses=errors(404, 422, 503))
    def mentions(qid: str, limit: int = Query(20, ge=1, le=1000)) -> dict[str, Any]:
        """Linked mentions of the entity, best score first, as `kg query mentions --json`."""
        return asdict(service.mentions(qid, limit))

    @app.get("/documents", tags=["documents"], response_model=schemas.DocumentsOut, responses=errors(422, 503))
    def documents(after: str = Query("", description="the last id of the previous page"),
                  limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
        """Documents in id order, a page at a time."""
        rows = service.documents_page(after, limit)
        return {"documents": [asdict(r) for r in rows], "next": rows[-1].id if len(rows) == limit else None}

    @app.get("/documents/{doc_id:path}", tags=["documents"], response_model=schemas.DocumentOut,
             responses=errors(404, 422, 503))
    def document(doc_id: str, explain: bool = Query(False, description="add each mention's method, run and stored ranking (the top "
                                                             "candidates, scores, features, NIL threshold and "
                                                             "decision written with it)")
                 ) -> dict[str, Any]:
        """A linked document: its text and mentions, each with the entity chosen and its score."""
        doc = service.linked_document(doc_id)
        return {"id": doc.id, "text": doc.text, "image": doc.image, "source": doc.source, "meta": doc.meta,
                "run_id": doc.run_id, "mentions": [schemas.from_stored(m, explain) for m in doc.mentions]}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="kg API", oauth2_redirect_url=None,
                                   swagger_js_url="/static/api-docs/swagger-ui-bundle.js",
                                   swagger_css_url="/static/api-docs/swagger-ui.css",
                                   swagger_favicon_url="/static/api-docs/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="kg API", with_google_fonts=False,
                              redoc_js_url="/static/api-docs/redoc.standalone.js",
                              redoc_favicon_url="/static/api-docs/favicon.png")

    from kg.cli.web.pages import router
    from kg.cli.web.report_pages import router as report_router

    app.include_router(router)
    app.include_router(report_router)
    app.mount("/static/api-docs", StaticFiles(directory=str(DOCS_ASSETS)), name="api-docs")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui")

    app.add_middleware(Guard, settings=settings, access=access)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:  # outside the Guard: a browser's preflight carries no key, and refusals carry the CORS headers
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-API-Key", "Authorization"])
    app.router.on_shutdown.append(batcher.close)
    return app

