"""The Amazon Ads API resource: python-amazon-ad-api, paced, retried and resumable.

Profiles, Sponsored Products v3 entity lists and reporting v3 all go through the library's
clients; login-with-Amazon is done here with httpx because the library hard-codes
api.amazon.com, and the presigned report file is fetched with a plain httpx GET (no auth headers)
so bronze keeps the bytes exactly as Amazon served them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import httpx
import requests
from ad_api.api import Profiles, Reports
from ad_api.api.sp import AdGroupsV3, CampaignsV3, KeywordsV3, TargetsV3
from ad_api.base import ApiResponse, Client
from ad_api.base.exceptions import AdvertisingApiException

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
from amazon_assets.settings import DEFAULT_ACCOUNT, DEFAULT_REUSE_MINUTES, Settings, env_suffix
from amazon_assets.sources.marketplaces import MARKETPLACES
from amazon_assets.sources.quotas import (
    MIN_REAL_REPORT_WAIT_SECONDS,
    Quota,
    client_quota,
)
from amazon_assets.sources.retry import (
    TRANSIENT_STATUSES,
    account_refresh_token,
    describe_range,
    gzip_is_complete,
    login_credentials,
    masked_secrets,
    quiet_loggers,
)
from amazon_assets.sources.state import (
    COMPLETED,
    FATAL,
    FORGOTTEN,
    ReportRequest,
)

log = logging.getLogger(__name__)

# The library logs headers (the access token) in debug mode and httpx logs URLs at INFO.
_QUIET_LOGGERS = ("ad_api", "httpx", "httpcore", "urllib3")
quiet_loggers(_QUIET_LOGGERS)


def _undo_library_logging_setup() -> None:
    """python-amazon-ad-api calls logging.basicConfig(INFO) on import and warns on the root logger
    for every v3 list call; neither is ours to print in the user's process."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        formatter = handler.formatter
        if formatter is not None and formatter._fmt == "%(asctime)s:%(levelname)s:%(message)s":
            root.removeHandler(handler)
    if root.level == logging.INFO:
        root.setLevel(logging.WARNING)
    root.addFilter(lambda record: "ad_api" not in record.pathname)


_undo_library_logging_setup()

# Amazon publishes no per-operation Ads API quotas (it throttles dynamically), so pace well below
# what accounts observe: 10 requests/s (burst 20) for reads, 1/s (burst 5) for report creation.
ADS_API_QUOTAS: dict[str, Quota] = {
    "adsProfiles": Quota(10.0, 20),
    "adsCampaignsList": Quota(10.0, 20),
    "adsAdGroupsList": Quota(10.0, 20),
    "adsKeywordsList": Quota(10.0, 20),
    "adsTargetsList": Quota(10.0, 20),
    "adsGetReport": Quota(10.0, 20),
    "adsCreateReport": Quota(1.0, 5),
}
# Reports generate in minutes (up to 3 hours, per the API reference): poll gently.
POLL_INTERVALS = (15.0, 30.0, 60.0, 120.0, 300.0)  # simulated seconds, the last one repeats
# A report id older than this is not resumed: Amazon's report URLs and ids are short-lived.
RESUME_SECONDS = 24 * 3600
DOWNLOAD_ATTEMPTS = 3
_DUPLICATE = re.compile(r"duplicate of\s*:\s*([0-9A-Za-z-]+)")
_TOKEN_LOCK = threading.Lock()
_TOKENS: dict[str, tuple[str, float]] = {}  # cache key -> (access token, expiry, real seconds)

