"""GET_SALES_AND_TRAFFIC_REPORT documents in Amazon's JSON structure, built from the marketplace.

Field names follow Amazon's published schema (selling-partner-api-models,
schemas/reports/sellerSalesAndTrafficReport.json). Money is `{"amount", "currencyCode"}` computed
from integer cents; percentages are numbers rounded to two decimals. WEEK (Sunday..Saturday) and
MONTH ranges are expanded to whole periods; the by-ASIN section aggregates the whole range.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import polars as pl

from amazon_assets.sandbox.marketplace import Marketplace

REPORT_TYPE = "GET_SALES_AND_TRAFFIC_REPORT"
DATE_GRANULARITIES = ("DAY", "WEEK", "MONTH")
ASIN_GRANULARITIES = ("PARENT", "CHILD", "SKU")

_SUMMED = [
    "browser_sessions", "mobile_app_sessions", "sessions", "browser_page_views",
    "mobile_app_page_views", "page_views", "total_order_items", "units_ordered",
    "ordered_product_sales_cents", "units_refunded", "units_shipped", "orders_shipped",
    "shipped_product_sales_cents", "claims_granted", "claims_amount_cents", "feedback_received",
    "negative_feedback_received", "browser_sessions_b2b", "mobile_app_sessions_b2b",
    "sessions_b2b", "browser_page_views_b2b", "mobile_app_page_views_b2b", "page_views_b2b",
    "total_order_items_b2b", "units_ordered_b2b", "ordered_product_sales_b2b_cents",
]  # fmt: skip


def validate_options(options: dict[str, str]) -> str | None:
    """The reason the reportOptions are invalid, or None."""
    for key, allowed in (
        ("dateGranularity", DATE_GRANULARITIES),
        ("asinGranularity", ASIN_GRANULARITIES),
    ):
        value = options.get(key)
        if value is not None and value not in allowed:
            return f"Invalid reportOptions.{key} {value!r}; expected one of {', '.join(allowed)}."
    unknown = sorted(set(options) - {"dateGranularity", "asinGranularity"})
    if unknown:
        return f"Unsupported reportOptions for {REPORT_TYPE}: {', '.join(unknown)}."
    return None


def expand_range(start: date, end: date, date_granularity: str) -> tuple[date, date]:
    """WEEK ranges grow to Sunday..Saturday and MONTH ranges to whole months, as Amazon does."""
    if date_granularity == "WEEK":
        return start - timedelta(days=(start.weekday() + 1) % 7), end + timedelta(
            days=(5 - end.weekday()) % 7
        )
    if date_granularity == "MONTH":
        last = calendar.monthrange(end.year, end.month)[1]
        return start.replace(day=1), end.replace(day=last)
    return start, end


def two_years_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 2)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 2, day=28)


def build_sales_and_traffic(
    marketplace: Marketplace,
    account: str,
    start: date,
    end: date,
    options: dict[str, str] | None = None,
    marketplace_ids: Iterable[str] | None = None,
) -> bytes | None:
    """The document as bytes (before gzip), or None when the range has no data (Amazon cancels)."""
    document = sales_and_traffic_document(
        marketplace, account, start, end, options, marketplace_ids
    )
    return None if document is None else json.dumps(document).encode()


def sales_and_traffic_document(
    marketplace: Marketplace,
    account: str,
    start: date,
    end: date,
    options: dict[str, str] | None = None,
    marketplace_ids: Iterable[str] | None = None,
) -> dict[str, Any] | None:
    """The document as a dict, or None when the range has no data."""
    options = dict(options or {})
    date_granularity = options.get("dateGranularity", "DAY")
    asin_granularity = options.get("asinGranularity", "PARENT")
    if start < two_years_before(marketplace.today):
        return None
    first, last = expand_range(start, end, date_granularity)
    first = max(first, marketplace.first_day(account))
    last = min(last, marketplace.last_day(account))
    if first > last:
        return None
    frames = [
        marketplace.sales_and_traffic(account, first + timedelta(days=offset))
        for offset in range((last - first).days + 1)
    ]
    facts = pl.concat(frames)
    config = marketplace.config
    home = config.home_of(account)
    currency, b2b = home.currency, config.b2b
    return {
        "reportSpecification": {
            "reportType": REPORT_TYPE,
            "reportOptions": {
                "dateGranularity": date_granularity,
                "asinGranularity": asin_granularity,
            },
            "dataStartTime": start.isoformat(),
            "dataEndTime": end.isoformat(),
            "marketplaceIds": list(marketplace_ids or [home.marketplace_id]),
        },
        "salesAndTrafficByDate": _by_date(facts, date_granularity, currency, b2b),
        "salesAndTrafficByAsin": _by_asin(facts, asin_granularity, currency, b2b),
    }


def malform(document: bytes) -> bytes:
    """Break a few rows the way real documents break: a number as a string, a missing key."""
    data = json.loads(document)
    rows = data.get("salesAndTrafficByAsin") or []
    if rows:
        rows[0]["trafficByAsin"]["sessions"] = str(rows[0]["trafficByAsin"]["sessions"])
    if len(rows) > 1:
        rows[1]["salesByAsin"].pop("orderedProductSales", None)
    by_date = data.get("salesAndTrafficByDate") or []
    if by_date and len(rows) < 2:
        by_date[0]["salesByDate"]["unitsOrdered"] = str(by_date[0]["salesByDate"]["unitsOrdered"])
    return json.dumps(data).encode()


# -- sections --------------------------------------------------------------------------------


def _money(cents: int, currency: str) -> dict[str, Any]:
    return {"amount": cents / 100, "currencyCode": currency}


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 2) if whole else 0.0


def _avg_cents(cents: int, count: int) -> int:
    return (2 * cents + count) // (2 * count) if count else 0


def _by_date(facts: pl.DataFrame, granularity: str, currency: str, b2b: bool) -> list[dict]:
    period = {
        "DAY": pl.col("date"),
        "WEEK": pl.col("date") - pl.duration(days=(pl.col("date").dt.weekday() % 7)),
        "MONTH": pl.col("date").dt.truncate("1mo"),
    }[granularity]
    daily = facts.group_by("date").agg(
        *[pl.col(c).sum() for c in _SUMMED],
        (pl.col("buy_box_percentage") * pl.col("page_views")).sum().alias("buy_box_views"),
        (pl.col("buy_box_percentage") * pl.col("page_views_b2b")).sum().alias("buy_box_views_b2b"),
        pl.len().alias("offers"),
        pl.col("parent_asin").n_unique().alias("parents"),
    )
    periods = (
        daily.with_columns(period.alias("period"))
        .group_by("period")
        .agg(
            *[pl.col(c).sum() for c in [*_SUMMED, "buy_box_views", "buy_box_views_b2b"]],
            pl.col("offers").mean().round(0).cast(pl.Int64),
            pl.col("parents").mean().round(0).cast(pl.Int64),
        )
        .sort("period")
    )
    out = []
    for r in periods.iter_rows(named=True):
        units, items, sales = (
            r["units_ordered"],
            r["total_order_items"],
            r["ordered_product_sales_cents"],
        )
        sales_by_date: dict[str, Any] = {"orderedProductSales": _money(sales, currency)}
        if b2b:
            sales_by_date["orderedProductSalesB2B"] = _money(
                r["ordered_product_sales_b2b_cents"], currency
            )
        sales_by_date["unitsOrdered"] = units
        if b2b:
            sales_by_date["unitsOrderedB2B"] = r["units_ordered_b2b"]
        sales_by_date["totalOrderItems"] = items
        if b2b:
            sales_by_date["totalOrderItemsB2B"] = r["total_order_items_b2b"]
        sales_by_date["averageSalesPerOrderItem"] = _money(_avg_cents(sales, items), currency)
        if b2b:
            sales_by_date["averageSalesPerOrderItemB2B"] = _money(
                _avg_cents(r["ordered_product_sales_b2b_cents"], r["total_order_items_b2b"]),
                currency,
            )
        sales_by_date["averageUnitsPerOrderItem"] = _ratio(units, items)
        if b2b:
            sales_by_date["averageUnitsPerOrderItemB2B"] = _ratio(
                r["units_ordered_b2b"], r["total_order_items_b2b"]
            )
        sales_by_date["averageSellingPrice"] = _money(_avg_cents(sales, units), currency)
        if b2b:
            sales_by_date["averageSellingPriceB2B"] = _money(
                _avg_cents(r["ordered_product_sales_b2b_cents"], r["units_ordered_b2b"]), currency
            )
        sales_by_date.update(
            {
                "unitsRefunded": r["units_refunded"],
                "refundRate": _pct(r["units_refunded"], units),
                "claimsGranted": r["claims_granted"],
                "claimsAmount": _money(r["claims_amount_cents"], currency),
                "shippedProductSales": _money(r["shipped_product_sales_cents"], currency),
                "unitsShipped": r["units_shipped"],
                "ordersShipped": r["orders_shipped"],
            }
        )
        traffic: dict[str, Any] = {}
        for name, column in (
            ("browserPageViews", "browser_page_views"),
            ("mobileAppPageViews", "mobile_app_page_views"),
            ("pageViews", "page_views"),
            ("browserSessions", "browser_sessions"),
            ("mobileAppSessions", "mobile_app_sessions"),
            ("sessions", "sessions"),
        ):
            traffic[name] = r[column]
            if b2b:
                traffic[name + "B2B"] = r[column + "_b2b"]
        sessions, sessions_b2b = r["sessions"], r["sessions_b2b"]
        traffic["buyBoxPercentage"] = _ratio(r["buy_box_views"], r["page_views"])
        if b2b:
            traffic["buyBoxPercentageB2B"] = _ratio(r["buy_box_views_b2b"], r["page_views_b2b"])
        traffic["orderItemSessionPercentage"] = _pct(items, sessions)
        if b2b:
            traffic["orderItemSessionPercentageB2B"] = _pct(
                r["total_order_items_b2b"], sessions_b2b
            )
        traffic["unitSessionPercentage"] = _pct(units, sessions)
        if b2b:
            traffic["unitSessionPercentageB2B"] = _pct(r["units_ordered_b2b"], sessions_b2b)
        traffic.update(
            {
                "averageOfferCount": r["offers"],
                "averageParentItems": r["parents"],
                "feedbackReceived": r["feedback_received"],
                "negativeFeedbackReceived": r["negative_feedback_received"],
                "receivedNegativeFeedbackRate": _pct(
                    r["negative_feedback_received"], r["feedback_received"]
                ),
            }
        )
        out.append(
            {
                "date": r["period"].isoformat(),
                "salesByDate": sales_by_date,
                "trafficByDate": traffic,
            }
        )
    return out


_ASIN_KEYS = {
    "PARENT": ["parent_asin"],
    "CHILD": ["parent_asin", "asin"],
    "SKU": ["parent_asin", "asin", "sku"],
}
_ASIN_SUMMED = [
    "browser_sessions", "mobile_app_sessions", "sessions", "browser_page_views",
    "mobile_app_page_views", "page_views", "total_order_items", "units_ordered",
    "ordered_product_sales_cents", "browser_sessions_b2b", "mobile_app_sessions_b2b",
    "sessions_b2b", "browser_page_views_b2b", "mobile_app_page_views_b2b", "page_views_b2b",
    "total_order_items_b2b", "units_ordered_b2b", "ordered_product_sales_b2b_cents",
]  # fmt: skip
# (Amazon name, numerator column, denominator: the column's total over the whole document)
_SHARES = [
    ("browserSessionPercentage", "browser_sessions"),
    ("mobileAppSessionPercentage", "mobile_app_sessions"),
    ("sessionPercentage", "sessions"),
    ("browserPageViewsPercentage", "browser_page_views"),
    ("mobileAppPageViewsPercentage", "mobile_app_page_views"),
    ("pageViewsPercentage", "page_views"),
]


def _by_asin(facts: pl.DataFrame, granularity: str, currency: str, b2b: bool) -> list[dict]:
    keys = _ASIN_KEYS[granularity]
    totals = facts.select([pl.col(c).sum() for c in _ASIN_SUMMED]).row(0, named=True)
    grouped = asin_sums(facts, keys)
    # Amazon's SKU section leaves out SKUs without orders; CHILD/PARENT keep ASINs with traffic.
    keep = pl.col("units_ordered") > 0 if granularity == "SKU" else pl.col("sessions") > 0
    grouped = grouped.filter(keep).sort(keys)
    out = []
    for r in grouped.iter_rows(named=True):
        row: dict[str, Any] = {"parentAsin": r["parent_asin"]}
        if granularity in ("CHILD", "SKU"):
            row["childAsin"] = r["asin"]
        if granularity == "SKU":
            row["sku"] = r["sku"]
        sales, traffic = asin_metrics(r, totals, currency, b2b)
        row["salesByAsin"] = sales
        row["trafficByAsin"] = traffic
        out.append(row)
    return out


def asin_sums(facts: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The SKU facts summed per `keys` (plus buy-box-weighted page views), unsorted."""
    return facts.group_by(keys).agg(
        *[pl.col(c).sum() for c in _ASIN_SUMMED],
        (pl.col("buy_box_percentage") * pl.col("page_views")).sum().alias("buy_box_views"),
        (pl.col("buy_box_percentage") * pl.col("page_views_b2b")).sum().alias("buy_box_views_b2b"),
    )


