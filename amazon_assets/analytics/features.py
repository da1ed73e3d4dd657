"""features_asin_daily: rolling features per (account, asin) and day, computed from the mart.

Every window is trailing and bounded by report_date: a "7d" window on day t covers (t-7d, t], a
"prior 7d" window [t-7d, t). Windows are measured in days, not rows, so a missing row never
stretches a window; nulls inside a window are skipped, and a window with fewer than
`_min_samples(days)` observations gives null. Nothing looks ahead (no centered windows, no negative
shifts), so a day's features depend only on rows up to that day.

Day-over-day differences (BSR volatility, new reviews) are taken between consecutive rows of an
ASIN; the mart's spine has one row per day, so a missing observation shows up as a null that the
forward fill of review counts carries over, not as a longer step. That fill (and the category's)
carries a value at most CARRY_DAYS days: so a day's features depend on at most LOOKBACK_DAYS days
before it, and a run that reads exactly those days (a daily 7-day run) computes the same values as
a recompute of the whole history. An unbounded fill would let a review count from months ago
decide the first new-review step of a short run's window.
"""

from __future__ import annotations

import polars as pl

# The longest trailing window (30 days, and a "prior 30 days" window ending the day before) plus
# the farthest a review count or category is carried forward.
WINDOW_DAYS = 30
CARRY_DAYS = 7
LOOKBACK_DAYS = WINDOW_DAYS + CARRY_DAYS

# Each ASIN's own trailing windows.
ASIN_FEATURES: tuple[str, ...] = (
    "bsr_slope_7d",
    "bsr_slope_14d",
    "bsr_slope_30d",
    "bsr_volatility_30d",
    "price_cv_7d",
    "price_cv_30d",
    "price_change_vs_median_7d",
    "review_velocity_7d",
    "review_velocity_30d",
    "review_acceleration",
    "rating_drift_30d",
    "sessions_trend",
    "conversion_7d",
    "conversion_trend",
    "buy_box_share_7d",
    "buy_box_trend",
    "acos_7d",
    "acos_trend",
    "tacos_7d",
    "tacos_trend",
    "listing_quality",
    "stock_out_days_7d",
    "stock_out_days_30d",
    # Onset: the last days against the product's own in-stock baseline (see _onset).
    "sessions_onset_1d",
    "sessions_onset_3d",
    "sessions_onset_7d",
    "units_onset_7d",
    "conversion_onset_7d",
    "bsr_onset_1d",
    "bsr_onset_3d",
    "bsr_onset_7d",
    "bsr_onset_worst_3d",
    "bsr_onset_worst_5d",
    "sessions_onset_worst_3d",
    "sessions_onset_worst_5d",
    "rank_vs_traffic_onset_1d",
    "rank_vs_traffic_onset_3d",
    "bsr_onset_z_1d",
    "bsr_onset_z_3d",
    "bsr_onset_worst_3d_z",
    "conversion_onset_3d",
    "bsr_step_1d",
    "bsr_step_worst_2d",
    "bsr_step_worst_3d",
    "price_vs_median_30d",
    "ad_click_share_7d",
    "ad_impressions_trend",
    "days_since_stock_out",
)
# Against the peers (same marketplace, category and day): the feature less the peers' median. A
# holiday or a category's season lifts every peer alike; relative to them, only the product's own
# growth is left, which splits on absolute values (a model's trees) cannot see by themselves.
PEER_RELATIVE = (
    "sessions_trend",
    "bsr_slope_7d",
    "bsr_slope_30d",
    "sessions_onset_1d",
    "sessions_onset_3d",
    "sessions_onset_7d",
    "units_onset_7d",
    "bsr_onset_1d",
    "bsr_onset_3d",
    "bsr_onset_7d",
    "bsr_onset_worst_3d",
    "bsr_onset_worst_5d",
    "bsr_onset_z_1d",
    "bsr_onset_z_3d",
    "conversion_onset_3d",
    "bsr_step_1d",
    "bsr_step_worst_2d",
    "bsr_step_worst_3d",
)
FEATURE_COLUMNS: tuple[str, ...] = ASIN_FEATURES + tuple(
    f"{name}_vs_peers" for name in PEER_RELATIVE
)

