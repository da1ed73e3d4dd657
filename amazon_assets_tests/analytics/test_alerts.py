"""detect_alerts: one alert per episode against a 7-day baseline, persistence or size, cooldown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import polars as pl
import pytest

from amazon_assets.analytics.alerts import (
    ALERTS_SCHEMA,
    AlertThresholds,
    alert_id,
    detect_alerts,
)
from amazon_assets.analytics.features import LOOKBACK_DAYS
from amazon_assets_tests.analytics import day, one_asin

N = 30


def _alerts(mart: pl.DataFrame, thresholds: AlertThresholds | None = None) -> pl.DataFrame:
    return detect_alerts(mart.lazy(), thresholds).collect()


def _asin(asin: str = "B0TEST0001", **moves: dict[int, object]) -> pl.DataFrame:
    """N quiet days (price 10, BSR 1000, buy box, in stock, 4.5 stars) with `moves` planted:
    column -> {day: value}."""
    quiet = {"price": 10.0, "bsr": 1000, "has_buy_box": True, "in_stock": True, "rating": 4.5}
    columns = {
        name: [moves.get(name, {}).get(i, value) for i in range(N)] for name, value in quiet.items()
    }
    return one_asin(N, asin=asin, **columns)


def _days(first: int, last: int, value: object) -> dict[int, object]:
    return dict.fromkeys(range(first, last + 1), value)


def test_a_lasting_move_alerts_once_naming_its_baseline() -> None:
    alerts = _alerts(_asin(price=_days(10, 16, 11.5)))
    assert alerts.schema == ALERTS_SCHEMA
    [alert] = alerts.to_dicts()
    # +15 % from day 10 on: the episode alerts on its 3rd day, once, against the 7-day median.
    assert alert["kind"] == "price_change"
    assert alert["report_date"] == day(12)
    assert alert["episode_start"] == day(10)
    assert alert["episode_days"] == 3
    assert (alert["before"], alert["after"]) == (Decimal("10.00"), Decimal("11.50"))
    assert alert["change"] == pytest.approx(0.15)
    assert alert["baseline"] == "median of the 7 days before"


def test_short_blips_stay_quiet_and_a_large_move_alerts_at_once() -> None:
    blip = _asin("BLIP", price=_days(10, 11, 11.5), bsr=_days(20, 21, 1800))
    large = _asin("LARGE", price={10: 14.0})  # +40 % >= 3 x 10 %: one day is enough
    edge = _asin("EDGE", price=_days(10, 20, 11.0))  # exactly +10 %: not above the threshold
    alerts = _alerts(pl.concat([blip, large, edge]))
    assert alerts.select("asin", "kind", "report_date").rows() == [
        ("LARGE", "price_change", day(10))
    ]


def test_stock_out_alerts_on_its_first_day_and_explains_buy_box_and_bsr() -> None:
    out = _asin(
        in_stock=_days(10, 15, False),
        has_buy_box=_days(10, 15, False),
        bsr=_days(10, 19, 9000),  # rank collapses while out and just after the restock
    )
    alerts = _alerts(out)
    assert alerts.select("kind", "report_date", "baseline").rows() == [
        ("stock_out", day(10), "in stock the day before")
    ]


def test_a_state_already_off_on_the_first_day_is_not_a_change() -> None:
    alerts = _alerts(_asin(in_stock=_days(0, 5, False), has_buy_box=_days(0, 5, False)))
    assert alerts.is_empty()


def test_lost_buy_box_and_rating_drop_need_to_last() -> None:
    mart = pl.concat(
        [
            _asin("LOST", has_buy_box=_days(10, 14, False)),
            _asin("FLICKER", has_buy_box=_days(10, 11, False)),
            _asin("STARS", rating=_days(12, 29, 4.2)),
        ]
    )
    got = _alerts(mart).select("asin", "kind", "report_date").rows()
    assert got == [("LOST", "buy_box_lost", day(12)), ("STARS", "rating_drop", day(14))]


def test_cooldown_keeps_one_alert_per_asin_and_kind_within_its_days() -> None:
    # Price steps up on day 3 (alert on day 5) and back down on day 14 (an episode 11 days later:
    # quiet); another ASIN's two episodes are 20 days apart: both alert.
    back_and_forth = _asin("BACK", price=_days(3, 13, 12.0))
    apart = _asin("APART", price={**_days(3, 5, 12.0), **_days(23, 25, 12.0)})
    alerts = _alerts(pl.concat([back_and_forth, apart]))
    assert alerts.select("asin", "report_date").rows() == [
        ("APART", day(5)),
        ("BACK", day(5)),
        ("APART", day(25)),
    ]
    no_cooldown = _alerts(back_and_forth, AlertThresholds(cooldown_days=0))
    assert no_cooldown["report_date"].to_list() == [day(5), day(16)]


def test_ids_are_deterministic_and_keyed_by_episode() -> None:
    mart = _asin(price=_days(10, 16, 11.5))
    first, again = _alerts(mart), _alerts(mart)
    assert first["alert_id"].to_list() == again["alert_id"].to_list()
    row = first.row(0, named=True)
    assert row["alert_id"] == alert_id(
        row["account"], row["asin"], "price_change", day(10).isoformat()
    )


def test_a_run_over_its_lookback_finds_the_alerts_of_a_full_recompute() -> None:
    n = 90
    moves = {
        "price": [10.0 * (1.2 if i % 11 in (5, 6, 7, 8) else 1.0) for i in range(n)],
        "bsr": [1000 * (2 if i % 17 in (3, 4, 5) else 1) for i in range(n)],
        "has_buy_box": [i % 19 not in (2, 3, 4) for i in range(n)],
        "in_stock": [i % 29 not in (9, 10) and i not in (86, 87) for i in range(n)],
        "rating": [4.5 - 0.3 * (i > 60) for i in range(n)],
    }
    mart = one_asin(n, **moves)
    full = _alerts(mart)
    first = day(n - 7)
    window = mart.filter(pl.col("report_date") >= first - timedelta(days=LOOKBACK_DAYS))
    daily = _alerts(window).filter(pl.col("report_date") >= first)
    assert full.filter(pl.col("report_date") >= first).equals(daily)
    assert full.height > daily.height > 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="price_change"):
        AlertThresholds(price_change=0)
    with pytest.raises(ValueError, match="persist_days"):
        AlertThresholds(persist_days=0)
