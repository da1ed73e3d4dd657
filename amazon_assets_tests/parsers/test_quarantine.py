"""The quarantine schema and helpers every parser shares."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest

from amazon_assets.parsers.quarantine import (
    QUARANTINE_SCHEMA,
    QuarantineRecord,
    json_text,
    quarantine_frame,
)


def test_schema_columns_and_types() -> None:
    expected = pl.Schema(
        {
            "source": pl.Utf8,
            "report_date": pl.Date,
            "document_id": pl.Utf8,
            "line_number": pl.Int64,
            "reason": pl.Utf8,
            "raw_row": pl.Utf8,
            "quarantined_at": pl.Datetime("us", "UTC"),
            "row_loaded": pl.Boolean,
        }
    )
    assert expected == QUARANTINE_SCHEMA


def test_no_records_give_an_empty_typed_frame() -> None:
    frame = quarantine_frame([])

    assert frame.is_empty()
    assert frame.schema == QUARANTINE_SCHEMA


def test_records_become_rows_in_utc() -> None:
    berlin_winter = timezone(timedelta(hours=1))
    records = [
        QuarantineRecord(
            source="customer_returns",
            report_date=date(2026, 1, 5),
            document_id="DOC-1",
            line_number=17,
            reason="quantity is 'x', not a whole number of at least 0.",
            raw_row="2026-01-05\tSKU-1\tx",
            quarantined_at=datetime(2026, 1, 7, 10, 0, tzinfo=berlin_winter),
        ),
        QuarantineRecord(
            source="business_reports",
            report_date=date(2026, 1, 6),
            document_id="REPORT-2",
            line_number=None,
            reason="a document-level part",
            raw_row="{}",
            quarantined_at=datetime(2026, 1, 7, 9, 0, tzinfo=UTC),
        ),
    ]

    frame = quarantine_frame(records)

    assert frame.schema == QUARANTINE_SCHEMA
    assert frame.rows() == [
        (
            "customer_returns",
            date(2026, 1, 5),
            "DOC-1",
            17,
            "quantity is 'x', not a whole number of at least 0.",
            "2026-01-05\tSKU-1\tx",
            datetime(2026, 1, 7, 9, 0, tzinfo=UTC),
            False,
        ),
        (
            "business_reports",
            date(2026, 1, 6),
            "REPORT-2",
            None,
            "a document-level part",
            "{}",
            datetime(2026, 1, 7, 9, 0, tzinfo=UTC),
            False,
        ),
    ]


def test_naive_quarantined_at_is_refused() -> None:
    record = QuarantineRecord("s", date(2026, 1, 5), "D", 1, "r", "{}", datetime(2026, 1, 7))

    with pytest.raises(ValueError, match="no time zone"):
        quarantine_frame([record])


def test_json_text_keeps_the_digits_it_was_read_with() -> None:
    text = '{"amount":19.990,"big":1234567890123456.78,"n":[1,-0.5,null,true],"s":"é\\"x"}'
    value = json.loads(text, parse_float=Decimal)

    written = json_text(value)

    assert json.loads(written, parse_float=Decimal) == value
    assert "19.990" in written and "1234567890123456.78" in written
