"""mart_asin_daily: one row per (account, asin, report_date) joining traffic, ads, money and signals.

The spine decides which rows exist: every tracked ASIN (own and competitor) on every day. Each
source is left-joined onto it, so a source that is missing or late gives nulls, never a dropped row.
The spine must hold each (account, asin, report_date) once; the mart keeps its rows one for one.

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

Money keeps its currency: each money source may carry `currency_code` (the business report's,
the ad reports', the fee estimates', the reimbursements'). A row's `currency_code` is the one its
sources agree on, else (no money source that day) the currency of its marketplace; sources that
disagree, or a source mixing currencies on one ASIN-day, leave it null, which the mart's
blocking check `money_has_one_currency` refuses rather than add amounts of two currencies.

Flow sources (ads, fees, returns, reimbursements) have rows only when something happened, so inside
the days a source covers for an account (its first to last day) a missing row means zero; outside
that range (e.g. before the Ads API's retention window) it stays null. Traffic and signals have no
such reading: a missing row is unknown, so null.
"""

from __future__ import annotations

import polars as pl

from amazon_assets.sources.marketplaces import MARKETPLACES

MONEY = pl.Decimal(18, 2)
KEYS = ("account", "asin", "report_date")
MARKETPLACE_CURRENCIES = {m.marketplace_id: m.currency for m in MARKETPLACES.values()}
# Every money column of the mart: each is in the row's currency_code.
MONEY_COLUMNS = (
    "ordered_product_sales",
    "ad_spend",
    "ad_sales",
    "fees",
    "reimbursements",
    "price",
    "buy_box_price",
)

