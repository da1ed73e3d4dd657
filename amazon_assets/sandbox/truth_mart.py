"""mart_asin_daily straight from the marketplace's truth, in-process: for tests and benchmarks.

The graph gets the same numbers over HTTP (business reports, product signals, ad reports, parsed
into silver); this skips the protocols so a benchmark can build a year of a 2,000-ASIN catalogue in
a minute. Every source the ranker's features read is here: traffic and sales, price, BSR, buy box,
stock, rating and reviews of own ASINs (as the sandbox's product signals serve them), and ad cost,
sales, units, clicks and impressions per advertised ASIN (as its advertised-product reports do).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from amazon_assets.analytics.mart import build_mart_asin_daily
from amazon_assets.sandbox.advertising import AdsAccount
from amazon_assets.sandbox.catalog import product_signals
from amazon_assets.sandbox.marketplace import Marketplace

_CENTS = pl.Decimal(18, 2)


def _dollars(cents: str) -> pl.Expr:
    return (pl.col(cents).cast(_CENTS) / 100).cast(_CENTS)


def truth_mart(marketplace: Marketplace, account: str, first: date, last: date) -> pl.DataFrame:
    """mart_asin_daily of one sandbox account's own ASINs over [first, last]."""
    days = [
        first + timedelta(days=i)
        for i in range((last - first).days + 1)
        if marketplace.has_data(account, first + timedelta(days=i))
    ]
    truth = pl.concat([marketplace.sales_and_traffic(account, day) for day in days]).rename(
        {"date": "report_date"}
    )
    business = truth.select(
        "report_date",
        "account",
        "asin",
        pl.col("sku").alias("msku"),
        "sessions",
        "page_views",
        "buy_box_percentage",
        "units_ordered",
        "ordered_product_sales",
        pl.lit(marketplace.config.marketplace_id).alias("marketplace_id"),
    )
    snapshot = pl.concat(
        [
            product_signals(marketplace, account, day)
            .filter(pl.col("role") == "own")
            .with_columns(pl.lit(day).alias("snapshot_date"))
            for day in days
        ]
    ).select(
        pl.lit(account).alias("account"),
        "asin",
        "snapshot_date",
        _dollars("price_cents").alias("price"),
        _dollars("price_cents").alias("buy_box_price"),
        (pl.col("other_sellers") + 1).cast(pl.Int64).alias("offer_count"),
        pl.col("holds_buy_box").alias("has_buy_box"),
        "bsr",
        "category",
        "rating",
        "review_count",
        "in_stock",
    )
    ads_account = AdsAccount(marketplace, account)
    advertised = [asin for group in ads_account.ad_groups for _, asin, _ in group.ads]
    final = marketplace.last_day(account) + timedelta(days=365)  # past every restatement
    ads = pl.concat(
        [
            pl.DataFrame(ads_account.advertised_metrics(day, final)).select(
                pl.lit(day).alias("report_date"),
                pl.lit(account).alias("account"),
                pl.Series("asin", advertised),
                _dollars("cost").alias("cost"),
                _dollars("sales7d").alias("sales_7d"),
                pl.col("unitsSoldClicks7d").alias("units_7d"),
                "clicks",
                "impressions",
            )
            for day in days
        ]
    )
    spine = business.select("account", "asin", "report_date", "marketplace_id").unique(
        ["account", "asin", "report_date"]
    )
    return build_mart_asin_daily(
        spine.lazy(),
        business_reports=business.lazy(),
        product_snapshot=snapshot.lazy(),
        ads=ads.lazy(),
    ).collect()
