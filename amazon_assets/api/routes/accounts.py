"""Accounts and operations (admin only): list, create, disable, refresh, backfill, jobs, live
progress (JSON, server-sent events, WebSocket), and the server-rendered accounts page."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, WebSocket
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from amazon_assets.api.answers import JSON, dumps
from amazon_assets.api.auth import ACCOUNT_NAME, AuthError, Principal, Role, decode_token
from amazon_assets.api.operations import Operations, operations
from amazon_assets.api.schemas import problems
from amazon_assets.api.security import SESSION_COOKIE, admin, admin_browser
from amazon_assets.api.services import operations as ops_service
from amazon_assets.api.services.progress import DONE, FAILED, account_progress
from amazon_assets.api.services.sources import SOURCES
from amazon_assets.defs.seller_history.assets import REFRESH

router = APIRouter(tags=["accounts and operations"])
PROGRESS_POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
_NO_STORE = {"Cache-Control": "no-store"}


class NewAccount(BaseModel):
    name: str = Field(pattern=ACCOUNT_NAME.pattern, description="The account's name here.")


class Sync(BaseModel):
    sources: list[str] | None = Field(
        None,
        description="Any of: " + ", ".join(SOURCES) + ". Default: every source of the account "
        "(ads where it has the Ads API).",
    )
    first: date | None = Field(None, description="First day (default: history start).")
    last: date | None = Field(None, description="Last day (default: yesterday).")
    spend_budget: bool = Field(
        False,
        description="Without Data Kiosk: let business reports fetch days older than the 7-day "
        "settling window, each one of the app's 96 GET_SALES_AND_TRAFFIC_REPORT requests a day "
        "(without it, named business_reports with such days are refused; by default they get "
        "the settling window).",
    )


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status, media_type=JSON, headers=_NO_STORE)


async def _call(function: Any, *args: Any) -> Any:
    """A service call in a thread; its one-sentence errors become 400, 404 or 429 (the app's
    sales-and-traffic requests of the day are spent)."""
    try:
        return await run_in_threadpool(function, *args)
    except (ops_service.UnknownAccount, ops_service.UnknownJob) as error:
        raise HTTPException(404, str(error)) from None
    except ops_service.BudgetRefused as error:
        raise HTTPException(429, str(error)) from None
    except ops_service.OperationError as error:
        raise HTTPException(400, str(error)) from None


def _ops(request: Request) -> Operations:
    return operations(request)


@router.get("/v1/accounts", responses=problems(401, 403, 429), summary="Registered accounts")
async def list_accounts(
    request: Request, principal: Annotated[Principal, Depends(admin)]
) -> Response:
    """Every account, enabled or not, with its authorizations (status, re-authorization date,
    warnings; never a token)."""
    ops = _ops(request)
    found = await _call(ops_service.list_accounts, ops.instance(), ops.vault)
    return _json({"accounts": [a.answer() for a in found]})


@router.post(
    "/v1/accounts",
    status_code=201,
    responses={200: {"description": "Registered already."}, **problems(400, 401, 403, 429)},
)
async def create_account(
    request: Request, body: NewAccount, principal: Annotated[Principal, Depends(admin)]
) -> Response:
    """Register an account (its credentials from the environment or a later consent); the
    onboarding sensor starts its backfill. 200 when it was registered already."""
    ops = _ops(request)
    added = await _call(ops_service.create_account, ops.instance(), body.name)
    account = await _call(ops_service.get_account, ops.instance(), ops.vault, body.name)
    return _json(account.answer(), 201 if added else 200)


@router.get("/v1/accounts/{name}", responses=problems(401, 403, 404, 429))
async def get_account(
    request: Request, name: str, principal: Annotated[Principal, Depends(admin)]
) -> Response:
    ops = _ops(request)
    account = await _call(ops_service.get_account, ops.instance(), ops.vault, name)
    return _json(account.answer())


@router.post("/v1/accounts/{name}/disable", responses=problems(401, 403, 404, 429))
async def disable_account(
    request: Request, name: str, principal: Annotated[Principal, Depends(admin)]
) -> Response:
    """Runs of a disabled account fail at once with one sentence; nothing is deleted."""
    ops = _ops(request)
    account = await _call(ops_service.set_disabled, ops.instance(), ops.vault, name, True)
    return _json(account.answer())


@router.post("/v1/accounts/{name}/enable", responses=problems(401, 403, 404, 429))
async def enable_account(
    request: Request, name: str, principal: Annotated[Principal, Depends(admin)]
) -> Response:
    ops = _ops(request)
    account = await _call(ops_service.set_disabled, ops.instance(), ops.vault, name, False)
    return _json(account.answer())


_SYNC_PROBLEMS = problems(400, 401, 403, 404, 429)
_SYNC_PROBLEMS[429] = {
    **_SYNC_PROBLEMS[429],
    "description": "Rate limit reached (see Retry-After), or business reports were asked for "
    "and the app's 96 GET_SALES_AND_TRAFFIC_REPORT requests of the day are spent: one sentence "
    "naming the day they wait for.",
}


async def _launch(request: Request, name: str, operation: str, body: Sync) -> Response:
    ops = _ops(request)
    backfill_id = await _call(
        ops_service.launch,
        ops.settings,
        ops.instance(),
        ops.vault,
        name,
        operation,
        body.sources,
        body.first,
        body.last,
        body.spend_budget,
    )
    job = await _call(ops_service.job, ops.instance(), backfill_id)
    return _json(job, 202)


@router.post("/v1/accounts/{name}/refresh", status_code=202, responses=_SYNC_PROBLEMS)
async def refresh_account(
    request: Request,
    name: str,
    principal: Annotated[Principal, Depends(admin)],
    body: Sync | None = None,
) -> Response:
    """Re-fetch each chosen source's lookback (seller history 90 days, the longest of its
    sources', business reports 7, product signals the newest day, ads
    AMAZON_ASSETS_ADS_LOOKBACK_DAYS), or the days given: one Dagster backfill, shown in the UI. 429 with one sentence when business
    reports are chosen and the app's 96 GET_SALES_AND_TRAFFIC_REPORT requests of the day are
    spent."""
    return await _launch(request, name, REFRESH, body or Sync())


@router.post("/v1/accounts/{name}/backfill", status_code=202, responses=_SYNC_PROBLEMS)
async def backfill_account(
    request: Request,
    name: str,
    principal: Annotated[Principal, Depends(admin)],
    body: Sync | None = None,
) -> Response:
    """Fetch the chosen sources and days that are not stored yet: one Dagster backfill. Product
    signals get the newest day only (Amazon describes the present), ads the days the Ads API
    still serves (95), business reports without Data Kiosk the 7-day settling window unless
    `spend_budget` (their history costs one of the app's 96 requests a day per day); 429 with one
    sentence when those requests of the day are spent."""
    return await _launch(request, name, "backfill", body or Sync())


@router.get("/v1/jobs", responses=problems(401, 403, 429), summary="Refreshes and backfills")
async def list_jobs(
    request: Request,
    principal: Annotated[Principal, Depends(admin)],
    account: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Every account's jobs, newest first: refreshes and backfills launched here and the
    onboarding sensor's backfill of a new account (operation `onboarding`), each with its
    account, sources, days (over every source, and per source in `source_days`), status and
    runs by status."""
    ops = _ops(request)
    return _json({"jobs": await _call(ops_service.jobs, ops.instance(), account)})


@router.get("/v1/jobs/{job_id}", responses=problems(401, 403, 404, 429))
async def get_job(
    request: Request, job_id: str, principal: Annotated[Principal, Depends(admin)]
) -> Response:
    ops = _ops(request)
    return _json(await _call(ops_service.job, ops.instance(), job_id))


# -- live progress ---------------------------------------------------------------------------


def _account_progress(ops: Operations, name: str) -> dict[str, Any]:
    """Progress of the account's newest job (launched here or the onboarding sensor's: each of
    its sources over its days), else of what a backfill would cover."""
    ops_service.get_account(ops.instance(), ops.vault, name)
    scope = ops_service.latest_scope(ops.instance(), name) or ops_service.sync_scope(
        ops.settings, ops.vault, name, "backfill"
    )
    return account_progress(ops.settings, ops.instance(), ops.store, name, scope)


async def _progress(ops: Operations, name: str) -> dict[str, Any]:
    return await _call(_account_progress, ops, name)


async def progress_events(ops: Operations, name: str) -> AsyncIterator[tuple[str, dict]]:
    """("progress", snapshot) whenever it changes, then ("complete", ...) or ("error", ...)."""
    last = None
    while True:
        snapshot = await _progress(ops, name)
        if snapshot != last:
            last = snapshot
            yield "progress", snapshot
            if snapshot["status"] == DONE:
                yield "complete", snapshot
                return
            if snapshot["status"] == FAILED:
                yield "error", snapshot
                return
        await asyncio.sleep(PROGRESS_POLL_SECONDS)


@router.get("/v1/accounts/{name}/progress", responses=problems(401, 403, 404, 429))
async def progress(
    request: Request, name: str, principal: Annotated[Principal, Depends(admin_browser)]
) -> Response:
    """Where the account's history stands: per source current, total, report type, status,
    percentage."""
    return _json(await _progress(_ops(request), name))


# Not in the OpenAPI schema: an event stream is no request/response an OpenAPI client can call.
@router.get("/v1/accounts/{name}/progress/stream", include_in_schema=False)
async def progress_stream(
    request: Request, name: str, principal: Annotated[Principal, Depends(admin_browser)]
) -> StreamingResponse:
    """Server-sent events: `progress` on every change, then `complete` or `error`."""
    ops = _ops(request)
    await _progress(ops, name)  # 404 before the stream starts

    async def stream() -> AsyncIterator[bytes]:
        events = progress_events(ops, name)
        pending = asyncio.ensure_future(anext(events))
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=HEARTBEAT_SECONDS)
                if not done:
                    yield b": keep-alive\n\n"
                    continue
                try:
                    event, data = pending.result()
                except StopAsyncIteration:
                    return
                yield f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
                pending = asyncio.ensure_future(anext(events))
        finally:
            pending.cancel()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={**_NO_STORE, "X-Accel-Buffering": "no"}
    )


