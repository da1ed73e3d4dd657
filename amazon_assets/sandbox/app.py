"""The sandbox's HTTP layer: login-with-Amazon, SP-API Reports 2021-06-30, downloads, admin.

Every SP-API call goes through `_guard`: count it, apply a queued delay, check the access token,
apply queued or random faults, then take a token from Amazon's usage plan. Documents are served
from presigned-style URLs that need no auth and expire after five simulated minutes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from amazon_assets.sandbox.advertising import AdsSandbox
from amazon_assets.sandbox.catalog import CatalogSandbox
from amazon_assets.sandbox.config import SandboxConfig
from amazon_assets.sandbox.consent import ConsentSandbox
from amazon_assets.sandbox.data_kiosk import DataKioskSandbox
from amazon_assets.sandbox.faults import LOGIN_REFUSALS, Faults
from amazon_assets.sandbox.finances import PATH as FINANCES_PATH
from amazon_assets.sandbox.finances import FinancesApi
from amazon_assets.sandbox.marketplace import Marketplace
from amazon_assets.sandbox.quotas import QuotaEnforcer
from amazon_assets.sandbox.reports import REPORT_GENERATORS, RETENTION, ReportRequest, ReportStore
from amazon_assets.sandbox.seller_history import publish_settlements
from amazon_assets.settings import SANDBOX_REFRESH_TOKEN_PREFIX
from amazon_assets.sources.quotas import Clock

# Tokens and download URLs are signed with a fixed key so that an access token cached by a client
# library (python-amazon-sp-api caches for ~53 minutes) stays valid across sandbox restarts.
_SIGNING_KEY = b"amazon-assets-sandbox"
ACCESS_TOKEN_SECONDS = 3600
REPORTS = "/reports/2021-06-30"
STATUSES = ("IN_QUEUE", "IN_PROGRESS", "DONE", "CANCELLED", "FATAL")
# What Login with Amazon says with each refusal.
_LOGIN_REFUSAL_TEXT = {
    "invalid_grant": "The request has an invalid grant parameter : refresh_token",
    "unauthorized_client": "Not authorized for requested operation",
    "invalid_client": "Client authentication failed",
}


class SandboxApp:
    """The state of one sandbox (marketplace, reports, quotas, faults, counters) and its routes."""

    def __init__(self, config: SandboxConfig, base_url: str = "http://127.0.0.1") -> None:
        self.config = config
        self.base_url = base_url
        self.clock = Clock(config.speed)
        self.marketplace = Marketplace(config)
        self.store = ReportStore(
            self.marketplace, self.clock, config.queue_seconds, config.processing_seconds
        )
        self.faults = Faults(
            config.throttle_probability, config.error_probability, seed=config.seed
        )
        self.quotas = QuotaEnforcer(self.clock, enabled=config.quotas)
        self._calls: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        self._documents_served: Counter[str] = Counter()  # getReportDocument answers by report id
        self._lock = threading.Lock()
        self.ads = AdsSandbox(self, read_token=_read_token, sign=_sign)
        self.catalog = CatalogSandbox(self)
        self.consent = ConsentSandbox(self, sign=_sign)
        self.data_kiosk = DataKioskSandbox(self)
        self.asgi = Starlette(
            routes=[
                Route("/auth/o2/token", self.token, methods=["POST"]),
                Route(f"{REPORTS}/reports", self.create_report, methods=["POST"]),
                Route(f"{REPORTS}/reports", self.get_reports, methods=["GET"]),
                Route(f"{REPORTS}/reports/{{report_id}}", self.get_report, methods=["GET"]),
                Route(f"{REPORTS}/reports/{{report_id}}", self.cancel_report, methods=["DELETE"]),
                Route(
                    f"{REPORTS}/documents/{{document_id}}",
                    self.get_report_document,
                    methods=["GET"],
                ),
                Route("/downloads/{document_id}", self.download, methods=["GET"]),
                Route(FINANCES_PATH, FinancesApi(self).list_financial_events, methods=["GET"]),
                *self.ads.routes(),
                *self.catalog.routes(),
                *self.consent.routes(),
                *self.data_kiosk.routes(),
                Route("/_sandbox/faults", self.admin_faults, methods=["POST"]),
                Route("/_sandbox/stats", self.admin_stats, methods=["GET"]),
                Route("/_sandbox/take_offs", self.admin_take_offs, methods=["GET"]),
            ]
        )

    # -- observability ----------------------------------------------------------------------

    @staticmethod
    def sign(text: str) -> str:
        """The signature of a presigned URL's `text`."""
        return _sign(text)

    @staticmethod
    def verify(text: str, signature: str) -> bool:
        return hmac.compare_digest(signature, _sign(text))

    def calls(self, operation: str) -> int:
        with self._lock:
            return self._calls[operation]

    def throttled(self, operation: str) -> int:
        with self._lock:
            return self._throttled[operation]

    def requests_by_report(self) -> dict[tuple[str, str, date], dict[str, int]]:
        """Per (account, report type, first day): reports created and getReportDocument answers
        for them, so a test tells a document fetched twice."""
        with self._lock:
            served = Counter(self._documents_served)
        counts: dict[tuple[str, str, date], dict[str, int]] = {}
        for report in self.store.all():
            request = report.request
            key = (request.account, request.report_type, request.start)
            entry = counts.setdefault(key, {"createReport": 0, "getReportDocument": 0})
            entry["createReport"] += 1
            entry["getReportDocument"] += served[report.report_id]
        return counts

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self._calls),
                "throttled": dict(self._throttled),
                "reports": len(self.store.all()),
            }

    def _count(self, operation: str, throttled: bool = False) -> None:
        with self._lock:
            (self._throttled if throttled else self._calls)[operation] += 1

    # -- login with Amazon ------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        self._count("token")
        if delay := self.faults.take_slow("token"):
            await asyncio.sleep(delay)
        if self.faults.take_throttle("token", storms=False):
            self._count("token", throttled=True)
            return _lwa_error(429, "rate_limited", "The request was rate-limited.")
        if status := self.faults.take_failure("token", storms=False):
            return _lwa_error(status, "server_error", "The server encountered an internal error.")
        if refusal := self.faults.take_login_refusal():
            return _lwa_error(LOGIN_REFUSALS[refusal], refusal, _LOGIN_REFUSAL_TEXT[refusal])
        form = _form(await request.body(), request.headers.get("content-type", ""))
        client_id, secret = str(form.get("client_id") or ""), str(form.get("client_secret") or "")
        known = self.config.clients.get(client_id)
        if known is None or not hmac.compare_digest(known, secret):
            return _lwa_error(401, "invalid_client", "Client authentication failed")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            account = self.consent.redeem(
                str(form.get("code") or ""), client_id, form.get("redirect_uri")
            )
            if account is None:
                return _lwa_error(
                    400, "invalid_grant", "The request has an invalid grant parameter : code"
                )
            refresh_token = self.consent.issue_refresh_token(client_id, account)
        elif grant_type != "refresh_token":
            return _lwa_error(
                400, "unsupported_grant_type", "The authorization grant type is not supported."
            )
        else:
            refresh_token = str(form.get("refresh_token") or "")
            account = self.consent.issued_account(refresh_token, client_id) or (
                refresh_token.removeprefix(SANDBOX_REFRESH_TOKEN_PREFIX)
                if refresh_token.startswith(SANDBOX_REFRESH_TOKEN_PREFIX)
                else None
            )
            if account is None or not self.marketplace.admit(account):
                return _lwa_error(
                    400,
                    "invalid_grant",
                    "The request has an invalid grant parameter : refresh_token",
                )
        return JSONResponse(
            {
                "access_token": _issue_token(client_id, account),
                "refresh_token": refresh_token,
                "token_type": "bearer",
                "expires_in": ACCESS_TOKEN_SECONDS,
            }
        )

    # -- SP-API plumbing --------------------------------------------------------------------

    async def _guard(self, request: Request, operation: str) -> tuple[str, str] | Response:
        """(client_id, account) when the call may proceed, else the error response to send."""
        self._count(operation)
        if delay := self.faults.take_slow(operation):
            await asyncio.sleep(delay)
        identity = _read_token(request.headers.get("x-amz-access-token", ""))
        denial = self.faults.take_denial(operation) if identity else None
        if identity is None or denial:
            return _errors(denial or 403, "Unauthorized", "Access to requested resource is denied.")
        if self.faults.take_throttle(operation):
            return self._throttle(operation)
        if status := self.faults.take_failure(operation):
            return _server_error(status)
        if not self.quotas.allow(operation, *identity):
            return self._throttle(operation)
        return identity

    def _throttle(self, operation: str) -> Response:
        self._count(operation, throttled=True)
        return _errors(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")

    def _ok(self, operation: str, body: Any, status: int = 200) -> Response:
        response = (
            JSONResponse(body, status_code=status)
            if body is not None
            else Response(status_code=status)
        )
        return self._rate_header(operation, response)

    def _rate_header(self, operation: str, response: Response) -> Response:
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        rate = self.quotas.rate(operation)
        if rate is not None:
            response.headers["x-amzn-RateLimit-Limit"] = str(rate)
        return response

    def _invalid(self, operation: str, message: str) -> Response:
        return self._rate_header(operation, _errors(400, "InvalidInput", message))

    def _not_found(self, operation: str, message: str) -> Response:
        return self._rate_header(operation, _errors(404, "NotFound", message))

    # -- Reports 2021-06-30 -----------------------------------------------------------------

    async def create_report(self, request: Request) -> Response:
        operation = "createReport"
        guard = await self._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        client_id, account = guard
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return self._invalid(operation, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return self._invalid(operation, "The request body must be a JSON object.")
        report_type = body.get("reportType")
        generator = REPORT_GENERATORS.get(report_type) if isinstance(report_type, str) else None
        if generator is None:
            return self._invalid(operation, f"Invalid reportType: {report_type!r}.")
        marketplace_ids = body.get("marketplaceIds")
        if (
            not isinstance(marketplace_ids, list)
            or not marketplace_ids
            or any(m not in self.config.marketplaces_of(account) for m in marketplace_ids)
        ):
            return self._invalid(operation, f"Invalid marketplaceIds: {marketplace_ids!r}.")
        options = body.get("reportOptions") or {}
        if not isinstance(options, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in options.items()
        ):
            return self._invalid(operation, "reportOptions must map strings to strings.")
        if reason := generator.validate_options(options):
            return self._invalid(operation, reason)
        try:
            end = _day(body.get("dataEndTime")) or self.marketplace.last_day(account)
            start = _day(body.get("dataStartTime")) or end
        except ValueError as error:
            return self._invalid(operation, str(error))
        if end < start:
            return self._invalid(operation, "dataEndTime must not be before dataStartTime.")
        request_spec = ReportRequest(
            account, report_type, start, end, dict(options), tuple(marketplace_ids)
        )
        if reason := generator.validate_request(request_spec):
            return self._invalid(operation, reason)
        if not self.quotas.allow_report_type(report_type, client_id):
            return self._throttle(operation)
        outcome = self.faults.take_outcome(report_type)
        if outcome is None and len(marketplace_ids) > 1 and not generator.multi_marketplace:
            outcome = "FATAL"  # this report type supports only one marketplace per report
        report = self.store.create(
            ReportRequest(account, report_type, start, end, dict(options), tuple(marketplace_ids)),
            forced_outcome=outcome,
            malformed=self.faults.take_malform(),
        )
        return self._ok(operation, {"reportId": report.report_id}, status=202)

    async def get_report(self, request: Request) -> Response:
        operation = "getReport"
        guard = await self._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        report_id = request.path_params["report_id"]
        body = await run_in_threadpool(self._report_json, report_id, guard[1])
        if body is None:
            return self._not_found(operation, f"Report {report_id} not found.")
        return self._ok(operation, body)

    def _report_json(self, report_id: str, account: str) -> dict[str, Any] | None:
        report = self.store.get(report_id, account)
        return None if report is None else self.store.to_json(report)

    async def get_reports(self, request: Request) -> Response:
        operation = "getReports"
        guard = await self._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        account = guard[1]
        params = request.query_params
        try:
            if params.get("nextToken"):
                query = json.loads(base64.urlsafe_b64decode(params["nextToken"].encode()))
            else:
                query = self._reports_query(params)
        except (ValueError, KeyError, binascii.Error) as error:
            return self._invalid(operation, str(error) or "Invalid getReports parameters.")
        await run_in_threadpool(publish_settlements, self.store, self.marketplace, account)
        reports = await run_in_threadpool(self._list_reports, account, query)
        offset, size = query["offset"], query["pageSize"]
        body: dict[str, Any] = {"reports": reports[offset : offset + size]}
        if offset + size < len(reports):
            token = {**query, "offset": offset + size}
            body["nextToken"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
        return self._ok(operation, body)

    def _reports_query(self, params) -> dict[str, Any]:
        types = _csv(params.getlist("reportTypes"))
        if not types:
            raise ValueError("getReports needs reportTypes or nextToken.")
        statuses = _csv(params.getlist("processingStatuses"))
        if bad := [s for s in statuses if s not in STATUSES]:
            raise ValueError(f"Invalid processingStatuses: {', '.join(bad)}.")
        page_size = int(params.get("pageSize") or 10)
        if not 1 <= page_size <= 100:
            raise ValueError("pageSize must be between 1 and 100.")
        now = self.store.sim_datetime()
        since = _moment(params.get("createdSince")) or now - RETENTION
        until = _moment(params.get("createdUntil")) or now
        return {
            "reportTypes": types,
            "processingStatuses": statuses,
            "marketplaceIds": _csv(params.getlist("marketplaceIds")),
            "createdSince": since.isoformat(),
            "createdUntil": until.isoformat(),
            "pageSize": page_size,
            "offset": 0,
        }

    def _list_reports(self, account: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        since = self.store.sim_seconds(datetime.fromisoformat(query["createdSince"]))
        until = self.store.sim_seconds(datetime.fromisoformat(query["createdUntil"]))
        out = []
        for report in self.store.list(account):
            if report.request.report_type not in query["reportTypes"]:
                continue
            if not since <= report.created <= until + 1:
                continue
            if query["marketplaceIds"] and not set(report.request.marketplace_ids) & set(
                query["marketplaceIds"]
            ):
                continue
            body = self.store.to_json(report)
            if (
                query["processingStatuses"]
                and body["processingStatus"] not in query["processingStatuses"]
            ):
                continue
            out.append(body)
        return out

    async def cancel_report(self, request: Request) -> Response:
        operation = "cancelReport"
        guard = await self._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        report_id = request.path_params["report_id"]
        result = await run_in_threadpool(self.store.cancel, report_id, guard[1])
        if result == "missing":
            return self._not_found(operation, f"Report {report_id} not found.")
        if result != "ok":
            return self._invalid(
                operation,
                f"Report {report_id} is {result}; only IN_QUEUE reports can be cancelled.",
            )
        return self._ok(operation, None)

    async def get_report_document(self, request: Request) -> Response:
        operation = "getReportDocument"
        guard = await self._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        document_id = request.path_params["document_id"]
        # A settlement's document may still be building: wait off the event loop.
        document = await run_in_threadpool(self.store.document_for, document_id, guard[1])
        if document is None:
            return self._not_found(operation, f"Report document {document_id} not found.")
        with self._lock:
            self._documents_served[document.report_id] += 1
        lifetime = max(
            self.config.document_url_seconds,
            self.config.document_url_min_real_seconds * self.config.speed,
        )
        expires = int(self.clock.now() + lifetime)
        url = (
            f"{self.base_url}/downloads/{document_id}"
            f"?expires={expires}&signature={_sign(f'{document_id}:{expires}')}"
        )
        return self._ok(
            operation, {"reportDocumentId": document_id, "url": url, "compressionAlgorithm": "GZIP"}
        )

    # -- the presigned download (S3's side: no SP-API auth, S3-style errors) ------------------

    async def download(self, request: Request) -> Response:
        operation = "downloadDocument"
        self._count(operation)
        if delay := self.faults.take_slow(operation):
            await asyncio.sleep(delay)
        if self.faults.take_throttle(operation, storms=False):
            self._count(operation, throttled=True)
            return _s3_error(503, "SlowDown", "Please reduce your request rate.")
        if status := self.faults.take_failure(operation, storms=False):
            return _s3_error(
                status, "InternalError", "We encountered an internal error. Please try again."
            )
        document_id = request.path_params["document_id"]
        expires = request.query_params.get("expires", "")
        signature = request.query_params.get("signature", "")
        if not hmac.compare_digest(signature, _sign(f"{document_id}:{expires}")):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if not expires.isdigit() or self.clock.now() > int(expires):
            return _s3_error(403, "AccessDenied", "Request has expired")
        document = await run_in_threadpool(self.store.document, document_id)
        if document is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        data = document.gzipped
        if self.faults.take_truncate():
            data = data[: max(1, len(data) // 2)]
        text = document.content_type.startswith("text/")
        return Response(
            data, media_type=document.content_type if text else "application/octet-stream"
        )

    # -- admin ------------------------------------------------------------------------------

    async def admin_faults(self, request: Request) -> Response:
        try:
            payload = json.loads(await request.body() or b"{}")
            for spec in payload if isinstance(payload, list) else [payload]:
                self.faults.apply(spec)
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    async def admin_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def admin_take_offs(self, request: Request) -> Response:
        """The planted take-off products: ground truth for evaluating rankings against."""
        return JSONResponse(
            [
                {"account": account, "asin": asin, "take_off_date": day.isoformat()}
                for account in self.marketplace.accounts
                for asin, day in self.marketplace.take_offs(account)
            ]
        )


# -- helpers -------------------------------------------------------------------------------


def _errors(status: int, code: str, message: str) -> Response:
    response = JSONResponse({"errors": [{"code": code, "message": message, "details": ""}]}, status)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


def _server_error(status: int) -> Response:
    if status == 503:
        return _errors(503, "ServiceUnavailable", "Service temporarily unavailable.")
    return _errors(status, "InternalFailure", "We encountered an internal error. Please try again.")


def _lwa_error(status: int, error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def _sign(text: str) -> str:
    return hmac.new(_SIGNING_KEY, text.encode(), hashlib.sha256).hexdigest()[:40]


def _issue_token(client_id: str, account: str) -> str:
    payload = base64.urlsafe_b64encode(
        json.dumps({"c": client_id, "a": account, "t": int(time.time())}).encode()
    ).decode()
    return f"Atza|{payload}.{_sign(payload)}"


def _read_token(token: str) -> tuple[str, str] | None:
    """(client_id, account) of a token this sandbox (or any sandbox) issued and is still valid."""
    if not token.startswith("Atza|") or "." not in token:
        return None
    payload, signature = token[5:].rsplit(".", 1)
    if not hmac.compare_digest(signature, _sign(payload)):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, binascii.Error):
        return None
    if time.time() - claims["t"] > ACCESS_TOKEN_SECONDS:
        return None
    return claims["c"], claims["a"]


def _day(value: Any) -> date | None:
    """The day of an ISO 8601 date or date-time (Amazon ignores the time for these reports)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"Invalid date-time: {value!r}.")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ValueError(f"Invalid date-time: {value!r}.") from None


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"Invalid date-time: {value!r}.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _form(body: bytes, content_type: str) -> dict[str, str]:
    """The token request's fields (form-encoded as OAuth wants, or JSON, which LWA also takes)."""
    if "json" in content_type:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _csv(values: list[str]) -> list[str]:
    return [part for value in values for part in value.split(",") if part]
