"""Tests of the pure analytics functions, on small hand-made marts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from amazon_assets.analytics.mart import MART_ASIN_DAILY_SCHEMA

DAY0 = date(2025, 3, 1)


def day(i: int) -> date:
    """The i-th day after DAY0."""
    return DAY0 + timedelta(days=i)


def mart_frame(**columns: list[Any]) -> pl.DataFrame:
    """A mart in MART_ASIN_DAILY_SCHEMA from the given columns; the others are null."""
    height = len(next(iter(columns.values())))
    return pl.DataFrame(
        {
            name: pl.Series(name, columns.get(name, [None] * height), dtype=dtype, strict=False)
            for name, dtype in MART_ASIN_DAILY_SCHEMA.items()
        }
    )


def one_asin(
    n_days: int, asin: str = "B0TEST0001", account: str = "seller-1", **columns: list[Any]
) -> pl.DataFrame:
    """A mart of one ASIN over days 0..n_days-1 with the given per-day columns."""
    return mart_frame(
        account=[account] * n_days,
        asin=[asin] * n_days,
        report_date=[day(i) for i in range(n_days)],
        **columns,
    )
