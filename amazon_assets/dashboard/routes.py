"""/dashboard: server-rendered pages over the same reads as the REST API (api/reads.py).

Every number on a page is an answer of the API's cache, decoded: a page shows what
`GET /v1/...` answers for the same question, computed once per mart version for both. The
charts are plotly.js, served from the plotly package (no CDN, no JavaScript build step).

Sign-in is the API's bearer token, pasted once into a form and kept in an HttpOnly, SameSite
cookie; the token's role and accounts apply exactly as on the API (another account's ASIN is
404).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import jwt
import orjson
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from amazon_assets.api import reads
from amazon_assets.api.answers import ApiState, cached_answer, today
from amazon_assets.api.auth import AuthError, Principal, Role, decode_token
from amazon_assets.api.params import (
    ASIN_PATTERN,
    FIRST_DAY,
    KINDS_PATTERN,
    LAST_DAY,
    AccountQuery,
    Align,
    FromQuery,
    ToQuery,
)
from amazon_assets.api.routes import reports as report_routes
from amazon_assets.api.security import authorize
from amazon_assets.api.services.common import Ambiguous, NotFound
from amazon_assets.api.services.reports import ReportError
from amazon_assets.dashboard import charts

PREFIX = "/dashboard"
COOKIE = "amazon_assets_token"
CHART_DAYS = 90
TOP_PER_CATEGORY = 5

router = APIRouter(prefix=PREFIX, include_in_schema=False)
templates = Environment(
    loader=PackageLoader("amazon_assets.dashboard", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def number_filter(value: Any) -> str:
    """1234567 -> 1,234,567 ("–" when missing)."""
    amount = _decimal(value)
    return "–" if amount is None else f"{amount:,.0f}"


def money_filter(value: Any) -> str:
    """An exact amount with thousands separators and its cents."""
    amount = _decimal(value)
    return "–" if amount is None else f"{amount:,.2f}"


def percent_filter(value: Any) -> str:
    amount = _decimal(value)
    return "–" if amount is None else f"{float(amount):.1%}"


def fixed_filter(value: Any, digits: int = 2) -> str:
    amount = _decimal(value)
    return "–" if amount is None else f"{float(amount):,.{digits}f}"


def show_filter(value: Any, field: str) -> str:
    """A mart value as a seller reads it, by what the field is."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field in ("price", "buy_box_price", "ordered_product_sales", "ad_spend", "ad_sales"):
        return money_filter(value)
    if field in ("conversion",):
        return percent_filter(value)
    if field in ("rating",):
        return fixed_filter(value, 1)
    if field in ("buy_box_percentage",):
        return fixed_filter(value, 1) + " %" if value is not None else "–"
    return number_filter(value)


def days_between(later: str | None, earlier: str | None) -> int | str:
    if not later or not earlier:
        return ""
    return (date.fromisoformat(later) - date.fromisoformat(earlier)).days


