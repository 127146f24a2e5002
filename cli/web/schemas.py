"""The response shapes of the `kg serve` API, declared once: FastAPI states them in openapi.json and every route
answers through them. A mention has the same fields wherever it appears (/link, /documents/{id}); what only a
debugging reader wants (candidates, trace, method) comes under `explain`, and only when asked for."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kg.kgstore.documents import DocumentMention
from kg.linkers.pipeline import MentionResult


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------------ errors
class ErrorDetail(Strict):
    code: str = Field(description="machine-readable kind: bad_request, unauthorized, not_found, method_not_allowed, "
                                  "too_large, wrong_host, invalid, throttled, internal, unavailable, timeout")
    message: str = Field(description="what was wrong and what to do, for a person")
    field: str | None = Field(None, description="the request field at fault (\"body.options.top_k\", \"q\"), if one")


class ErrorOut(Strict):
    """Every error the API returns, whatever its status."""

    error: ErrorDetail


ERROR_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               413: "too_large", 421: "wrong_host", 422: "invalid", 429: "throttled", 500: "internal",
               503: "unavailable", 504: "timeout"}
ERROR_HELP = {400: "a request value is not allowed (the message names it)", 401: "missing or wrong API key",
              404: "no such entity, document or path", 413: "the body, text or mention list is over its limit",
              421: "the Host header is not one of this server's names", 422: "the request does not fit its schema",
              429: "too many wrong API keys from this address (Retry-After)",
              503: "a store does not answer, or the server's configuration lacks what was asked for",
              504: "linking took longer than the server's --timeout"}


def error_response(status: int, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": ERROR_CODES.get(status, "error"), "message": message, "field": field}},
                        status_code=status, headers=headers)


def errors(*statuses: int, keyed: bool = True) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: these statuses, a foreign Host's 421 and (`keyed`: the route needs the API key
    when the server has one) 401 and 429, each with the one error body."""
    return {s: {"model": ErrorOut, "description": ERROR_HELP[s]}
            for s in sorted({*statuses, 421, *((401, 429) if keyed else ())})}


# ------------------------------------------------------------------------------------------------ mentions
class Span(Strict):
    start: int
    end: int


class MentionOut(Strict):
    id: str
    span: Span | None = Field(description="character offsets in the text (null: an image box mention)")
    box: list[float] | None = Field(None, description="[x, y, w, h] in the image, for a box mention")
    surface: str | None
    qid: str | None = Field(description="the entity linked (null: NIL)")
    status: Literal["linked", "NIL"]
    score: float | None = Field(description="the linking method's probability that the chosen entity "
                                           "is right (0 to 1); a NIL mention: its top candidate's in /link, null "
                                           "in /documents (see explain)")
    label: str | None = Field(description="the chosen entity's label")
    description: str | None = Field(description="the chosen entity's description")
    explain: dict[str, Any] | None = Field(description="null unless asked for: candidates, trace, method...")


def from_result(r: MentionResult, entities: dict[str, tuple[str | None, str | None]],
                explain: bool = False) -> dict[str, Any]:
    """A linked mention of /link; `entities`: label and description by QID."""
    label, description = entities.get(r.qid, (None, None)) if r.qid else (None, None)
    data = _mention(r.mention_id, r.start, r.end, r.box, r.surface, r.qid, r.score, label, description)
    if explain:
        data["explain"] = {"candidates": r.candidates, "retrieved": r.retrieved, "trace": r.trace,
                           "detector": r.detector, "ner_label": r.ner_label, "keyphrase": r.keyphrase,
                           "missing_entity": r.missing_entity}
    return data


def from_stored(m: DocumentMention, explain: bool = False) -> dict[str, Any]:
    """A mention read back from the graph (/documents/{id})."""
    data = _mention(m.id, m.start, m.end, m.box, m.surface, m.qid, m.score, m.label, m.description)
    if explain:
        data["explain"] = {"method": m.method, "run_id": m.run_id, "stored_ranking": m.ranking}
    return data


def _mention(id_: str, start: int | None, end: int | None, box: Any, surface: str | None, qid: str | None,
             score: float | None, label: str | None, description: str | None) -> dict[str, Any]:
    return {"id": id_, "span": {"start": start, "end": end} if start is not None and end is not None else None,
            "box": list(box) if box else None, "surface": surface, "qid": qid,
            "status": "linked" if qid else "NIL", "score": score, "label": label, "description": description,
            "explain": None}


# ------------------------------------------------------------------------------------------------ responses
class LinkOut(Strict):
    id: str = Field(description="the document id (the graph key when written)")
    written: bool
    mentions: list[MentionOut]


class DocumentOut(Strict):
    id: str
    text: str | None
    image: str | None
    source: str | None
    meta: dict[str, Any]
    run_id: str | None
    mentions: list[MentionOut]


class DocumentRowOut(Strict):
    id: str
    source: str | None
    preview: str
    chars: int
    mentions: int


class DocumentsOut(Strict):
    documents: list[DocumentRowOut]
    next: str | None = Field(description="pass as `after` for the next page (null: the last page)")


class HitOut(Strict):
    qid: str
    label: str | None
    description: str | None
    types: list[str] = Field(description="QIDs of the entity's types (instance of)")
    score: float
    match: str = Field(description="exact (a name or alias), fuzzy, text or image")


class SearchOut(Strict):
    query: str
    by: str
    hits: list[HitOut] = Field(description="exact name and alias matches first (by=name), or the nearest entities")
    did_you_mean: list[HitOut] = Field(description="by=name: names spelt like the query, above the cutoff")
    modes: list[str] = Field(description="the search modes this server offers")


class EntityCardOut(Strict):
    qid: str
    label: str | None
    description: str | None
    kind: str | None
    aliases: list[str]
    labels: dict[str, str]
    wikipedia_title: str | None
    wikipedia_url: str | None
    sitelinks: int
    types: list[dict[str, Any]]
    images: list[dict[str, str]]
    relations: list[dict[str, Any]]
    attributes: list[dict[str, Any]]
    stub: bool


class EntityRefOut(Strict):
    qid: str
    label: str | None


class MentionHitOut(Strict):
    doc_id: str | None
    mention_id: str | None
    surface: str | None
    start: int | None
    end: int | None
    snippet: str | None = Field(description="`...before [[surface]] after...` (null: an image box mention)")
    score: float | None
    method: str | None
    run_id: str | None
    box: list[float] | None
    image: str | None


class EntityMentionsOut(Strict):
    entity: EntityRefOut
    mentions: list[MentionHitOut]


class HealthOut(Strict):
    status: str
    graph: str
    collection: str
    vectors: int
    linkers_loaded: int
    worker: dict[str, Any]
    batches: dict[str, Any]
