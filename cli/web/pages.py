"""The web pages of `kg serve`, rendered on the server (Jinja2; no JavaScript build, no files from the internet):
search, entity cards, linked documents with their mentions highlighted, and evaluation reports by error category."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from kg.cli.web import paste
from kg.cli.web.auth import SESSION_COOKIE, SESSION_S, client_address, throttled
from kg.kgstore.documents import DocumentMention
from kg.linkers.config import LinkConfig, specs
from kg.linkers.corpus import Document, Mention
from kg.linkers.ranking.registry import methods
from kg.service import SearchResult

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _marked(snippet: str) -> tuple[str, str, str]:
    """`before [[surface]] after` (kgstore.linked.mark_snippet) as its three parts."""
    before, _, rest = snippet.partition("[[")
    surface, _, after = rest.rpartition("]]")
    return before, surface, after


templates.env.filters["marked"] = _marked
router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 50  # documents per list page


@dataclass
class Segment:
    text: str
    mention: DocumentMention | None = None
    explained: dict[str, Any] | None = None  # the mention's result ranked again now, with candidates (nothing stored)


def segments(text: str, mentions: list[DocumentMention]) -> list[Segment]:
    """The text cut at mention spans, in order; overlapping or out-of-range spans are left unmarked."""
    out: list[Segment] = []
    at = 0
    placed = [(m.start, m.end, m) for m in mentions if m.start is not None and m.end is not None]
    for start, end, m in sorted(placed, key=lambda p: (p[0], -p[1])):
        if start < at or end > len(text) or start >= end:
            continue
        if start > at:
            out.append(Segment(text[at:start]))
        out.append(Segment(text[start:end], m))
        at = end
    if at < len(text):
        out.append(Segment(text[at:]))
    return out


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return _render(request, "error.html", status, status=status, message=message)


def _service(request: Request):
    return request.app.state.service


@router.get("", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    svc = _service(request)
    return _render(request, "home.html", documents=svc.document_count(), reports=svc.report_names(),
                   collection=svc.config.qdrant.collection, modes=svc.search_modes(), **_link_form(request))


# the link options the page offers, with their labels; choices, defaults and help come from LinkConfig
FORM_OPTIONS = {"method": "Method", "detector": "Detector", "link": "Link policy", "coref": "Coreference"}


@dataclass
class FormOption:
    name: str
    label: str
    help: str
    choices: list[str] | None  # None: a checkbox (a boolean option)
    value: Any  # the form's value, or this server's default


def form_options(defaults: LinkConfig, form: dict[str, str]) -> list[FormOption]:
    """The page's link options as LinkConfig declares them (methods that need an LLM are left out: a page waits)."""
    out = []
    for spec in specs():
        if spec.name not in FORM_OPTIONS:
            continue
        choices = None if spec.kind is bool else [str(c) for c in spec.choices()] if spec.choices else []
        if spec.name == "method" and choices:
            choices = [n for n in choices if not methods()[n].needs_llm]
        default = getattr(defaults, spec.name)
        value = (form.get(spec.name, "on" if default else "off") == "on" if choices is None
                 else form.get(spec.name, default))
        out.append(FormOption(spec.name, FORM_OPTIONS[spec.name], spec.help, choices, value))
    return out


def _link_form(request: Request, form: dict[str, str] | None = None) -> dict[str, Any]:
    svc = _service(request)
    form = form or {}
    return {"form": form, "options": form_options(svc.link_options(), form), "max_text": paste.MAX_TEXT,
            "images": "image" in svc.search_modes()}


@router.get("/link", response_class=HTMLResponse)
def link_form(request: Request) -> HTMLResponse:
    return _render(request, "link.html", **_link_form(request))


async def _fields(request: Request) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """The form's fields (a checkbox's last value: its hidden "off" comes first) and the uploaded file, if any."""
    data = await request.form()
    form: dict[str, str] = {}
    upload = None
    for key in data:
        value = data.getlist(key)[-1]
        if isinstance(value, str):
            form[key] = value
        elif value.filename:
            upload = (value.filename, await value.read())
    return form, upload


