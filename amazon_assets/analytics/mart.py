"""mart_asin_daily: one row per (account, asin, report_date) joining traffic, ads, money and signals.

The spine decides which rows exist: every tracked ASIN (own and competitor) on every day. Each
source is left-joined onto it, so a source that is missing or late gives nulls, never a dropped row.

Input columns per source (extra columns are ignored):
- business_reports (silver fact_business_reports_us, SKU rows): report_date, account, asin, msku,
  sessions, page_views, buy_box_percentage (0..100), units_ordered, ordered_product_sales;
  marketplace_id is used when the spine does not carry one.
- product_snapshot (Catalog Items + Product Pricing + review provider): account, asin,
  snapshot_date, price, buy_box_price, offer_count, has_buy_box, bsr, category, rating,
  review_count, in_stock. Several snapshots on one day: the last row of that day wins.
- ads (Ads API v3 advertised-product rows, any grain below the ASIN): account, asin, report_date,
  cost, sales_7d, units_7d (or purchases_7d), clicks, impressions.
- fees, reimbursements: account, asin, day, amount. returns: account, asin, day, quantity.

Flow sources (ads, fees, returns, reimbursements) have rows only when something happened, so inside
the days a source covers for an account (its first to last day) a missing row means zero; outside
that range (e.g. before the Ads API's retention window) it stays null. Traffic and signals have no
such reading: a missing row is unknown, so null.
"""

from __future__ import annotations

import polars as pl

MONEY = pl.Decimal(18, 2)
KEYS = ("account", "asin", "report_date")

# Money is Decimal(18, 2); counts Int64; ratios Float64. conversion, acos and tacos are fractions
# (0.12 = 12 %); buy_box_percentage keeps Amazon's 0..100 scale from the business report.
MART_ASIN_DAILY_SCHEMA = pl.Schema(
    {
        "account": pl.Utf8,
        "asin": pl.Utf8,
        "report_date": pl.Date,
        "marketplace_id": pl.Utf8,
        "category": pl.Utf8,
        # traffic and sales (business report, summed over the ASIN's SKUs)
        "sessions": pl.Int64,
        "page_views": pl.Int64,
        "buy_box_percentage": pl.Float64,
        "units_ordered": pl.Int64,
        "ordered_product_sales": MONEY,
        "conversion": pl.Float64,
        # advertising (7-day attribution, credited to the day of the click)
        "ad_spend": MONEY,
        "ad_sales": MONEY,
        "ad_units": pl.Int64,
        "ad_clicks": pl.Int64,
        "ad_impressions": pl.Int64,
        "acos": pl.Float64,
        "tacos": pl.Float64,
        "organic_units": pl.Int64,
        # money after the sale
        "fees": MONEY,
        "returned_units": pl.Int64,
        "reimbursements": MONEY,
        # product signals
        "price": MONEY,
        "buy_box_price": MONEY,
        "offer_count": pl.Int64,
        "has_buy_box": pl.Boolean,
        "bsr": pl.Int64,
        "rating": pl.Float64,
        "review_count": pl.Int64,
        "in_stock": pl.Boolean,
    }
)

_BUSINESS_COLUMNS = (
    "sessions",
    "page_views",
    "buy_box_percentage",
    "units_ordered",
    "ordered_product_sales",
)
_SNAPSHOT_COLUMNS = (
    "category",
    "price",
    "buy_box_price",
    "offer_count",
    "has_buy_box",
    "bsr",
    "rating",
    "review_count",
    "in_stock",
)
_ADS_COLUMNS = ("ad_spend", "ad_sales", "ad_units", "ad_clicks", "ad_impressions")


def _money(name: str) -> pl.Expr:
    return pl.col(name).cast(MONEY)


def _business_by_asin(business_reports: pl.LazyFrame, with_marketplace: bool) -> pl.LazyFrame:
    """SKU rows summed to the ASIN; buy box % weighted by each SKU's sessions."""
    bb = pl.col("buy_box_percentage")
    sessions = pl.col("sessions").cast(pl.Float64)
    weighted = (bb * sessions).sum() / sessions.filter(bb.is_not_null()).sum()
    aggs = [
        pl.col("sessions").sum(),
        pl.col("page_views").sum(),
        # A SKU-day with zero sessions has no weight; then the plain mean is the honest figure.
        pl.when(sessions.filter(bb.is_not_null()).sum() > 0)
        .then(weighted)
        .otherwise(bb.mean())
        .alias("buy_box_percentage"),
        pl.col("units_ordered").sum(),
        _money("ordered_product_sales").sum(),
    ]
    if with_marketplace:
        aggs.append(pl.col("marketplace_id").drop_nulls().first())
    return business_reports.group_by(KEYS).agg(aggs)


def _snapshot_by_day(product_snapshot: pl.LazyFrame) -> pl.LazyFrame:
    """The last snapshot of each ASIN and day."""
    return (
        product_snapshot.with_columns(pl.col("snapshot_date").cast(pl.Date).alias("report_date"))
        .unique(subset=list(KEYS), keep="last", maintain_order=True)
        .select(*KEYS, *_SNAPSHOT_COLUMNS)
    )


