"""AdsApiResource against the sandbox: python-amazon-ad-api over real HTTP, no mocks."""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import httpx
import pytest
from ad_api.api import Reports

from amazon_assets.resources.ads_api import (
    ADS_REPORT_COLUMNS,
    AdsApiError,
    AdsApiResource,
    AdsReportFailedError,
    report_body,
)
from amazon_assets.sandbox.advertising import RESTATEMENT_DAYS, profile_id
from amazon_assets.settings import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN_PREFIX,
    Settings,
)
from amazon_assets.sources.refusals import CredentialRefused

TODAY = date(2026, 6, 15)
# Fixed, so sandboxes on different days share one marketplace history (it defaults to today - 3y).
START = date(2023, 6, 15)
ENTITY_COUNTS = {"campaigns": 8, "adGroups": 8, "keywords": 40, "targets": 16}


def _resource(sandbox, state_path: Path, **overrides) -> AdsApiResource:
    values = {
        "endpoint": sandbox.url,
        "lwa_token_url": sandbox.token_url,
        "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + "default",
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        "state_path": str(state_path),
        "clock_speed": sandbox.config.speed,
        "source_label": "sandbox",
        "page_size": 10,
        "request_timeout_seconds": 10.0,
    }
    values.update(overrides)
    return AdsApiResource(**values)


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite"


@pytest.fixture
def sandbox(sandbox_factory):
    """A sandbox on a fixed data calendar so ages of days (restatement) are known."""
    return sandbox_factory(today=TODAY, start_date=START)


@pytest.fixture
def ads_api(sandbox, state_path: Path) -> AdsApiResource:
    return _resource(sandbox, state_path)


def _day(days_back: int = 30) -> date:
    return TODAY - timedelta(days=days_back)


def test_login_and_profiles(sandbox, ads_api):
    profiles = ads_api.profiles()
    assert [p["accountInfo"]["name"] for p in profiles] == ["default"]
    assert profiles[0]["countryCode"] == "US" and profiles[0]["accountInfo"]["type"] == "seller"
    assert ads_api.profile_id() == profile_id(sandbox.config.seed, "default")
    assert sandbox.calls("token") == 1  # the access token is cached between calls


def test_each_account_logs_in_with_its_own_token_and_profile(sandbox_factory, state_path):
    sandbox = sandbox_factory(accounts=("default", "eu"), today=TODAY, start_date=START)
    default = _resource(sandbox, state_path)
    eu = default.for_account("eu")
    assert default.for_account("default") is default
    assert eu.account == "eu" and eu.refresh_token == SANDBOX_REFRESH_TOKEN_PREFIX + "eu"
    assert eu.profile_id() == profile_id(sandbox.config.seed, "eu") != default.profile_id()
    campaigns = {
        resource.account: {c["campaignId"] for c in resource.list_entities("campaigns")}
        for resource in (default, eu)
    }
    assert campaigns["eu"] and not campaigns["eu"] & campaigns["default"]


@pytest.mark.parametrize("entity", list(ENTITY_COUNTS))
def test_entities_are_listed_across_pages(sandbox, ads_api, entity):
    rows = ads_api.list_entities(entity)
    id_key = {"adGroups": "adGroupId", "targets": "targetId"}.get(entity, f"{entity[:-1]}Id")
    assert len(rows) == ENTITY_COUNTS[entity]
    assert len({row[id_key] for row in rows}) == len(rows)
    operation = {"adGroups": "adsAdGroupsList"}.get(entity, f"ads{entity.title()}List")
    assert sandbox.calls(operation) == math.ceil(len(rows) / 10)


