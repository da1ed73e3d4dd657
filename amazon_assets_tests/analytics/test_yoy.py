"""Year-over-year alignment: the days the issue names, and the series built on them."""

from datetime import date
from decimal import Decimal

import pytest

from amazon_assets.analytics.yoy import settled_through, year_ago, yoy_days, yoy_series


@pytest.mark.parametrize(
    ("day", "align", "expected"),
    [
        (date(2026, 11, 26), "weekday", date(2025, 11, 27)),  # Thanksgiving, Thursday to Thursday
        (date(2026, 11, 26), "date", date(2025, 11, 26)),
        (date(2028, 2, 29), "weekday", date(2027, 3, 2)),
        (date(2028, 2, 29), "date", date(2027, 2, 28)),
        (date(2028, 3, 1), "date", date(2027, 3, 1)),
        (date(2027, 1, 3), "weekday", date(2026, 1, 4)),
    ],
)
def test_year_ago(day: date, align: str, expected: date) -> None:
    assert year_ago(day, align) == expected
    if align == "weekday":
        assert year_ago(day, align).weekday() == day.weekday()


def test_unknown_alignment_is_named() -> None:
    with pytest.raises(ValueError, match="align must be one of weekday, date"):
        year_ago(date(2026, 1, 1), "month")


def test_settled_through_leaves_out_the_refresh_window() -> None:
    assert settled_through(date(2026, 12, 2), 7) == date(2026, 11, 24)
    assert settled_through(date(2026, 12, 2), 0) == date(2026, 12, 1)


def test_series_pairs_values_and_changes() -> None:
    pairs = yoy_days(date(2026, 11, 26), date(2026, 11, 27), "weekday")
    assert pairs == [
        (date(2026, 11, 26), date(2025, 11, 27)),
        (date(2026, 11, 27), date(2025, 11, 28)),
    ]
    rows = {
        date(2026, 11, 26): {"units": 30, "sales": Decimal("60.00"), "in_stock": True},
        date(2025, 11, 27): {"units": 20, "sales": Decimal("0"), "in_stock": True},
        date(2026, 11, 27): {"units": 5},
    }
    series = yoy_series(pairs, rows, ["units", "sales", "in_stock"])
    assert series[0]["units"] == {"value": 30, "year_ago": 20, "change": 0.5}
    assert series[0]["sales"]["change"] is None  # from zero: no ratio
    assert series[0]["in_stock"]["change"] is None  # flags have no change
    assert series[1]["units"] == {"value": 5, "year_ago": None, "change": None}
