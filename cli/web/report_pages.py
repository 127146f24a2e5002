"""`kg serve`'s evaluation pages (linkers.evaluation.report_view): the runs' P/R/F1 table, a run's categories,
types and cases, its annotated articles, and two runs compared mention by mention."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from kg.cli.web.pages import templates
from kg.linkers.evaluation import report_view as view

router = APIRouter(prefix="/ui/reports", include_in_schema=False)
CASES_PAGE = 100  # report cases per page


def _render(request: Request, name: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"explanations": view.EXPLANATIONS, "legend": view.MARKS,
                                                      **context})


@router.get("", response_class=HTMLResponse)
def reports(request: Request) -> HTMLResponse:
    svc = request.app.state.service
    runs = [svc.report(n) for n in svc.report_names()]
    return _render(request, "reports.html", reports=runs, scores=[view.run_scores(r) for r in runs])


@router.get("/compare", response_class=HTMLResponse)
def compare(request: Request, a: str, b: str, group: str = "") -> HTMLResponse:
    svc = request.app.state.service
    cmp = view.compare(svc.report(a), svc.report(b))
    return _render(request, "report_compare.html", cmp=cmp, groups=view.GROUPS, group=group)


@router.get("/{name}", response_class=HTMLResponse)
def report(request: Request, name: str, category: str = "", type_: str = Query("", alias="type"), count: str = "",
           document: str = "", page: int = Query(0, ge=0)) -> HTMLResponse:
    """A run: its figures, categories explained, categories by type, and the cases of one filter (by default
    the most frequent error category)."""
    rep = request.app.state.service.report(name)
    counts = rep.categories()
    if not (category or type_ or count or document):
        category = next((c for c in counts if c != "correct"), next(iter(counts), ""))
    chosen = view.CaseFilter(category, type_, count, document).check()
    cases = chosen.cases(rep)
    shown = cases[page * CASES_PAGE:(page + 1) * CASES_PAGE]
    metrics = {k: v for k, v in rep.metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    return _render(request, "report.html", report=rep, counts=counts, filter=chosen, cases=shown, total=len(cases),
                   context={c.index: view.context(rep, c) for c in shown}, metrics=metrics,
                   scores=view.run_scores(rep), types=view.type_breakdown(rep), page=page,
                   pages=max(1, -(-len(cases) // CASES_PAGE)))


@router.get("/{name}/documents/{doc_id:path}", response_class=HTMLResponse)
def document(request: Request, name: str, doc_id: str) -> HTMLResponse:
    """One document of a run, gold and prediction side by side, each mention coloured by what it counted."""
    rep = request.app.state.service.report(name)
    return _render(request, "report_document.html", report=rep, doc=view.annotated(rep, doc_id))
