"""Sponsored Products v3 report rows -> typed facts: hand-written rows in Amazon's format."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from amazon_assets.parsers.ads_reports import (
    SP_ADVERTISED_PRODUCT_SCHEMA,
    SP_CAMPAIGNS_SCHEMA,
    SP_SEARCH_TERM_SCHEMA,
    SP_TARGETING_SCHEMA,
    MalformedAdsReportError,
    parse_ads_report,
)
from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA

DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
METRICS = {
    "impressions": 1200,
    "clicks": 31,
    "cost": 17.39,
    "purchases7d": 3,
    "purchases14d": 4,
    "sales7d": 89.97,
    "sales14d": 119.96,
    "unitsSoldClicks7d": 3,
    "unitsSoldClicks14d": 4,
}
CAMPAIGN = {"date": "2026-03-02", "campaignId": 301, "campaignName": "Auto - Kitchen"}


def document(rows: list[dict], *, gzipped: bool = True) -> bytes:
    """A report body as the Ads API serves it: a JSON array, gzip-compressed."""
    body = json.dumps(rows).encode()
    return gzip.compress(body) if gzipped else body


def parse(rows: list[dict], report_type_id: str, **kwargs):
    return parse_ads_report(
        document(rows, **kwargs),
        report_type_id,
        report_id="a1b2c3d4-0000-4000-8000-000000000001",
        account="default",
        profile_id="3546123412341234",
        currency="USD",
        report_days={DAY},
        ingested_at=NOW,
    )


def test_sp_campaigns_rows_are_typed_with_exact_money() -> None:
    row = {**CAMPAIGN, "campaignStatus": "ENABLED", "campaignBudgetAmount": 25.0, **METRICS}
    parsed = parse([row], "spCampaigns")
    assert parsed.facts.schema == SP_CAMPAIGNS_SCHEMA
    assert parsed.quarantine.height == 0 and parsed.document_rows == 1
    fact = parsed.facts.row(0, named=True)
    assert fact["report_date"] == DAY
    assert fact["campaign_id"] == "301"  # ids are strings, as in the entity listings
    assert fact["cost"] == Decimal("17.39") and fact["sales_14d"] == Decimal("119.96")
    assert fact["campaign_budget_amount"] == Decimal("25.00")
    assert (fact["impressions"], fact["clicks"], fact["purchases_7d"]) == (1200, 31, 3)
    assert (fact["currency"], fact["profile_id"], fact["account"]) == (
        "USD",
        "3546123412341234",
        "default",
    )


def test_money_sums_exactly() -> None:
    """0.1 + 0.2 is 0.3 in silver: the amounts never pass through a float."""
    rows = [
        {**CAMPAIGN, "campaignId": i, **METRICS, "cost": cost} for i, cost in enumerate((0.1, 0.2))
    ]
    facts = parse(rows, "spCampaigns").facts
    assert facts["cost"].sum() == Decimal("0.3")


def test_sp_targeting_rows() -> None:
    row = {
        **CAMPAIGN,
        "adGroupId": "401",
        "adGroupName": "Kitchen",
        "keywordId": 501,
        "keyword": "garlic press",
        "matchType": "EXACT",
        "targeting": "garlic press",
        "keywordType": "BROAD",
        **METRICS,
    }
    parsed = parse([row], "spTargeting", gzipped=False)  # plain JSON bodies are read too
    assert parsed.facts.schema == SP_TARGETING_SCHEMA
    fact = parsed.facts.row(0, named=True)
    assert (fact["ad_group_id"], fact["keyword_id"], fact["match_type"]) == ("401", "501", "EXACT")


def test_sp_search_term_rows() -> None:
    row = {
        **CAMPAIGN,
        "adGroupId": 401,
        "keywordId": 501,
        "keyword": "garlic press",
        "matchType": "BROAD",
        "searchTerm": "stainless garlic crusher",
        **METRICS,
    }
    parsed = parse([row], "spSearchTerm")
    assert parsed.facts.schema == SP_SEARCH_TERM_SCHEMA
    assert parsed.facts["search_term"].to_list() == ["stainless garlic crusher"]


def test_sp_advertised_product_rows_with_missing_optional_metrics() -> None:
    row = {
        **CAMPAIGN,
        "adGroupId": 401,
        "adId": 601,
        "advertisedAsin": "B0TEST0001",
        "advertisedSku": "SKU-0001",
        "impressions": 10,
        "clicks": 0,
        "cost": 0,
    }
    parsed = parse([row], "spAdvertisedProduct")
    assert parsed.facts.schema == SP_ADVERTISED_PRODUCT_SCHEMA
    fact = parsed.facts.row(0, named=True)
    assert fact["advertised_asin"] == "B0TEST0001" and fact["cost"] == Decimal("0.00")
    assert fact["sales_7d"] is None  # not requested is unknown, never zero


def test_float_noise_rounds_to_the_cent_but_sub_cent_amounts_are_refused() -> None:
    rows = [
        {**CAMPAIGN, "campaignId": 1, **METRICS, "cost": 1.2300000190734863},
        {**CAMPAIGN, "campaignId": 2, **METRICS, "cost": 1.234},
    ]
    parsed = parse(rows, "spCampaigns")
    assert parsed.facts["cost"].to_list() == [Decimal("1.23")]
    assert "more than 2 decimal places" in parsed.quarantine["reason"][0]


def test_malformed_rows_are_quarantined_and_the_rest_load() -> None:
    good = {**CAMPAIGN, **METRICS}
    rows = [
        good,
        {**CAMPAIGN, "campaignId": 302},  # no metrics
        {**CAMPAIGN, "campaignId": 303, **METRICS, "clicks": "many"},
        {**CAMPAIGN, "campaignId": 304, **METRICS, "date": "2026-03-01"},  # a day not requested
        {**METRICS, "campaignId": 305},  # no date
        ["not", "an", "object"],
    ]
    parsed = parse(rows, "spCampaigns")
    assert parsed.facts.height == 1 and parsed.document_rows == 6
    quarantine = parsed.quarantine
    assert quarantine.schema == QUARANTINE_SCHEMA
    assert quarantine["line_number"].to_list() == [2, 3, 4, 5, 6]
    assert quarantine["source"].unique().to_list() == ["ads_reports_spCampaigns"]
    reasons = quarantine["reason"].to_list()
    assert "impressions is missing" in reasons[0]
    assert '"many"' in reasons[1]
    assert "outside the days" in reasons[2]
    # Quarantined in the report's own day, which the run replaces, not in the day it claims.
    assert quarantine["report_date"].unique().to_list() == [DAY]
    assert json.loads(quarantine["raw_row"][1])["clicks"] == "many"


def test_a_body_that_is_not_json_is_malformed() -> None:
    with pytest.raises(MalformedAdsReportError, match="not gzip JSON"):
        parse_ads_report(
            gzip.compress(b"<html>")[:-4],
            "spCampaigns",
            report_id="r",
            account="default",
            profile_id="1",
            currency="USD",
            ingested_at=NOW,
        )


def test_empty_report_gives_an_empty_typed_frame() -> None:
    parsed = parse([], "spSearchTerm")
    assert parsed.facts.height == 0 and parsed.facts.schema == SP_SEARCH_TERM_SCHEMA
