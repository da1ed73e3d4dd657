"""The Selling Partner API Reports resource: python-amazon-sp-api, paced, retried and resumable.

Every SP-API call goes through `sp_api.api.Reports`; the presigned report document is fetched with
a plain httpx GET (no auth headers) so bronze keeps the bytes exactly as Amazon served them.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import httpx
from sp_api.api import CatalogItems, Finances, Products, Reports
from sp_api.auth import AccessTokenClient
from sp_api.auth import access_token_client as _token_module
from sp_api.auth._core import build_cache_key
from sp_api.auth.exceptions import AuthorizationError
from sp_api.base import ApiResponse, Client
from sp_api.base.credential_provider import FromCodeCredentialProvider
from sp_api.base.exceptions import (
    SellingApiBadRequestException,
    SellingApiException,
    SellingApiForbiddenException,
    SellingApiNotFoundException,
    SellingApiRequestThrottledException,
)

from amazon_assets.resources.amazon_client import (
    Answer,
    ClientSession,
    Denied,
    Outcome,
    Refused,
    RetryLater,
    Throttled,
    Transient,
    token_refresh_at,
)
from amazon_assets.settings import (
    DEFAULT_ACCOUNT,
    DEFAULT_REUSE_MINUTES,
    SALES_AND_TRAFFIC_DAILY,
    US_MARKETPLACE_ID,
    Settings,
    env_suffix,
)
from amazon_assets.sources.quotas import (
    MIN_REAL_REPORT_WAIT_SECONDS,
    REPORT_TYPE_QUOTAS,
    SP_API_QUOTAS,
    Quota,
    client_quota,
)
from amazon_assets.sources.refusals import UNAUTHORIZED_CODES
from amazon_assets.sources.retry import (
    TRANSIENT_STATUSES,
    account_refresh_token,
    describe_range,
    gzip_is_complete,
    login_credentials,
    masked_secrets,
    quiet_loggers,
)
from amazon_assets.sources.reuse import recent_since
from amazon_assets.sources.signals import (
    CATALOG_INCLUDED_DATA,
    ITEM_OFFERS_URI,
    MAX_BATCH,
    SANDBOX_AS_OF_PARAMETER,
    batches,
)
from amazon_assets.sources.state import (
    COMPLETED,
    FATAL,
    FORGOTTEN,
    ReportRequest,
)

log = logging.getLogger(__name__)

# The client library logs request headers (the access token) and token responses at DEBUG; httpx
# logs every URL at INFO. Keep both quiet whatever level the application's root logger has.
_QUIET_LOGGERS = ("sp_api", "httpx", "httpcore")

RETENTION_SECONDS = 90 * 24 * 3600  # Amazon serves reports created in the last 90 days
POLL_INTERVALS = (15.0, 30.0, 60.0, 120.0, 240.0, 300.0)  # simulated seconds, last one repeats
DOWNLOAD_ATTEMPTS = 3
FINANCES_PAGE_SIZE = 100  # Amazon's maximum MaxResultsPerPage
FINANCES_REGROW_PAGES = 10  # good pages at a halved size before trying twice the size
_TOKEN_LOCK = threading.RLock()
# Report types Amazon builds for one marketplace only (sales and traffic); the others take every
# marketplace of the account in one request ("data for all of the specified marketplaces").
SINGLE_MARKETPLACE_REPORTS = frozenset({"GET_SALES_AND_TRAFFIC_REPORT"})


quiet_loggers(_QUIET_LOGGERS)


class SpApiError(Exception):
    """The SP-API could not do what was asked; the message says what and what to do."""


class ReportFatalError(SpApiError):
    """Amazon ended a report FATAL twice, once after a cooldown."""

    def __init__(
        self,
        message: str,
        *,
        report_type: str,
        data_start: date,
        data_end: date,
        report_ids: tuple[str, ...],
        document_excerpt: str | None = None,
    ) -> None:
        super().__init__(message)
        self.report_type = report_type
        self.data_start = data_start
        self.data_end = data_end
        self.report_ids = report_ids
        self.document_excerpt = document_excerpt


class ReportTimeoutError(SpApiError):
    """A report did not finish within the polling timeout (it stays in the ledger to resume)."""


@dataclass(frozen=True)
class ReportResult:
    """One report's outcome and its document exactly as downloaded.

    `requests` counts what this result cost: HTTP requests sent per operation (createReport,
    getReport, getReportDocument, downloadDocument; retries included), plus `throttled` (429s
    received) and `retries` (requests sent again after a 429, 5xx, timeout or connection error).
    """

    report_type: str
    report_id: str
    status: str  # "DONE" | "CANCELLED"
    document_id: str | None
    compression: str | None  # "GZIP" or None
    body: bytes = field(repr=False)
    data_start: date
    data_end: date
    fetched_at: datetime
    requests: dict[str, int]
    charset: str | None = None  # the download's Content-Type charset (flat files: cp1252, ...)

    def content(self) -> bytes:
        """The document decompressed."""
        if self.compression == "GZIP":
            return gzip.decompress(self.body)
        return self.body


@dataclass(frozen=True)
class SignalsResult:
    """Answers of a batched product-signal operation, each exactly as Amazon sent it."""

    operation: str
    pages: list[dict[str, Any]] = field(repr=False)  # one answer body per call
    requests: dict[str, int]
    fetched_at: datetime


class MarketConfig(dg.Config):
    """One account's SP-API region, endpoint and marketplaces (settings.AccountMarket)."""

    region: str
    endpoint: str
    marketplace_ids: list[str]