@router.websocket("/v1/accounts/{name}/progress/ws")
async def progress_socket(websocket: WebSocket, name: str) -> None:
    """The same events as JSON messages {"event": ..., "data": ...}; authenticated by an
    Authorization: Bearer header (or the accounts page's cookie), admin role."""
    state = websocket.app.state.api
    header = websocket.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or websocket.cookies.get(SESSION_COOKIE)
    try:
        if token is None:
            raise AuthError("an Authorization: Bearer token is required.")
        principal = decode_token(state.signing_key, state.settings.serving.jwt_issuer, token)
    except AuthError as error:
        await websocket.close(code=4401, reason=str(error)[:120])
        return
    if not principal.may(Role.admin):
        await websocket.close(code=4403, reason="this needs the admin role.")
        return
    ops = operations(websocket)  # type: ignore[arg-type]  # reads .app only
    await websocket.accept()

    async def send() -> None:
        try:
            async for event, data in progress_events(ops, name):
                await websocket.send_json({"event": event, "data": data})
            await websocket.close()
        except HTTPException as error:
            await websocket.send_json({"event": "error", "data": {"detail": error.detail}})
            await websocket.close(code=4404)

    async def until_gone() -> None:
        # Nothing is expected from the client; reading notices when it goes away.
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    tasks = {asyncio.ensure_future(send()), asyncio.ensure_future(until_gone())}
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    for task in done:
        error = None if task.cancelled() else task.exception()
        # A client that left mid-send: starlette raises WebSocketDisconnect or RuntimeError.
        if error is not None and not isinstance(error, WebSocketDisconnect | RuntimeError):
            raise error


