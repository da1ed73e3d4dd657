"""Checks on the mart: unique keys and one currency (blocking), and the daily data-quality report.

As in silver, a write replaces whole days, so the frame a run writes is what the table holds for
those days: checking the frame is checking the table without a second read.
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from amazon_assets.analytics.mart import KEYS, MONEY_COLUMNS, SOURCE_COLUMNS

MART_KEY = dg.AssetKey(["mart", "mart_asin_daily"])

# What "this ASIN has data from the source that day" means, as a mart expression per source.
SOURCE_PRESENCE: dict[str, pl.Expr] = {
    source: pl.any_horizontal(pl.col(*columns).is_not_null())
    for source, columns in SOURCE_COLUMNS.items()
}
# Rows that are possible in a correct pipeline only rarely, if at all: each is worth a look.
ANOMALIES: dict[str, pl.Expr] = {
    "units_without_sessions": (pl.col("units_ordered") > 0) & (pl.col("sessions") == 0),
    "buy_box_percentage_out_of_range": ~pl.col("buy_box_percentage").is_between(0, 100),
    "conversion_above_one": pl.col("conversion") > 1,
    "negative_money": pl.any_horizontal(
        pl.col("ordered_product_sales", "ad_spend", "ad_sales", "fees", "price") < 0
    ),
    "in_stock_without_price": pl.col("in_stock") & pl.col("price").is_null(),
}
DATA_QUALITY_SCHEMA = pl.Schema(
    {
        "report_date": pl.Date,
        "account": pl.String,
        "kind": pl.String,  # "coverage" or "anomaly"
        "name": pl.String,  # the source, or the anomaly rule
        "asins": pl.Int64,  # ASINs with data from the source / ASINs the rule flags
        "tracked_asins": pl.Int64,  # ASINs in the mart's spine that day
        "share": pl.Float64,  # asins / tracked_asins
    }
)


def mart_check_specs() -> list[dg.AssetCheckSpec]:
    """The checks evaluated with every mart write."""
    return [
        dg.AssetCheckSpec(
            "keys_unique",
            asset=MART_KEY,
            blocking=True,
            description="(account, asin, report_date) is non-null and unique.",
        ),
        dg.AssetCheckSpec(
            "money_has_one_currency",
            asset=MART_KEY,
            blocking=True,
            description="Every row with an amount has the one currency_code its sources agree on.",
        ),
    ]


def money_has_one_currency(mart: pl.DataFrame) -> dg.AssetCheckResult:
    """Fails on a row with an amount but no currency: its sources disagree (or mix currencies).
    A zero (a flow source's "nothing happened") needs no currency."""
    has_money = pl.any_horizontal((pl.col(c) != 0).fill_null(False) for c in MONEY_COLUMNS)
    without = mart.filter(has_money & pl.col("currency_code").is_null())
    currencies = mart.group_by("currency_code").len().sort("currency_code").rows()
    return dg.AssetCheckResult(
        asset_key=MART_KEY,
        check_name="money_has_one_currency",
        passed=without.height == 0,
        metadata={
            "rows_without_currency": without.height,
            "rows_per_currency": dg.MetadataValue.json({str(c): n for c, n in currencies}),
            "examples": dg.MetadataValue.json(
                without.select(*KEYS)
                .head(10)
                .with_columns(pl.col("report_date").cast(pl.Utf8))
                .to_dicts()
            ),
        },
    )


def data_quality_daily(mart: pl.DataFrame) -> pl.DataFrame:
    """Per day and account: coverage of each source and the rows each anomaly rule flags."""
    day_account = ["report_date", "account"]
    measures = {
        **{("coverage", name): expr for name, expr in SOURCE_PRESENCE.items()},
        **{("anomaly", name): expr for name, expr in ANOMALIES.items()},
    }
    counts = mart.group_by(day_account).agg(
        pl.len().alias("tracked_asins"),
        *(expr.fill_null(False).sum().alias(f"{k}:{n}") for (k, n), expr in measures.items()),
    )
    long = counts.unpivot(
        index=[*day_account, "tracked_asins"], variable_name="measure", value_name="asins"
    )
    kind_name = pl.col("measure").str.split_exact(":", 1)
    return (
        long.with_columns(
            kind_name.struct.field("field_0").alias("kind"),
            kind_name.struct.field("field_1").alias("name"),
            (pl.col("asins") / pl.col("tracked_asins")).alias("share"),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in DATA_QUALITY_SCHEMA.items())
        .sort("report_date", "account", "kind", "name")
    )


def quality_metadata(quality: pl.DataFrame) -> dict[str, dg.RawMetadataValue]:
    """Coverage per source over the run (numbers Dagster charts) and anomalies found."""
    totals = (
        quality.group_by("kind", "name")
        .agg(pl.col("asins").sum(), pl.col("tracked_asins").sum())
        .sort("kind", "name")
    )
    metadata: dict[str, dg.RawMetadataValue] = {}
    for row in totals.iter_rows(named=True):
        if row["kind"] == "coverage":
            share = row["asins"] / row["tracked_asins"] if row["tracked_asins"] else 0.0
            metadata[f"coverage_{row['name']}"] = round(share, 4)
        else:
            metadata[f"anomalies_{row['name']}"] = int(row["asins"])
    anomalies = int(totals.filter(pl.col("kind") == "anomaly")["asins"].sum() or 0)
    metadata["anomalies_found"] = anomalies
    return metadata