_DAY_COUNTS = ("stock_out_days_7d", "stock_out_days_30d", "days_since_stock_out")

# Keys first, then the features; category is the last category the ASIN was ranked in.
FEATURES_ASIN_DAILY_SCHEMA = pl.Schema(
    {
        "account": pl.Utf8,
        "asin": pl.Utf8,
        "report_date": pl.Date,
        "marketplace_id": pl.Utf8,
        "category": pl.Utf8,
        **{name: pl.Int64 if name in _DAY_COUNTS else pl.Float64 for name in FEATURE_COLUMNS},
    }
)

# Rolling float sums add and subtract, so a window whose values are all 0 can sum to 1e-15 rather
# than 0; every denominator here (cents, sessions, prices) is either 0 or far above this.
_ZERO = 1e-6

# Review depth reaches 1 at 10,000 reviews: log10(1 + reviews) / 4.
_REVIEW_DEPTH_DECADES = 4.0


# Windows run over one integer: ASIN number * _ASIN_STRIDE + day number. ASINs sit _ASIN_STRIDE
# days apart, so no window reaches into another ASIN, and one pass over the sorted frame replaces a
# per-ASIN window (.over) for each of the ~60 rolling statistics: several times faster at 2.7M rows.
_PACKED_DAY = "_packed_day"
_ASIN_STRIDE = 1 << 24  # days, far beyond any span of report dates


