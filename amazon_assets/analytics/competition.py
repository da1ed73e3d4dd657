"""competitor_comparison_daily: each own ASIN against its 3 to 5 competitors, per day.

Competitor ASINs are in the mart like own ones (the spine tracks both; competitors carry product
signals only). Units are unknown for competitors, so their sales are estimated from the Best Seller
Rank with a power law, units_per_day = a * bsr ** -b. The default (a=4000, b=0.85) is a coarse
cross-category curve of the shape sales-rank studies report (rank 1 sells thousands a day, rank
1,000 about a dozen, rank 100,000 a fraction of one); `fit_bsr_sales_model` calibrates a and b on the
seller's own ASINs, whose units and ranks are both known, which is what a category-specific
comparison should use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

COMPETITOR_COMPARISON_SCHEMA = pl.Schema(
    {
        "account": pl.Utf8,
        "asin": pl.Utf8,
        "report_date": pl.Date,
        "competitors_observed": pl.UInt32,
        "price": pl.Decimal(18, 2),
        "competitor_median_price": pl.Float64,
        "price_gap": pl.Float64,  # own / competitors' median - 1: +0.05 = 5 % dearer
        "bsr": pl.Int64,
        "competitor_median_bsr": pl.Float64,
        "bsr_gap": pl.Float64,  # ln(own) - median ln(competitors): negative = own ranks better
        "rating": pl.Float64,
        "competitor_mean_rating": pl.Float64,
        "rating_gap": pl.Float64,  # stars, own - competitors' mean
        "review_count": pl.Int64,
        "competitor_median_reviews": pl.Float64,
        "review_gap": pl.Float64,  # reviews, own - competitors' median
        "estimated_sales_share": pl.Float64,  # own estimated sales / the group's, 0..1
    }
)

MIN_COMPETITORS = 3
MAX_COMPETITORS = 5


@dataclass(frozen=True)
class BsrSalesModel:
    """Daily units from Best Seller Rank: a * bsr ** -b."""

    a: float = 4000.0
    b: float = 0.85

    def units(self, bsr: pl.Expr) -> pl.Expr:
        """Estimated units per day for a rank expression; null for a missing or invalid rank."""
        rank = bsr.cast(pl.Float64)
        return pl.when(rank >= 1).then(self.a * rank.pow(-self.b))


def fit_bsr_sales_model(mart: pl.LazyFrame, min_rows: int = 30) -> BsrSalesModel:
    """Least-squares fit of ln(units) = ln(a) - b ln(bsr) over mart rows with units and a rank."""
    fit = (
        mart.filter((pl.col("units_ordered") > 0) & (pl.col("bsr") >= 1))
        .select(
            pl.col("bsr").cast(pl.Float64).log().alias("x"),
            pl.col("units_ordered").cast(pl.Float64).log().alias("y"),
        )
        .select(
            pl.len().alias("n"),
            pl.cov("x", "y").alias("cov"),
            pl.col("x").var().alias("var"),
            pl.col("x").mean().alias("mx"),
            pl.col("y").mean().alias("my"),
        )
        .collect()
        .row(0, named=True)
    )
    if fit["n"] < min_rows or not fit["var"]:
        raise ValueError(
            f"Only {fit['n']} mart rows have both units and a rank; need {min_rows} to fit the "
            "BSR sales curve. Use BsrSalesModel() defaults until more history has loaded."
        )
    slope = fit["cov"] / fit["var"]
    return BsrSalesModel(a=math.exp(fit["my"] - slope * fit["mx"]), b=-slope)


def _log_rank() -> pl.Expr:
    """ln(bsr), null for a missing or invalid rank."""
    return pl.when(pl.col("bsr") >= 1).then(pl.col("bsr").cast(pl.Float64).log())


def _check_competitors(competitors: pl.DataFrame) -> None:
    required = {"account", "own_asin", "competitor_asin"}
    missing = sorted(required - set(competitors.columns))
    if missing:
        raise ValueError(
            f"The competitor list lacks columns {missing}; it needs {sorted(required)}."
        )
    counts = (
        competitors.unique(["account", "own_asin", "competitor_asin"])
        .group_by("account", "own_asin")
        .len()
    )
    wrong = counts.filter(~pl.col("len").is_between(MIN_COMPETITORS, MAX_COMPETITORS)).sort(
        "account", "own_asin"
    )
    if len(wrong):
        row = wrong.row(0, named=True)
        raise ValueError(
            f"ASIN {row['own_asin']} of account {row['account']} has {row['len']} competitors; "
            f"list {MIN_COMPETITORS} to {MAX_COMPETITORS} per own ASIN "
            f"({len(wrong)} own ASINs are out of range)."
        )


def competitor_comparison_daily(
    mart: pl.LazyFrame,
    competitors: pl.DataFrame,
    *,
    sales_model: BsrSalesModel | None = None,
) -> pl.LazyFrame:
    """Price, rank, rating, review gaps and sales share of each own ASIN against its competitors."""
    _check_competitors(competitors)
    model = sales_model or BsrSalesModel()
    price = pl.col("price").cast(pl.Float64)
    # Own ASINs use their real units when the business report has them; competitors never do.
    units = pl.coalesce(pl.col("units_ordered").cast(pl.Float64), model.units(pl.col("bsr")))
    signals = mart.select(
        "account",
        "asin",
        "report_date",
        "price",
        "bsr",
        "rating",
        "review_count",
        (units * price).alias("_est_sales"),
    )
    pairs = competitors.lazy().select("account", "own_asin", "competitor_asin").unique()
    rivals = (
        pairs.join(signals.rename({"asin": "competitor_asin"}), on=["account", "competitor_asin"])
        .group_by("account", "own_asin", "report_date")
        .agg(
            # Observed: the competitor has any signal that day.
            pl.any_horizontal(pl.col("price", "bsr", "rating").is_not_null())
            .sum()
            .cast(pl.UInt32)
            .alias("competitors_observed"),
            pl.col("price").cast(pl.Float64).median().alias("competitor_median_price"),
            pl.col("bsr").cast(pl.Float64).median().alias("competitor_median_bsr"),
            _log_rank().median().alias("_median_log_bsr"),
            pl.col("rating").mean().alias("competitor_mean_rating"),
            pl.col("review_count").cast(pl.Float64).median().alias("competitor_median_reviews"),
            # Null, not 0, when no competitor has an estimate: a share of 1 would be invented.
            pl.when(pl.col("_est_sales").is_not_null().any())
            .then(pl.col("_est_sales").sum())
            .alias("_rival_sales"),
        )
        .rename({"own_asin": "asin"})
    )
    own = signals.join(
        pairs.select("account", pl.col("own_asin").alias("asin")).unique(),
        on=["account", "asin"],
        how="semi",
    )
    group_sales = pl.col("_est_sales") + pl.col("_rival_sales")
    compared = own.join(rivals, on=["account", "asin", "report_date"], how="left").with_columns(
        pl.col("competitors_observed").fill_null(0),
        pl.when(pl.col("competitor_median_price") > 0)
        .then(price / pl.col("competitor_median_price") - 1)
        .alias("price_gap"),
        (_log_rank() - pl.col("_median_log_bsr")).alias("bsr_gap"),
        (pl.col("rating") - pl.col("competitor_mean_rating")).alias("rating_gap"),
        (pl.col("review_count") - pl.col("competitor_median_reviews")).alias("review_gap"),
        pl.when(group_sales > 0)
        .then(pl.col("_est_sales") / group_sales)
        .alias("estimated_sales_share"),
    )
    return compared.sort("account", "asin", "report_date").select(
        pl.col(name).cast(dtype) for name, dtype in COMPETITOR_COMPARISON_SCHEMA.items()
    )
