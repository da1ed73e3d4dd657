"""score_baseline_daily: a transparent "explosive score" before any model is trained.

Each configured feature becomes a robust z-score among the ASINs of the same marketplace, category
and day ((x - median) / (1.4826 * MAD), so one outlier cannot move everyone's score); the score is
the weighted sum of those z-scores, and the rank orders ASINs within their category that day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import polars as pl

from amazon_assets.analytics.features import FEATURE_COLUMNS

# 1.4826 * MAD estimates the standard deviation of normal data; when over half the group share one
# value the MAD is 0, and 1.2533 * mean absolute deviation does the same job (Iglewicz & Hoaglin).
_MAD_SCALE = 1.4826
_MEAN_AD_SCALE = 1.2533

# Signs and rough sizes follow what the ranker's label rewards (sustained in-stock growth of
# demand over the next two weeks): on the sandbox marketplace, each weighted feature's rank
# correlation with the label within (marketplace, category, day) has the weight's sign
# (amazon_assets_tests/analytics/test_score.py checks it). Rising traffic and a falling rank
# (negative log-BSR slope) lead; a price cut today (a deal) predicts a return to normal, not
# growth. Stock-outs and buy-box swings are left out: what they predict is a restock's rebound,
# which the label deliberately does not reward.
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "sessions_trend": 1.0,
        "bsr_slope_14d": -0.5,
        "bsr_slope_7d": -0.25,
        "bsr_slope_30d": -0.25,
        "rating_drift_30d": 0.25,
        "review_velocity_7d": 0.25,
        "price_change_vs_median_7d": -0.25,
    }
)

SCORE_BASELINE_DAILY_SCHEMA = pl.Schema(
    {
        "account": pl.Utf8,
        "asin": pl.Utf8,
        "report_date": pl.Date,
        "marketplace_id": pl.Utf8,
        "category": pl.Utf8,
        "explosive_score": pl.Float64,
        "category_rank": pl.UInt32,
    }
)

PEER_GROUP = ("report_date", "marketplace_id", "category")


@dataclass(frozen=True)
class ScoreConfig:
    """Feature weights of the baseline score, and the bound on each feature's z-score."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    clip_z: float = 5.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(FEATURE_COLUMNS))
        if unknown:
            raise ValueError(
                f"Score weights name unknown features {unknown}; choose from {list(FEATURE_COLUMNS)}."
            )
        if not self.weights:
            raise ValueError("Score weights are empty; give at least one feature a weight.")
        if self.clip_z <= 0:
            raise ValueError(f"clip_z must be positive, got {self.clip_z}.")


def robust_z(frame: pl.LazyFrame, columns: list[str], group: tuple[str, ...]) -> pl.LazyFrame:
    """Replaces each column by `_z_<column>`: (x - median) / scaled MAD in the group; 0 for null."""
    keys = list(group)
    x = {c: pl.col(c).cast(pl.Float64) for c in columns}
    # Group statistics by group_by + join rather than .over: nested windows (the median of
    # deviations from a windowed median) re-evaluate per group and take minutes at 2.7M rows.
    medians = frame.group_by(keys).agg(x[c].median().alias(f"_median_{c}") for c in columns)
    others = [name for name in frame.collect_schema().names() if name not in columns]
    centred = frame.join(medians, on=keys, how="left", nulls_equal=True).select(
        *others, *((x[c] - pl.col(f"_median_{c}")).alias(f"_centred_{c}") for c in columns)
    )
    spreads = centred.group_by(keys).agg(
        stat
        for c in columns
        for stat in (
            pl.col(f"_centred_{c}").abs().median().alias(f"_mad_{c}"),
            pl.col(f"_centred_{c}").abs().mean().alias(f"_mean_ad_{c}"),
        )
    )
    z = {}
    for c in columns:
        mad = pl.col(f"_mad_{c}") * _MAD_SCALE
        spread = pl.when(mad > 0).then(mad).otherwise(pl.col(f"_mean_ad_{c}") * _MEAN_AD_SCALE)
        # A missing feature counts as typical (z = 0) so one absent source does not sink an ASIN.
        z[c] = (
            pl.when(spread > 0)
            .then(pl.col(f"_centred_{c}") / spread)
            .otherwise(0.0)
            .fill_null(0.0)
            .fill_nan(0.0)
        )
    return centred.join(spreads, on=keys, how="left", nulls_equal=True).select(
        *others, *(z[c].alias(f"_z_{c}") for c in columns)
    )


def score_baseline_daily(features: pl.LazyFrame, config: ScoreConfig | None = None) -> pl.LazyFrame:
    """Explosive score and rank within (marketplace, category, day), in SCORE_BASELINE_DAILY_SCHEMA."""
    config = config or ScoreConfig()
    columns = list(config.weights)
    terms = [
        pl.col(f"_z_{name}").clip(-config.clip_z, config.clip_z) * weight
        for name, weight in config.weights.items()
    ]
    # Only what the score needs travels through the joins: they copy every column they carry.
    needed = features.select("account", "asin", *PEER_GROUP, *columns)
    scored = robust_z(needed, columns, PEER_GROUP).with_columns(
        pl.sum_horizontal(terms).alias("explosive_score")
    )
    return scored.select(
        "account",
        "asin",
        "report_date",
        "marketplace_id",
        "category",
        "explosive_score",
        # 1 is the most explosive; ties share the better rank, independent of row order.
        pl.col("explosive_score")
        .rank(method="min", descending=True)
        .over(PEER_GROUP)
        .cast(pl.UInt32)
        .alias("category_rank"),
    )