def timestamp_filter(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


templates.filters.update(
    timestamp=timestamp_filter,
    num=number_filter,
    money=money_filter,
    pct=percent_filter,
    fixed=fixed_filter,
    show=show_filter,
    days_between=days_between,
)


class LoginRequired(Exception):
    """No valid token in the cookie: the page sends the browser to the sign-in form."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(reason)
        self.reason, self.path = reason, path


class PageError(Exception):
    """The page cannot be shown (404 for another account's ASIN, 409, 422): an HTML answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def plotly_js() -> Path:
    """plotly.min.js as the plotly package ships it."""
    return Path(str(files("plotly") / "package_data" / "plotly.min.js"))


def install(app: FastAPI) -> None:
    """Mount the pages on the API app."""
    app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, error: LoginRequired) -> Response:
        target = f"{PREFIX}/login?next={quote(error.path)}&reason={quote(error.reason)}"
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    @app.exception_handler(PageError)
    async def error_page(request: Request, error: PageError) -> Response:
        return render(request, "error.html", None, status=error.status, detail=error.detail)


def render(
    request: Request, template: str, principal: Principal | None, status: int = 200, **context: Any
) -> HTMLResponse:
    html = templates.get_template(template).render(
        prefix=PREFIX, principal=principal, path=request.url.path, **context
    )
    return HTMLResponse(
        html, status, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
    )


async def signed_in(request: Request, role: Role = Role.viewer) -> Principal:
    """The principal of the cookie's token, as the API would authorize it."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequired("Sign in with your API token.", request.url.path)
    try:
        return await authorize(request, token, role)
    except HTTPException as error:
        if error.status_code == 401:
            raise LoginRequired(str(error.detail), request.url.path) from None
        raise PageError(error.status_code, str(error.detail)) from None


async def ask(request: Request, principal: Principal, read: reads.Read) -> dict[str, Any]:
    """The API's answer to `read` (through its cache), decoded; PageError for 404/409/422."""
    state: ApiState = request.app.state.api
    answer, _ = await cached_answer(state, principal, read)
    body = orjson.loads(answer.body)
    if answer.status != 200:
        raise PageError(answer.status, body.get("detail", "not available"))
    return body


@router.get("/static/plotly.min.js")
async def plotly_script() -> FileResponse:
    return FileResponse(
        plotly_js(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/login")
async def login_form(request: Request, next: str = PREFIX + "/", reason: str = "") -> Response:
    return render(request, "login.html", None, next=_local(next), reason=reason)


@router.post("/login")
async def login(request: Request) -> Response:
    """Take a token from the form into an HttpOnly cookie (checked first, never echoed)."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    target = _local((form.get("next") or [PREFIX + "/"])[0])
    state: ApiState = request.app.state.api
    try:
        principal = decode_token(state.signing_key, state.settings.serving.jwt_issuer, token)
    except AuthError as error:
        return render(request, "login.html", None, status=401, next=target, reason=str(error))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=PREFIX,
        max_age=max(60, int(_expires_in(token))),
    )
    request.state.subject = principal.subject
    return response


def _expires_in(token: str) -> float:
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims.get("exp", 0)) - time.time()


def _local(target: str) -> str:
    """Only paths of the dashboard are followed after sign-in (no open redirect)."""
    return target if target.startswith(PREFIX + "/") and "//" not in target else PREFIX + "/"


@router.get("/logout")
async def logout() -> Response:
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get("/")
async def overview(request: Request, first: FromQuery = None, last: ToQuery = None) -> Response:
    """Accounts, sales and ad spend with TACoS, freshness per source, today's alerts, top
    predicted take-offs per category."""
    principal = await signed_in(request)
    summary = await ask(request, principal, reads.overview(first, last))
    settled = summary["meta"]["settled_through"]
    yesterday = today() - timedelta(days=1)
    todays = await ask(request, principal, reads.alert_list(since=yesterday, limit=50))
    top: dict[str, Any] | None = None
    if principal.may(Role.analyst):
        try:
            top = await ask(request, principal, reads.top_predictions(k=TOP_PER_CATEGORY))
        except PageError as error:
            top = {"data": [], "meta": {}, "missing": error.detail}
    return render(
        request,
        "overview.html",
        principal,
        summary=summary["data"],
        meta=summary["meta"],
        figures=[charts.account_figure(a, settled) for a in summary["data"]["accounts"]],
        alerts=todays["data"],
        alerts_since=yesterday,
        top=top,
    )


@router.get("/products/{asin}")
async def product(
    request: Request,
    asin: str,
    first: FromQuery = None,
    last: ToQuery = None,
    align: Align = "weekday",
    account: AccountQuery = None,
) -> Response:
    """A product's current state and daily charts, with last year's line and the provisional
    days marked."""
    principal = await signed_in(request)
    asin = _asin(asin)
    state = await ask(request, principal, reads.product(asin, account))
    account = state["data"]["account"]
    last = last or today() - timedelta(days=1)
    first = first or last - timedelta(days=CHART_DAYS - 1)
    fields = [field for field, _, _ in charts.PRODUCT_CHARTS]
    series = await ask(request, principal, reads.metrics(asin, first, last, fields, account))
    yoy = await ask(request, principal, reads.yoy(asin, first, last, align, fields, account))
    settled = yoy["meta"]["settled_through"]
    return render(
        request,
        "product.html",
        principal,
        asin=asin,
        account=account,
        state=state["data"],
        meta=state["meta"],
        first=first,
        last=last,
        align=align,
        settled_through=yoy["meta"]["settled_through"],
        provisional_left_out=yoy["meta"]["provisional_days_left_out"],
        figures=charts.product_figures(
            series["data"]["series"], yoy["data"]["series"], settled, align, last
        ),
    )


@router.get("/products/{asin}/competitors")
async def competitors(
    request: Request,
    asin: str,
    first: FromQuery = None,
    last: ToQuery = None,
    account: AccountQuery = None,
) -> Response:
    """The own ASIN against its 3 to 5 tracked competitors: now, and over time."""
    principal = await signed_in(request)
    asin = _asin(asin)
    now = await ask(request, principal, reads.product_competitors(asin, account))
    account = now["data"]["account"]
    last = last or today() - timedelta(days=1)
    first = first or last - timedelta(days=CHART_DAYS - 1)
    rivals = [row["asin"] for row in now["data"]["competitors"]]
    fields = [field for field, _, _ in charts.COMPETITOR_CHARTS]
    series = await ask(
        request, principal, reads.batch([asin, *rivals], first, last, fields, account)
    )
    settled = series["meta"]["settled_through"]
    state: ApiState = request.app.state.api
    report = await run_in_threadpool(report_routes.latest, state, principal, asin, account)
    return render(
        request,
        "competitors.html",
        principal,
        asin=asin,
        account=account,
        own=now["data"]["own"],
        rivals=now["data"]["competitors"],
        gaps=now["data"]["latest_gaps"],
        meta=now["meta"],
        figures=charts.competitor_figures(series["data"], asin, settled, last),
        report=report,
        may_write=principal.may(Role.analyst),
    )


@router.post("/products/{asin}/report")
async def write_report(request: Request, asin: str, account: AccountQuery = None) -> Response:
    """Write a competitive report now (analyst: it may spend the LLM budget)."""
    principal = await signed_in(request, Role.analyst)
    asin = _asin(asin)
    state: ApiState = request.app.state.api
    try:
        report = await run_in_threadpool(report_routes.write, state, principal, asin, account)
    except (NotFound, Ambiguous) as error:
        raise PageError(404 if isinstance(error, NotFound) else 409, str(error)) from None
    except ReportError as error:
        raise PageError(502, str(error)) from None
    target = f"{PREFIX}/products/{asin}/competitors?account={quote(report['account'])}#report"
    return RedirectResponse(target, status_code=303)


@router.get("/open")
async def open_product(request: Request, asin: str) -> Response:
    """The header's ASIN box."""
    await signed_in(request)
    return RedirectResponse(f"{PREFIX}/products/{_asin(asin.strip())}", status_code=303)


@router.get("/alerts")
async def alerts(
    request: Request,
    since: Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY)] = None,
    kind: Annotated[str | None, Query(pattern=KINDS_PATTERN)] = None,
    asin: Annotated[str | None, Query(pattern=ASIN_PATTERN)] = None,
) -> Response:
    """Alerts of the caller's ASINs, newest first, filtered by day, kind and ASIN."""
    principal = await signed_in(request)
    kinds = kind.split(",") if kind else None
    found = await ask(
        request, principal, reads.alert_list(since, kinds, asin.upper() if asin else None, 500)
    )
    return render(
        request,
        "alerts.html",
        principal,
        alerts=found["data"],
        truncated=found["truncated"],
        meta=found["meta"],
        since=found["meta"]["since"],
        kind=kind or "",
        asin=asin or "",
    )


def _asin(value: str) -> str:
    if not re.match(ASIN_PATTERN, value):
        raise PageError(422, f"{value!r} is not an ASIN (ten letters and digits).")
    return value.upper()
