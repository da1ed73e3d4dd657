"""build_mart_asin_daily: every spine row survives, sources join with the right types and sums."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from amazon_assets.analytics.mart import MART_ASIN_DAILY_SCHEMA, build_mart_asin_daily
from amazon_assets_tests.analytics import day

MONEY = pl.Decimal(18, 2)


def _spine(asins: tuple[str, ...] = ("A", "B"), days: int = 3) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "account": ["s1"] * (len(asins) * days),
            "asin": [a for a in asins for _ in range(days)],
            "report_date": [day(i) for _ in asins for i in range(days)],
        }
    )


def _row(mart: pl.DataFrame, asin: str, i: int) -> dict:
    return mart.filter((pl.col("asin") == asin) & (pl.col("report_date") == day(i))).row(
        0, named=True
    )


def test_without_sources_every_spine_row_is_kept_with_typed_nulls() -> None:
    mart = build_mart_asin_daily(_spine()).collect()
    assert mart.schema == MART_ASIN_DAILY_SCHEMA
    assert mart.height == 6
    assert mart.select(
        pl.exclude("account", "asin", "report_date")
    ).null_count().sum_horizontal().item() == (6 * (len(MART_ASIN_DAILY_SCHEMA) - 3))


def test_sku_rows_sum_to_the_asin_and_buy_box_is_session_weighted() -> None:
    business = pl.LazyFrame(
        {
            "report_date": [day(0), day(0), day(1)],
            "account": ["s1"] * 3,
            "marketplace_id": ["ATVPDKIKX0DER"] * 3,
            "asin": ["A", "A", "A"],
            "msku": ["A-1", "A-2", "A-1"],
            "sessions": [30, 10, 0],
            "page_views": [40, 12, 0],
            "buy_box_percentage": [100.0, 60.0, 50.0],
            "units_ordered": [3, 1, 0],
            "ordered_product_sales": pl.Series(
                [Decimal("30.00"), Decimal("10.50"), Decimal("0")], dtype=MONEY
            ),
        }
    )
    mart = build_mart_asin_daily(_spine(), business_reports=business).collect()
    a0 = _row(mart, "A", 0)
    assert (a0["sessions"], a0["page_views"], a0["units_ordered"]) == (40, 52, 4)
    assert a0["ordered_product_sales"] == Decimal("40.50")
    assert a0["buy_box_percentage"] == pytest.approx((100 * 30 + 60 * 10) / 40)
    assert a0["conversion"] == pytest.approx(0.1)
    assert a0["marketplace_id"] == "ATVPDKIKX0DER"
    # No sessions: the plain mean, and no conversion rather than a division by zero.
    a1 = _row(mart, "A", 1)
    assert a1["buy_box_percentage"] == pytest.approx(50.0)
    assert a1["conversion"] is None
    # ASIN B has no business report rows: kept, null.
    assert mart.height == 6
    assert _row(mart, "B", 0)["sessions"] is None


def test_last_snapshot_of_a_day_wins_and_a_missing_one_is_null() -> None:
    snapshot = pl.LazyFrame(
        {
            "account": ["s1", "s1", "s1"],
            "asin": ["A", "A", "A"],
            "snapshot_date": [day(0), day(0), day(2)],
            "price": pl.Series([Decimal("19.99"), Decimal("17.49"), Decimal("18.00")], dtype=MONEY),
            "buy_box_price": pl.Series([Decimal("19.99"), Decimal("17.49"), None], dtype=MONEY),
            "offer_count": [3, 4, 4],
            "has_buy_box": [True, True, False],
            "bsr": [1500, 1400, 2000],
            "category": ["toys"] * 3,
            "rating": [4.4, 4.4, 4.3],
            "review_count": [120, 121, 125],
            "in_stock": [True, True, True],
        }
    )
    mart = build_mart_asin_daily(_spine(), product_snapshot=snapshot).collect()
    assert _row(mart, "A", 0)["price"] == Decimal("17.49")
    assert _row(mart, "A", 0)["bsr"] == 1400
    assert _row(mart, "A", 1)["price"] is None
    assert _row(mart, "A", 2)["has_buy_box"] is False
    assert mart.schema == MART_ASIN_DAILY_SCHEMA


def test_ads_fees_returns_reimbursements_and_derived_ratios() -> None:
    business = pl.LazyFrame(
        {
            "report_date": [day(1)],
            "account": ["s1"],
            "asin": ["A"],
            "msku": ["A-1"],
            "sessions": [100],
            "page_views": [120],
            "buy_box_percentage": [100.0],
            "units_ordered": [5],
            "ordered_product_sales": pl.Series([Decimal("200.00")], dtype=MONEY),
        }
    )
    # Two campaigns advertise A on day 1; ads attribute 7 units, more than the 5 ordered.
    ads = pl.LazyFrame(
        {
            "account": ["s1", "s1", "s1"],
            "asin": ["A", "A", "B"],
            "report_date": [day(1), day(1), day(2)],
            "campaign_id": ["c1", "c2", "c1"],
            "cost": [Decimal("10.00"), Decimal("15.00"), Decimal("1.00")],
            "sales_7d": [Decimal("60.00"), Decimal("40.00"), Decimal("0")],
            "units_7d": [4, 3, 0],
            "clicks": [20, 10, 2],
            "impressions": [1000, 500, 50],
        }
    ).with_columns(pl.col("cost", "sales_7d").cast(MONEY))
    fees = pl.LazyFrame(
        {
            "account": ["s1", "s1"],
            "asin": ["A", "A"],
            "day": [day(1), day(1)],
            "amount": [-3.10, -2.00],
        }
    )
    returns = pl.LazyFrame({"account": ["s1"], "asin": ["A"], "day": [day(2)], "quantity": [2]})
    mart = build_mart_asin_daily(
        _spine(), business_reports=business, ads=ads, fees=fees, returns=returns
    ).collect()
    a1 = _row(mart, "A", 1)
    assert a1["ad_spend"] == Decimal("25.00")
    assert a1["ad_sales"] == Decimal("100.00")
    assert (a1["ad_units"], a1["ad_clicks"], a1["ad_impressions"]) == (7, 30, 1500)
    assert a1["acos"] == pytest.approx(0.25)
    assert a1["tacos"] == pytest.approx(25 / 200)
    assert a1["organic_units"] == 0  # 5 - 7, clipped
    assert a1["fees"] == Decimal("-5.10")
    # The returns source only holds day 2: day 1 is outside what it covers, so unknown.
    assert a1["returned_units"] is None
    # The ads source covers days 1..2 for the account: no row inside means no spend, outside unknown.
    assert _row(mart, "B", 1)["ad_spend"] == Decimal("0")
    assert _row(mart, "A", 0)["ad_spend"] is None
    assert _row(mart, "A", 2)["returned_units"] == 2
    assert _row(mart, "B", 2)["returned_units"] == 0
    # Not passed at all: null everywhere.
    assert mart["reimbursements"].null_count() == mart.height
    assert mart.schema == MART_ASIN_DAILY_SCHEMA


def test_spine_without_key_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="report_date"):
        build_mart_asin_daily(pl.LazyFrame({"account": ["s1"], "asin": ["A"]}))


def _business_in(currency: str, marketplace: str) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "report_date": [day(0)],
            "account": ["s1"],
            "marketplace_id": [marketplace],
            "asin": ["A"],
            "msku": ["A-1"],
            "sessions": [10],
            "page_views": [12],
            "buy_box_percentage": [100.0],
            "units_ordered": [1],
            "ordered_product_sales": pl.Series([Decimal("19.99")], dtype=MONEY),
            "currency_code": [currency],
        }
    )


def _ads_in(*currencies: str) -> pl.LazyFrame:
    n = len(currencies)
    return pl.LazyFrame(
        {
            "report_date": [day(0)] * n,
            "account": ["s1"] * n,
            "asin": ["A"] * n,
            "cost": pl.Series([Decimal("2.00")] * n, dtype=MONEY),
            "sales_7d": pl.Series([Decimal("9.99")] * n, dtype=MONEY),
            "units_7d": [1] * n,
            "clicks": [3] * n,
            "impressions": [100] * n,
            "currency_code": list(currencies),
        }
    )


def test_money_carries_the_currency_its_sources_agree_on() -> None:
    german = _spine(days=2).with_columns(marketplace_id=pl.lit("A1PA6795UKMFR9"))
    mart = build_mart_asin_daily(
        german, business_reports=_business_in("EUR", "A1PA6795UKMFR9"), ads=_ads_in("EUR")
    ).collect()
    assert _row(mart, "A", 0)["currency_code"] == "EUR"
    # A day without money from any source: the marketplace's currency (Amazon.de, EUR).
    assert _row(mart, "A", 1)["currency_code"] == "EUR"
    # No marketplace known and no money: unknown (and nothing to be in a currency).
    unknown = build_mart_asin_daily(_spine(days=1)).collect()
    assert _row(unknown, "B", 0)["currency_code"] is None


@pytest.mark.parametrize(
    ("business", "ads"),
    [("USD", ("EUR",)), ("EUR", ("EUR", "GBP"))],
    ids=["sources disagree", "one source mixes two currencies"],
)
def test_money_in_two_currencies_has_no_currency_and_fails_the_check(
    business: str, ads: tuple[str, ...]
) -> None:
    from amazon_assets.defs.mart.checks import money_has_one_currency

    mart = build_mart_asin_daily(
        _spine(days=1),
        business_reports=_business_in(business, "ATVPDKIKX0DER"),
        ads=_ads_in(*ads),
    ).collect()
    assert _row(mart, "A", 0)["currency_code"] is None
    result = money_has_one_currency(mart)
    assert not result.passed and result.metadata["rows_without_currency"].value == 1
    agreeing = build_mart_asin_daily(
        _spine(days=1), business_reports=_business_in("EUR", "A1PA6795UKMFR9"), ads=_ads_in("EUR")
    ).collect()
    assert money_has_one_currency(agreeing).passed
