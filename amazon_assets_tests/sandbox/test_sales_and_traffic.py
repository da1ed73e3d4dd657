"""GET_SALES_AND_TRAFFIC_REPORT documents: Amazon's structure, granularities, totals that add up."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from amazon_assets.sandbox import Marketplace, SandboxConfig
from amazon_assets.sandbox.sales_and_traffic import build_sales_and_traffic, malform

TODAY = date(2025, 6, 1)
SALES_BY_DATE = [
    "orderedProductSales", "orderedProductSalesB2B", "unitsOrdered", "unitsOrderedB2B",
    "totalOrderItems", "totalOrderItemsB2B", "averageSalesPerOrderItem",
    "averageSalesPerOrderItemB2B", "averageUnitsPerOrderItem", "averageUnitsPerOrderItemB2B",
    "averageSellingPrice", "averageSellingPriceB2B", "unitsRefunded", "refundRate",
    "claimsGranted", "claimsAmount", "shippedProductSales", "unitsShipped", "ordersShipped",
]  # fmt: skip
TRAFFIC_BY_DATE = [
    "browserPageViews", "browserPageViewsB2B", "mobileAppPageViews", "mobileAppPageViewsB2B",
    "pageViews", "pageViewsB2B", "browserSessions", "browserSessionsB2B", "mobileAppSessions",
    "mobileAppSessionsB2B", "sessions", "sessionsB2B", "buyBoxPercentage", "buyBoxPercentageB2B",
    "orderItemSessionPercentage", "orderItemSessionPercentageB2B", "unitSessionPercentage",
    "unitSessionPercentageB2B", "averageOfferCount", "averageParentItems", "feedbackReceived",
    "negativeFeedbackReceived", "receivedNegativeFeedbackRate",
]  # fmt: skip
SALES_BY_ASIN = [
    "unitsOrdered", "unitsOrderedB2B", "orderedProductSales", "orderedProductSalesB2B",
    "totalOrderItems", "totalOrderItemsB2B",
]  # fmt: skip
TRAFFIC_BY_ASIN = [
    "browserSessions", "browserSessionsB2B", "mobileAppSessions", "mobileAppSessionsB2B",
    "sessions", "sessionsB2B", "browserSessionPercentage", "browserSessionPercentageB2B",
    "mobileAppSessionPercentage", "mobileAppSessionPercentageB2B", "sessionPercentage",
    "sessionPercentageB2B", "browserPageViews", "browserPageViewsB2B", "mobileAppPageViews",
    "mobileAppPageViewsB2B", "pageViews", "pageViewsB2B", "browserPageViewsPercentage",
    "browserPageViewsPercentageB2B", "mobileAppPageViewsPercentage",
    "mobileAppPageViewsPercentageB2B", "pageViewsPercentage", "pageViewsPercentageB2B",
    "buyBoxPercentage", "buyBoxPercentageB2B", "unitSessionPercentage", "unitSessionPercentageB2B",
]  # fmt: skip
MONEY = {
    "orderedProductSales", "orderedProductSalesB2B", "averageSalesPerOrderItem",
    "averageSalesPerOrderItemB2B", "averageSellingPrice", "averageSellingPriceB2B",
    "claimsAmount", "shippedProductSales",
}  # fmt: skip


@pytest.fixture(scope="module")
def mk() -> Marketplace:
    return Marketplace(SandboxConfig(seed=7, skus_per_account=120, today=TODAY))


def document(mk: Marketplace, start: date, end: date, dates="DAY", asins="SKU", **kw) -> dict:
    body = build_sales_and_traffic(
        mk, "default", start, end, {"dateGranularity": dates, "asinGranularity": asins}, **kw
    )
    assert body is not None
    return json.loads(body, parse_float=Decimal)


def amount(money: dict) -> Decimal:
    assert set(money) == {"amount", "currencyCode"} and money["currencyCode"] == "USD"
    return money["amount"]


@pytest.mark.parametrize("asins", ["SKU", "CHILD", "PARENT"])
def test_structure_follows_amazons_schema(mk, asins):
    day = date(2025, 5, 10)
    doc = document(mk, day, day, asins=asins)
    assert list(doc) == ["reportSpecification", "salesAndTrafficByDate", "salesAndTrafficByAsin"]
    assert doc["reportSpecification"] == {
        "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
        "reportOptions": {"dateGranularity": "DAY", "asinGranularity": asins},
        "dataStartTime": "2025-05-10",
        "dataEndTime": "2025-05-10",
        "marketplaceIds": ["ATVPDKIKX0DER"],
    }
    [by_date] = doc["salesAndTrafficByDate"]
    assert by_date["date"] == "2025-05-10"
    assert list(by_date["salesByDate"]) == SALES_BY_DATE
    assert list(by_date["trafficByDate"]) == TRAFFIC_BY_DATE
    for key in MONEY:
        amount(by_date["salesByDate"][key])
    keys = {
        "SKU": ["parentAsin", "childAsin", "sku"],
        "CHILD": ["parentAsin", "childAsin"],
        "PARENT": ["parentAsin"],
    }
    rows = doc["salesAndTrafficByAsin"]
    assert rows
    for row in rows:
        assert list(row) == [*keys[asins], "salesByAsin", "trafficByAsin"]
        assert list(row["salesByAsin"]) == SALES_BY_ASIN
        assert list(row["trafficByAsin"]) == TRAFFIC_BY_ASIN
        assert all(
            isinstance(v, int)
            for k, v in row["trafficByAsin"].items()
            if "Percentage" not in k
            and k.endswith(
                ("Sessions", "sessions", "Views", "ViewsB2B", "SessionsB2B", "sessionsB2B")
            )
        )
        assert all(
            isinstance(v, Decimal | int)
            for k, v in row["trafficByAsin"].items()
            if "Percentage" in k
        )


def test_non_b2b_seller_has_no_b2b_fields():
    mk = Marketplace(SandboxConfig(skus_per_account=20, today=TODAY, b2b=False))
    body = build_sales_and_traffic(mk, "default", date(2025, 5, 10), date(2025, 5, 10))
    assert b"B2B" not in body and b"sessionPercentage" in body


def test_sku_rows_add_up_to_by_date_units_and_sales(mk):
    day = date(2025, 5, 11)
    doc = document(mk, day, day, asins="SKU")
    [by_date] = doc["salesAndTrafficByDate"]
    rows = doc["salesAndTrafficByAsin"]
    assert all(r["salesByAsin"]["unitsOrdered"] > 0 for r in rows)  # SKUs without orders left out
    assert (
        sum(r["salesByAsin"]["unitsOrdered"] for r in rows)
        == by_date["salesByDate"]["unitsOrdered"]
    )
    assert sum(amount(r["salesByAsin"]["orderedProductSales"]) for r in rows) == amount(
        by_date["salesByDate"]["orderedProductSales"]
    )
    truth = mk.sales_and_traffic("default", day)
    assert len(rows) == truth.filter(truth["units_ordered"] > 0).height
    assert by_date["trafficByDate"]["sessions"] == truth["sessions"].sum()


def test_child_rows_add_up_to_by_date_totals_over_several_days(mk):
    for offset in range(5):
        day = date(2025, 5, 1) + timedelta(days=offset)
        doc = document(mk, day, day, asins="CHILD")
        [by_date] = doc["salesAndTrafficByDate"]
        rows = doc["salesAndTrafficByAsin"]
        for field in ("sessions", "pageViews", "browserSessions", "mobileAppPageViews"):
            assert sum(r["trafficByAsin"][field] for r in rows) == by_date["trafficByDate"][field]
        for field in ("unitsOrdered", "totalOrderItems"):
            assert sum(r["salesByAsin"][field] for r in rows) == by_date["salesByDate"][field]
        for row in rows:
            sales, traffic = row["salesByAsin"], row["trafficByAsin"]
            assert sales["unitsOrdered"] <= 3 * traffic["sessions"]
        assert sum(amount(r["salesByAsin"]["orderedProductSales"]) for r in rows) == amount(
            by_date["salesByDate"]["orderedProductSales"]
        )


def test_sales_equal_units_times_the_day_price_to_the_cent(mk):
    day = date(2025, 5, 12)
    doc = document(mk, day, day, asins="SKU")
    prices = dict(mk.sales_and_traffic("default", day).select("sku", "price").iter_rows())
    for row in doc["salesAndTrafficByAsin"]:
        assert (
            amount(row["salesByAsin"]["orderedProductSales"])
            == row["salesByAsin"]["unitsOrdered"] * prices[row["sku"]]
        )


def test_week_is_expanded_to_sunday_through_saturday(mk):
    doc = document(mk, date(2025, 5, 14), date(2025, 5, 20), dates="WEEK", asins="CHILD")
    dates = [entry["date"] for entry in doc["salesAndTrafficByDate"]]
    assert dates == ["2025-05-11", "2025-05-18"]  # Sundays
    assert doc["reportSpecification"]["dataStartTime"] == "2025-05-14"
    week = sum(
        mk.sales_and_traffic("default", date(2025, 5, 11) + timedelta(days=i))[
            "units_ordered"
        ].sum()
        for i in range(7)
    )
    assert doc["salesAndTrafficByDate"][0]["salesByDate"]["unitsOrdered"] == week
    # The ASIN section covers the whole expanded range.
    total = sum(entry["salesByDate"]["unitsOrdered"] for entry in doc["salesAndTrafficByDate"])
    assert sum(r["salesByAsin"]["unitsOrdered"] for r in doc["salesAndTrafficByAsin"]) == total


def test_month_is_expanded_to_whole_months(mk):
    doc = document(mk, date(2025, 3, 20), date(2025, 4, 2), dates="MONTH", asins="PARENT")
    assert [e["date"] for e in doc["salesAndTrafficByDate"]] == ["2025-03-01", "2025-04-01"]
    march = sum(
        mk.sales_and_traffic("default", date(2025, 3, 1) + timedelta(days=i))["sessions"].sum()
        for i in range(31)
    )
    assert doc["salesAndTrafficByDate"][0]["trafficByDate"]["sessions"] == march
    parents = mk.products("default")["parent_asin"].n_unique()
    assert 0 < len(doc["salesAndTrafficByAsin"]) <= parents


def test_by_asin_aggregates_the_whole_range(mk):
    doc = document(mk, date(2025, 5, 1), date(2025, 5, 3), asins="CHILD")
    assert len(doc["salesAndTrafficByDate"]) == 3
    asins = [r["childAsin"] for r in doc["salesAndTrafficByAsin"]]
    assert len(asins) == len(set(asins))  # one row per ASIN, not per day
    shares = sum(r["trafficByAsin"]["sessionPercentage"] for r in doc["salesAndTrafficByAsin"])
    assert abs(shares - 100) < 1


def test_same_seed_gives_identical_bytes():
    first = Marketplace(SandboxConfig(seed=11, skus_per_account=50, today=TODAY))
    second = Marketplace(SandboxConfig(seed=11, skus_per_account=50, today=TODAY))
    options = {"asinGranularity": "SKU"}
    day = date(2025, 5, 20)
    body = build_sales_and_traffic(first, "default", day, day, options)
    assert body == build_sales_and_traffic(second, "default", day, day, options)
    other = Marketplace(SandboxConfig(seed=12, skus_per_account=50, today=TODAY))
    assert body != build_sales_and_traffic(other, "default", day, day, options)


def test_no_data_means_no_document(mk):
    assert (
        build_sales_and_traffic(
            mk, "default", TODAY - timedelta(days=740), TODAY - timedelta(days=700)
        )
        is None
    )
    assert build_sales_and_traffic(mk, "default", TODAY, TODAY + timedelta(days=3)) is None


def test_malformed_document_breaks_rows_but_stays_json(mk):
    body = build_sales_and_traffic(
        mk, "default", date(2025, 5, 10), date(2025, 5, 10), {"asinGranularity": "SKU"}
    )
    rows = json.loads(malform(body))["salesAndTrafficByAsin"]
    assert isinstance(rows[0]["trafficByAsin"]["sessions"], str)
    assert "orderedProductSales" not in rows[1]["salesByAsin"]
