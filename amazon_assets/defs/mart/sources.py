"""What the mart reads from silver: each source's query, the spine of tracked ASINs, fee estimates.

Silver lives in the `warehouse` resource (DuckDB or BigQuery) while the mart may live in
PostgreSQL, so the mart reads silver with SQL rather than through an IO manager; a table that does
not exist (its domain not deployed, or never materialized) is reported as missing and its mart
columns stay null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from amazon_assets.analytics.mart import KEYS, MONEY, build_mart_asin_daily
from amazon_assets.resources.warehouse import WarehouseResource
from amazon_assets.tracking import TRACKED_TABLE

BUSINESS_REPORTS = "fact_business_reports_us"
# Amazon refreshes the fee preview about every 72 hours: a day's fees use the latest estimate of
# the week before it.
FEE_PREVIEW_MAX_AGE_DAYS = 7


@dataclass(frozen=True)
class SilverSource:
    """One silver table the mart reads: its name, the SQL columns in mart terms, its date column."""

    table: str
    columns: str
    day_column: str = "report_date"
    lookback_days: int = 0


# Silver column names mapped to the names build_mart_asin_daily takes (see analytics/mart.py).
SOURCES: dict[str, SilverSource] = {
    "business_reports": SilverSource(
        BUSINESS_REPORTS,
        "report_date, account, marketplace_id, msku, asin, sessions, page_views, "
        "buy_box_percentage, units_ordered, ordered_product_sales, currency_code",
    ),
    "product_snapshot": SilverSource(
        "fact_product_snapshot",
        "account, asin, snapshot_date, price, buy_box_price, offer_count, has_buy_box, bsr, "
        "category, rating, review_count, in_stock",
        day_column="snapshot_date",
    ),
    "ads": SilverSource(
        "fact_ads_sp_advertised_products",
        "report_date, account, advertised_asin AS asin, cost, sales_7d, "
        "COALESCE(units_sold_clicks_7d, purchases_7d) AS units_7d, clicks, impressions, "
        "currency AS currency_code",
    ),
    "fee_preview": SilverSource(
        "fact_fee_preview",
        "report_date, account, sku AS msku, asin, estimated_fee_total, currency AS currency_code",
        lookback_days=FEE_PREVIEW_MAX_AGE_DAYS,
    ),
    "returns": SilverSource("fact_customer_returns", "report_date AS day, account, asin, quantity"),
    "reimbursements": SilverSource(
        "fact_reimbursements",
        "report_date AS day, account, asin, amount_total AS amount, currency AS currency_code",
    ),
}
OPTIONAL_SOURCES = tuple(name for name in SOURCES if name != "business_reports")


def table_exists(warehouse: WarehouseResource, dataset: str, table: str) -> bool:
    """Whether `dataset.table` exists in the warehouse (a missing dataset counts as missing)."""
    if warehouse.kind == "bigquery":
        from google.api_core.exceptions import NotFound

        try:
            found = warehouse.query(
                f"SELECT count(*) AS n FROM `{warehouse.project}.{dataset}.INFORMATION_SCHEMA.TABLES`"
                f" WHERE table_name = '{table}'"
            )
        except NotFound:
            return False
    else:
        found = warehouse.query(
            "SELECT count(*) AS n FROM information_schema.tables"
            f" WHERE table_schema = '{dataset}' AND table_name = '{table}'"
        )
    return bool(found["n"][0])


def read_source(
    warehouse: WarehouseResource, dataset: str, source: SilverSource, first: date, end: date
) -> pl.DataFrame | None:
    """The source's rows dated [first - lookback, end), or None when its table does not exist."""
    if not table_exists(warehouse, dataset, source.table):
        return None
    low = (first - timedelta(days=source.lookback_days)).isoformat()
    day = source.day_column
    return warehouse.query(
        f"SELECT {source.columns} FROM {warehouse.table(dataset, source.table)}"
        f" WHERE {day} >= '{low}' AND {day} < '{end.isoformat()}'"
    )


def read_tracked(warehouse: WarehouseResource, dataset: str) -> pl.DataFrame | None:
    """Tracked (account, asin, role, competitor_of) rows, or None when nothing was ever tracked."""
    if not table_exists(warehouse, dataset, TRACKED_TABLE):
        return None
    return warehouse.query(
        f"SELECT account, asin, role, competitor_of FROM {warehouse.table(dataset, TRACKED_TABLE)}"
    )


def mart_spine(
    first: date, end: date, business: pl.DataFrame, tracked: pl.DataFrame | None
) -> pl.DataFrame:
    """(account, asin, report_date, marketplace_id): tracked ASINs on every day, plus each
    ASIN-day the business report has, so an untracked own ASIN's sales are never dropped.

    A day's rows depend on that day's data only: whatever range a run covers, a day gets the
    same rows. The marketplace is the account's that day, so competitors share their own ASIN's.
    """
    days = pl.DataFrame({"report_date": pl.date_range(first, end - timedelta(days=1), eager=True)})
    parts = [business.select(*KEYS).cast({"account": pl.String, "asin": pl.String})]
    if tracked is not None and tracked.height:
        asins = tracked.select(pl.col("account").cast(pl.String), pl.col("asin").cast(pl.String))
        parts.append(asins.unique().join(days, how="cross").select(*KEYS))
    spine = pl.concat(parts).unique()
    marketplaces = business.group_by("account", "report_date").agg(pl.col("marketplace_id").max())
    return spine.join(marketplaces, on=["account", "report_date"], how="left").sort(*KEYS)


