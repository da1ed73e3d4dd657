"""Labels on small hand-made series: sustained in-stock growth, not rebounds, deals or launches."""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl
import pytest

from amazon_assets.ml.labels import LabelConfig, labels_asin_daily, last_labelled_day

START = date(2024, 1, 1)
D = 40  # the day whose label the tests read: 30 days of history before it, 14 after


def series(
    units: list[int | None], in_stock: list[bool] | None = None, asin: str = "B0A"
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account": "acct",
            "asin": asin,
            "report_date": [START + timedelta(days=i) for i in range(len(units))],
            "marketplace_id": "US",
            "category": "Toys",
            "units_ordered": units,
            "sessions": [None if u is None else 10 * u for u in units],
            "in_stock": in_stock if in_stock is not None else [True] * len(units),
        },
        schema_overrides={"units_ordered": pl.Int64, "sessions": pl.Int64},
    )


# The arithmetic tests read units against the 14 days right before D; the defaults (sessions,
# a 14-day gap before the baseline) have tests of their own below.
PLAIN = {"metric": "units_ordered", "baseline_gap_days": 0}


def label_on(frame: pl.DataFrame, day: int = D, **config) -> dict | None:
    out = labels_asin_daily(frame.lazy(), LabelConfig(**{**PLAIN, **config})).collect()
    rows = out.filter(pl.col("report_date") == START + timedelta(days=day)).to_dicts()
    return rows[0] if rows else None


def steady(n: int = D + 15, level: int = 2) -> list[int | None]:
    return [level] * n


def test_sustained_growth_over_both_halves_is_a_take_off():
    units = steady()
    units[D + 1 :] = [8] * (len(units) - D - 1)
    label = label_on(series(units))
    assert label["past_mean"] == pytest.approx(2.0)
    assert label["future_log_growth"] == pytest.approx(math.log(9 / 3))
    assert label["takes_off"] and label["relevance"] == 3


def test_a_restock_rebound_is_not_growth():
    # Out of stock (no sales) for 6 days up to D, then pent-up demand for 3 days, then normal.
    units, stock = steady(), [True] * (D + 15)
    for i in range(D - 5, D + 1):
        units[i], stock[i] = 0, False
    units[D + 1 : D + 4] = [9, 6, 4]
    label = label_on(series(units, stock))
    # The baseline skips the out-of-stock days; the second half is back to normal: no growth.
    assert label["past_mean"] == pytest.approx(2.0)
    assert label["future_log_growth"] == pytest.approx(0.0)
    assert not label["takes_off"] and label["relevance"] == 0


def test_a_short_deal_spike_is_not_growth():
    units = steady()
    units[D + 2 : D + 4] = [20, 20]
    label = label_on(series(units))
    assert label["future_log_growth"] == pytest.approx(0.0)
    assert label["relevance"] == 0


def test_windows_need_half_their_days_in_stock():
    stock = [True] * (D + 15)
    for i in range(D - 7, D + 1):  # 8 of the 14 past days out of stock
        stock[i] = False
    assert label_on(series(steady(), stock)) is None
    stock = [True] * (D + 15)
    for i in range(D + 8, D + 12):  # 4 of the second half's 7 days out of stock
        stock[i] = False
    assert label_on(series(steady(), stock)) is None


def test_a_launch_ramping_up_is_not_labelled_until_it_has_history():
    # Listed from day 20 on: on day D it has 21 reported days of the 30 it needs (80 %: 24).
    units: list[int | None] = [None] * 20 + [1] * 10 + [4] * (D + 15 - 30)
    assert label_on(series(units)) is None
    assert label_on(series(units), day=D - 1, history_days=20) is not None


def test_no_label_without_horizon_of_future_data():
    frame = series(steady(D + 20))
    out = labels_asin_daily(frame.lazy(), LabelConfig()).collect()
    assert out["report_date"].max() == last_labelled_day(
        START + timedelta(days=D + 19), LabelConfig()
    )


def test_growth_that_began_days_ago_still_counts_against_the_earlier_baseline():
    # Demand doubled from day D - 10: against the 14 days right before D the growth is partly
    # in the baseline; against the 14 days before those (the default gap) it is all growth.
    units = steady(D + 15, level=10)
    units[D - 10 :] = [20] * (D + 15 - (D - 10))
    near = label_on(series(units), baseline_gap_days=0)
    gapped = label_on(series(units), baseline_gap_days=14)
    assert gapped["past_mean"] == pytest.approx(10.0)
    assert gapped["future_log_growth"] == pytest.approx(math.log(21 / 11))
    assert near["future_log_growth"] < gapped["future_log_growth"]
    # Growth that ended a month ago is the new normal under either baseline.
    old = steady(D + 15, level=10)
    old[: D - 30] = [5] * (D - 30)
    assert label_on(series(old))["future_log_growth"] == pytest.approx(0.0)


def test_a_median_ignores_a_spike_of_under_half_a_window():
    units = steady()
    units[D + 8 : D + 11] = [30, 30, 30]  # 3 of the second half's 7 days
    assert label_on(series(units))["future_log_growth"] == pytest.approx(0.0)
    mean = label_on(series(units), statistic="mean")
    assert mean["future_log_growth"] == pytest.approx(0.0)  # the first half is still flat
    units[D + 2 : D + 4] = [30, 30]
    assert label_on(series(units))["future_log_growth"] == pytest.approx(0.0)
    assert label_on(series(units), statistic="mean")["future_log_growth"] > 0.5


def test_the_defaults_label_sessions():
    frame = series(steady())
    out = labels_asin_daily(frame.lazy()).collect()
    row = out.filter(pl.col("report_date") == START + timedelta(days=D)).row(0, named=True)
    assert row["past_mean"] == pytest.approx(20.0)  # sessions = 10 x units


def test_sessions_metric():
    units = steady()
    units[D + 1 :] = [8] * (len(units) - D - 1)
    label = label_on(series(units), metric="sessions")
    assert label["future_log_growth"] == pytest.approx(math.log(81 / 21))


def test_label_definition_is_recorded():
    described = LabelConfig().describe()
    assert described["horizon_days"] == 14 and described["history_days"] == 30
    assert "out-of-stock" in described["definition"]


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="horizon_days"):
        LabelConfig(horizon_days=1)
    with pytest.raises(ValueError, match="relevance_growth"):
        LabelConfig(relevance_growth=(2.0, 1.5, 3.0, 4.0))
    with pytest.raises(ValueError, match="history_days"):
        LabelConfig(history_days=0)
