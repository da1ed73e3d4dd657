"""The shared data-quality checks fail on their bad case and pass on the good one."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
import pytest

from amazon_assets.defs.business_reports.checks import (
    buy_box_percentage_in_range,
    unit_session_percentage_not_negative,
)
from amazon_assets.defs.seller_history.checks import evaluate_seller_checks
from amazon_assets.defs.seller_history.spec import ORDERS
from amazon_assets.parsers.quarantine import ACCOUNT_QUARANTINE_SCHEMA, ACCOUNTING_SCHEMA
from amazon_assets.quality import keys_not_null_and_unique

KEY = dg.AssetKey(["silver", "fact_x"])
DAY = date(2026, 7, 1)


def frame(**columns: list) -> pl.DataFrame:
    return pl.DataFrame(columns)


def test_unique_non_null_keys_pass() -> None:
    good = frame(account=["a", "a", "b"], day=[DAY, DAY, DAY], sku=["1", "2", "1"])
    result = keys_not_null_and_unique(KEY, good, ("account", "day", "sku"))
    assert result.passed and result.check_name == "keys_not_null_and_unique"
    assert result.metadata["rows"].value == 3


def test_a_repeated_key_fails_naming_it() -> None:
    repeated = frame(account=["a", "a", "a"], day=[DAY, DAY, DAY], sku=["1", "1", "1"])
    result = keys_not_null_and_unique(KEY, repeated, ("account", "day", "sku"), "keys_unique")
    assert not result.passed and result.check_name == "keys_unique"
    assert result.metadata["duplicate_keys"].value == 2
    assert result.metadata["repeated_keys"].value == [
        {"account": "a", "day": DAY.isoformat(), "sku": "1", "len": "3"}
    ]


@pytest.mark.parametrize("column", ["account", "day", "sku"])
def test_a_null_in_any_key_column_fails(column: str) -> None:
    rows = {"account": ["a", "a"], "day": [DAY, DAY], "sku": ["1", "2"]}
    rows[column] = [rows[column][0], None]
    result = keys_not_null_and_unique(KEY, frame(**rows), ("account", "day", "sku"))
    assert not result.passed and result.metadata["null_keys"].value == 1


def _seller_key_check(facts: pl.DataFrame) -> dg.AssetCheckResult:
    [result] = [
        result
        for result in evaluate_seller_checks(
            "orders",
            facts,
            pl.DataFrame(schema=ACCOUNT_QUARANTINE_SCHEMA),
            None,
            pl.DataFrame(schema=ACCOUNTING_SCHEMA),
            facts.clear(),
        )
        if result.check_name == "keys_not_null_and_unique"
    ]
    return result


def test_seller_history_key_check_fails_on_a_repeated_key_or_a_row_without_account_or_day() -> None:
    table = ORDERS
    row = {column: None for column in table.schema.names()}
    row.update(account="acme", amazon_order_id="111-1", sku="SKU-1", report_date=DAY)
    other = {**row, "amazon_order_id": "111-2"}
    assert _seller_key_check(pl.DataFrame([row, other], schema=table.schema)).passed
    repeated = _seller_key_check(pl.DataFrame([row, row], schema=table.schema))
    assert not repeated.passed and repeated.metadata["duplicate_keys"].value == 1
    undated = _seller_key_check(
        pl.DataFrame([row, {**other, "report_date": None}], schema=table.schema)
    )
    assert not undated.passed and undated.metadata["null_keys"].value == 1
    # A key column Amazon may leave empty is no failure (only account and day are required).
    unsold = _seller_key_check(pl.DataFrame([row, {**other, "sku": None}], schema=table.schema))
    assert unsold.passed


def test_buy_box_outside_0_to_100_fails() -> None:
    assert buy_box_percentage_in_range(KEY, frame(buy_box_percentage=[0.0, 100.0])).passed
    result = buy_box_percentage_in_range(KEY, frame(buy_box_percentage=[50.0, 100.5, -1.0]))
    assert not result.passed and result.metadata["rows_out_of_range"].value == 2


def test_negative_unit_session_percentage_fails_and_above_100_does_not() -> None:
    assert unit_session_percentage_not_negative(KEY, frame(unit_session_percentage=[150.0])).passed
    result = unit_session_percentage_not_negative(KEY, frame(unit_session_percentage=[-0.5, 3.0]))
    assert not result.passed and result.metadata["negative_rows"].value == 1