def test_report_lifecycle_returns_gzip_json_rows(sandbox_factory, state_path):
    # Slow enough generation that the report is seen PENDING and PROCESSING before COMPLETED;
    # a slower clock (120x, about 4 s) so a loaded machine's pause cannot skip a state.
    sandbox = sandbox_factory(
        today=TODAY, start_date=START, queue_seconds=120.0, processing_seconds=300.0, speed=120.0
    )
    ads_api = _resource(sandbox, state_path)
    result = ads_api.fetch_report("spAdvertisedProduct", _day(12), _day(10))
    assert result.status == "COMPLETED" and result.body[:2] == b"\x1f\x8b"
    rows = result.rows()
    assert {row["date"] for row in rows} == {str(_day(d)) for d in (10, 11, 12)}
    assert set(rows[0]) == set(ADS_REPORT_COLUMNS["spAdvertisedProduct"])
    assert result.requests["adsCreateReport"] == 1
    assert result.requests["adsGetReport"] >= 3  # PENDING, PROCESSING, ..., COMPLETED


def test_duplicate_request_reuses_the_named_report(sandbox, ads_api):
    day = _day()
    # Someone else (another process, a lost response) already asked for the same report.
    client = Reports(
        marketplace=type("Endpoint", (), {"endpoint": sandbox.url})(),
        credentials={
            "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + "default",
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "profile_id": str(ads_api.profile_id()),
        },
        access_token=_access_token(sandbox),
    )
    first = client.post_report(body=report_body("spCampaigns", day, day)).payload["reportId"]
    result = ads_api.fetch_report("spCampaigns", day, day)
    assert sandbox.calls("adsCreateReport") == 2
    assert result.report_id == first
    assert result.rows()


def test_throttled_create_is_retried(sandbox, ads_api):
    sandbox.faults.throttle_next("adsCreateReport", times=2)
    sandbox.faults.fail_next("adsGetReport", status=503)
    result = ads_api.fetch_report("spCampaigns", _day(), _day())
    assert sandbox.throttled("adsCreateReport") == 2
    assert sandbox.calls("adsCreateReport") == 3
    assert result.requests["throttled"] == 2 and result.requests["retries"] == 3


def test_failed_report_raises_a_clear_error(sandbox, ads_api):
    sandbox.faults.next_ads_report_failure()
    with pytest.raises(AdsReportFailedError) as failed:
        ads_api.fetch_report("spTargeting", _day(), _day())
    message = str(failed.value)
    assert "spTargeting" in message and "FAILED" in message and str(_day()) in message
    # The next run asks again instead of resuming the failed report.
    assert ads_api.fetch_report("spTargeting", _day(), _day()).rows()
    assert sandbox.calls("adsCreateReport") == 2


def test_crash_between_create_and_download_resumes_the_same_report(sandbox, state_path):
    # The download keeps failing: the first run dies after the report id reached the ledger.
    sandbox.faults.fail_next("adsDownload", status=500, times=2)
    crashing = _resource(sandbox, state_path, max_attempts=2)
    with pytest.raises(AdsApiError):
        crashing.fetch_report("spSearchTerm", _day(), _day())
    assert sandbox.calls("adsCreateReport") == 1
    # A new process (new resource, same state file) picks the report up where it was.
    result = _resource(sandbox, state_path).fetch_report("spSearchTerm", _day(), _day())
    assert sandbox.calls("adsCreateReport") == 1
    assert result.rows()


def test_attributed_sales_never_exceed_real_sales(sandbox, ads_api):
    result = ads_api.fetch_report("spAdvertisedProduct", _day(20), _day(1))
    attributed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in result.rows():
        attributed[(row["date"], row["advertisedAsin"])] += Decimal(str(row["sales7d"]))
    assert sum(attributed.values()) > 0
    for (day, asin), sales in attributed.items():
        truth = sandbox.marketplace.sales_and_traffic("default", date.fromisoformat(day))
        real = sum(truth.filter(truth["asin"] == asin)["ordered_product_sales"].to_list())
        assert sales <= real, (day, asin)


