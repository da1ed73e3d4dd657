"""Rows per day of a multi-day write: the row count each day's materialization carries."""

from datetime import date

import dagster as dg
import polars as pl

from amazon_assets.run_metadata import rows_per_partition

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-05")
ACCOUNTS = dg.StaticPartitionsDefinition(["acme", "globex"])


def _frame(rows: list[tuple[str, date]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"account": pl.String, "report_date": pl.Date}, orient="row")


def test_daily_partitions_count_their_own_days_and_zero_for_empty_ones() -> None:
    frame = _frame([("acme", date(2026, 1, 1))] * 3 + [("acme", date(2026, 1, 3))])
    keys = ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert rows_per_partition(frame, DAYS, "report_date", keys) == {
        "2026-01-01": 3,
        "2026-01-02": 0,
        "2026-01-03": 1,
    }


def test_rows_that_cannot_be_told_apart_give_no_counts() -> None:
    frame = _frame([("acme", date(2026, 1, 1))])
    months = dg.MonthlyPartitionsDefinition(start_date="2026-01-01")
    assert rows_per_partition(frame, months, "report_date", ["2026-01-01"]) is None
    assert rows_per_partition(frame, DAYS, "day_of_report", ["2026-01-01"]) is None
    assert rows_per_partition(frame, DAYS, "report_date::date", ["2026-01-01"]) is None
    by_account = dg.MultiPartitionsDefinition({"account": ACCOUNTS, "day": DAYS})
    key = dg.MultiPartitionKey({"account": "acme", "day": "2026-01-01"})
    assert rows_per_partition(frame, by_account, {"day": "report_date"}, [key]) is None