@dataclass(frozen=True)
class _Marketplace:
    """Duck-typed stand-in for `sp_api.base.Marketplaces`: any endpoint, any marketplace."""

    endpoint: str
    marketplace_id: str
    region: str


class LwaTokenClient(AccessTokenClient):
    """Login-with-Amazon token client for a configurable token URL.

    Subclasses made by `for_url` carry scheme/host/path of the URL. The library caches tokens in a
    module cache keyed on the refresh token alone; the key here also holds the token URL and the
    app's credentials so two token servers or apps never share tokens. A token is refreshed a
    minute before its `expires_in` (real seconds, as Amazon means it), whatever the cache TTL.
    """

    @classmethod
    def for_url(cls, token_url: str) -> type[LwaTokenClient]:
        return _token_client_class(token_url)

    @property
    def token_url(self) -> str:
        return self.scheme + self.host + self.path

    def _get_cache_key(self, token_flavor: str = "") -> str:
        # Hashed into the key with the refresh token: other credentials never reuse a token.
        namespace = (
            f"{token_flavor}|{self.token_url}|{self.cred.client_id}|{self.cred.client_secret}|"
        )
        return build_cache_key(self.cred.refresh_token, namespace)

    def get_auth(self):  # noqa: ANN201 - the library's AccessTokenResponse
        key = self._get_cache_key()
        # The library's cache is a plain TTLCache; fetch_report may run in several threads.
        with _TOKEN_LOCK:
            entry = _token_module.cache.get(key)
            if entry is None or entry.get("_expires_at", 0.0) <= time.time():
                response = self._request(self.token_url, self.data, self.headers)
                entry = {**response, "_expires_at": token_refresh_at(response)}
                _token_module.cache[key] = entry
        return _token_module.AccessTokenResponse(
            **{k: v for k, v in entry.items() if k != "_expires_at"}
        )

    def forget_token(self) -> None:
        """Drop the cached token (after a 403) so the next call logs in again."""
        with _TOKEN_LOCK:
            _token_module.cache.pop(self._get_cache_key(), None)

    def cached_access_token(self) -> str | None:
        with _TOKEN_LOCK:
            entry = _token_module.cache.get(self._get_cache_key())
        return entry.get("access_token") if entry else None