def _ads_by_asin(ads: pl.LazyFrame) -> pl.LazyFrame:
    """Campaign / ad-group rows summed to the ASIN and day."""
    names = ads.collect_schema().names()
    units = "units_7d" if "units_7d" in names else "purchases_7d"
    return ads.group_by(KEYS).agg(
        _money("cost").sum().alias("ad_spend"),
        _money("sales_7d").sum().alias("ad_sales"),
        pl.col(units).cast(pl.Int64).sum().alias("ad_units"),
        pl.col("clicks").cast(pl.Int64).sum().alias("ad_clicks"),
        pl.col("impressions").cast(pl.Int64).sum().alias("ad_impressions"),
    )


def _by_day(frame: pl.LazyFrame, value: pl.Expr) -> pl.LazyFrame:
    """A per-event source (fees, returns, reimbursements) summed to the ASIN and day."""
    return (
        frame.with_columns(pl.col("day").cast(pl.Date).alias("report_date"))
        .group_by(KEYS)
        .agg(value)
    )


def _join_flow(
    spine: pl.LazyFrame, source: pl.LazyFrame, columns: tuple[str, ...], tag: str
) -> pl.LazyFrame:
    """Left-join a flow source; zero inside the days it covers for the account, null outside."""
    first, last = f"_{tag}_first", f"_{tag}_last"
    coverage = source.group_by("account").agg(
        pl.col("report_date").min().alias(first), pl.col("report_date").max().alias(last)
    )
    covered = pl.col("report_date").is_between(pl.col(first), pl.col(last))
    return (
        spine.join(source, on=list(KEYS), how="left")
        .join(coverage, on="account", how="left")
        .with_columns(
            pl.when(covered & pl.col(c).is_null()).then(0).otherwise(pl.col(c)).alias(c)
            for c in columns
        )
        .drop(first, last)
    )


def _null_columns(columns: tuple[str, ...]) -> list[pl.Expr]:
    return [pl.lit(None, dtype=MART_ASIN_DAILY_SCHEMA[c]).alias(c) for c in columns]


def _ratio(numerator: str, denominator: str) -> pl.Expr:
    """numerator / denominator as Float64; null when the denominator is null or zero."""
    den = pl.col(denominator).cast(pl.Float64)
    return pl.when(den > 0).then(pl.col(numerator).cast(pl.Float64) / den)


def build_mart_asin_daily(
    spine: pl.LazyFrame,
    *,
    business_reports: pl.LazyFrame | None = None,
    product_snapshot: pl.LazyFrame | None = None,
    ads: pl.LazyFrame | None = None,
    fees: pl.LazyFrame | None = None,
    returns: pl.LazyFrame | None = None,
    reimbursements: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """mart_asin_daily: the spine's rows with every source left-joined, in MART_ASIN_DAILY_SCHEMA."""
    spine_names = spine.collect_schema().names()
    missing = [k for k in KEYS if k not in spine_names]
    if missing:
        raise ValueError(f"The mart spine lacks key columns {missing}; it needs {list(KEYS)}.")
    spine_has_marketplace = "marketplace_id" in spine_names
    mart = spine.select(*KEYS, *(["marketplace_id"] if spine_has_marketplace else []))
    mart = mart.with_columns(pl.col("report_date").cast(pl.Date))

    if business_reports is not None:
        take_marketplace = (
            not spine_has_marketplace
            and "marketplace_id" in business_reports.collect_schema().names()
        )
        mart = mart.join(
            _business_by_asin(business_reports, take_marketplace), on=list(KEYS), how="left"
        )
        spine_has_marketplace = spine_has_marketplace or take_marketplace
    else:
        mart = mart.with_columns(_null_columns(_BUSINESS_COLUMNS))
    if not spine_has_marketplace:
        mart = mart.with_columns(_null_columns(("marketplace_id",)))

    if product_snapshot is not None:
        mart = mart.join(_snapshot_by_day(product_snapshot), on=list(KEYS), how="left")
    else:
        mart = mart.with_columns(_null_columns(_SNAPSHOT_COLUMNS))

    if ads is not None:
        mart = _join_flow(mart, _ads_by_asin(ads), _ADS_COLUMNS, "ads")
    else:
        mart = mart.with_columns(_null_columns(_ADS_COLUMNS))

    flows = (
        ("fees", fees, _money("amount").sum().alias("fees")),
        (
            "returned_units",
            returns,
            pl.col("quantity").cast(pl.Int64).sum().alias("returned_units"),
        ),
        ("reimbursements", reimbursements, _money("amount").sum().alias("reimbursements")),
    )
    for column, source, value in flows:
        if source is not None:
            mart = _join_flow(mart, _by_day(source, value), (column,), column)
        else:
            mart = mart.with_columns(_null_columns((column,)))

    # Ads credit 7 days of purchases to the click day, so ad units can exceed the day's orders.
    organic = (pl.col("units_ordered") - pl.col("ad_units")).clip(lower_bound=0)
    mart = mart.with_columns(
        _ratio("units_ordered", "sessions").alias("conversion"),
        _ratio("ad_spend", "ad_sales").alias("acos"),
        _ratio("ad_spend", "ordered_product_sales").alias("tacos"),
        organic.alias("organic_units"),
    )
    return mart.select(pl.col(name).cast(dtype) for name, dtype in MART_ASIN_DAILY_SCHEMA.items())