@router.post("/link", response_class=HTMLResponse)
async def link_text(request: Request) -> HTMLResponse:
    """A pasted or uploaded text, or a box in an image, linked now (written to the graph only when asked), its
    mentions coloured by entity type."""
    form, upload = await _fields(request)
    svc = _service(request)
    if upload is not None:
        form["text"] = paste.read_upload(*upload)  # the file replaces the box's text, and is shown in it
    text = form.get("text", "")
    record: dict[str, Any] = {"text": text}
    image = bool(form.get("image", "").strip()) and "image" in svc.search_modes()
    if image:
        record.update(paste.image_mention(form))
    if not image or text.strip():  # a box in an image needs no text; a text is bounded all the same
        paste.checked_text(text, "text")
    given = {o.name: o.value for o in form_options(svc.link_options(), form) if o.name in form}
    settings = svc.link_options(given, write=form.get("write") == "on")
    doc = svc.document(record)
    results = await request.app.state.batcher.link(settings, doc, request.app.state.settings.timeout_s)
    cards = await asyncio.to_thread(lambda: {q: svc.card(q) for q in {r.qid for r in results if r.qid}})
    linked = paste.colour_by_type(results, cards)
    colours = {m.result.mention_id: m.type_.colour for m in linked.mentions if m.type_}
    return _render(request, "link.html", **_link_form(request, form), doc=doc, written=settings.write,
                   settings=settings, pasted=linked, parts=segments(text, paste.as_document_mentions(linked)),
                   colours=colours)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _render(request, "login.html")


@router.post("/login")
async def login(request: Request) -> Response:
    """The right key from the form gets a random session token as an HttpOnly cookie (never the key, never in a
    URL, which access logs keep); wrong keys count towards the address's throttle."""
    access = request.app.state.access
    client = client_address(request.scope)
    wait = access.wait_s(client)
    if wait:
        return throttled(wait)
    key = (parse_qs((await request.body()).decode("utf-8", "replace")).get("key") or [""])[0]
    if access.key and not access.key_ok(key):
        access.failed(client)
        return _render(request, "login.html", 401, message="wrong API key")
    response = RedirectResponse("/ui", status_code=303)
    if access.key:
        response.set_cookie(SESSION_COOKIE, access.new_session(), max_age=SESSION_S, httponly=True,
                            samesite="strict")
    return response


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, q: str = "", by: str = "name", k: int = Query(20, ge=1, le=100),
           type_: str = Query("", alias="type")) -> HTMLResponse:
    svc = _service(request)
    found = svc.search(q, by, k, type_) if q.strip() else SearchResult([], [])
    return _render(request, "search.html", q=q, by=by, type=type_.strip(), modes=svc.search_modes(), hits=found.hits,
                   did_you_mean=found.did_you_mean)


@router.get("/entities/{qid}", response_class=HTMLResponse)
def entity(request: Request, qid: str) -> HTMLResponse:
    svc = _service(request)
    card = svc.card(qid.strip())
    return _render(request, "entity.html", card=card, documents=svc.entity_documents(card.qid, 50).documents,
                   mentions=svc.mentions(card.qid, 20).mentions, cooccurring=svc.cooccurring(card.qid).entities)


@router.get("/documents", response_class=HTMLResponse)
def documents(request: Request, after: str = "") -> HTMLResponse:
    svc = _service(request)
    rows = svc.documents_page(after, PAGE)
    return _render(request, "documents.html", rows=rows, total=svc.document_count(), after=after,
                   next=rows[-1].id if len(rows) == PAGE else None)


@router.get("/documents/{doc_id:path}", response_class=HTMLResponse)
async def document(request: Request, doc_id: str, explain: bool = False, rerank: bool = False) -> HTMLResponse:
    """The document with its stored links; `explain`: the ranking stored with each mention (what happened);
    `rerank`: the stored spans ranked again now with the server's settings, a separate action (nothing written)."""
    svc = _service(request)
    doc = await asyncio.to_thread(svc.linked_document, doc_id)
    parts = segments(doc.text or "", doc.mentions)
    if rerank and doc.text:
        spans = [Mention(m.id, m.start, m.end, doc.text[m.start:m.end]) for m in doc.mentions
                 if m.start is not None and m.end is not None]
        results = await request.app.state.batcher.link(svc.link_options(), Document(doc.id, doc.text, mentions=spans),
                                                       request.app.state.settings.timeout_s)
        by_id = {r.mention_id: r.to_json(explain=True) for r in results}
        for p in parts:
            if p.mention is not None:
                p.explained = by_id.get(p.mention.id)
    return _render(request, "document.html", doc=doc, parts=parts, explain=explain, rerank=rerank,
                   linked=sum(1 for m in doc.mentions if m.qid))