_METRICS = [
    "impressions",
    "clicks",
    "cost",
    "purchases7d",
    "purchases14d",
    "sales7d",
    "sales14d",
    "unitsSoldClicks7d",
    "unitsSoldClicks14d",
]
_CAMPAIGN = ["campaignId", "campaignName", "campaignStatus", "campaignBudgetAmount"]
_AD_GROUP = ["campaignId", "campaignName", "adGroupId", "adGroupName"]
_TARGETING = [*_AD_GROUP, "keywordId", "keyword", "matchType", "targeting"]
# Columns requested per reportTypeId (all DAILY, so "date" comes first).
ADS_REPORT_COLUMNS: dict[str, list[str]] = {
    "spCampaigns": ["date", *_CAMPAIGN, "campaignBudgetCurrencyCode", *_METRICS],
    "spTargeting": ["date", *_TARGETING, *_METRICS],
    "spSearchTerm": ["date", *_TARGETING, "searchTerm", *_METRICS],
    "spAdvertisedProduct": [
        "date",
        *_AD_GROUP,
        "adId",
        "advertisedAsin",
        "advertisedSku",
        "campaignBudgetCurrencyCode",
        *_METRICS,
    ],
}
ADS_REPORT_GROUP_BY: dict[str, str] = {
    "spCampaigns": "campaign",
    "spTargeting": "targeting",
    "spSearchTerm": "searchTerm",
    "spAdvertisedProduct": "advertiser",
}
# Entity kind -> (library client, its list method, response key, operation name).
_ENTITIES: dict[str, tuple[type[Client], str, str, str]] = {
    "campaigns": (CampaignsV3, "list_campaigns", "campaigns", "adsCampaignsList"),
    "adGroups": (AdGroupsV3, "list_ad_groups", "adGroups", "adsAdGroupsList"),
    "keywords": (KeywordsV3, "list_keywords", "keywords", "adsKeywordsList"),
    "targets": (TargetsV3, "list_product_targets", "targetingClauses", "adsTargetsList"),
}


class AdsApiError(Exception):
    """The Ads API could not do what was asked; the message says what and what to do."""


class AdsReportFailedError(AdsApiError):
    """Amazon ended a report FAILED."""


@dataclass(frozen=True)
class AdsReportResult:
    """One report's outcome and its gzip JSON file exactly as downloaded.

    `requests` counts the HTTP requests this result cost per operation (retries included), plus
    `throttled` (429s received) and `retries`.
    """

    report_type_id: str
    report_id: str
    status: str  # "COMPLETED"
    body: bytes = field(repr=False)
    day_start: date
    day_end: date
    fetched_at: datetime
    requests: dict[str, int]

    def rows(self) -> list[dict]:
        """The report's rows: the gzip JSON array decoded."""
        return json.loads(gzip.decompress(self.body)) if self.body else []


def report_body(report_type_id: str, day_start: date, day_end: date) -> dict[str, Any]:
    """The reporting v3 create body for a DAILY GZIP_JSON report of `report_type_id`."""
    if report_type_id not in ADS_REPORT_COLUMNS:
        raise AdsApiError(
            f"Unknown reportTypeId {report_type_id!r}; known: {', '.join(ADS_REPORT_COLUMNS)}."
        )
    return {
        "name": f"{report_type_id} {describe_range(day_start, day_end)}",
        "startDate": day_start.isoformat(),
        "endDate": day_end.isoformat(),
        "configuration": {
            "adProduct": "SPONSORED_PRODUCTS",
            "groupBy": [ADS_REPORT_GROUP_BY[report_type_id]],
            "columns": ADS_REPORT_COLUMNS[report_type_id],
            "reportTypeId": report_type_id,
            "timeUnit": "DAILY",
            "format": "GZIP_JSON",
        },
    }


@dataclass(frozen=True)
class _Endpoint:
    """Duck-typed stand-in for `ad_api.base.Marketplaces`: the library reads `.endpoint`."""

    endpoint: str