# Money is Decimal(18, 2); counts Int64; ratios Float64. conversion, acos and tacos are fractions
# (0.12 = 12 %); buy_box_percentage keeps Amazon's 0..100 scale from the business report.
MART_ASIN_DAILY_SCHEMA = pl.Schema(
    {
        "account": pl.Utf8,
        "asin": pl.Utf8,
        "report_date": pl.Date,
        "marketplace_id": pl.Utf8,
        "currency_code": pl.Utf8,  # of every money column of the row (ISO 4217)
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

# Which mart columns each source fills: a row has data from the source when any is non-null
# (the data-quality report's coverage and the dashboard's freshness per source read this).
SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "business_reports": ("sessions",),
    "product_signals": ("price", "bsr", "rating"),
    "ads": ("ad_spend",),
    "fees": ("fees",),
    "returns": ("returned_units",),
    "reimbursements": ("reimbursements",),
}

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


def _currency_aggs(frame: pl.LazyFrame, tag: str) -> list[pl.Expr]:
    """A source's currency per ASIN-day (null when it mixes two), if the source carries one."""
    if "currency_code" not in frame.collect_schema().names():
        return []
    code = pl.col("currency_code")
    return [pl.when(code.drop_nulls().n_unique() <= 1).then(code.drop_nulls().first()).otherwise(
        pl.lit(_MIXED)).alias(f"_currency_{tag}")]  # fmt: skip


# Marks a source that mixes currencies on one ASIN-day (no ISO code looks like it).
_MIXED = "*mixed*"


# Sources join the spine on one Int64 per (account, asin, day): ASIN number * 2**32 + day number.
# A single integer key skips the row encoding polars needs for a three-column key, which at 2.7M
# rows makes the joins about 1.5x faster and halves peak memory. Day numbers are days since
# 1970, far inside 2**31, so ASINs never overlap.
_KEY = "_key"
_ASIN_NUMBER = "_asin_number"


def _asin_numbers(spine: pl.LazyFrame) -> pl.LazyFrame:
    """(account, asin) -> a number; sorted first so every use of it in a plan agrees."""
    return (
        spine.select("account", "asin")
        .unique()
        .sort("account", "asin")
        .with_row_index(_ASIN_NUMBER)
    )


def _key() -> pl.Expr:
    return pl.col(_ASIN_NUMBER).cast(pl.Int64) * (1 << 32) + pl.col("report_date").cast(pl.Int64)


def _keyed(frame: pl.LazyFrame, numbers: pl.LazyFrame) -> pl.LazyFrame:
    """A source's rows with the join key instead of account, asin and report_date.

    Rows of ASINs the spine does not track are dropped here, as the left join would drop them;
    row order is kept so that "last snapshot of the day" still means the last row.
    """
    return (
        frame.join(numbers, on=["account", "asin"], how="inner", maintain_order="left")
        .with_columns(_key().alias(_KEY))
        .drop("account", "asin", "report_date", _ASIN_NUMBER)
    )


def _business_by_asin(business: pl.LazyFrame, with_marketplace: bool) -> pl.LazyFrame:
    """SKU rows summed to the ASIN; buy box % weighted by each SKU's sessions."""
    currency = _currency_aggs(business, "business")
    bb = pl.col("buy_box_percentage").cast(pl.Float64)
    # Weights only where a buy box % exists, prepared per row: filters inside an aggregation
    # take polars off its fast path.
    weight = pl.when(bb.is_not_null()).then(pl.col("sessions").cast(pl.Float64))
    aggs = [
        pl.col("sessions").sum(),
        pl.col("page_views").sum(),
        pl.col("units_ordered").sum(),
        _money("ordered_product_sales").sum(),
        (pl.col("_bb") * pl.col("_weight")).sum().alias("_bb_weighted"),
        pl.col("_weight").sum().alias("_weight"),
        pl.col("_bb").mean().alias("_bb_mean"),
        *currency,
    ]
    if with_marketplace:
        # One marketplace per account in the US report; max() picks it without a slow path.
        aggs.append(pl.col("marketplace_id").max())
    # A day whose SKUs had no sessions has no weights; then the plain mean is the honest figure.
    weighted = pl.col("_bb_weighted") / pl.col("_weight")
    return (
        business.with_columns(bb.alias("_bb"), weight.alias("_weight"))
        .group_by(_KEY)
        .agg(aggs)
        .with_columns(
            pl.when(pl.col("_weight") > 0)
            .then(weighted)
            .otherwise(pl.col("_bb_mean"))
            .alias("buy_box_percentage")
        )
        .drop("_bb_weighted", "_weight", "_bb_mean")
    )


def _snapshot_by_day(snapshot: pl.LazyFrame) -> pl.LazyFrame:
    """The last snapshot of each ASIN and day."""
    return snapshot.unique(subset=[_KEY], keep="last", maintain_order=True).select(
        _KEY, *_SNAPSHOT_COLUMNS
    )


def _ads_by_asin(ads: pl.LazyFrame) -> pl.LazyFrame:
    """Campaign / ad-group rows summed to the ASIN and day."""
    names = ads.collect_schema().names()
    units = "units_7d" if "units_7d" in names else "purchases_7d"
    return ads.group_by(_KEY).agg(
        *_currency_aggs(ads, "ads"),
        _money("cost").sum().alias("ad_spend"),
        _money("sales_7d").sum().alias("ad_sales"),
        pl.col(units).cast(pl.Int64).sum().alias("ad_units"),
        pl.col("clicks").cast(pl.Int64).sum().alias("ad_clicks"),
        pl.col("impressions").cast(pl.Int64).sum().alias("ad_impressions"),
    )


def _coverage(source: pl.LazyFrame, tag: str) -> pl.LazyFrame:
    """First and last day a flow source holds for each account."""
    return source.group_by("account").agg(
        pl.col("report_date").min().alias(f"_{tag}_first"),
        pl.col("report_date").max().alias(f"_{tag}_last"),
    )


def _zero_inside_coverage(columns: tuple[str, ...], tag: str) -> list[pl.Expr]:
    """Null -> 0 for a flow source's columns on the days it covers; unknown stays null outside."""
    covered = pl.col("report_date").is_between(pl.col(f"_{tag}_first"), pl.col(f"_{tag}_last"))
    return [
        pl.when(covered & pl.col(c).is_null()).then(0).otherwise(pl.col(c)).alias(c)
        for c in columns
    ]


def _row_currency(mart: pl.LazyFrame) -> pl.Expr:
    """The currency every money source of the row agrees on, else the marketplace's (no money
    source that day); null when they disagree."""
    columns = [c for c in mart.collect_schema().names() if c.startswith("_currency_")]
    marketplace = pl.col("marketplace_id").replace_strict(
        MARKETPLACE_CURRENCIES, default=None, return_dtype=pl.Utf8
    )
    if not columns:
        return marketplace
    stated = pl.concat_list(pl.col(c) for c in columns).list.drop_nulls().list.unique()
    return (
        pl.when(stated.list.len() == 0)
        .then(marketplace)
        .when((stated.list.len() == 1) & (stated.list.first() != _MIXED))
        .then(stated.list.first())
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
    spine = spine.select(*KEYS, *(["marketplace_id"] if spine_has_marketplace else []))
    spine = spine.with_columns(pl.col("report_date").cast(pl.Date))
    numbers = _asin_numbers(spine)
    mart = spine.join(numbers, on=["account", "asin"], how="left", maintain_order="left")
    mart = mart.with_columns(_key().alias(_KEY))

    def on_day(frame: pl.LazyFrame, day_column: str) -> pl.LazyFrame:
        return frame.with_columns(pl.col(day_column).cast(pl.Date).alias("report_date"))

    if business_reports is not None:
        take_marketplace = (
            not spine_has_marketplace
            and "marketplace_id" in business_reports.collect_schema().names()
        )
        business = _keyed(on_day(business_reports, "report_date"), numbers)
        mart = mart.join(_business_by_asin(business, take_marketplace), on=_KEY, how="left")
        spine_has_marketplace = spine_has_marketplace or take_marketplace
    else:
        mart = mart.with_columns(_null_columns(_BUSINESS_COLUMNS))
    if not spine_has_marketplace:
        mart = mart.with_columns(_null_columns(("marketplace_id",)))

    if product_snapshot is not None:
        snapshot = _keyed(on_day(product_snapshot, "snapshot_date"), numbers)
        mart = mart.join(_snapshot_by_day(snapshot), on=_KEY, how="left")
    else:
        mart = mart.with_columns(_null_columns(_SNAPSHOT_COLUMNS))

    flows = (
        ("ads", ads, "report_date", _ads_by_asin, _ADS_COLUMNS),
        (
            "fees",
            fees,
            "day",
            lambda f: f.group_by(_KEY).agg(
                *_currency_aggs(f, "fees"), _money("amount").sum().alias("fees")
            ),
            ("fees",),
        ),
        (
            "returns",
            returns,
            "day",
            lambda f: f.group_by(_KEY).agg(
                pl.col("quantity").cast(pl.Int64).sum().alias("returned_units")
            ),
            ("returned_units",),
        ),
        (
            "reimbursements",
            reimbursements,
            "day",
            lambda f: f.group_by(_KEY).agg(
                *_currency_aggs(f, "reimbursements"),
                _money("amount").sum().alias("reimbursements"),
            ),
            ("reimbursements",),
        ),
    )
    coverage: pl.LazyFrame | None = None
    fills: list[pl.Expr] = []
    for tag, source, day_column, by_asin_day, columns in flows:
        if source is None:
            mart = mart.with_columns(_null_columns(columns))
            continue
        dated = on_day(source, day_column)
        mart = mart.join(by_asin_day(_keyed(dated, numbers)), on=_KEY, how="left")
        # All coverage windows travel in one small table, joined once.
        covered = _coverage(dated, tag)
        coverage = (
            covered
            if coverage is None
            else coverage.join(covered, on="account", how="full", coalesce=True)
        )
        fills += _zero_inside_coverage(columns, tag)
    if coverage is not None:
        mart = mart.join(coverage, on="account", how="left").with_columns(fills)

    mart = mart.with_columns(_row_currency(mart).alias("currency_code"))
    # Ads credit 7 days of purchases to the click day, so ad units can exceed the day's orders.
    organic = (pl.col("units_ordered") - pl.col("ad_units")).clip(lower_bound=0)
    mart = mart.with_columns(
        _ratio("units_ordered", "sessions").alias("conversion"),
        _ratio("ad_spend", "ad_sales").alias("acos"),
        _ratio("ad_spend", "ordered_product_sales").alias("tacos"),
        organic.alias("organic_units"),
    )
    return mart.select(pl.col(name).cast(dtype) for name, dtype in MART_ASIN_DAILY_SCHEMA.items())
