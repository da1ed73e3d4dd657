"""detect_alerts fires on planted moves, stays quiet below thresholds, and ids are deterministic."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from amazon_assets.analytics.alerts import (
    ALERTS_SCHEMA,
    AlertThresholds,
    alert_id,
    detect_alerts,
)
from amazon_assets_tests.analytics import day, one_asin


def _alerts(mart: pl.DataFrame, thresholds: AlertThresholds | None = None) -> pl.DataFrame:
    return detect_alerts(mart.lazy(), thresholds).collect()


def _planted() -> pl.DataFrame:
    """Three ASINs over 6 days with one planted move each day from day 1."""
    n = 6
    quiet = dict(
        price=[10.0] * n,
        bsr=[1000] * n,
        has_buy_box=[True] * n,
        in_stock=[True] * n,
        rating=[4.5] * n,
    )
    moving = one_asin(
        n,
        asin="MOVER",
        price=[10.0, 11.5, 11.5, 11.5, 11.5, 11.5],  # +15 % on day 1
        bsr=[1000, 1000, 1400, 1400, 1400, 1400],  # +40 % on day 2
        has_buy_box=[True, True, True, False, False, True],  # lost on day 3
        in_stock=[True, True, True, True, False, False],  # out on day 4
        rating=[4.5, 4.5, 4.5, 4.5, 4.5, 4.3],  # -0.2 stars on day 5
    )
    # Moves at or below every threshold: exactly +10 %, +30 %, -0.1 stars.
    edge = one_asin(
        n,
        asin="EDGE",
        price=[10.0, 11.0, 11.0, 11.0, 11.0, 11.0],
        bsr=[1000, 1000, 1300, 1300, 1300, 1300],
        has_buy_box=[True] * n,
        in_stock=[True] * n,
        rating=[4.5, 4.5, 4.5, 4.5, 4.5, 4.4],
    )
    return pl.concat([moving, edge, one_asin(n, asin="QUIET", **quiet)])


def test_planted_moves_fire_once_each_with_before_and_after() -> None:
    alerts = _alerts(_planted())
    assert alerts.schema == ALERTS_SCHEMA
    got = {
        (r["asin"], r["kind"], r["report_date"]): (r["before"], r["after"])
        for r in alerts.iter_rows(named=True)
    }
    assert got == {
        ("MOVER", "price_change", day(1)): (Decimal("10.00"), Decimal("11.50")),
        ("MOVER", "bsr_change", day(2)): (Decimal("1000.00"), Decimal("1400.00")),
        ("MOVER", "buy_box_lost", day(3)): (Decimal("1.00"), Decimal("0.00")),
        ("MOVER", "stock_out", day(4)): (Decimal("1.00"), Decimal("0.00")),
        ("MOVER", "rating_drop", day(5)): (Decimal("4.50"), Decimal("4.30")),
    }


def test_thresholds_are_configurable() -> None:
    loose = AlertThresholds(price_change=0.2, bsr_change=0.5, rating_drop=0.3)
    assert set(_alerts(_planted(), loose)["kind"]) == {"buy_box_lost", "stock_out"}
    tight = AlertThresholds(price_change=0.05, bsr_change=0.1, rating_drop=0.1)
    edge = _alerts(_planted(), tight).filter(pl.col("asin") == "EDGE")
    assert sorted(edge["kind"]) == ["bsr_change", "price_change", "rating_drop"]


def test_a_day_without_a_price_compares_with_the_last_known_one() -> None:
    mart = one_asin(4, price=[10.0, None, 12.0, 12.0])
    alerts = _alerts(mart)
    assert alerts.select("kind", "report_date", "before", "after").rows() == [
        ("price_change", day(2), Decimal("10.00"), Decimal("12.00"))
    ]


def test_alert_ids_are_deterministic_and_survive_a_rerun_of_one_day() -> None:
    mart = _planted()
    first = _alerts(mart)
    assert first["alert_id"].n_unique() == first.height
    assert first.equals(_alerts(mart.sample(fraction=1.0, shuffle=True, seed=11)))
    row = first.filter(pl.col("kind") == "bsr_change").row(0, named=True)
    assert row["alert_id"] == alert_id("seller-1", "MOVER", "bsr_change", day(2).isoformat())
    # Re-running day 2 alone (with the day before it for context) gives the same id again.
    rerun = _alerts(mart.filter(pl.col("report_date").is_between(day(1), day(2))))
    assert rerun.filter(pl.col("report_date") == day(2))["alert_id"].to_list() == [row["alert_id"]]
    # Another account's identical move is a different alert.
    other = _alerts(mart.with_columns(pl.lit("seller-2").alias("account")))
    assert set(other["alert_id"]).isdisjoint(first["alert_id"])


def test_non_positive_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="price_change"):
        AlertThresholds(price_change=0)