class AdsApiResource(dg.ConfigurableResource):
    """Amazon Ads API (Sponsored Products) for one seller account.

    - Login: a refresh_token grant against `lwa_token_url`, cached until a minute before expiry.
    - Pacing: client-side token buckets (ADS_API_QUOTAS) persisted in the SQLite `state_path`,
      shared by every process; retries with backoff and full jitter on 429, 5xx, timeouts and
      connection errors, at most `max_attempts` per call.
    - Resume: a report id is written to the ledger right after the create call (or the 425 that
      names an existing identical report), so a run that crashed before the download polls the
      same report instead of creating another.
    - FAILED: raises `AdsReportFailedError` naming the report type, range and report id.
    - Amazon keeps reports only 95 days back: an older start date raises `AdsApiError` saying so;
      older history lives only in our lake.

    Times are simulated seconds on `Clock(clock_speed)`; against Amazon the speed is 1.
    """

    endpoint: str
    lwa_token_url: str
    refresh_token: str
    client_id: str
    client_secret: str
    account: str = DEFAULT_ACCOUNT
    # The country of the account's home marketplace: its advertising profile is the seller profile
    # of that country. `countries` holds every account's by environment-variable suffix.
    country_code: str = "US"
    countries: dict[str, str] = {}
    state_path: str
    clock_speed: float = 1.0
    source_label: str = "amazon"
    request_timeout_seconds: float = 60.0  # real seconds per HTTP request
    max_attempts: int = 8
    page_size: int = 100  # maxResults of entity list calls
    report_timeout_seconds: float = 4 * 3600.0
    min_real_report_wait_seconds: float = MIN_REAL_REPORT_WAIT_SECONDS
    # A re-run reuses reports completed this many real minutes ago (`sources.reuse`,
    # AMAZON_ASSETS_REUSE_MINUTES).
    reuse_minutes: float = DEFAULT_REUSE_MINUTES

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        return masked_secrets(super().__repr_args__())

    @classmethod
    def from_settings(cls, settings: Settings, account: str = DEFAULT_ACCOUNT) -> AdsApiResource:
        """The resource for `account`; real credentials stay environment variables in Dagster."""
        api = settings.ads_api
        credentials = login_credentials(api, "ADS_API", account)
        countries = {
            suffix: MARKETPLACES[market.marketplace_ids[0]].country_code
            for suffix, market in settings.sp_api_markets.items()
        }
        return cls(
            endpoint=api.endpoint,
            lwa_token_url=api.lwa_token_url,
            account=account,
            country_code=MARKETPLACES[settings.market(account).marketplace_ids[0]].country_code,
            countries=countries,
            state_path=settings.state_location,
            # The Ads API's own settings decide: Amazon's Ads API runs on Amazon's clock even
            # when the SP-API is the sandbox.
            clock_speed=settings.clock_speed_of(api),
            source_label=api.source_label,
            reuse_minutes=settings.reuse_minutes,
            **credentials,
        )

    def for_account(self, account: str) -> AdsApiResource:
        """The same resource for another seller account of the same app (its own refresh token:
        `ADS_API_REFRESH_TOKEN_<ACCOUNT>`, or the sandbox's token of that account)."""
        if account == self.account:
            return self
        refresh_token = account_refresh_token(self.refresh_token, "ADS_API", account)
        key = "" if account == DEFAULT_ACCOUNT else env_suffix(account)
        country = self.countries.get(key) or self.countries.get("") or self.country_code
        return self.model_copy(
            update={"account": account, "refresh_token": refresh_token, "country_code": country}
        )

    def profiles(self) -> list[dict]:
        """Every advertising profile the refresh token can see (GET /v2/profiles)."""
        with _Session(self) as session:
            return session.profiles()

    def profile_id(self) -> int:
        """The seller profile of `account` in its home country."""
        with _Session(self) as session:
            return session.profile_id()

    def list_entities(self, entity: str) -> list[dict]:
        """Every Sponsored Products entity of a kind, all states, all pages."""
        with _Session(self) as session:
            return session.list_entities(entity)

    def fetch_report(
        self,
        report_type_id: str,
        day_start: date,
        day_end: date,
        *,
        complete: bool = True,
        reuse_since: datetime | None = None,
    ) -> AdsReportResult:
        """Request (or resume), wait for and download one DAILY report.

        With `complete=False` the ledger keeps the report open until `complete_reports`, so a
        run that fails after downloading resumes the same report instead of creating another.
        With `reuse_since`, a report completed since then is downloaded again instead of
        requested again (`sources.reuse`).
        """
        with _Session(self) as session:
            return session.fetch(
                report_type_id, day_start, day_end, complete=complete, reuse_since=reuse_since
            )

    def complete_reports(self, report_ids: Iterable[str]) -> None:
        """Close ledger entries once their files are stored (see `fetch_report`)."""
        with _Session(self) as session:
            session.store.complete_reports(session.endpoint, list(report_ids), session.clock)


