"""Labels on small hand-made series: growth windows, thresholds, relevance and the horizon rule."""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl
import pytest

from amazon_assets.ml.labels import LabelConfig, labels_asin_daily, last_labelled_day

START = date(2024, 1, 1)


def series(units: list[int | None], asin: str = "B0A") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account": "acct",
            "asin": asin,
            "report_date": [START + timedelta(days=i) for i in range(len(units))],
            "marketplace_id": "US",
            "category": "Toys",
            "units_ordered": units,
            "sessions": [None if u is None else 10 * u for u in units],
        },
        schema_overrides={"units_ordered": pl.Int64, "sessions": pl.Int64},
    )


def labels(frame: pl.DataFrame, **config) -> pl.DataFrame:
    return labels_asin_daily(frame.lazy(), LabelConfig(**config)).collect()


def test_growth_is_future_mean_over_past_mean():
    # 3 days at 1 unit, then 3 days at 7: with H = 3, day 3 (index 2) sees past 1, future 7.
    out = labels(series([1, 1, 1, 7, 7, 7]), horizon_days=3)
    day = out.filter(pl.col("report_date") == START + timedelta(days=2)).row(0, named=True)
    assert day["past_mean"] == pytest.approx(1.0)
    assert day["future_mean"] == pytest.approx(7.0)
    assert day["future_log_growth"] == pytest.approx(math.log(8 / 2))
    assert day["takes_off"] is True  # ratio 4 > 1 + 1.0
    assert day["relevance"] == 4  # 4 > 3.5


def test_windows_need_half_their_days():
    # H = 3 needs 2 observed days: day 0 has 1 (no label), day 1 has 2 (labelled); days 3..5
    # lack 3 later days. Day 1's past window is partial: mean of days 0 and 1.
    out = labels(series([1, 3, 1, 7, 7, 7]), horizon_days=3)
    assert out["report_date"].to_list() == [START + timedelta(days=1), START + timedelta(days=2)]
    assert out["past_mean"].to_list() == pytest.approx([2.0, 5 / 3])


def test_flat_series_is_relevance_zero_and_not_take_off():
    out = labels(series([4] * 10), horizon_days=3)
    assert out["future_log_growth"].to_list() == pytest.approx([0.0] * out.height)
    assert not out["takes_off"].any()
    assert out["relevance"].to_list() == [0] * out.height


def test_relevance_counts_growth_cuts():
    # Past 3 units/day; future means chosen to land on each relevance level (ratios of (1+f)/(1+3)).
    cuts = (1.25, 1.6, 2.2, 3.5)
    for future, expected in ((3, 0), (5, 1), (6, 2), (9, 3), (15, 4)):
        out = labels(series([3, 3, future, future]), horizon_days=2, relevance_growth=cuts)
        assert (
            out.filter(pl.col("report_date") == START + timedelta(days=1))["relevance"].item()
            == expected
        )


def test_no_label_without_horizon_of_future_data():
    units = list(range(1, 21))
    out = labels(series(units), horizon_days=5)
    last_day = START + timedelta(days=19)
    assert out["report_date"].max() == last_labelled_day(last_day, LabelConfig(horizon_days=5))
    assert out["report_date"].max() == last_day - timedelta(days=5)


def test_gap_at_day_plus_horizon_gives_no_label_and_windows_do_not_mix_asins():
    frame = pl.concat([series([2] * 8, "B0A"), series([9] * 8, "B0B")])
    frame = frame.filter(
        ~((pl.col("asin") == "B0A") & (pl.col("report_date") == START + timedelta(days=6)))
    )
    out = labels(frame, horizon_days=2)
    a = out.filter(pl.col("asin") == "B0A")["report_date"].to_list()
    assert START + timedelta(days=4) not in a  # its D + H row is missing
    b = out.filter(pl.col("asin") == "B0B")
    assert b["past_mean"].to_list() == pytest.approx([9.0] * b.height)


def test_sessions_metric():
    out = labels(series([1, 1, 1, 7, 7, 7]), horizon_days=3, metric="sessions")
    day = out.filter(pl.col("report_date") == START + timedelta(days=2))
    assert day["future_log_growth"].item() == pytest.approx(math.log(71 / 11))


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="horizon_days"):
        LabelConfig(horizon_days=0)
    with pytest.raises(ValueError, match="relevance_growth"):
        LabelConfig(relevance_growth=(2.0, 1.5, 3.0, 4.0))