def _min_samples(days: int) -> int:
    """Observations a window needs: half the window, and at least 3 so a slope is defined."""
    return max(3, days // 2)


def _roll(
    expr: pl.Expr, how: str, days: int, *, prior: bool = False, min_samples: int | None = None
) -> pl.Expr:
    """A trailing rolling statistic of `expr` per ASIN over `days` days (see _PACKED_DAY)."""
    fn = getattr(expr, f"rolling_{how}_by")
    return fn(
        _PACKED_DAY,
        f"{days}i",
        min_samples=_min_samples(days) if min_samples is None else min_samples,
        # "left" is [t - days, t): the days before t, for comparing t against its own past.
        closed="left" if prior else "right",
    )


# The baseline an onset is measured against: the in-stock median of the 28 days before the day. A
# median of four weeks stays at the old level while fewer than half its days have grown, so a
# product two weeks into a take-off still stands out against it.
BASELINE_DAYS = 28


def _onset(log_value: str, days: int) -> pl.Expr:
    """How far the last `days` days of an in-stock log series sit above its baseline: the day
    itself, the mean of 3 days, or the median of a week (which a deal or spike of a few days
    cannot move), less the median of the BASELINE_DAYS days before the day."""
    value = pl.col(log_value)
    if days == 1:
        recent = value
    elif days < 7:
        recent = _roll(value, "mean", days, min_samples=days)
    else:
        recent = _roll(value, "median", days)
    return recent - _roll(value, "median", BASELINE_DAYS, prior=True)


def _onset_worst(log_value: str, days: int, worst: str) -> pl.Expr:
    """The weakest of the last `days` in-stock days against the same baseline as _onset (`worst`
    is "max" for a rank, where lower is better, "min" for traffic): it moves only when every one
    of those days moved, which a deal of 1 to 3 days or a spike of a few days does not, and a
    take-off, whose growth builds day after day, does."""
    value = pl.col(log_value)
    return _roll(value, worst, days, min_samples=days) - _roll(
        value, "median", BASELINE_DAYS, prior=True
    )


def _onset_z(onset: pl.Expr, log_value: str) -> pl.Expr:
    """An onset in units of the series' own spread: the standard deviation of its in-stock days
    over the baseline's days. A product whose rank wobbles little moves as far on a first day of
    growth as a volatile one does on an ordinary day; against its own spread, it stands out."""
    return _ratio(onset, _roll(pl.col(log_value), "std", BASELINE_DAYS, prior=True))


def _conversion_onset(days: int) -> pl.Expr:
    """In-stock conversion of the last `days` days against the BASELINE_DAYS days before, less 1."""
    c = pl.col
    return _ratio(
        _ratio(_roll(c("_units_in"), "sum", days), _roll(c("_sessions_in"), "sum", days)),
        _ratio(
            _roll(c("_units_in"), "sum", BASELINE_DAYS, prior=True),
            _roll(c("_sessions_in"), "sum", BASELINE_DAYS, prior=True),
        ),
    ).sub(1)


def _slope(y: str, t: str, days: int) -> pl.Expr:
    """Least-squares slope of y on t per day, from rolling means: cov(t, y) / var(t)."""
    mask = pl.col(y).is_not_null()
    tm = pl.when(mask).then(pl.col(t))  # t only where y exists, so every mean sees the same rows
    mean_t = _roll(tm, "mean", days)
    mean_y = _roll(pl.col(y), "mean", days)
    mean_ty = _roll(tm * pl.col(y), "mean", days)
    mean_tt = _roll(tm * tm, "mean", days)
    var_t = mean_tt - mean_t * mean_t
    return pl.when(var_t > _ZERO).then((mean_ty - mean_t * mean_y) / var_t)


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null when the denominator is (numerically) zero."""
    return pl.when(denominator > _ZERO).then(numerator / denominator)


def features_asin_daily(mart: pl.LazyFrame) -> pl.LazyFrame:
    """Rolling features per (account, asin, report_date) in FEATURES_ASIN_DAILY_SCHEMA."""
    f64 = pl.Float64
    base = (
        mart.select(
            "account",
            "asin",
            "report_date",
            "marketplace_id",
            "category",
            pl.when(pl.col("bsr") > 0).then(pl.col("bsr").cast(f64).log()).alias("_log_bsr"),
            pl.col("price").cast(f64).alias("_price"),
            pl.col("review_count").cast(f64).alias("_reviews"),
            pl.col("rating").cast(f64).alias("_rating"),
            # Counts stay integers: their rolling sums are exact.
            pl.col("sessions").alias("_sessions"),
            pl.col("units_ordered").alias("_units"),
            pl.col("buy_box_percentage").cast(f64).alias("_bb_pct"),
            pl.col("has_buy_box").cast(f64).alias("_has_bb"),
            pl.col("ad_spend").cast(f64).alias("_spend"),
            pl.col("ad_sales").cast(f64).alias("_ad_sales"),
            pl.col("ordered_product_sales").cast(f64).alias("_sales"),
            (~pl.col("in_stock")).cast(pl.Int64).alias("_out"),
            pl.col("ad_clicks").cast(f64).alias("_ad_clicks"),
            pl.col("ad_impressions").cast(f64).alias("_ad_impressions"),
            # Demand measured on in-stock days only (unknown stock counts as in stock): a
            # stock-out's missing sales and a restock's rebound are not the product's demand.
            *(
                pl.when(pl.col("in_stock").fill_null(True)).then(value).alias(name)
                for name, value in (
                    ("_log_sessions_in", pl.col("sessions").cast(f64).log1p()),
                    ("_log_units_in", pl.col("units_ordered").cast(f64).log1p()),
                    ("_sessions_in", pl.col("sessions").cast(f64)),
                    ("_units_in", pl.col("units_ordered").cast(f64)),
                    (
                        "_log_bsr_in",
                        pl.when(pl.col("bsr") > 0).then(pl.col("bsr").cast(f64).log()),
                    ),
                )
            ),
        )
        .sort("account", "asin", "report_date")
        .with_columns(
            _new_asin=(pl.col("account") != pl.col("account").shift())
            | (pl.col("asin") != pl.col("asin").shift()),
            _day=pl.col("report_date").cast(pl.Int64),
        )
        .with_columns(_asin_number=pl.col("_new_asin").fill_null(True).cum_sum().cast(pl.Int64))
        .with_columns(
            (pl.col("_asin_number") * _ASIN_STRIDE + pl.col("_day"))
            .set_sorted()
            .alias(_PACKED_DAY),
            # Days since the frame's first day keep t small, so t*t loses no precision.
            (pl.col("_day") - pl.col("_day").min()).cast(f64).alias("_t"),
            # Steps between consecutive rows of one ASIN; an ASIN's first row has none.
            pl.when(~pl.col("_new_asin")).then(pl.col("_log_bsr").diff()).alias("_log_bsr_step"),
            pl.when(~pl.col("_new_asin"))
            .then(pl.col("_log_bsr_in").diff())
            .alias("_log_bsr_in_step"),
            pl.col("_reviews")
            .forward_fill(limit=CARRY_DAYS)
            .diff()
            .over("_asin_number")
            .alias("_new_reviews"),
            pl.col("category").forward_fill(limit=CARRY_DAYS).over("_asin_number"),
        )
    )

    c = pl.col
    # Computed in stages: every stage's temporary rolling columns are freed before the next
    # starts, which keeps peak memory at about half of one big with_columns at 2.7M rows.
    stages = (
        (
            _slope("_log_bsr", "_t", 7).alias("bsr_slope_7d"),
            _slope("_log_bsr", "_t", 14).alias("bsr_slope_14d"),
            _slope("_log_bsr", "_t", 30).alias("bsr_slope_30d"),
            _roll(c("_log_bsr_step"), "std", 30).alias("bsr_volatility_30d"),
        ),
        (
            _ratio(_roll(c("_price"), "std", 7), _roll(c("_price"), "mean", 7)).alias(
                "price_cv_7d"
            ),
            _ratio(_roll(c("_price"), "std", 30), _roll(c("_price"), "mean", 30)).alias(
                "price_cv_30d"
            ),
            _ratio(c("_price"), _roll(c("_price"), "median", 7, prior=True))
            .sub(1)
            .alias("price_change_vs_median_7d"),
            (_roll(c("_new_reviews"), "sum", 7) / 7).alias("review_velocity_7d"),
            (_roll(c("_new_reviews"), "sum", 30) / 30).alias("review_velocity_30d"),
            (c("_rating") - _roll(c("_rating"), "mean", 30, prior=True)).alias("rating_drift_30d"),
        ),
        (
            _ratio(_roll(c("_sessions"), "mean", 7), _roll(c("_sessions"), "mean", 30))
            .sub(1)
            .alias("sessions_trend"),
            _ratio(_roll(c("_units"), "sum", 7), _roll(c("_sessions"), "sum", 7)).alias(
                "conversion_7d"
            ),
            _ratio(_roll(c("_units"), "sum", 30), _roll(c("_sessions"), "sum", 30)).alias(
                "_conv_30d"
            ),
            _roll(c("_has_bb"), "mean", 7).alias("buy_box_share_7d"),
            (_roll(c("_bb_pct"), "mean", 7) - _roll(c("_bb_pct"), "mean", 30)).alias(
                "buy_box_trend"
            ),
            _roll(c("_out"), "sum", 7).alias("stock_out_days_7d"),
            _roll(c("_out"), "sum", 30).alias("stock_out_days_30d"),
            # The latest out-of-stock day within 30 days (none: null).
            (
                c("_day") - _roll(pl.when(c("_out") == 1).then(c("_day")), "max", 30, min_samples=1)
            ).alias("days_since_stock_out"),
        ),
        (
            _onset("_log_sessions_in", 1).alias("sessions_onset_1d"),
            _onset("_log_sessions_in", 3).alias("sessions_onset_3d"),
            _onset("_log_sessions_in", 7).alias("sessions_onset_7d"),
            _onset("_log_units_in", 7).alias("units_onset_7d"),
            _onset("_log_bsr_in", 1).alias("bsr_onset_1d"),
            _onset("_log_bsr_in", 3).alias("bsr_onset_3d"),
            _onset("_log_bsr_in", 7).alias("bsr_onset_7d"),
            _onset_worst("_log_bsr_in", 3, "max").alias("bsr_onset_worst_3d"),
            _onset_worst("_log_bsr_in", 5, "max").alias("bsr_onset_worst_5d"),
            _onset_worst("_log_sessions_in", 3, "min").alias("sessions_onset_worst_3d"),
            _onset_worst("_log_sessions_in", 5, "min").alias("sessions_onset_worst_5d"),
            # The rank follows sales: a rank that improves more than the traffic grows means
            # buyers convert better (a product catching on), which a spike of visits does not.
            (-_onset("_log_bsr_in", 1) - _onset("_log_sessions_in", 1)).alias(
                "rank_vs_traffic_onset_1d"
            ),
            (-_onset("_log_bsr_in", 3) - _onset("_log_sessions_in", 3)).alias(
                "rank_vs_traffic_onset_3d"
            ),
            _onset_z(_onset("_log_bsr_in", 1), "_log_bsr_in").alias("bsr_onset_z_1d"),
            _onset_z(_onset("_log_bsr_in", 3), "_log_bsr_in").alias("bsr_onset_z_3d"),
            _onset_z(_onset_worst("_log_bsr_in", 3, "max"), "_log_bsr_in").alias(
                "bsr_onset_worst_3d_z"
            ),
            # Day-over-day rank steps between in-stock days, and the weakest of the last 2 and 3:
            # a take-off's rank improves day after day from its onset, while a spike or deal
            # jumps once and then holds.
            c("_log_bsr_in_step").alias("bsr_step_1d"),
            _roll(c("_log_bsr_in_step"), "max", 2, min_samples=2).alias("bsr_step_worst_2d"),
            _roll(c("_log_bsr_in_step"), "max", 3, min_samples=3).alias("bsr_step_worst_3d"),
            # Conversion of the last 3 days and week against the four weeks before, in-stock
            # days only: a take-off converts better from its first day, a spike of visits not.
            _conversion_onset(3).alias("conversion_onset_3d"),
            _conversion_onset(7).alias("conversion_onset_7d"),
            # A deal of the last days shows as a price below the month's median.
            _ratio(c("_price"), _roll(c("_price"), "median", 30, prior=True))
            .sub(1)
            .alias("price_vs_median_30d"),
            # Paid against organic traffic: growth an ad push bought is not the product's own.
            _ratio(_roll(c("_ad_clicks"), "sum", 7), _roll(c("_sessions"), "sum", 7)).alias(
                "ad_click_share_7d"
            ),
            _ratio(_roll(c("_ad_impressions"), "mean", 7), _roll(c("_ad_impressions"), "mean", 30))
            .sub(1)
            .alias("ad_impressions_trend"),
        ),
        (
            _ratio(_roll(c("_spend"), "sum", 7), _roll(c("_ad_sales"), "sum", 7)).alias("acos_7d"),
            _ratio(_roll(c("_spend"), "sum", 30), _roll(c("_ad_sales"), "sum", 30)).alias(
                "_acos_30d"
            ),
            _ratio(_roll(c("_spend"), "sum", 7), _roll(c("_sales"), "sum", 7)).alias("tacos_7d"),
            _ratio(_roll(c("_spend"), "sum", 30), _roll(c("_sales"), "sum", 30)).alias(
                "_tacos_30d"
            ),
        ),
    )
    windows = base
    for stage in stages:
        windows = windows.with_columns(stage)
    # Listing quality from what the APIs expose: stars, review depth and buy box ownership, each
    # on 0..1; a missing component is left out of the mean rather than counted as zero.
    review_depth = ((c("_reviews") + 1).log10() / _REVIEW_DEPTH_DECADES).clip(upper_bound=1.0)
    derived = windows.with_columns(
        (c("review_velocity_7d") - c("review_velocity_30d")).alias("review_acceleration"),
        (c("conversion_7d") - c("_conv_30d")).alias("conversion_trend"),
        (c("acos_7d") - c("_acos_30d")).alias("acos_trend"),
        (c("tacos_7d") - c("_tacos_30d")).alias("tacos_trend"),
        pl.mean_horizontal(c("_rating") / 5, review_depth, c("buy_box_share_7d")).alias(
            "listing_quality"
        ),
    )
    peers = ("marketplace_id", "category", "report_date")
    relative = derived.with_columns(
        (c(name) - c(name).median().over(peers)).alias(f"{name}_vs_peers") for name in PEER_RELATIVE
    )
    return relative.select(
        pl.col(name).cast(dtype) for name, dtype in FEATURES_ASIN_DAILY_SCHEMA.items()
    )
