"""Finances API v0 listFinancialEvents over HTTP with python-amazon-sp-api's Finances client."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest
from sp_api.api import Finances
from sp_api.auth import AccessTokenClient
from sp_api.base import SellingApiBadRequestException

from amazon_assets.parsers.seller_history.financial_events import parse_financial_events
from amazon_assets.sandbox import SandboxServer
from amazon_assets.settings import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN_PREFIX,
    US_MARKETPLACE_ID,
)


@dataclass
class Where:
    endpoint: str
    marketplace_id: str = US_MARKETPLACE_ID
    region: str = "us-east-1"


def finances_client(sandbox: SandboxServer) -> Finances:
    class SandboxLogin(AccessTokenClient):
        scheme = "http://"
        host = sandbox.url.removeprefix("http://")

    credentials = {
        "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + "default",
        "lwa_app_id": SANDBOX_CLIENT_ID,
        "lwa_client_secret": SANDBOX_CLIENT_SECRET,
    }
    return Finances(
        Where(sandbox.url), credentials=credentials, auth_token_client_class=SandboxLogin
    )


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parts_total(payloads: list[dict], window: dict) -> tuple[Decimal, int]:
    """The sum of the served events' part amounts and the events with any (our parser reads
    every event list of Amazon's model), and how many events were served."""
    stored = gzip.compress(json.dumps({**window, "pages": payloads}).encode())
    parsed = parse_financial_events(
        stored, account="default", report_id="t", ingested_at=datetime.now(UTC)
    )
    assert parsed.quarantine.height == 0
    parts = parsed.facts.filter(pl.col("amount_role") == "part")
    return Decimal(str(parts["amount"].sum())), parsed.document_rows


def test_pages_with_next_token_match_truth(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = finances_client(sandbox)
    first = date(2026, 10, 1) if sandbox.marketplace.today > date(2026, 10, 3) else None
    first = first or sandbox.marketplace.last_day("default") - timedelta(days=2)
    last = first + timedelta(days=1)
    truth = [sandbox.seller_history.financial_events("default", first + timedelta(days=i))
             for i in range(2)]  # fmt: skip
    params = {
        "PostedAfter": midnight(first).isoformat(),
        "PostedBefore": midnight(last + timedelta(days=1)).isoformat(),
        "MaxResultsPerPage": 20,
    }
    payloads: list[dict] = []
    response = client.list_financial_events(**params)
    while True:
        payloads.append(dict(response.payload))
        token = response.payload.get("NextToken")
        if not token:
            break
        response = client.list_financial_events(NextToken=token)
    pages = len(payloads)
    total, events = parts_total(payloads, params)
    expected_events = sum(t["event_id"].n_unique() for t in truth)
    assert events == expected_events
    assert pages == -(-expected_events // 20)
    assert total == sum(t["amount"].sum() for t in truth)


def test_more_than_180_days_is_invalid(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = finances_client(sandbox)
    end = midnight(sandbox.marketplace.last_day("default"))
    with pytest.raises(SellingApiBadRequestException):
        client.list_financial_events(
            PostedAfter=(end - timedelta(days=181)).isoformat(), PostedBefore=end.isoformat()
        )


def test_too_large_page_on_a_heavy_day_is_invalid_input(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = finances_client(sandbox)
    today = sandbox.marketplace.today
    year = today.year if today >= date(today.year, 12, 26) else today.year - 1
    heavy = date(year, 12, 1)
    window = {
        "PostedAfter": midnight(heavy).isoformat(),
        "PostedBefore": midnight(heavy + timedelta(days=1)).isoformat(),
    }
    with pytest.raises(SellingApiBadRequestException) as error:
        client.list_financial_events(MaxResultsPerPage=100, **window)
    assert "Invalid Input" in str(error.value)
    page = client.list_financial_events(MaxResultsPerPage=50, **window).payload
    assert page["FinancialEvents"]["ShipmentEventList"]


def test_shipment_event_follows_amazon_model(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = finances_client(sandbox)
    day = sandbox.marketplace.last_day("default") - timedelta(days=4)
    payload = client.list_financial_events(
        PostedAfter=midnight(day).isoformat(),
        PostedBefore=midnight(day + timedelta(days=1)).isoformat(),
        MaxResultsPerPage=5,
    ).payload
    event = payload["FinancialEvents"]["ShipmentEventList"][0]
    assert set(event) >= {"AmazonOrderId", "MarketplaceName", "PostedDate", "ShipmentItemList"}
    item = event["ShipmentItemList"][0]
    assert {c["ChargeType"] for c in item["ItemChargeList"]} >= {"Principal", "Tax"}
    assert {f["FeeType"] for f in item["ItemFeeList"]} >= {"Commission"}
    assert event["PostedDate"].endswith("Z")
    assert sandbox.calls("listFinancialEvents") == 1
