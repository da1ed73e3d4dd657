"""The sandbox's Ads API: entities and metrics consistent with the marketplace, over real HTTP."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter, defaultdict
from datetime import date, timedelta

import httpx
import pytest
from ad_api.api import Reports
from ad_api.base.exceptions import AdvertisingApiException

from amazon_assets.sandbox import Marketplace, SandboxConfig
from amazon_assets.sandbox.advertising import (
    ASINS_PER_CAMPAIGN,
    KEYWORDS_PER_AD_GROUP,
    RESTATEMENT_DAYS,
    AdsAccount,
    profile_id,
)
from amazon_assets.settings import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN_PREFIX,
)

TODAY = date(2026, 6, 15)
START = date(2023, 6, 15)
BODY_DAY = TODAY - timedelta(days=20)


def _account(today: date = TODAY) -> AdsAccount:
    marketplace = Marketplace(SandboxConfig(today=today, start_date=START))
    return AdsAccount(marketplace, "default")


def _token(sandbox) -> str:
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


def _reports(sandbox) -> Reports:
    """The library's reporting client pointed at the sandbox, scoped to the seller's profile."""
    return Reports(
        marketplace=type("Endpoint", (), {"endpoint": sandbox.url})(),
        credentials={
            "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + "default",
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "profile_id": str(profile_id(sandbox.config.seed, "default")),
        },
        access_token=_token(sandbox),
    )


def _body(start: date = BODY_DAY, end: date = BODY_DAY, columns=("date", "campaignId")) -> dict:
    return {
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
        "configuration": {
            "adProduct": "SPONSORED_PRODUCTS",
            "groupBy": ["campaign"],
            "columns": list(columns),
            "reportTypeId": "spCampaigns",
            "timeUnit": "DAILY",
            "format": "GZIP_JSON",
        },
    }


def test_every_asin_is_advertised_once_in_campaigns_of_five():
    ads = _account()
    asins = ads.marketplace.products("default")["asin"].unique().to_list()
    advertised = [ad[1] for group in ads.ad_groups for ad in group.ads]
    assert sorted(advertised) == sorted(asins)
    assert len(ads.campaigns) == -(-len(asins) // ASINS_PER_CAMPAIGN)
    keywords = ads.entities("keywords", TODAY)
    assert Counter(k["adGroupId"] for k in keywords) == {
        g.ad_group_id: KEYWORDS_PER_AD_GROUP for g in ads.ad_groups
    }


def test_daily_metrics_are_consistent_with_the_marketplace():
    ads = _account()
    for day in (TODAY - timedelta(days=d) for d in (1, 5, 30, 60)):
        truth = ads.marketplace.sales_and_traffic("default", day)
        products = ads.report_rows("spAdvertisedProduct", day, TODAY)
        for row in products:
            real = truth.filter(truth["asin"] == row["advertisedAsin"])
            assert row["clicks"] <= row["impressions"]
            assert row["sales7d"] <= row["sales14d"]
            assert row["sales14d"] * 100 <= real["ordered_product_sales_cents"].sum()
        cents: dict[str, dict[tuple[str, str], int]] = {}
        for report_type in ("spCampaigns", "spAdvertisedProduct", "spTargeting", "spSearchTerm"):
            sums: dict[tuple[str, str], int] = defaultdict(int)
            for row in ads.report_rows(report_type, day, TODAY):
                assert row["clicks"] <= row["impressions"]
                for metric in ("impressions", "clicks", "cost", "sales7d", "purchases14d"):
                    sums[(row["campaignId"], metric)] += round(row[metric] * 100)
            cents[report_type] = dict(sums)
        # Campaign rows are the exact sums of the rows below them.
        assert cents["spAdvertisedProduct"] == cents["spCampaigns"]
        assert cents["spTargeting"] == cents["spCampaigns"]
        assert cents["spSearchTerm"] == cents["spCampaigns"]


def test_restatement_moves_recent_days_only():
    ads = _account()
    recent, old = TODAY - timedelta(days=2), TODAY - timedelta(days=RESTATEMENT_DAYS + 5)
    later = TODAY + timedelta(days=4)
    assert ads.report_rows("spTargeting", recent, TODAY) != ads.report_rows(
        "spTargeting", recent, later
    )
    assert ads.report_rows("spTargeting", old, TODAY) == ads.report_rows("spTargeting", old, later)


def test_report_walks_pending_processing_completed(sandbox_factory):
    sandbox = sandbox_factory(today=TODAY, queue_seconds=600.0, processing_seconds=600.0)
    client = _reports(sandbox)
    created = client.post_report(body=_body(columns=("date", "campaignId", "cost"))).payload
    assert created["status"] == "PENDING"
    seen = []
    while not seen or seen[-1] != "COMPLETED":
        report = client.get_report(created["reportId"]).payload
        if not seen or seen[-1] != report["status"]:
            seen.append(report["status"])
        time.sleep(0.05)
    assert seen == ["PENDING", "PROCESSING", "COMPLETED"]
    assert report["urlExpiresAt"] and report["fileSize"] > 0
    # The presigned URL needs no Ads API headers.
    rows = json.loads(gzip.decompress(httpx.get(report["url"]).content))
    assert rows and all(set(row) == {"date", "campaignId", "cost"} for row in rows)
    assert sandbox.calls("adsDownload") == 1


def test_duplicate_request_answers_425_naming_the_report(sandbox_factory):
    sandbox = sandbox_factory(today=TODAY)
    client = _reports(sandbox)
    first = client.post_report(body=_body()).payload["reportId"]
    with pytest.raises(AdvertisingApiException) as duplicate:
        client.post_report(body=_body())
    assert duplicate.value.code == 425
    assert duplicate.value.error["detail"].endswith(f"duplicate of : {first}")


def test_reports_older_than_95_days_are_refused(sandbox_factory):
    sandbox = sandbox_factory(today=TODAY)
    old = TODAY - timedelta(days=96)
    with pytest.raises(AdvertisingApiException) as refused:
        _reports(sandbox).post_report(body=_body(old, old))
    assert refused.value.code == 400 and "95 days" in refused.value.error["detail"]


def test_failed_fault_ends_the_next_report_failed(sandbox_factory):
    sandbox = sandbox_factory(today=TODAY, queue_seconds=0.0, processing_seconds=0.0)
    sandbox.faults.apply({"fault": "next_ads_report_failure"})
    client = _reports(sandbox)
    report_id = client.post_report(body=_body()).payload["reportId"]
    report = client.get_report(report_id).payload
    assert report["status"] == "FAILED" and report["failureReason"] and report["url"] is None


def test_calls_need_token_client_id_scope_and_media_type(sandbox_factory):
    sandbox = sandbox_factory(today=TODAY)
    token = _token(sandbox)
    scope = str(profile_id(sandbox.config.seed, "default"))
    media = "application/vnd.spCampaign.v3+json"
    headers = {
        "Authorization": f"Bearer {token}",
        "Amazon-Advertising-API-ClientId": SANDBOX_CLIENT_ID,
        "Amazon-Advertising-API-Scope": scope,
        "Content-Type": media,
        "Accept": media,
    }
    url = sandbox.url + "/sp/campaigns/list"
    assert httpx.post(url, headers=headers, content=b"{}").status_code == 200
    for name, value, status in (
        ("Authorization", "Bearer nope", 401),
        ("Amazon-Advertising-API-Scope", "123", 401),
        ("Amazon-Advertising-API-ClientId", "someone-else", 400),
        ("Content-Type", "application/json", 415),
    ):
        answer = httpx.post(url, headers={**headers, name: value}, content=b"{}")
        assert answer.status_code == status, name
        assert token not in answer.text
    sandbox.faults.throttle_next("adsCampaignsList")
    assert httpx.post(url, headers=headers, content=b"{}").status_code == 429
    assert sandbox.throttled("adsCampaignsList") == 1
