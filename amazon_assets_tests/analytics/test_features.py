"""features_asin_daily against values worked out by hand, and the no-look-ahead guarantee."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from amazon_assets.analytics.features import (
    FEATURE_COLUMNS,
    FEATURES_ASIN_DAILY_SCHEMA,
    features_asin_daily,
)
from amazon_assets_tests.analytics import day, mart_frame, one_asin


def _features(mart: pl.DataFrame) -> pl.DataFrame:
    return features_asin_daily(mart.lazy()).collect()


def _at(features: pl.DataFrame, column: str, i: int, asin: str | None = None) -> float | None:
    rows = features.filter(pl.col("report_date") == day(i))
    if asin is not None:
        rows = rows.filter(pl.col("asin") == asin)
    return rows[column].item()


def test_schema_and_one_row_per_mart_row() -> None:
    mart = one_asin(10, bsr=list(range(100, 110)))
    features = _features(mart)
    assert features.schema == FEATURES_ASIN_DAILY_SCHEMA
    assert features.height == 10
    assert set(FEATURE_COLUMNS) <= set(features.columns)


def test_bsr_slope_of_an_exponential_rank_is_its_rate() -> None:
    # ln(1000 * e^(-0.1 t)) falls by exactly 0.1 a day.
    mart = one_asin(40, bsr=[round(1_000_000 * math.exp(-0.1 * t)) for t in range(40)])
    features = _features(mart)
    assert _at(features, "bsr_slope_7d", 10) == pytest.approx(-0.1, abs=1e-4)
    assert _at(features, "bsr_slope_14d", 20) == pytest.approx(-0.1, abs=1e-4)
    assert _at(features, "bsr_slope_30d", 39) == pytest.approx(-0.1, abs=1e-4)
    # Fewer than 3 ranks in the window: no slope yet; 15 needed for the 30-day one.
    assert _at(features, "bsr_slope_7d", 1) is None
    assert _at(features, "bsr_slope_30d", 13) is None
    assert _at(features, "bsr_slope_30d", 14) is not None


def test_bsr_slope_matches_least_squares_over_the_trailing_week() -> None:
    ranks = [500, 520, 480, 450, 470, 400, 390, 420, 380, 300]
    features = _features(one_asin(10, bsr=ranks))
    # Day 9's 7-day window is days 3..9.
    t = np.arange(3, 10)
    expected = np.polyfit(t, np.log(ranks[3:10]), 1)[0]
    assert _at(features, "bsr_slope_7d", 9) == pytest.approx(expected, rel=1e-9)


def test_missing_ranks_are_skipped_not_zeroed() -> None:
    ranks = [800, None, 600, None, 400, 300, None, 200]
    features = _features(one_asin(8, bsr=ranks))
    t = np.array([1.0, 2, 4, 5, 7])  # days 1..7 holding a rank: 2, 4, 5, 7
    y = np.log([600, 400, 300, 200])
    expected = np.polyfit(t[1:], y, 1)[0]
    assert _at(features, "bsr_slope_7d", 7) == pytest.approx(expected, rel=1e-9)


def test_windows_are_days_not_rows() -> None:
    # Rows on days 0, 1, 2 and 10: on day 10 the 7-day window holds day 10 alone.
    mart = mart_frame(
        account=["s"] * 4,
        asin=["A"] * 4,
        report_date=[day(0), day(1), day(2), day(10)],
        price=[10.0, 20.0, 30.0, 40.0],
        bsr=[100, 200, 300, 400],
    )
    features = _features(mart)
    assert _at(features, "price_cv_7d", 2) == pytest.approx(10.0 / 20.0)  # std 10 / mean 20
    assert _at(features, "price_cv_7d", 10) is None
    assert _at(features, "bsr_slope_7d", 10) is None


def test_price_volatility_and_change_against_last_weeks_median() -> None:
    prices = [10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 12.0]
    features = _features(one_asin(8, price=prices))
    window = np.array(prices[1:8])  # days 1..7
    assert _at(features, "price_cv_7d", 7) == pytest.approx(window.std(ddof=1) / window.mean())
    # Median of days 0..6 (before day 7) is 10; 12 is 20 % above it.
    assert _at(features, "price_change_vs_median_7d", 7) == pytest.approx(0.2)
    assert _at(features, "price_change_vs_median_7d", 6) == pytest.approx(0.0)


def test_review_velocity_and_acceleration() -> None:
    # 1 review a day up to day 30, then 4 a day; day 32's count is missing.
    counts: list[int | None] = [100 + t for t in range(31)] + [130 + 4 * t for t in range(1, 10)]
    counts[32] = None
    features = _features(one_asin(40, review_count=counts))
    # Day 39's window is days 33..39; the missing day's reviews land on day 33, inside it, so the
    # window counts every review since day 31's 134: (166 - 134) / 7.
    assert counts[39] == 166
    assert _at(features, "review_velocity_7d", 39) == pytest.approx(32 / 7)
    assert _at(features, "review_velocity_30d", 39) == pytest.approx((166 - 109) / 30)
    acceleration = _at(features, "review_acceleration", 39)
    assert acceleration == pytest.approx(
        _at(features, "review_velocity_7d", 39) - _at(features, "review_velocity_30d", 39)
    )
    assert acceleration > 0
    assert _at(features, "review_velocity_7d", 20) == pytest.approx(1.0)


def test_rating_drift_stock_out_days_and_buy_box_share() -> None:
    n = 21
    ratings = [4.5] * 20 + [4.0]
    in_stock = [True] * n
    in_stock[18] = in_stock[20] = False
    has_bb = [True] * 4 + [False] * 2 + [True] * 15
    features = _features(one_asin(n, rating=ratings, in_stock=in_stock, has_buy_box=has_bb))
    # Day 20 against the mean of days 0..19 (15 of the 30 days are needed before there is a drift).
    assert _at(features, "rating_drift_30d", 20) == pytest.approx(-0.5)
    assert _at(features, "rating_drift_30d", 14) is None
    assert _at(features, "stock_out_days_7d", 20) == 2
    assert _at(features, "stock_out_days_30d", 20) == 2
    assert _at(features, "stock_out_days_7d", 17) == 0
    assert _at(features, "buy_box_share_7d", 6) == pytest.approx(5 / 7)  # days 0..6


def test_onset_compares_the_last_days_with_the_in_stock_median_of_four_weeks() -> None:
    # 30 days at 9 sessions and rank 1000; out of stock on days 10..12 (0 sessions, rank 90,000:
    # masked); from day 28 on, 99 sessions and rank 100.
    n = 31
    sessions = [9] * 28 + [99] * 3
    bsr = [1000] * 28 + [100] * 3
    in_stock = [True] * n
    for i in (10, 11, 12):
        in_stock[i], sessions[i], bsr[i] = False, 0, 90_000
    features = _features(one_asin(n, sessions=sessions, bsr=bsr, in_stock=in_stock))
    grown, rank_gain = math.log(100) - math.log(10), math.log(1000) - math.log(100)
    # Day 28 against days 0..27 (the stock-out left out): the median is the old level.
    assert _at(features, "sessions_onset_1d", 28) == pytest.approx(grown)
    assert _at(features, "bsr_onset_1d", 28) == pytest.approx(-rank_gain)
    assert _at(features, "sessions_onset_3d", 28) == pytest.approx(grown / 3)  # days 26..28
    assert _at(features, "sessions_onset_3d", 30) == pytest.approx(grown)
    # Rank and traffic grew alike: no conversion signal beyond the traffic's.
    assert _at(features, "rank_vs_traffic_onset_1d", 28) == pytest.approx(rank_gain - grown)
    # A week's median moves only once most of its days have grown.
    assert _at(features, "sessions_onset_7d", 30) == pytest.approx(0.0)
    assert _at(features, "days_since_stock_out", 20) == 8
    assert _at(features, "days_since_stock_out", 9) is None


def test_worst_day_onset_moves_for_growth_that_lasts_not_for_a_spike() -> None:
    # Rank 1000 for four weeks; then a 3-day spike to rank 100 (days 28..30) and back, and from
    # day 35 on a lasting climb to rank 500, 250, 125, 100, 100.
    n = 40
    bsr = [1000] * 28 + [100] * 3 + [1000] * 4 + [500, 250, 125, 100, 100]
    sessions = [9] * 28 + [99] * 3 + [9] * 4 + [19, 39, 79, 99, 99]
    features = _features(one_asin(n, sessions=sessions, bsr=bsr))
    # The spike's last day: its 3 days all moved, its 5 days did not.
    assert _at(features, "bsr_onset_worst_3d", 30) == pytest.approx(math.log(100 / 1000))
    assert _at(features, "bsr_onset_worst_5d", 30) == pytest.approx(0.0)
    assert _at(features, "sessions_onset_worst_5d", 30) == pytest.approx(0.0)
    # The climb's fifth day: the weakest of its 5 days is its first (rank 500), against the
    # median of the 28 days before, in which the spike's 3 days do not move the median.
    assert _at(features, "bsr_onset_worst_5d", 39) == pytest.approx(math.log(500 / 1000))
    assert _at(features, "sessions_onset_worst_5d", 39) == pytest.approx(
        math.log(20) - math.log(10)
    )
    assert _at(features, "sessions_onset_worst_3d", 39) == pytest.approx(
        math.log(80) - math.log(10)
    )
    # Day-over-day steps: the spike jumps once and holds (its weakest step of 2 days is 0), the
    # climb improves on each of its days (rank 1000 -> 500 -> 250 -> 125 -> 100).
    assert _at(features, "bsr_step_1d", 28) == pytest.approx(math.log(100 / 1000))
    assert _at(features, "bsr_step_worst_2d", 29) == pytest.approx(0.0)
    assert _at(features, "bsr_step_worst_3d", 37) == pytest.approx(math.log(0.5))
    assert _at(features, "bsr_step_worst_2d", 38) == pytest.approx(math.log(100 / 125))


def test_onset_in_units_of_the_ranks_spread_and_three_day_conversion() -> None:
    # Four weeks of a rank wobbling between 1000 and 1200 at 10 % conversion; from day 28 on,
    # rank 300 and 20 % conversion.
    bsr = [1000, 1200] * 14 + [300] * 4
    units = [10] * 28 + [20] * 4
    features = _features(one_asin(32, sessions=[100] * 32, units_ordered=units, bsr=bsr))
    baseline = np.log(bsr[:28])  # the 28 days before day 28
    z = (math.log(300) - np.median(baseline)) / np.std(baseline, ddof=1)
    assert _at(features, "bsr_onset_z_1d", 28) == pytest.approx(z)
    # Day 30: the baseline is days 2..29, two of them already at rank 300.
    baseline = np.log(bsr[2:30])
    z = (math.log(300) - np.median(baseline)) / np.std(baseline, ddof=1)
    assert _at(features, "bsr_onset_z_3d", 30) == pytest.approx(z)
    assert _at(features, "bsr_onset_worst_3d_z", 30) == pytest.approx(z)
    assert _at(features, "conversion_onset_3d", 30) == pytest.approx(
        (60 / 300) / (sum(units[2:30]) / 2_800) - 1
    )
    # A rank that never moved has no spread: no z-score rather than an infinite one.
    flat = _features(one_asin(32, sessions=[100] * 32, bsr=[1000] * 28 + [300] * 4))
    assert _at(flat, "bsr_onset_z_1d", 28) is None


def test_peer_relative_features_subtract_the_category_days_median() -> None:
    # Three ASINs of one category whose traffic doubles, triples and stays flat on day 28: a
    # season lifting them all would move the median, not the gaps.
    n, asins = 29, ("A", "B", "C")
    finals = {"A": 19, "B": 29, "C": 9}
    mart = pl.concat(
        one_asin(n, asin=asin, category=["Toys"] * n, sessions=[9] * 28 + [finals[asin]])
        for asin in asins
    )
    features = _features(mart)
    onsets = {a: _at(features, "sessions_onset_1d", 28, a) for a in asins}
    assert onsets["A"] == pytest.approx(math.log(2))
    for asin in asins:
        relative = _at(features, "sessions_onset_1d_vs_peers", 28, asin)
        assert relative == pytest.approx(onsets[asin] - onsets["A"])  # A holds the median


def test_traffic_conversion_and_ad_trends_use_ratios_of_sums() -> None:
    n = 30
    sessions = [100] * 23 + [200] * 7
    units = [10] * 23 + [40] * 7
    spend = [5.0] * n
    ad_sales = [50.0] * 23 + [25.0] * 7
    sales = [100.0] * n
    features = _features(
        one_asin(
            n,
            sessions=sessions,
            units_ordered=units,
            ad_spend=spend,
            ad_sales=ad_sales,
            ordered_product_sales=sales,
        )
    )
    last = n - 1
    assert _at(features, "sessions_trend", last) == pytest.approx(
        200 / ((23 * 100 + 7 * 200) / 30) - 1
    )
    assert _at(features, "conversion_7d", last) == pytest.approx(0.2)
    assert _at(features, "conversion_trend", last) == pytest.approx(0.2 - (230 + 280) / 3700)
    assert _at(features, "acos_7d", last) == pytest.approx(35 / 175)
    assert _at(features, "acos_trend", last) == pytest.approx(35 / 175 - 150 / (1150 + 175))
    assert _at(features, "tacos_7d", last) == pytest.approx(0.05)
    assert _at(features, "tacos_trend", last) == pytest.approx(0.0)


def test_zero_ad_sales_give_no_acos_rather_than_a_huge_one() -> None:
    ad_sales = [0.0] * 3 + [27.62] + [0.0] * 12
    features = _features(one_asin(16, ad_spend=[5.0] * 16, ad_sales=ad_sales))
    # Day 15's window (9..15) has no ad sales: the rolling sum must not leave a float residue.
    assert _at(features, "acos_7d", 15) is None
    assert _at(features, "acos_7d", 5) == pytest.approx(30 / 27.62)


def test_listing_quality_averages_the_components_present() -> None:
    n = 7
    features = _features(
        one_asin(n, rating=[4.0] * n, review_count=[999] * n, has_buy_box=[True] * n)
    )
    assert _at(features, "listing_quality", 6) == pytest.approx(
        (0.8 + math.log10(1000) / 4 + 1) / 3
    )
    no_reviews = _features(one_asin(n, rating=[4.0] * n, has_buy_box=[True] * n))
    assert _at(no_reviews, "listing_quality", 6) == pytest.approx((0.8 + 1) / 2)


def test_asins_do_not_share_windows() -> None:
    a = one_asin(10, asin="A", price=[10.0] * 10)
    b = one_asin(10, asin="B", price=[50.0] * 10)
    features = _features(pl.concat([b, a]).sample(fraction=1.0, shuffle=True, seed=3))
    assert _at(features, "price_cv_7d", 9, "A") == pytest.approx(0.0)
    assert _at(features, "price_cv_7d", 9, "B") == pytest.approx(0.0)


def _random_mart(seed: int, n_asins: int = 4, n_days: int = 90) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_asins):
        frames.append(
            one_asin(
                n_days,
                asin=f"B{k}",
                category=["toys"] * n_days,
                bsr=np.maximum(1, np.exp(8 + np.cumsum(rng.normal(0, 0.1, n_days))))
                .astype(int)
                .tolist(),
                price=np.round(20 * np.exp(np.cumsum(rng.normal(0, 0.03, n_days))), 2).tolist(),
                review_count=(50 + np.cumsum(rng.poisson(2, n_days))).tolist(),
                rating=np.round(rng.uniform(3.5, 5.0, n_days), 1).tolist(),
                sessions=rng.poisson(200, n_days).tolist(),
                units_ordered=rng.poisson(20, n_days).tolist(),
                buy_box_percentage=rng.uniform(50, 100, n_days).tolist(),
                has_buy_box=(rng.random(n_days) < 0.9).tolist(),
                in_stock=(rng.random(n_days) < 0.9).tolist(),
                ad_spend=np.round(rng.uniform(0, 20, n_days), 2).tolist(),
                ad_sales=np.round(rng.uniform(0, 80, n_days), 2).tolist(),
                ordered_product_sales=np.round(rng.uniform(100, 500, n_days), 2).tolist(),
            )
        )
    return pl.concat(frames)


def test_changing_the_future_leaves_past_features_unchanged() -> None:
    cutoff = day(59)
    mart = _random_mart(seed=1)
    other = _random_mart(seed=2)  # different values on every day
    future_rewritten = pl.concat(
        [
            mart.filter(pl.col("report_date") <= cutoff),
            # Rewrite every later value and drop a quarter of the later rows.
            other.filter(pl.col("report_date") > cutoff).sample(fraction=0.75, seed=5),
        ]
    )
    before = _features(mart).filter(pl.col("report_date") <= cutoff).sort("asin", "report_date")
    after = (
        _features(future_rewritten)
        .filter(pl.col("report_date") <= cutoff)
        .sort("asin", "report_date")
    )
    assert before.height == 4 * 60
    assert before.equals(after)  # bit for bit, nulls included
    # The future itself did change, so the comparison above had something to miss.
    later = _features(mart).filter(pl.col("report_date") > cutoff).sort("asin", "report_date")
    later_rewritten = (
        _features(future_rewritten)
        .filter(pl.col("report_date") > cutoff)
        .sort("asin", "report_date")
    )
    assert (
        not later.select(FEATURE_COLUMNS)
        .head(10)
        .equals(later_rewritten.select(FEATURE_COLUMNS).head(10))
    )


def test_a_daily_7_day_run_equals_a_full_recompute_within_1e_9() -> None:
    """What the features asset computes for a 7-day run (its days plus LOOKBACK_DAYS read before
    them) equals a recompute of the whole history, also when the first day the run reads has no
    snapshot (the review count is carried forward a bounded number of days)."""
    from datetime import date, timedelta

    from amazon_assets.analytics.features import FEATURE_COLUMNS, LOOKBACK_DAYS
    from amazon_assets.defs.mart.assets import in_days
    from amazon_assets.sandbox.config import SandboxConfig
    from amazon_assets.sandbox.marketplace import Marketplace
    from amazon_assets.sandbox.truth_mart import truth_mart

    marketplace = Marketplace(SandboxConfig(seed=3, skus_per_account=60, today=date(2025, 1, 1)))
    last = marketplace.last_day("default")
    mart = truth_mart(marketplace, "default", last - timedelta(days=119), last)
    first = last - timedelta(days=6)
    read_from = first - timedelta(days=LOOKBACK_DAYS)
    # Snapshots missing on the first day the run reads, and on scattered days before it.
    gaps = (pl.col("report_date") == read_from) | (
        (pl.col("report_date") < read_from) & (pl.col("report_date").dt.day() % 5 == 0)
    )
    mart = mart.with_columns(
        pl.when(gaps).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("review_count", "rating", "bsr", "price", "category")
    )
    full = in_days(features_asin_daily(mart.lazy()).collect(), first, last + timedelta(days=1))
    run = in_days(
        features_asin_daily(mart.filter(pl.col("report_date") >= read_from).lazy()).collect(),
        first,
        last + timedelta(days=1),
    )
    keys = ["account", "asin", "report_date"]
    full, run = full.sort(keys), run.sort(keys)
    assert full.select(keys).equals(run.select(keys)) and full.height > 300
    assert full.select("category").equals(run.select("category"))
    for name in FEATURE_COLUMNS:
        a, b = full[name].cast(pl.Float64), run[name].cast(pl.Float64)
        assert a.is_null().equals(b.is_null()), name
        assert ((a - b).abs().max() or 0.0) <= 1e-9, name
    assert full["review_velocity_30d"].drop_nulls().len() > 300
