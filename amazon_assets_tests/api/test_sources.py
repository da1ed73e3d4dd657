"""Which days of each source a refresh or backfill of an account covers (the accounts API's
rules, pure functions): product signals the newest day, ads what the Ads API still serves,
business reports without Data Kiosk the settling window unless the backfill spends the app's
budget on history, which named without it is refused with one sentence."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from amazon_assets.api.services.sources import (
    SOURCES,
    SourceRefused,
    account_sources,
    backfill_scope,
    check_sources,
    refresh_scope,
)
from amazon_assets.settings import Settings

TODAY = date(2026, 12, 7)
NEWEST = TODAY - timedelta(days=1)
HISTORY = [
    date(2025, 6, 1) + timedelta(days=i) for i in range((NEWEST - date(2025, 6, 1)).days + 1)
]


def settings(**env: str) -> Settings:
    return Settings.from_env({"AMAZON_ASSETS_HOME": "/nonexistent", **env})


def backfill(sources: list[str], days=HISTORY, *, chosen: bool = True, **kwargs):
    return backfill_scope(
        kwargs.pop("settings", settings()),
        sources,
        days,
        chosen=chosen,
        newest=NEWEST,
        today=TODAY,
        **kwargs,
    )


def test_a_default_backfill_gives_each_source_what_it_can_have() -> None:
    scope = backfill(account_sources(with_ads=True), chosen=False)
    assert list(scope) == list(SOURCES)
    assert scope["orders"] == HISTORY and len(HISTORY) == 554
    assert scope["business_reports"] == HISTORY[-7:]
    assert scope["product_signals"] == [NEWEST]
    assert scope["ads"] == HISTORY[-94:]  # 95 days counted from today
    assert "ads" not in account_sources(with_ads=False)


def test_sales_and_traffic_history_without_data_kiosk_is_a_decision() -> None:
    with pytest.raises(SourceRefused) as refused:
        backfill(["business_reports"])
    assert str(refused.value) == (
        "business reports of 2025-06-01..2026-11-29 are history beyond the 7-day settling "
        "window: without Data Kiosk that is 547 of the app's 96 GET_SALES_AND_TRAFFIC_REPORT "
        "requests a day (5.7 days of the whole app's budget, every other account's history "
        'waiting), so send "spend_budget": true to spend them, or set AMAZON_ASSETS_DATA_KIOSK=1 '
        "where the app has the Brand Analytics role."
    )
    assert backfill(["business_reports"], spend_budget=True)["business_reports"] == HISTORY
    assert backfill(["business_reports"], HISTORY[-7:]) == {"business_reports": HISTORY[-7:]}
    kiosk = settings(AMAZON_ASSETS_DATA_KIOSK="1")
    assert backfill(["business_reports"], settings=kiosk)["business_reports"] == HISTORY


def test_a_named_source_that_can_have_none_of_the_days_is_refused() -> None:
    with pytest.raises(SourceRefused, match="product signals describe the present only"):
        backfill(["product_signals"], HISTORY[:30])
    with pytest.raises(SourceRefused, match="the Ads API serves the days since 2026-09-04 only"):
        backfill(["ads"], HISTORY[:30])
    assert backfill(["orders", "product_signals"], HISTORY[:30], chosen=False) == {
        "orders": HISTORY[:30]
    }


def test_a_refresh_takes_each_source_lookback() -> None:
    scope = refresh_scope(settings(), account_sources(with_ads=True), HISTORY)
    assert {source: len(days) for source, days in scope.items()} == {
        # Seller history's run spans its longest lookback (settlements' 90 days).
        **dict.fromkeys(["orders", "inventory_ledger", "reimbursements", "customer_returns"], 90),
        **dict.fromkeys(["settlements", "fee_preview", "financial_events"], 90),
        "business_reports": 7,
        "product_signals": 1,
        "ads": 30,
    }
    assert all(days[-1] == NEWEST for days in scope.values())


def test_unknown_sources_and_ads_without_the_ads_api_are_refused() -> None:
    with pytest.raises(SourceRefused, match="^unknown source 'x'; sources are orders, "):
        check_sources(["x"], True, "acme")
    with pytest.raises(SourceRefused) as refused:
        check_sources(["ads"], False, "acme")
    assert str(refused.value) == (
        "account 'acme' has no Ads API authorization; connect it at "
        "/v1/amazon/authorize?account=acme&api=ads."
    )
    assert check_sources(None, False, "acme") == [s for s in SOURCES if s != "ads"]