def asin_totals(facts: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """The totals the by-ASIN shares divide by (sessions, page views ...), per `by`."""
    return facts.group_by(by).agg([pl.col(c).sum().alias(f"total_{c}") for c in _ASIN_SUMMED])


def asin_metrics(
    r: dict[str, Any], totals: dict[str, Any], currency: str, b2b: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(sales, traffic) of one by-ASIN row from its sums `r` and the document's `totals`: the
    objects GET_SALES_AND_TRAFFIC_REPORT calls salesByAsin/trafficByAsin and Data Kiosk calls
    sales/traffic (same keys)."""
    sales: dict[str, Any] = {"unitsOrdered": r["units_ordered"]}
    if b2b:
        sales["unitsOrderedB2B"] = r["units_ordered_b2b"]
    sales["orderedProductSales"] = _money(r["ordered_product_sales_cents"], currency)
    if b2b:
        sales["orderedProductSalesB2B"] = _money(r["ordered_product_sales_b2b_cents"], currency)
    sales["totalOrderItems"] = r["total_order_items"]
    if b2b:
        sales["totalOrderItemsB2B"] = r["total_order_items_b2b"]
    traffic: dict[str, Any] = {}
    for name, column in (
        ("browserSessions", "browser_sessions"),
        ("mobileAppSessions", "mobile_app_sessions"),
        ("sessions", "sessions"),
    ):
        traffic[name] = r[column]
        if b2b:
            traffic[name + "B2B"] = r[column + "_b2b"]
    for name, column in _SHARES[:3]:
        traffic[name] = _pct(r[column], totals[column])
        if b2b:
            traffic[name + "B2B"] = _pct(r[column + "_b2b"], totals[column + "_b2b"])
    for name, column in (
        ("browserPageViews", "browser_page_views"),
        ("mobileAppPageViews", "mobile_app_page_views"),
        ("pageViews", "page_views"),
    ):
        traffic[name] = r[column]
        if b2b:
            traffic[name + "B2B"] = r[column + "_b2b"]
    for name, column in _SHARES[3:]:
        traffic[name] = _pct(r[column], totals[column])
        if b2b:
            traffic[name + "B2B"] = _pct(r[column + "_b2b"], totals[column + "_b2b"])
    traffic["buyBoxPercentage"] = _ratio(r["buy_box_views"], r["page_views"])
    if b2b:
        traffic["buyBoxPercentageB2B"] = _ratio(r["buy_box_views_b2b"], r["page_views_b2b"])
    traffic["unitSessionPercentage"] = _pct(r["units_ordered"], r["sessions"])
    if b2b:
        traffic["unitSessionPercentageB2B"] = _pct(r["units_ordered_b2b"], r["sessions_b2b"])
    return sales, traffic
