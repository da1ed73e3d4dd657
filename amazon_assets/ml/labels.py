"""Training labels: whether an ASIN's in-stock demand grows, and keeps growing, over the next H days.

What a seller wants flagged is a product whose demand is starting to grow for reasons of its own:
not one coming back from a stock-out, not a one-day deal. So, for day D and horizon H, with
`metric` the mart's units_ordered (or sessions), only *in-stock days* count (the product listed,
its metric reported, and not out of stock: `in_stock` false or the metric missing excludes a day;
an unknown `in_stock`, when no product signals are loaded, counts as in stock):
- past mean: the metric's mean over the in-stock days of the trailing window (D - H, D], the span
  the features see (the baseline: a stock-out in it neither lowers nor inflates it);
- the future is cut in two halves, (D, D + H/2] and (D + H/2, D + H]; each half's in-stock mean is
  compared with the past mean, ln((1 + half mean) / (1 + past mean)) (the +1 keeps products with
  no sales finite and damps noise at tiny volumes);
- `future_log_growth` is the smaller of the two: growth has to persist over both halves, so a
  restock rebound or a deal of a few days (one half) is not growth, while a take-off is;
- `takes_off` = future_log_growth > ln(1 + growth_threshold), the binary target;
- `relevance` 0..4 = how many of `relevance_growth` (growth ratios) that growth exceeds, the graded
  target of the ranker within a (marketplace, category, day) group.
`future_mean` is the in-stock mean over the whole horizon, for reading the labels.

A day is labelled only when the product's metric was reported on at least 80 % of the
`history_days` days up to it, so a launch's first weeks (growth from nothing) are not take-offs.
The past window needs at least half its days in stock and each future half at least half of its
days, else the day has no label (unknown is not "no growth"). A label for D needs H days after D,
so labels exist only for days D with D + H <= the last day in the frame.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, Literal

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

LABEL_DEFINITION = (
    "growth = min over the two halves of the next H days of ln((1 + in-stock mean of the half) / "
    "(1 + in-stock mean of the last H days)); out-of-stock and unlisted days do not count; "
    "takes_off = growth > ln(1 + growth_threshold); relevance = number of relevance_growth ratios "
    "exceeded"
)


@dataclass(frozen=True)
class LabelConfig:
    """Horizon, thresholds and the mart metric the labels measure growth of."""

    horizon_days: int = 14
    # Take-off = both halves of the next H days sell at least (1 + threshold) times the last H days.
    growth_threshold: float = 1.0
    # Growth ratios for relevance 1, 2, 3 and 4; a ratio at or below the first is relevance 0.
    relevance_growth: tuple[float, ...] = (1.25, 1.6, 2.2, 3.5)
    # Sessions are demand before the listing converts it; ten times more numerous than units,
    # their growth is far less noisy at the volumes most products sell.
    metric: Literal["units_ordered", "sessions"] = "sessions"
    # How a window's in-stock days are summarised: the median ignores a spike of fewer than half
    # its days (a deal, a one-off mention), the mean does not.
    statistic: Literal["median", "mean"] = "median"
    # The in-stock baseline's span: the trailing days before D the future is compared with.
    baseline_days: int = 14
    # Days between the baseline and D: with a gap, growth that began in the last days still
    # counts (a product early in its take-off), while a product that grew long ago does not.
    baseline_gap_days: int = 14
    # A product needs this many days with its metric reported before D (a launch ramping up from
    # nothing is its first weeks on the market, not a take-off).
    history_days: int = 30

    def __post_init__(self) -> None:
        if self.horizon_days < 2:
            raise ValueError(f"horizon_days must be at least 2, got {self.horizon_days}.")
        if self.statistic not in ("median", "mean"):
            raise ValueError(f"statistic must be median or mean, got {self.statistic!r}.")
        if self.baseline_gap_days < 0:
            raise ValueError(f"baseline_gap_days must be >= 0, got {self.baseline_gap_days}.")
        if self.baseline_days < 1:
            raise ValueError(f"baseline_days must be at least 1, got {self.baseline_days}.")
        if self.history_days < 1:
            raise ValueError(f"history_days must be at least 1, got {self.history_days}.")
        if self.growth_threshold <= -1:
            raise ValueError(f"growth_threshold must be above -1, got {self.growth_threshold}.")
        cuts = self.relevance_growth
        if len(cuts) != 4 or any(c <= 0 for c in cuts) or list(cuts) != sorted(set(cuts)):
            raise ValueError(
                f"relevance_growth needs 4 increasing positive growth ratios, got {cuts}."
            )
        if self.metric not in ("units_ordered", "sessions"):
            raise ValueError(f"metric must be units_ordered or sessions, got {self.metric!r}.")

    def describe(self) -> dict[str, Any]:
        """The definition and its parameters, for a model's manifest and the assets' metadata."""
        return {
            **asdict(self),
            "relevance_growth": list(self.relevance_growth),
            "definition": LABEL_DEFINITION,
        }


def label_history_days(config: LabelConfig) -> int:
    """Days up to and including D whose mart rows D's label reads: the history a product needs
    and the baseline window before the gap, whichever reaches further back."""
    return max(config.history_days, config.baseline_gap_days + config.baseline_days)


def last_labelled_day(last_day_with_data: date, config: LabelConfig) -> date:
    """The last day whose label window is complete when data runs through `last_day_with_data`."""
    return last_day_with_data - timedelta(days=config.horizon_days)


def _in_stock_window(days: int, name: str, statistic: str = "mean") -> list[pl.Expr]:
    """The in-stock mean (or median) and the count of in-stock days over the trailing `days`
    days, per ASIN; out-of-stock days are null values the window skips."""
    window = f"{days}d"
    level = getattr(pl.col("_value"), f"rolling_{statistic}_by")("report_date", window)
    return [
        level.over("account", "asin").alias(f"_{name}_level"),
        pl.col("_counted")
        .rolling_sum_by("report_date", window)
        .over("account", "asin")
        .alias(f"_{name}_days"),
    ]


def _level(name: str, days: int) -> pl.Expr:
    """The window's in-stock level, null unless at least half its days were in stock."""
    enough = pl.col(f"_{name}_days") >= max(1, math.ceil(days / 2))
    return pl.when(enough).then(pl.col(f"_{name}_level"))