class _Session(ClientSession):
    """One resource call on the shared client core (resources/amazon_client): its own login
    (the library has none to share), pacing and the Ads report lifecycle."""

    api_name = "Ads API"
    prefix = "ADS_API"
    error = AdsApiError
    quiet = _QUIET_LOGGERS
    resource: AdsApiResource

    def __init__(self, resource: AdsApiResource) -> None:
        super().__init__(resource)
        self.http = httpx.Client(timeout=resource.request_timeout_seconds, follow_redirects=True)
        self._profile_id: int | None = None

    def close(self) -> None:
        self.http.close()

    # -- login ---------------------------------------------------------------------------------

    def _token_key(self) -> str:
        """The token cache key of these credentials (a hash, never a secret in clear)."""
        material = "|".join(
            (self.resource.lwa_token_url, self.client_id, self.client_secret, self.refresh_token)
        )
        return hashlib.sha256(material.encode()).hexdigest()

    def cached_access_token(self) -> str | None:
        with _TOKEN_LOCK:
            cached = _TOKENS.get(self._token_key())
        return cached[0] if cached else None

    def login(self) -> None:
        """A refresh_token grant against `lwa_token_url`, unless the cached token is good for
        another minute."""
        with _TOKEN_LOCK:
            cached = _TOKENS.get(self._token_key())
        if cached and cached[1] > time.time():
            return
        self.requests["token"] += 1
        try:
            response = self.http.post(
                self.resource.lwa_token_url,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": self.refresh_token,
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
        except httpx.TransportError as error:
            raise RetryLater(type(error).__name__) from None
        if response.status_code != 200:
            raise self.login_failure(response.status_code, *_lwa_error(response))
        try:
            answer = response.json()
            token = str(answer["access_token"])
        except (ValueError, KeyError):
            raise RetryLater("a login answer that is not JSON") from None
        with _TOKEN_LOCK:
            _TOKENS[self._token_key()] = (token, token_refresh_at(answer))

    def forget_login(self) -> None:
        with _TOKEN_LOCK:
            _TOKENS.pop(self._token_key(), None)

    def client(self, cls: type[Client], scoped: bool) -> Client:
        """A library client on our endpoint with a current access token."""
        self.login()  # cached: the call logged in before its token was taken
        credentials = {
            "refresh_token": self.refresh_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "profile_id": str(self.profile_id()) if scoped else "",
        }
        client = cls(
            marketplace=_Endpoint(self.endpoint),  # type: ignore[arg-type]  # duck-typed
            credentials=credentials,
            access_token=self.cached_access_token(),
            timeout=self.resource.request_timeout_seconds,
            verify_additional_credentials=False,
        )
        # AD_API_* variables in the environment would otherwise win over our credentials.
        client.credentials = credentials
        client.endpoint = self.endpoint
        return client

    # -- pacing and retries --------------------------------------------------------------------

    def call(
        self,
        operation: str,
        cls: type[Client],
        method: str,
        /,
        *args: Any,
        scoped: bool = True,
        passthrough: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> ApiResponse | AdvertisingApiException:
        """`cls(...).method(*args, **kwargs)`, one Ads API operation paced and retried
        (`ClientSession.call_paced`); statuses in `passthrough` are returned. A call `scoped`
        to the account's profile looks the profile up first (before taking a token)."""
        if scoped:
            self.profile_id()
        key = f"ads|{self.host}|{self.client_id}|{self.resource.account}|{operation}"
        buckets = [(key, client_quota(ADS_API_QUOTAS[operation], self.clock.speed))]

        def send() -> ApiResponse:
            # A fresh client each try: the access token may have been renewed.
            return getattr(self.client(cls, scoped), method)(*args, **kwargs)

        def classify(error: Exception) -> Outcome | None:
            if isinstance(error, AdvertisingApiException):
                status = int(error.code) if str(error.code).isdigit() else 0
                if status in passthrough:
                    return Answer(error)
                return self._classify(operation, status, _detail(error))
            if isinstance(error, requests.RequestException):
                return Transient(type(error).__name__)
            return None

        return self.call_paced(operation, buckets, send, classify)

    def _classify(self, operation: str, status: int, detail: str) -> Outcome:
        """What an Ads API error status means for a call (see `call_paced`)."""
        if status == 429:
            return Throttled("HTTP 429")
        if status in (401, 403):
            return Denied(str(status), detail)
        if status not in TRANSIENT_STATUSES:
            return Refused(
                AdsApiError(
                    f"The Ads API refused {operation} for account {self.resource.account!r} "
                    f"with HTTP {status}: {self.redact(detail)}"
                )
            )
        return Transient(f"HTTP {status}")

    # -- profiles and entities -----------------------------------------------------------------

    def profiles(self) -> list[dict]:
        """GET /v2/profiles through the library."""
        response = self.call("adsProfiles", Profiles, "list_profiles", scoped=False)
        return list(response.payload or [])

    def profile_id(self) -> int:
        """The account's seller profile in its home country (looked up once per session)."""
        if self._profile_id is not None:
            return self._profile_id
        country = self.resource.country_code
        sellers = [
            p
            for p in self.profiles()
            if p.get("countryCode") == country
            and (p.get("accountInfo") or {}).get("type") == "seller"
        ]
        named = [p for p in sellers if p["accountInfo"].get("name") == self.resource.account]
        # One seller profile per refresh token is the rule; a name match settles the rest.
        chosen = named or sellers
        if len(chosen) != 1:
            found = ", ".join(str(p.get("profileId")) for p in sellers) or "none"
            raise AdsApiError(
                f"Account {self.resource.account!r} needs exactly one {country} seller profile in "
                f"the Ads API; found {found}. Authorize the seller's advertising account for this "
                "app."
            )
        self._profile_id = int(chosen[0]["profileId"])
        return self._profile_id

    def list_entities(self, entity: str) -> list[dict]:
        """Every entity of a kind, following nextToken."""
        if entity not in _ENTITIES:
            raise AdsApiError(f"Unknown entity {entity!r}; known: {', '.join(_ENTITIES)}.")
        cls, method, key, operation = _ENTITIES[entity]
        rows: list[dict] = []
        body: dict[str, Any] = {
            "maxResults": self.resource.page_size,
            "stateFilter": {"include": ["ENABLED", "PAUSED", "ARCHIVED"]},
        }
        while True:
            response = self.call(operation, cls, method, body=dict(body))
            page = response.payload or {}
            rows.extend(page.get(key) or [])
            if not page.get("nextToken"):
                return rows
            body["nextToken"] = page["nextToken"]

    # -- reports -------------------------------------------------------------------------------

    def ledger_request(self, report_type_id: str, day_start: date, day_end: date) -> ReportRequest:
        """What identifies this report in the ledger (profile, type, range, columns)."""
        if day_end < day_start:
            raise AdsApiError(f"{report_type_id}: day_end {day_end} is before {day_start}.")
        report_body(report_type_id, day_start, day_end)  # validates the report type
        return ReportRequest(
            endpoint=self.endpoint,
            account=self.resource.account,
            marketplace_id=f"ads-profile:{self.profile_id()}",
            report_type=report_type_id,
            data_start=day_start.isoformat(),
            data_end=day_end.isoformat(),
            report_options={"columns": ",".join(ADS_REPORT_COLUMNS[report_type_id])},
        )

    def open_report(self, request: ReportRequest, reuse_since: datetime | None = None) -> str:
        """The ledger's report of this request, else a new (or named) one
        (`ClientSession.open_or_create`)."""
        return self.open_or_create(request, self.create, RESUME_SECONDS, reuse_since)[0]

    def create(self, request: ReportRequest) -> str:
        """Create the report (a 425 names the identical one) and record its id."""
        start, end = date.fromisoformat(request.data_start), date.fromisoformat(request.data_end)
        answer = self.call(
            "adsCreateReport",
            Reports,
            "post_report",
            body=report_body(request.report_type, start, end),
            passthrough=(400, 425),
        )
        if isinstance(answer, AdvertisingApiException):
            detail = _detail(answer)
            if str(answer.code) == "400":
                raise AdsApiError(
                    f"The Ads API refused {request.report_type} for {describe_range(start, end)}: "
                    f"{self.redact(detail)} Amazon keeps ad reports only 95 days back; older "
                    "days exist only in the lake."
                )
            match = _DUPLICATE.search(detail)
            if not match:
                raise AdsApiError(f"The Ads API answered 425 without a report id: {detail}")
            # Amazon already builds this exact report: wait for that one instead.
            report_id = match.group(1)
            log.info("%s is a duplicate of report %s; reusing it", request.report_type, report_id)
        else:
            report_id = str(answer.payload["reportId"])
        # Persist before anything else can fail: a crash from here on resumes this report.
        self.store.record_report(request, report_id, self.clock)
        return report_id

    def wait(self, request: ReportRequest, report_id: str) -> dict | None:
        """Poll until COMPLETED or FAILED; None when the server does not know the report."""

        def get() -> dict | None:
            answer = self.call("adsGetReport", Reports, "get_report", report_id, passthrough=(404,))
            return None if isinstance(answer, AdvertisingApiException) else dict(answer.payload)

        def still_running(report: dict) -> Exception:
            return AdsApiError(
                f"{request.report_type} report {report_id} is still {report.get('status')} "
                f"after {self.resource.report_timeout_seconds / 3600:g} hours; the next run "
                "resumes polling it."
            )

        return self.poll(get, ("COMPLETED", "FAILED"), "status", POLL_INTERVALS, still_running)

    def fetch(
        self,
        report_type_id: str,
        day_start: date,
        day_end: date,
        complete: bool,
        reuse_since: datetime | None = None,
    ) -> AdsReportResult:
        """Resume, reuse or create, wait for and download one report."""
        request = self.ledger_request(report_type_id, day_start, day_end)
        report_id = self.open_report(request, reuse_since)
        report = self.wait(request, report_id)
        if report is None:
            log.info("Report %s is unknown to the server; requesting it again", report_id)
            self.store.finish_report(request, report_id, FORGOTTEN, self.clock)
            report_id = self.open_report(request)
            report = self.wait(request, report_id)
            if report is None:
                raise AdsApiError(f"The Ads API lost report {report_id} it just created.")
        span = describe_range(day_start, day_end)
        if report["status"] == "FAILED":
            self.store.finish_report(request, report_id, FATAL, self.clock)
            reason = report.get("failureReason") or "no reason given"
            raise AdsReportFailedError(
                f"Amazon Ads ended {report_type_id} report {report_id} for {span} FAILED "
                f"({reason}); the next run requests it again."
            )
        body = self.download(request, report_id, report)
        if complete:
            self.store.finish_report(request, report_id, COMPLETED, self.clock)
        return AdsReportResult(
            report_type_id=report_type_id,
            report_id=report_id,
            status="COMPLETED",
            body=body,
            day_start=day_start,
            day_end=day_end,
            fetched_at=datetime.now(UTC),
            requests=dict(self.requests),
        )

    def download(self, request: ReportRequest, report_id: str, report: dict) -> bytes:
        """The report file; an expired or broken download asks for a fresh URL and retries."""
        problem = ""
        for _ in range(DOWNLOAD_ATTEMPTS):
            body = self._get(str(report.get("url") or ""))
            if body is not None and gzip_is_complete(body):
                return body
            problem = "the link had expired" if body is None else "the gzip file was incomplete"
            log.warning("Report %s: %s; downloading it again", report_id, problem)
            report = self.wait(request, report_id) or report
        raise AdsApiError(
            f"Report {report_id} could not be downloaded whole in {DOWNLOAD_ATTEMPTS} attempts "
            f"(last: {problem}); the next run resumes it."
        )

    def _get(self, url: str) -> bytes | None:
        """GET a presigned URL without Ads API auth; None when the link is refused (expired)."""
        response = self.get_presigned(self.http, url, "adsDownload", "a report file")
        return None if response is None else response.content


def _lwa_error(response: httpx.Response) -> tuple[str | None, str]:
    """(error, error_description) of a Login-with-Amazon error answer (JSON, else its text)."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:300]
    if not isinstance(body, dict):
        return None, response.text[:300]
    return body.get("error"), str(body.get("error_description") or "")


def _detail(error: AdvertisingApiException) -> str:
    """Amazon's explanation from an error body ({"code", "details"} or v3 {"code", "detail"})."""
    body = error.error
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("details") or body.get("message") or body)
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")[:300]
    return str(body)[:300]
