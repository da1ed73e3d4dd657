"""score_baseline_daily: robust z-scores per category and day, weighted, ranked."""

from __future__ import annotations

import polars as pl
import pytest

from amazon_assets.analytics.features import FEATURES_ASIN_DAILY_SCHEMA
from amazon_assets.analytics.score import (
    SCORE_BASELINE_DAILY_SCHEMA,
    ScoreConfig,
    score_baseline_daily,
)
from amazon_assets_tests.analytics import day


def _features(**columns: list) -> pl.LazyFrame:
    n = len(next(iter(columns.values())))
    base = {
        "account": ["s1"] * n,
        "asin": [f"A{i}" for i in range(n)],
        "report_date": [day(0)] * n,
        "marketplace_id": ["ATVPDKIKX0DER"] * n,
        "category": ["toys"] * n,
    }
    base.update(columns)
    return pl.LazyFrame(
        {
            name: pl.Series(name, base.get(name, [None] * n), dtype=dtype, strict=False)
            for name, dtype in FEATURES_ASIN_DAILY_SCHEMA.items()
        }
    )


def _score(frame: pl.LazyFrame, weights: dict[str, float], clip_z: float = 5.0) -> pl.DataFrame:
    return score_baseline_daily(frame, ScoreConfig(weights=weights, clip_z=clip_z)).collect()


def test_robust_z_uses_median_and_mad() -> None:
    # median 3, |x - 3| = 2, 1, 0, 1, 97 -> MAD 1.
    frame = _features(sessions_trend=[1.0, 2.0, 3.0, 4.0, 100.0])
    scored = _score(frame, {"sessions_trend": 1.0}, clip_z=1000)
    assert scored.schema == SCORE_BASELINE_DAILY_SCHEMA
    by_asin = dict(zip(scored["asin"], scored["explosive_score"], strict=True))
    assert by_asin["A4"] == pytest.approx(97 / 1.4826)
    assert by_asin["A0"] == pytest.approx(-2 / 1.4826)
    assert by_asin["A2"] == pytest.approx(0.0)
    # The outlier is clipped by default.
    assert _score(frame, {"sessions_trend": 1.0})["explosive_score"].max() == pytest.approx(5.0)


def test_zero_mad_falls_back_to_mean_absolute_deviation_and_null_is_typical() -> None:
    # Over half equal: MAD 0; the mean of |x - 0| over the 4 values is 2.5 -> scale 1.2533 * 2.5.
    frame = _features(stock_out_days_7d=[0, 0, 0, 10, None])
    scored = _score(frame, {"stock_out_days_7d": -1.0})
    by_asin = dict(zip(scored["asin"], scored["explosive_score"], strict=True))
    assert by_asin["A3"] == pytest.approx(-10 / (1.2533 * 2.5))
    assert by_asin["A4"] == pytest.approx(0.0)
    assert by_asin["A0"] == pytest.approx(0.0)


def test_falling_rank_and_rising_traffic_rank_first_within_each_category() -> None:
    frame = _features(
        category=["toys", "toys", "toys", "books", "books", "books"],
        bsr_slope_7d=[-0.10, 0.0, 0.05, 0.02, -0.01, 0.0],
        sessions_trend=[0.5, 0.0, -0.2, 0.0, 0.3, 0.1],
    )
    scored = _score(frame, {"bsr_slope_7d": -1.0, "sessions_trend": 0.5})
    ranks = dict(zip(scored["asin"], scored["category_rank"], strict=True))
    assert (ranks["A0"], ranks["A1"], ranks["A2"]) == (1, 2, 3)
    assert (ranks["A4"], ranks["A5"], ranks["A3"]) == (1, 2, 3)


def test_days_and_marketplaces_are_scored_separately() -> None:
    frame = pl.concat(
        [
            _features(sessions_trend=[0.0, 1.0, 2.0]),
            _features(sessions_trend=[10.0, 20.0, 30.0]).with_columns(
                pl.lit(day(1)).alias("report_date")
            ),
        ]
    )
    scored = _score(frame, {"sessions_trend": 1.0})
    # Same spread on both days, so the same scores; a pooled median would differ.
    day0 = scored.filter(pl.col("report_date") == day(0))["explosive_score"].to_list()
    day1 = scored.filter(pl.col("report_date") == day(1))["explosive_score"].to_list()
    assert day0 == pytest.approx([-1 / 1.4826, 0.0, 1 / 1.4826])
    assert day1 == pytest.approx(day0)


def test_unknown_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="bsr_slope_99d"):
        ScoreConfig(weights={"bsr_slope_99d": 1.0})


def test_default_weights_have_the_signs_the_label_rewards() -> None:
    """On the sandbox marketplace (stock-outs, deals, spikes, ad pushes, take-offs), each weighted
    feature ranks ASINs of a category-day the way the ranker's label does: its rank correlation
    with future growth within (marketplace, category, day) has the sign of its weight."""
    from datetime import date, timedelta

    from amazon_assets.analytics.score import DEFAULT_WEIGHTS
    from amazon_assets.ml.dataset import model_frame
    from amazon_assets.sandbox.config import SandboxConfig
    from amazon_assets.sandbox.marketplace import Marketplace
    from amazon_assets.sandbox.truth_mart import truth_mart

    marketplace = Marketplace(SandboxConfig(seed=5, skus_per_account=600, today=date(2025, 1, 1)))
    last = marketplace.last_day("default")
    frame = model_frame(truth_mart(marketplace, "default", last - timedelta(days=179), last))
    group = ["marketplace_id", "category", "report_date"]
    for feature, weight in DEFAULT_WEIGHTS.items():
        ranks = frame.select(
            pl.col(feature).rank().over(group).alias("feature"),
            pl.col("future_log_growth").rank().over(group).alias("label"),
        ).drop_nulls()
        correlation = ranks.select(pl.corr("feature", "label")).item()
        assert correlation * weight > 0, (feature, weight, correlation)