def fees_from_preview(fee_preview: pl.DataFrame, business: pl.DataFrame) -> pl.DataFrame:
    """Estimated Amazon fees per sale: units x the latest per-unit fee estimate up to that day,
    as (account, asin, day, amount, currency_code) rows for build_mart_asin_daily's `fees`.

    A SKU row is priced with its SKU's estimate. A Data Kiosk row (history: child ASIN level,
    `msku` null) is priced with its ASIN's: the mean estimate of the ASIN's SKUs that day, since
    the document does not say which SKUs sold its units.

    A sale without an estimate in the week before it has no row: inside the days the fee source
    covers the mart reads that as zero, the one case where an unknown fee looks like no fee.
    """
    estimates = (
        fee_preview.filter(pl.col("estimated_fee_total").is_not_null())
        .select(
            pl.col("account").cast(pl.String),
            pl.col("msku").cast(pl.String),
            pl.col("asin").cast(pl.String),
            pl.col("report_date").alias("estimated_on"),
            pl.col("estimated_fee_total").cast(MONEY).alias("fee_per_unit"),
            pl.col("currency_code").cast(pl.String),
        )
        .sort("estimated_on")
    )
    by_asin = (
        estimates.filter(pl.col("asin").is_not_null())
        .group_by("account", "asin", "estimated_on", "currency_code")
        .agg((pl.col("fee_per_unit").sum() / pl.len()).cast(MONEY).alias("fee_per_unit"))
        .sort("estimated_on")
    )
    sales = (
        business.filter(pl.col("units_ordered") > 0)
        .select(
            pl.col("account").cast(pl.String),
            pl.col("msku").cast(pl.String),
            pl.col("asin").cast(pl.String),
            "report_date",
            "units_ordered",
        )
        .sort("report_date")
    )
    priced = pl.concat(
        [
            _priced(sales.filter(pl.col("msku").is_not_null()), estimates, ["account", "msku"]),
            _priced(sales.filter(pl.col("msku").is_null()), by_asin, ["account", "asin"]),
        ]
    )
    return priced.filter(pl.col("fee_per_unit").is_not_null()).select(
        "account",
        "asin",
        pl.col("report_date").alias("day"),
        (pl.col("fee_per_unit") * pl.col("units_ordered")).cast(MONEY).alias("amount"),
        "currency_code",
    )


def _priced(sales: pl.DataFrame, estimates: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """`sales` with the latest of `estimates` (matched on `by`) of the week up to each day."""
    return sales.join_asof(
        estimates.select(*by, "estimated_on", "fee_per_unit", "currency_code"),
        left_on="report_date",
        right_on="estimated_on",
        by=by,
        strategy="backward",
        tolerance=timedelta(days=FEE_PREVIEW_MAX_AGE_DAYS),
        check_sortedness=False,  # both sides are sorted by day
    ).select("account", "asin", "report_date", "units_ordered", "fee_per_unit", "currency_code")


def competitor_pairs(tracked: pl.DataFrame | None) -> pl.DataFrame:
    """(account, own_asin, competitor_asin) from the tracked list (competitors name their ASIN)."""
    schema = {"account": pl.String, "own_asin": pl.String, "competitor_asin": pl.String}
    if tracked is None or tracked.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        tracked.filter(pl.col("competitor_of").is_not_null())
        .select(
            pl.col("account").cast(pl.String),
            pl.col("competitor_of").cast(pl.String).alias("own_asin"),
            pl.col("asin").cast(pl.String).alias("competitor_asin"),
        )
        .unique()
        .sort("account", "own_asin", "competitor_asin")
    )


@dataclass(frozen=True)
class MartBuild:
    """The mart of [first, end) and what it was built from."""

    mart: pl.DataFrame
    tracked: pl.DataFrame | None
    missing_sources: list[str]  # silver tables that do not exist (their columns stay null)


class MissingBusinessReportsError(LookupError):
    """The business reports, the one source the mart cannot do without, were never loaded."""


def build_mart_for_days(
    warehouse: WarehouseResource, dataset: str, first: date, end: date
) -> MartBuild:
    """Read every silver source for [first, end) and join them into `mart_asin_daily`."""
    read = {name: read_source(warehouse, dataset, SOURCES[name], first, end) for name in SOURCES}
    business = read.pop("business_reports")
    if business is None:
        raise MissingBusinessReportsError(
            f"{dataset}.{BUSINESS_REPORTS} does not exist: materialize the business reports "
            "(`amazon-assets ingest business-reports`) first."
        )
    fee_preview = read.pop("fee_preview")
    fees = None if fee_preview is None else fees_from_preview(fee_preview, business)
    tracked = read_tracked(warehouse, dataset)
    spine = mart_spine(first, end, business, tracked)
    lazy = {name: (None if frame is None else frame.lazy()) for name, frame in read.items()}
    mart = build_mart_asin_daily(
        spine.lazy(),
        business_reports=business.lazy(),
        product_snapshot=lazy["product_snapshot"],
        ads=lazy["ads"],
        fees=None if fees is None else fees.lazy(),
        returns=lazy["returns"],
        reimbursements=lazy["reimbursements"],
    ).collect()
    missing = sorted(
        name for name, frame in [*read.items(), ("fee_preview", fee_preview)] if frame is None
    )
    return MartBuild(mart, tracked, missing)