def labels_asin_daily(mart: pl.LazyFrame, config: LabelConfig | None = None) -> pl.LazyFrame:
    """Labels per (account, asin, report_date) in LABELS_SCHEMA, for days with a complete future."""
    config = config or LabelConfig()
    h = config.horizon_days
    first_half = h // 2
    second_half = h - first_half
    names = mart.collect_schema().names()
    in_stock = pl.col("in_stock").fill_null(True) if "in_stock" in names else pl.lit(True)
    metric = pl.col(config.metric).cast(pl.Float64)
    counted = metric.is_not_null() & in_stock
    base = (
        mart.select(
            "account",
            "asin",
            pl.col("report_date").cast(pl.Date),
            "marketplace_id",
            "category",
            pl.when(counted).then(metric).alias("_value"),
            counted.cast(pl.Int32).alias("_counted"),
            metric.is_not_null().cast(pl.Int32).alias("_reported"),
        )
        .sort("account", "asin", "report_date")
        .with_columns(
            *_in_stock_window(config.baseline_days, "past", config.statistic),
            *_in_stock_window(h, "future"),
            *_in_stock_window(first_half, "first", config.statistic),
            *_in_stock_window(second_half, "second", config.statistic),
            pl.col("_reported")
            .rolling_sum_by("report_date", f"{config.history_days}d")
            .over("account", "asin")
            .alias("_reported_days"),
        )
    )
    keys = ["account", "asin", "report_date"]

    def ahead(offset: int, *columns: pl.Expr) -> pl.LazyFrame:
        # A trailing window ending on D + offset is a future window of day D: look it up there.
        return base.select(
            "account",
            "asin",
            (pl.col("report_date") - pl.duration(days=offset)).alias("report_date"),
            *columns,
        )

    past = pl.col("past_mean")
    growth = {
        half: ((1 + pl.col(f"_{half}_mean")) / (1 + past)).log() for half in ("first", "second")
    }
    sustained = pl.min_horizontal(growth["first"], growth["second"])
    relevance = pl.sum_horizontal(
        (pl.col("future_log_growth") > math.log(cut)).cast(pl.Int32)
        for cut in config.relevance_growth
    )
    last_day = pl.col("report_date").max()
    return (
        base.filter(
            (pl.col("report_date") <= last_day - pl.duration(days=h))
            & (pl.col("_reported_days") >= math.ceil(0.8 * config.history_days))
        )
        .join(
            ahead(
                -config.baseline_gap_days, _level("past", config.baseline_days).alias("past_mean")
            ),
            on=keys,
        )
        .join(ahead(first_half, _level("first", first_half).alias("_first_mean")), on=keys)
        .join(
            ahead(
                h,
                _level("second", second_half).alias("_second_mean"),
                pl.when(pl.col("_future_days") > 0)
                .then(pl.col("_future_level"))
                .alias("future_mean"),
            ),
            on=keys,
        )
        # Growth needs both halves and the past; polars' min_horizontal would skip a null.
        .with_columns(
            pl.when(
                pl.col("_first_mean").is_not_null()
                & pl.col("_second_mean").is_not_null()
                & past.is_not_null()
            )
            .then(sustained)
            .alias("future_log_growth")
        )
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
