"""Training labels: how much an ASIN's sales (or traffic) grow over the next H days.

For day D and horizon H, with `metric` the mart's units_ordered (or sessions):
- past mean: the metric's mean over the trailing window (D - H, D], the same span the features see;
- future mean: its mean over (D, D + H], the days the model is asked about;
- `future_log_growth` = ln((1 + future mean) / (1 + past mean)), the regression target (the +1 keeps
  products with no sales finite and damps noise at tiny volumes);
- `takes_off` = future_log_growth > ln(1 + growth_threshold), the binary target;
- `relevance` 0..4 = how many of `relevance_growth` (growth ratios) the future/past ratio exceeds,
  the graded target of the ranker within a (marketplace, category, day) group.

A window needs at least half its days observed. A label for D needs H days after D, so labels exist
only for days D with D + H <= the last day in the frame: the last H days of any frame have none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import polars as pl

LABELS_SCHEMA = pl.Schema(
    {
        "account": pl.Utf8,
        "asin": pl.Utf8,
        "report_date": pl.Date,
        "marketplace_id": pl.Utf8,
        "category": pl.Utf8,
        "past_mean": pl.Float64,
        "future_mean": pl.Float64,
        "future_log_growth": pl.Float64,
        "takes_off": pl.Boolean,
        "relevance": pl.Int32,
    }
)


@dataclass(frozen=True)
class LabelConfig:
    """Horizon, thresholds and the mart metric the labels measure growth of."""

    horizon_days: int = 14
    # Take-off = the next H days sell at least (1 + threshold) times the last H days: doubling.
    growth_threshold: float = 1.0
    # Growth ratios for relevance 1, 2, 3 and 4; a ratio at or below the first is relevance 0.
    relevance_growth: tuple[float, ...] = (1.25, 1.6, 2.2, 3.5)
    metric: Literal["units_ordered", "sessions"] = "units_ordered"

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ValueError(f"horizon_days must be at least 1, got {self.horizon_days}.")
        if self.growth_threshold <= -1:
            raise ValueError(f"growth_threshold must be above -1, got {self.growth_threshold}.")
        cuts = self.relevance_growth
        if len(cuts) != 4 or any(c <= 0 for c in cuts) or list(cuts) != sorted(set(cuts)):
            raise ValueError(
                f"relevance_growth needs 4 increasing positive growth ratios, got {cuts}."
            )
        if self.metric not in ("units_ordered", "sessions"):
            raise ValueError(f"metric must be units_ordered or sessions, got {self.metric!r}.")


def last_labelled_day(last_day_with_data: date, config: LabelConfig) -> date:
    """The last day whose label window is complete when data runs through `last_day_with_data`."""
    return last_day_with_data - timedelta(days=config.horizon_days)


def labels_asin_daily(mart: pl.LazyFrame, config: LabelConfig | None = None) -> pl.LazyFrame:
    """Labels per (account, asin, report_date) in LABELS_SCHEMA, for days with a complete future."""
    config = config or LabelConfig()
    h = config.horizon_days
    window = f"{h}d"
    min_samples = max(1, math.ceil(h / 2))
    metric = pl.col(config.metric).cast(pl.Float64)
    base = mart.select(
        "account", "asin", pl.col("report_date").cast(pl.Date), "marketplace_id", "category", metric
    ).sort("account", "asin", "report_date")
    # Trailing mean over (t - H, t] per ASIN, by dates (a gap never stretches the window).
    trailing = base.with_columns(
        pl.col(config.metric)
        .rolling_mean_by("report_date", window, min_samples=min_samples)
        .over("account", "asin")
        .alias("past_mean"),
        pl.col(config.metric).is_not_null().alias("_observed"),
    ).with_columns(
        pl.col("_observed")
        .cast(pl.Int32)
        .rolling_sum_by("report_date", window)
        .over("account", "asin")
        .alias("_observed_days")
    )
    # The future window (D, D + H] is the trailing window of day D + H: look it up there.
    future = trailing.select(
        "account",
        "asin",
        (pl.col("report_date") - pl.duration(days=h)).alias("report_date"),
        pl.when(pl.col("_observed_days") >= min_samples)
        .then(pl.col("past_mean"))
        .alias("future_mean"),
    )
    last_day = pl.col("report_date").max()
    growth = ((1 + pl.col("future_mean")) / (1 + pl.col("past_mean"))).log()
    relevance = pl.sum_horizontal(
        (growth > math.log(cut)).cast(pl.Int32) for cut in config.relevance_growth
    )
    return (
        trailing.filter(pl.col("report_date") <= last_day - pl.duration(days=h))
        .join(future, on=["account", "asin", "report_date"], how="inner")
        .with_columns(growth.alias("future_log_growth"))
        .filter(pl.col("future_log_growth").is_not_null())
        .with_columns(
            (pl.col("future_log_growth") > math.log1p(config.growth_threshold)).alias("takes_off"),
            relevance.alias("relevance"),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in LABELS_SCHEMA.items())
    )


def join_labels(features: pl.LazyFrame, labels: pl.LazyFrame) -> pl.LazyFrame:
    """Feature rows that have a label, with the label columns beside them."""
    label_columns = ["future_log_growth", "takes_off", "relevance"]
    return features.join(
        labels.select("account", "asin", "report_date", *label_columns),
        on=["account", "asin", "report_date"],
        how="inner",
    )