# -- the accounts page -----------------------------------------------------------------------


@router.post("/accounts/session", include_in_schema=False)
async def open_session(request: Request) -> Response:
    """Keep an admin token (from `amazon-assets token --role admin`) in the page's cookie."""
    state = request.app.state.api
    form = parse_qs((await request.body())[:8000].decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    try:
        principal = decode_token(state.signing_key, state.settings.serving.jwt_issuer, token)
    except AuthError as error:
        return HTMLResponse(_page("Sign in", f"<p>{html.escape(str(error))}</p>" + _SIGN_IN), 401)
    if not principal.may(Role.admin):
        return HTMLResponse(
            _page("Sign in", "<p>This page needs an admin token.</p>" + _SIGN_IN), 403
        )
    response = RedirectResponse("/accounts", status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure)
    return response


@router.get("/accounts", include_in_schema=False)
async def accounts_page(request: Request) -> Response:
    """Accounts, their authorizations and live progress; "Connect Amazon account"."""
    try:
        await admin_browser(request, None)
    except HTTPException as error:
        body = f"<p>{html.escape(str(error.detail))}</p>" + _SIGN_IN
        return HTMLResponse(_page("Sign in", body), error.status_code, headers=_NO_STORE)
    ops = _ops(request)
    found = await _call(ops_service.list_accounts, ops.instance(), ops.vault)
    connected = request.query_params.get("connected")
    rows = []
    for account in found:
        warnings = [a["warning"] for a in account.authorizations if a["warning"]]
        apis = (
            ", ".join(f"{a['api']} {a['status']}" for a in account.authorizations) or "environment"
        )
        name = html.escape(account.name)
        rows.append(
            f'<tr data-account="{name}"><td>{name}</td><td>{"disabled" if account.disabled else "enabled"}</td>'
            f"<td>{html.escape(apis)}</td><td>{html.escape(' '.join(warnings))}</td>"
            f'<td class="progress">…</td><td class="sources"></td></tr>'
        )
    notice = (
        f'<p class="notice">Connected {html.escape(connected)}; its history is on its way.</p>'
        if connected
        else ""
    )
    body = f"""{notice}
<form method="get" action="/v1/amazon/authorize">
  <label>Account name <input name="account" required pattern="{html.escape(ACCOUNT_NAME.pattern)}"></label>
  <label><input type="radio" name="api" value="sp" checked> Selling Partner API</label>
  <label><input type="radio" name="api" value="ads"> Ads API</label>
  <button type="submit">Connect Amazon account</button>
</form>
<table>
  <thead><tr><th>Account</th><th>Status</th><th>Authorizations</th><th>Warnings</th>
  <th>History</th><th>Sources</th></tr></thead>
  <tbody>{"".join(rows)}</tbody>
</table>
<script>
for (const row of document.querySelectorAll("tr[data-account]")) {{
  const name = row.dataset.account;
  const cell = row.querySelector(".progress"), detail = row.querySelector(".sources");
  const show = (data) => {{
    cell.textContent = `${{data.percentage}} % (${{data.status}})` + (data.error ? ` ${{data.error}}` : "");
    detail.textContent = data.sources.map(s => `${{s.source}} ${{s.current}}/${{s.total}} ${{s.status}}`).join("; ");
  }};
  const events = new EventSource(`/v1/accounts/${{encodeURIComponent(name)}}/progress/stream`);
  events.addEventListener("progress", (e) => show(JSON.parse(e.data)));
  for (const end of ["complete", "error"])
    events.addEventListener(end, () => events.close());
}}
</script>"""
    return HTMLResponse(_page("Accounts", body), headers=_NO_STORE)


_SIGN_IN = """<form method="post" action="/accounts/session">
  <label>Admin token <input name="token" type="password" required></label>
  <button type="submit">Sign in</button>
</form>"""


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · amazon-assets</title>
<style>body{{font-family:sans-serif;margin:2rem}}table{{border-collapse:collapse;margin-top:1rem}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""