def test_campaign_totals_equal_advertised_product_totals(sandbox, ads_api):
    metrics = ("impressions", "clicks", "cost", "sales7d", "sales14d", "purchases14d")
    totals = {}
    for report_type in ("spCampaigns", "spAdvertisedProduct", "spTargeting", "spSearchTerm"):
        rows = ads_api.fetch_report(report_type, _day(7), _day(1)).rows()
        assert all(row["clicks"] <= row["impressions"] for row in rows)
        sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        for row in rows:
            for m in metrics:
                sums[(row["date"], row["campaignId"], m)] += Decimal(str(row[m]))
        totals[report_type] = dict(sums)
    campaigns = totals.pop("spCampaigns")
    for other in totals.values():
        assert other == campaigns


def test_restatement_changes_recent_days_and_freezes_old_ones(sandbox_factory, tmp_path):
    later = TODAY + timedelta(days=5)
    recent, old = TODAY - timedelta(days=3), TODAY - timedelta(days=RESTATEMENT_DAYS + 10)
    rows = {}
    for today in (TODAY, later):
        sandbox = sandbox_factory(today=today, start_date=START)
        ads_api = _resource(sandbox, tmp_path / f"{today}.sqlite")
        rows[today] = {
            day: ads_api.fetch_report("spCampaigns", day, day).rows() for day in (recent, old)
        }
    assert rows[TODAY][recent] != rows[later][recent]
    assert rows[TODAY][old] == rows[later][old]


def test_days_older_than_the_retention_fail_clearly(sandbox, ads_api):
    too_old = TODAY - timedelta(days=120)
    with pytest.raises(AdsApiError) as refused:
        ads_api.fetch_report("spCampaigns", too_old, too_old)
    assert "95 days" in str(refused.value) and str(too_old) in str(refused.value)


def test_secrets_never_reach_logs_errors_or_reprs(sandbox_factory, tmp_path, caplog, capfd):
    client_id, secret = "amzn1.application-oa2-client.adsleak", "ADSLEAK-client-secret-1c9d"
    sandbox = sandbox_factory(today=TODAY, start_date=START, extra_clients=((client_id, secret),))
    refresh_token = SANDBOX_REFRESH_TOKEN_PREFIX + "default"
    caplog.set_level(logging.DEBUG)
    ads_api = _resource(sandbox, tmp_path / "s.sqlite", client_id=client_id, client_secret=secret)
    sandbox.faults.throttle_next("adsGetReport")
    result = ads_api.fetch_report("spCampaigns", _day(), _day())
    texts = [repr(ads_api), str(ads_api), repr(result), json.dumps(result.requests)]
    wrong = _resource(sandbox, tmp_path / "s.sqlite", client_id=client_id, client_secret="nope")
    with pytest.raises(CredentialRefused) as refused:
        wrong.profiles()
    assert "refused the app credentials" in str(refused.value)
    texts.append(str(refused.value))
    captured = capfd.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert caplog.records, "nothing was logged at all"
    for text in texts:
        assert refresh_token not in text and secret not in text and "Atza|" not in text


def test_from_settings_keeps_real_credentials_in_environment_variables(amazon_home):
    env = {
        "AMAZON_ASSETS_HOME": str(amazon_home),
        "ADS_API_REFRESH_TOKEN": "Atzr|real-token",
        "ADS_API_CLIENT_ID": "amzn1.application-oa2-client.real",
        "ADS_API_CLIENT_SECRET": "real-secret",
    }
    resource = AdsApiResource.from_settings(Settings.from_env(env), account="brand-b")
    assert isinstance(resource.refresh_token, dg.EnvVar)
    assert resource.refresh_token.env_var_name == "ADS_API_REFRESH_TOKEN_BRAND_B"
    other = resource.for_account("brand c")
    assert other.refresh_token.env_var_name == "ADS_API_REFRESH_TOKEN_BRAND_C"
    assert resource.for_account("default").refresh_token.env_var_name == "ADS_API_REFRESH_TOKEN"
    assert resource.client_secret.env_var_name == "ADS_API_CLIENT_SECRET"
    assert resource.endpoint.startswith("https://advertising-api")
    assert "real-secret" not in repr(resource)


def _access_token(sandbox) -> str:
    answer = httpx.post(
        sandbox.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + "default",
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
        },
    )
    return answer.json()["access_token"]
