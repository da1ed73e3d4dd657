"""/v1/products/{asin}/report: competitive reports, written (analyst) and read (viewer)."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from amazon_assets.api.answers import JSON, PROBLEM_JSON, ApiState, dumps, problem, today
from amazon_assets.api.auth import Principal
from amazon_assets.api.params import AccountQuery, AsinPath
from amazon_assets.api.schemas import problems
from amazon_assets.api.security import analyst, viewer
from amazon_assets.api.services import reports
from amazon_assets.api.services.common import Ambiguous, NotFound, Scope, resolve_account
from amazon_assets.sources.state import StateStore, open_state_store

router = APIRouter(prefix="/v1/products", tags=["competitive reports"])


@cache
def state_store(location: str) -> StateStore:
    """The state store keeping reports and the providers' spending (opened once per process)."""
    return open_state_store(location)


def _scope(state: ApiState, principal: Principal) -> Scope:
    return Scope(principal.accounts, today(), state.settings.serving.settle_days)


def write(state: ApiState, principal: Principal, asin: str, account: str | None) -> dict[str, Any]:
    """Gather the numbers, write and store a report (blocking: run it in a thread)."""
    inputs = reports.report_inputs(state.reader, _scope(state, principal), asin, account)
    store = state_store(state.settings.state_location)
    return reports.write_report(state.settings.llm, store, inputs, today())


def latest(
    state: ApiState, principal: Principal, asin: str, account: str | None
) -> dict[str, Any] | None:
    """The newest stored report of an ASIN of the caller's accounts (None: none yet)."""
    account, _ = resolve_account(state.reader, _scope(state, principal), asin, account)
    found = state_store(state.settings.state_location).competitive_reports(account, asin)
    return found[0] if found else None


def _failed(error: Exception) -> Response:
    if isinstance(error, NotFound):
        return Response(problem(404, "Not Found", str(error)), 404, media_type=PROBLEM_JSON)
    if isinstance(error, Ambiguous):
        body = problem(409, "Conflict", str(error), accounts=error.accounts)
        return Response(body, 409, media_type=PROBLEM_JSON)
    return Response(problem(502, "Bad Gateway", str(error)), 502, media_type=PROBLEM_JSON)


@router.post(
    "/{asin}/report",
    status_code=201,
    responses=problems(401, 403, 404, 409, 429, 502, 503),
    summary="Write a competitive report now",
)
async def write_report(
    request: Request,
    asin: AsinPath,
    principal: Annotated[Principal, Depends(analyst)],
    account: AccountQuery = None,
) -> Response:
    """Price position, rank trend, review gap, this week's changes and suggested actions,
    written by the configured LLM provider within its daily budget, else by the template;
    stored with its inputs, model, tokens and cost."""
    try:
        report = await run_in_threadpool(write, request.app.state.api, principal, asin, account)
    except (NotFound, Ambiguous, reports.ReportError) as error:
        return _failed(error)
    return Response(dumps({"data": report}), 201, media_type=JSON)


@router.get(
    "/{asin}/report",
    responses=problems(401, 404, 409, 429, 503),
    summary="The newest competitive report",
)
async def latest_report(
    request: Request,
    asin: AsinPath,
    principal: Annotated[Principal, Depends(viewer)],
    account: AccountQuery = None,
) -> Response:
    """The newest stored report of the ASIN (404 when none was written yet)."""
    try:
        report = await run_in_threadpool(latest, request.app.state.api, principal, asin, account)
    except (NotFound, Ambiguous) as error:
        return _failed(error)
    if report is None:
        return _failed(NotFound(f"no competitive report for {asin} yet: POST to write one."))
    return Response(dumps({"data": report}), media_type=JSON, headers={"Cache-Control": "no-store"})