@cache
def _token_client_class(token_url: str) -> type[LwaTokenClient]:
    parts = urlsplit(token_url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return type(
        "LwaTokenClient",
        (LwaTokenClient,),
        {
            "scheme": f"{parts.scheme}://",
            "host": parts.netloc,
            "path": path,
        },
    )


class SpApiResource(dg.ConfigurableResource):
    """Selling Partner API Reports for one seller account in one marketplace.

    `fetch_report` runs a report's whole life: createReport -> getReport until final ->
    getReportDocument -> download. Policies:

    - Quotas: every call first takes a token from client-side buckets (Amazon's default usage
      plans per operation, per seller; report-type limits per application) persisted in the SQLite
      file `state_path`, shared by every process, with a 3% margin under Amazon's rates, so steady
      state never earns a 429.
    - Retries: 429, 5xx, timeouts and connection errors are retried with exponential backoff and
      full jitter, at most `max_attempts` times per call; a 429 also empties the local bucket.
    - Resume: the report id is written to the ledger right after createReport, so a run that
      crashed before the download polls the same report instead of creating another. A finished
      report closes its entry, so fetching the same range later (restatements) asks for a fresh
      one. Entries older than Amazon's 90-day retention, or unknown to the server (404), are
      forgotten and the report is requested again.
    - Polling: 15 s, 30 s, 60 s ... up to every 5 minutes, for at most `report_timeout_seconds`.
    - FATAL: Amazon gives no reason; it often means a per-report-type threshold was crossed. Wait
      `fatal_cooldown_seconds` (30 minutes) and request once more; a second FATAL raises
      `ReportFatalError` naming the report type, the range and both report ids (with an excerpt of
      the FATAL report's document when Amazon attaches one).
    - CANCELLED means there is no data for the range: status "CANCELLED" and an empty body.

    Times are simulated seconds on `Clock(clock_speed)`; against Amazon the speed is 1.
    """

    endpoint: str
    lwa_token_url: str
    refresh_token: str
    client_id: str
    client_secret: str
    marketplace_id: str = US_MARKETPLACE_ID  # home: catalog, pricing, sales and traffic
    # Every marketplace of the account (empty: the home one), for the reports that take several.
    marketplace_ids: list[str] = []
    region: str = "us-east-1"
    # The markets of the app's accounts by environment-variable suffix ("" the default account):
    # `for_account` takes the account's region, endpoint and marketplaces from here.
    markets: dict[str, MarketConfig] = {}
    account: str = DEFAULT_ACCOUNT
    state_path: str
    clock_speed: float = 1.0
    source_label: str = "amazon"
    request_timeout_seconds: float = 60.0  # real seconds per HTTP request
    max_attempts: int = 8
    fatal_cooldown_seconds: float = 1800.0
    report_timeout_seconds: float = 4 * 3600.0
    min_real_report_wait_seconds: float = MIN_REAL_REPORT_WAIT_SECONDS
    pace_requests: bool = True  # off only for benchmarks against a sandbox without quotas
    # A re-run reuses what was fetched this many real minutes ago (`sources.reuse`,
    # AMAZON_ASSETS_REUSE_MINUTES); also the default `reuse_since` of Finances pages.
    reuse_minutes: float = DEFAULT_REUSE_MINUTES
    # The app has the Brand Analytics role (AMAZON_ASSETS_DATA_KIOSK): sales-and-traffic history
    # comes from Data Kiosk (`resources/data_kiosk.py`).
    data_kiosk: bool = False
    # The app's GET_SALES_AND_TRAFFIC_REPORT requests a day (AMAZON_ASSETS_SALES_AND_TRAFFIC_DAILY).
    sales_and_traffic_daily: int = SALES_AND_TRAFFIC_DAILY

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        return masked_secrets(super().__repr_args__())

    @classmethod
    def from_settings(cls, settings: Settings, account: str = DEFAULT_ACCOUNT) -> SpApiResource:
        """The resource for `account`; real credentials stay environment variables in Dagster."""
        api = settings.sp_api
        credentials = login_credentials(api, "SP_API", account)
        markets = {
            suffix: MarketConfig(
                region=market.region,
                endpoint=market.endpoint,
                marketplace_ids=list(market.marketplace_ids),
            )
            for suffix, market in settings.sp_api_markets.items()
        }
        market = settings.market(account)
        return cls(
            endpoint=market.endpoint,
            lwa_token_url=api.lwa_token_url,
            region=market.region,
            marketplace_id=market.marketplace_ids[0],
            marketplace_ids=list(market.marketplace_ids),
            markets=markets,
            account=account,
            state_path=settings.state_location,
            clock_speed=settings.clock_speed_of(api),
            source_label=api.source_label,
            reuse_minutes=settings.reuse_minutes,
            data_kiosk=settings.data_kiosk,
            sales_and_traffic_daily=settings.sales_and_traffic_daily,
            **credentials,
        )

    def report_marketplaces(self, report_type: str) -> list[str]:
        """The marketplaces a report is requested for: the home one where Amazon takes only one
        per report, else every marketplace of the account."""
        if report_type in SINGLE_MARKETPLACE_REPORTS or not self.marketplace_ids:
            return [self.marketplace_id]
        return list(self.marketplace_ids)

    def fetch_report(
        self,
        report_type: str,
        data_start: date,
        data_end: date,
        report_options: dict[str, str] | None = None,
        *,
        complete: bool = True,
        reuse_since: datetime | None = None,
        before_create: Callable[[], None] | None = None,
    ) -> ReportResult:
        """Request (or resume), wait for and download one report.

        `before_create()` runs before each createReport actually sent to Amazon, not for a
        report resumed or reused from the ledger (a budget counts only real requests).

        With `complete=False` the ledger keeps the report open until `complete_reports`: a
        multi-day run that fails on a later day re-downloads the earlier days' documents on
        retry instead of spending createReport quota on them again. With `reuse_since`, a report
        of the same request completed since then is downloaded again instead of requested again
        (a re-run after a crash; `sources.reuse.reuse_since` says when for a run).
        """
        with SpApiSession(self) as session:
            return session.fetch(
                report_type,
                data_start,
                data_end,
                report_options or {},
                complete=complete,
                reuse_since=reuse_since,
                before_create=before_create,
            )

    def complete_reports(self, report_ids: Iterable[str]) -> None:
        """Close ledger entries once their documents are stored (see `fetch_report`)."""
        with SpApiSession(self) as session:
            session.store.complete_reports(session.endpoint, list(report_ids), session.clock)

    def request_report(
        self,
        report_type: str,
        data_start: date,
        data_end: date,
        report_options: dict[str, str] | None = None,
    ) -> str:
        """Create a report and record its id in the ledger (or return the open one); no waiting."""
        with SpApiSession(self) as session:
            request = session.report_request(
                report_type, data_start, data_end, report_options or {}
            )
            return session.open_report(request)[0]

    def list_reports(
        self,
        report_types: Iterable[str],
        created_since: datetime | date,
        processing_statuses: Iterable[str] = ("DONE",),
    ) -> list[dict]:
        """Reports Amazon holds (getReports, every page), e.g. settlements it generated itself."""
        with SpApiSession(self) as session:
            return session.list_reports(
                list(report_types), created_since, list(processing_statuses)
            )

    def download_document(self, document_id: str) -> tuple[bytes, str | None]:
        """A report document's bytes as served and its compression ("GZIP" or None)."""
        with SpApiSession(self) as session:
            return session.download(document_id)

    def fetch_document(self, document_id: str) -> tuple[bytes, str | None, str | None]:
        """A report document's bytes as served, its compression and its charset."""
        with SpApiSession(self) as session:
            body, compression = session.download(document_id)
            return body, compression, session.charset

    def list_financial_events(
        self,
        posted_after: datetime,
        posted_before: datetime,
        *,
        reuse_since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Finances v0 listFinancialEvents for [posted_after, posted_before): every page's payload.

        Paced with the listFinancialEvents quota. Amazon answers InvalidInput when a page would
        be too large; the page size is then halved (100, 50, 25, ... 1) for that page, and grows
        back after a run of good pages. Each page is recorded in the state store as it arrives:
        a listing that crashed resumes from its last page's NextToken when that page was fetched
        since `reuse_since` (default: `reuse_minutes` ago), and no page is fetched twice. The
        pages stay recorded until `forget_financial_events`, once their document is stored.
        """
        with SpApiSession(self) as session:
            return session.list_financial_events(
                posted_after, posted_before, self._reuse_cutoff(reuse_since)
            )

    def forget_financial_events(self, posted_after: datetime, posted_before: datetime) -> None:
        """Drop the recorded pages of a window whose document is now stored."""
        with SpApiSession(self) as session:
            session.store.forget_pages(session.finances_window_key(posted_after, posted_before))

    def _reuse_cutoff(self, reuse_since: datetime | None) -> datetime:
        return reuse_since or recent_since(self.reuse_minutes)

    def check_login(self) -> None:
        """Log in now: a refused credential raises `CredentialRefused` before any quota is spent
        (a transient login failure is left to the calls, which retry it)."""
        with SpApiSession(self) as session, contextlib.suppress(RetryLater, httpx.TransportError):
            session.login()

    def for_account(self, account: str) -> SpApiResource:
        """The same resource for another seller account of the same app, in its own region and
        marketplaces (those of the default account unless configured for it)."""
        if account == self.account:
            return self
        refresh_token = account_refresh_token(self.refresh_token, "SP_API", account)
        update: dict[str, Any] = {"account": account, "refresh_token": refresh_token}
        key = "" if account == DEFAULT_ACCOUNT else env_suffix(account)
        market = self.markets.get(key) or self.markets.get("")
        if market is not None:
            update.update(
                endpoint=market.endpoint,
                region=market.region,
                marketplace_id=market.marketplace_ids[0],
                marketplace_ids=list(market.marketplace_ids),
            )
        return self.model_copy(update=update)

    def search_catalog_items(
        self, asins: Sequence[str], *, as_of: date | None = None
    ) -> SignalsResult:
        """Catalog Items 2022-04-01 searchCatalogItems for `asins`, 20 identifiers per call.

        Amazon answers with the current catalog; `as_of` (a past day's state) works against the
        sandbox only.
        """
        with SpApiSession(self) as session:
            return session.search_catalog_items(asins, as_of)

    def get_item_offers_batch(
        self, asins: Sequence[str], *, as_of: date | None = None
    ) -> SignalsResult:
        """Product Pricing v0 getItemOffersBatch (new condition, consumer) for `asins`, 20 per call.

        Items Amazon answers 429 or 5xx for inside a batch are asked again in a later batch.
        `as_of` works against the sandbox only, as in `search_catalog_items`.
        """
        with SpApiSession(self) as session:
            return session.get_item_offers_batch(asins, as_of)


class SpApiSession(ClientSession):
    """One resource call: a Reports client on the shared client core (resources/amazon_client);
    the other SP-API sections (Data Kiosk, `resources/data_kiosk.py`) call through it too."""

    resource: SpApiResource

    api_name = "SP-API"
    prefix = "SP_API"
    error = SpApiError
    quiet = _QUIET_LOGGERS

    def __init__(self, resource: SpApiResource) -> None:
        super().__init__(resource)
        self._clients: list[Client] = []
        self.charset: str | None = None  # of the last document downloaded
        self.client = self.sp_client(Reports)
        self.downloader = httpx.Client(
            timeout=resource.request_timeout_seconds, follow_redirects=True
        )

    def close(self) -> None:
        for client in self._clients:
            client.close()
            client._auth._transport.close()
        self.downloader.close()

    def sp_client(self, client_class: type[Client], **options: Any) -> Client:
        """A python-amazon-sp-api client for this seller, endpoint and login; closed on exit."""
        resource = self.resource
        marketplace = _Marketplace(self.endpoint, resource.marketplace_id, resource.region)
        client = client_class(
            marketplace,  # type: ignore[arg-type]  # duck-typed: endpoint, marketplace_id, region
            refresh_token=self.refresh_token,
            account=resource.account,
            credentials={
                "refresh_token": self.refresh_token,
                "lwa_app_id": self.client_id,
                "lwa_client_secret": self.client_secret,
            },
            credential_providers=(FromCodeCredentialProvider,),
            auth_token_client_class=LwaTokenClient.for_url(resource.lwa_token_url),
            timeout=resource.request_timeout_seconds,
            **options,
        )
        # SP_API_DEFAULT_MARKETPLACE in the environment overrides the constructor argument.
        client.endpoint = self.endpoint
        client.marketplace_id = resource.marketplace_id
        client.region = resource.region
        self._clients.append(client)
        return client

    # -- quotas and retries --------------------------------------------------------------------

    def _buckets(self, operation: str, report_type: str | None) -> list[tuple[str, Quota]]:
        buckets = []
        plan = SP_API_QUOTAS.get(operation)
        if plan is not None:
            # Operation plans are per selling partner and application.
            key = f"{self.host}|{self.client_id}|{self.resource.account}|{operation}"
            buckets.append((key, client_quota(plan, self.clock.speed)))
        type_quota = (
            REPORT_TYPE_QUOTAS.get(report_type or "") if operation == "createReport" else None
        )
        if type_quota is not None:
            buckets.append(
                (self._report_type_key(report_type), client_quota(type_quota, self.clock.speed))
            )
        return buckets

    def _report_type_key(self, report_type: str | None) -> str:
        # Report-type limits are per application, across all of its sellers.
        return f"{self.host}|{self.client_id}|createReport:{report_type}"

    def call(
        self,
        operation: str,
        function: Callable[..., ApiResponse],
        *args: Any,
        report_type: str | None = None,
        require: str | None = None,
        not_found_ok: bool = False,
        invalid_input_ok: bool = False,
        **kwargs: Any,
    ) -> ApiResponse | None:
        """One SP-API operation, paced and retried (`ClientSession.call_paced`); 404 -> None when
        `not_found_ok`, a 400 InvalidInput -> None when `invalid_input_ok`, an answer without
        `require` is asked again."""
        buckets = self._buckets(operation, report_type) if self.resource.pace_requests else []

        def send() -> ApiResponse:
            response = function(*args, **kwargs)
            if require and not response.payload.get(require):
                raise RetryLater(f"an answer without {require}")
            return response

        def classify(error: Exception) -> Outcome | None:
            if isinstance(error, SellingApiNotFoundException) and not_found_ok:
                return Answer(None)
            invalid_input = getattr(error, "amzn_code", None) == "InvalidInput"
            if (
                isinstance(error, SellingApiBadRequestException)
                and invalid_input_ok
                and invalid_input
            ):
                return Answer(None)
            return self._classify(operation, error, report_type)

        return self.call_paced(operation, buckets, send, classify)

    def _classify(
        self, operation: str, error: Exception, report_type: str | None
    ) -> Outcome | None:
        """What an error of python-amazon-sp-api means for a call (see `call_paced`)."""
        if isinstance(error, SellingApiRequestThrottledException):
            return Throttled("429 QuotaExceeded")
        if isinstance(error, SellingApiException):
            code = getattr(error, "amzn_code", None)
            forbidden = isinstance(error, SellingApiForbiddenException)
            unknown = type(error) is SellingApiException  # a status without a class (401, 502)
            if forbidden or (unknown and code in UNAUTHORIZED_CODES):
                return Denied(
                    f"{403 if forbidden else 401} {code or 'Unauthorized'}",
                    str(getattr(error, "message", "") or ""),
                    held=frozenset({self._report_type_key(report_type)}),
                )
            if unknown or type(error).code in TRANSIENT_STATUSES:
                return Transient(f"HTTP {type(error).code if not unknown else 'error'}")
            return Refused(self._refused(operation, error))
        if isinstance(error, AuthorizationError):  # the token expired during the call
            failure = self._login_failure(error)
            if isinstance(failure, RetryLater):
                return Transient(str(failure))
            return Refused(failure)
        if isinstance(error, httpx.TransportError):
            return Transient(type(error).__name__)
        if isinstance(error, json.JSONDecodeError):
            return Transient("an answer that is not JSON")
        return None

    def login(self) -> None:
        """A valid access token (cached by the library's token client, `LwaTokenClient`)."""
        try:
            self.client._auth.get_auth()
        except AuthorizationError as error:
            raise self._login_failure(error) from None
        except json.JSONDecodeError:
            raise RetryLater("a login answer that is not JSON") from None

    def forget_login(self) -> None:
        self.client._auth.forget_token()

    def cached_access_token(self) -> str | None:
        return self.client._auth.cached_access_token()

    def _login_failure(self, error: AuthorizationError) -> Exception:
        return self.login_failure(
            int(error.status_code or 0), error.error_code, str(error.message or "")
        )

    def _refused(self, operation: str, error: SellingApiException) -> SpApiError:
        code = getattr(error, "amzn_code", None) or "error"
        message = self.redact(str(getattr(error, "message", "") or ""))
        return SpApiError(
            f"The SP-API refused {operation} for account {self.resource.account!r} with "
            f"HTTP {type(error).code} {code}: {message}"
        )

    # -- reports -------------------------------------------------------------------------------

    def report_request(
        self,
        report_type: str,
        data_start: date,
        data_end: date,
        report_options: Mapping[str, str],
    ) -> ReportRequest:
        if data_end < data_start:
            raise SpApiError(
                f"{report_type}: data_end {data_end} is before data_start {data_start}."
            )
        return ReportRequest(
            endpoint=self.endpoint,
            account=self.resource.account,
            # Several marketplaces are one request: the ledger key names them all.
            marketplace_id=",".join(self.resource.report_marketplaces(report_type)),
            report_type=report_type,
            data_start=data_start.isoformat(),
            data_end=data_end.isoformat(),
            report_options=dict(report_options),
        )

    def open_report(
        self,
        request: ReportRequest,
        reuse_since: datetime | None = None,
        before_create: Callable[[], None] | None = None,
    ) -> tuple[str, bool]:
        """The ledger's report of this request or a new one (`ClientSession.open_or_create`);
        `before_create()` runs only when a new one is requested."""

        def create(request: ReportRequest) -> str:
            if before_create is not None:
                before_create()
            return self.create(request)

        return self.open_or_create(request, create, RETENTION_SECONDS, reuse_since)

    def create(self, request: ReportRequest) -> str:
        body: dict[str, Any] = {
            "reportType": request.report_type,
            "marketplaceIds": request.marketplace_id.split(","),
            "dataStartTime": f"{request.data_start}T00:00:00Z",
            "dataEndTime": f"{request.data_end}T23:59:59Z",
        }
        if request.report_options:
            body["reportOptions"] = dict(request.report_options)
        response = self.call(
            "createReport",
            self.client.create_report,
            report_type=request.report_type,
            require="reportId",
            **body,
        )
        report_id = str(response.payload["reportId"])
        # Persist before anything else can fail: a crash from here on resumes this report.
        self.store.record_report(request, report_id, self.clock)
        log.info(
            "Requested %s for %s: report %s",
            request.report_type,
            describe_range(
                date.fromisoformat(request.data_start), date.fromisoformat(request.data_end)
            ),
            report_id,
        )
        return report_id

    def wait(self, request: ReportRequest, report_id: str, poll_first: bool) -> dict | None:
        """Poll getReport until DONE / CANCELLED / FATAL; None when the server does not know it."""

        def get() -> dict | None:
            response = self.call(
                "getReport",
                self.client.get_report,
                report_id,
                require="processingStatus",  # a proxy's HTML error page parses as {}
                not_found_ok=True,
            )
            return None if response is None else dict(response.payload)

        def still_running(report: dict) -> Exception:
            hours = self.resource.report_timeout_seconds / 3600
            return ReportTimeoutError(
                f"{request.report_type} report {report_id} for "
                f"{describe_range(date.fromisoformat(request.data_start), date.fromisoformat(request.data_end))} "
                f"is still {report.get('processingStatus')} after {hours:g} hours; the next run "
                "resumes polling it."
            )

        if not poll_first:
            self.clock.sleep(POLL_INTERVALS[0])
        return self.poll(
            get,
            ("DONE", "CANCELLED", "FATAL"),
            "processingStatus",
            POLL_INTERVALS,
            still_running,
            polls=0 if poll_first else 1,
        )

    def fetch(
        self,
        report_type: str,
        data_start: date,
        data_end: date,
        report_options: Mapping[str, str],
        complete: bool = True,
        reuse_since: datetime | None = None,
        before_create: Callable[[], None] | None = None,
    ) -> ReportResult:
        request = self.report_request(report_type, data_start, data_end, report_options)
        fatal: list[tuple[str, str | None]] = []  # (report id, document excerpt)
        report_id, resumed = self.open_report(request, reuse_since, before_create)
        created = set() if resumed else {report_id}
        while True:
            report = self.wait(request, report_id, poll_first=resumed)
            if report is None:
                if report_id in created:
                    raise SpApiError(
                        f"The SP-API does not know report {report_id} it created a moment ago "
                        f"({report_type}); retry later."
                    )
                log.info("Report %s is unknown to the server; requesting it again", report_id)
                self.store.finish_report(request, report_id, FORGOTTEN, self.clock)
                report_id, resumed = self.open_report(request, before_create=before_create)
                created.add(report_id)
                continue
            status = report["processingStatus"]
            if status == "DONE":
                document_id = report.get("reportDocumentId")
                if not document_id:
                    raise SpApiError(f"Report {report_id} is DONE but has no reportDocumentId.")
                body, compression = self.download(document_id)
                if complete:
                    self.store.finish_report(request, report_id, COMPLETED, self.clock, document_id)
                return self._result(request, report_id, "DONE", document_id, compression, body)
            if status == "CANCELLED":
                if complete:
                    self.store.finish_report(request, report_id, COMPLETED, self.clock)
                return self._result(request, report_id, "CANCELLED", None, None, b"")
            # FATAL
            excerpt = self._fatal_excerpt(report)
            self.store.finish_report(
                request, report_id, FATAL, self.clock, report.get("reportDocumentId")
            )
            fatal.append((report_id, excerpt))
            if len(fatal) >= 2:
                raise self._fatal_error(request, fatal)
            log.warning(
                "%s report %s ended FATAL; requesting it once more after a %.0f-minute cooldown",
                report_type,
                report_id,
                self.resource.fatal_cooldown_seconds / 60,
            )
            self.clock.sleep(self.resource.fatal_cooldown_seconds)
            report_id, resumed = self.open_report(request, before_create=before_create)
            created.add(report_id)

    def _result(
        self,
        request: ReportRequest,
        report_id: str,
        status: str,
        document_id: str | None,
        compression: str | None,
        body: bytes,
    ) -> ReportResult:
        return ReportResult(
            report_type=request.report_type,
            report_id=report_id,
            status=status,
            document_id=document_id,
            compression=compression,
            body=body,
            data_start=date.fromisoformat(request.data_start),
            data_end=date.fromisoformat(request.data_end),
            fetched_at=datetime.now(UTC),
            requests=dict(self.requests),
            charset=self.charset,
        )

    def _fatal_excerpt(self, report: Mapping[str, Any]) -> str | None:
        document_id = report.get("reportDocumentId")
        if not document_id:
            return None
        try:
            body, compression = self.download(document_id)
            text = (gzip.decompress(body) if compression == "GZIP" else body).decode(
                "utf-8", "replace"
            )
        except (SpApiError, OSError, EOFError, zlib.error) as error:
            log.warning("Could not read the document of FATAL report: %s", self.redact(str(error)))
            return None
        excerpt = " ".join(text.split())
        return excerpt[:200] + ("..." if len(excerpt) > 200 else "")

    def _fatal_error(
        self, request: ReportRequest, fatal: list[tuple[str, str | None]]
    ) -> ReportFatalError:
        data_start = date.fromisoformat(request.data_start)
        data_end = date.fromisoformat(request.data_end)
        ids = tuple(report_id for report_id, _ in fatal)
        excerpt = next((text for _, text in reversed(fatal) if text), None)
        said = f'; its document says "{excerpt}"' if excerpt else ""
        message = (
            f"Amazon ended {request.report_type} for {describe_range(data_start, data_end)} "
            f"FATAL twice (report {ids[0]}, then report {ids[1]} requested again "
            f"{self.resource.fatal_cooldown_seconds / 60:.0f} minutes later{said}); "
            "Amazon gives no reason; retry later or narrow the range."
        )
        return ReportFatalError(
            message,
            report_type=request.report_type,
            data_start=data_start,
            data_end=data_end,
            report_ids=ids,
            document_excerpt=excerpt,
        )

    # -- documents -----------------------------------------------------------------------------

    def download(self, document_id: str) -> tuple[bytes, str | None]:
        problem = ""
        for _ in range(DOWNLOAD_ATTEMPTS):
            # A fresh presigned url each time: it lives 5 minutes and a bad copy may be cached.
            document = self.call(
                "getReportDocument",
                self.client.get_report_document,
                document_id,
                require="url",
            ).payload
            compression = document.get("compressionAlgorithm") or None
            body = self.get_presigned_body(document["url"])
            if body is None:
                problem = "the download link had expired"
                continue
            if compression == "GZIP" and not gzip_is_complete(body):
                problem = f"the gzip stream was incomplete ({len(body)} bytes)"
                log.warning("Document %s: %s; downloading it again", document_id, problem)
                continue
            return body, compression
        raise SpApiError(
            f"Report document {document_id} could not be downloaded whole in "
            f"{DOWNLOAD_ATTEMPTS} attempts (last: {problem}); retry later."
        )

    def get_presigned_body(self, url: str) -> bytes | None:
        """GET a presigned url without SP-API auth; None when the link is refused (expired)."""
        response = self.get_presigned(self.downloader, url, "downloadDocument", "a report document")
        if response is None:
            return None
        self.charset = response.charset_encoding
        return response.content

    # -- listing -------------------------------------------------------------------------------

    def list_reports(
        self,
        report_types: list[str],
        created_since: datetime | date,
        processing_statuses: list[str],
    ) -> list[dict]:
        if isinstance(created_since, datetime):
            since = created_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            since = f"{created_since.isoformat()}T00:00:00Z"
        params: dict[str, Any] = {
            "reportTypes": report_types,
            "processingStatuses": processing_statuses,
            "marketplaceIds": self.resource.marketplace_ids or [self.resource.marketplace_id],
            "createdSince": since,
            "pageSize": 100,
        }
        reports: list[dict] = []
        while True:
            response = self.call("getReports", self.client.get_reports, **params)
            reports.extend(response.payload.get("reports") or [])
            if not response.next_token:
                return reports
            # Amazon wants the token as the only parameter.
            params = {"nextToken": response.next_token}

    # -- product signals -----------------------------------------------------------------------

    def _as_of_params(self, as_of: date | None) -> dict[str, str]:
        if as_of is None:
            return {}
        if self.resource.source_label != "sandbox":
            raise SpApiError(
                "Amazon's Catalog and Pricing APIs serve the current state only; a past day "
                f"({as_of}) can be asked of the sandbox, not of Amazon."
            )
        return {SANDBOX_AS_OF_PARAMETER: as_of.isoformat()}

    def _signals_result(self, operation: str, pages: list[dict[str, Any]]) -> SignalsResult:
        return SignalsResult(operation, pages, dict(self.requests), datetime.now(UTC))

    def search_catalog_items(self, asins: Sequence[str], as_of: date | None) -> SignalsResult:
        client = self.sp_client(CatalogItems, version="2022-04-01")
        extra = self._as_of_params(as_of)
        pages: list[dict[str, Any]] = []
        for batch in batches(asins):
            params: dict[str, Any] = {
                # Amazon takes comma-delimited lists, not repeated parameters.
                "identifiers": ",".join(batch),
                "identifiersType": "ASIN",
                "marketplaceIds": self.resource.marketplace_id,
                "includedData": ",".join(CATALOG_INCLUDED_DATA),
                "pageSize": len(batch),
                **extra,
            }
            while True:
                response = self.call("searchCatalogItems", client.search_catalog_items, **params)
                pages.append(dict(response.payload))
                if not response.next_token:
                    break
                params = {**params, "pageToken": response.next_token}
        return self._signals_result("searchCatalogItems", pages)

    def get_item_offers_batch(self, asins: Sequence[str], as_of: date | None) -> SignalsResult:
        client = self.sp_client(Products, version="v0")
        extra = self._as_of_params(as_of)
        pages: list[dict[str, Any]] = []
        pending = list(dict.fromkeys(asins))
        attempts: Counter[str] = Counter()
        while pending:
            batch, pending = pending[:MAX_BATCH], pending[MAX_BATCH:]
            requests = [
                {
                    "uri": ITEM_OFFERS_URI.format(asin=asin),
                    "method": "GET",
                    "MarketplaceId": self.resource.marketplace_id,
                    "ItemCondition": "New",
                    "CustomerType": "Consumer",
                }
                for asin in batch
            ]
            response = self.call(
                "getItemOffersBatch", client.get_item_offers_batch, requests, **extra
            )
            body = dict(response.payload)
            kept = []
            for position, item in enumerate(body.get("responses") or []):
                # Each answer names its request; fall back on the order Amazon keeps.
                asin = (item.get("request") or {}).get("Asin") or batch[
                    min(position, len(batch) - 1)
                ]
                status = (item.get("status") or {}).get("statusCode")
                attempts[asin] += 1
                if status in TRANSIENT_STATUSES and attempts[asin] < self.resource.max_attempts:
                    self.requests["retried_items"] += 1
                    pending.append(asin)  # asked again in a later batch
                else:
                    kept.append(item)
            pages.append({**body, "responses": kept})
        return self._signals_result("getItemOffersBatch", pages)

    # -- finances ------------------------------------------------------------------------------

    def finances_window_key(self, posted_after: datetime, posted_before: datetime) -> str:
        """What names a listFinancialEvents window's recorded pages in the state store."""
        window = _finances_window(posted_after, posted_before)
        return json.dumps(
            [self.endpoint, self.resource.account, window["PostedAfter"], window["PostedBefore"]],
            separators=(",", ":"),
        )

    def list_financial_events(
        self, posted_after: datetime, posted_before: datetime, reuse_since: datetime
    ) -> list[dict[str, Any]]:
        client = self.sp_client(Finances, version="v0")
        window = _finances_window(posted_after, posted_before)
        window_key = self.finances_window_key(posted_after, posted_before)
        pages, token = self.store.recorded_pages(window_key, reuse_since.timestamp())
        if pages:
            log.info("Resuming listFinancialEvents after %d recorded page(s)", len(pages))
            if not token:
                return pages
        size, good_pages = FINANCES_PAGE_SIZE, 0
        while True:
            params = {**window, "MaxResultsPerPage": size}
            if token:
                params["NextToken"] = token
            response = self.call(
                "listFinancialEvents",
                client.list_financial_events,
                invalid_input_ok=True,
                **params,
            )
            if response is None:  # InvalidInput: this page is too large at `size` results
                if size == 1:
                    raise SpApiError(
                        f"listFinancialEvents refused even one result per page for "
                        f"{window['PostedAfter']}..{window['PostedBefore']} (InvalidInput) for "
                        f"account {self.resource.account!r}; narrow the window or ask Amazon."
                    )
                size, good_pages = max(1, size // 2), 0
                self.requests["page_size_halved"] += 1
                continue
            page = dict(response.payload)
            token = page.get("NextToken") or response.next_token
            self.store.record_page(window_key, len(pages), page, token)
            pages.append(page)
            if not token:
                return pages
            good_pages += 1
            if size < FINANCES_PAGE_SIZE and good_pages >= FINANCES_REGROW_PAGES:
                size, good_pages = min(FINANCES_PAGE_SIZE, size * 2), 0


def _finances_window(posted_after: datetime, posted_before: datetime) -> dict[str, str]:
    return {
        "PostedAfter": posted_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "PostedBefore": posted_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
