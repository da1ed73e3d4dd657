"""GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2 -> fact_settlements and fact_settlement_summaries.

Amazon generates a settlement report about every 14 days per account (it cannot be requested) and
serves it for 90 days. The flat file's first data row is the settlement summary (settlement-id,
start and end dates, deposit-date, total-amount, currency; the other cells empty); each later row
is one amount (amount-type / amount-description / amount) of a transaction. Dates are written
`YYYY-MM-DD HH:MM:SS UTC` (EU files: `DD.MM.YYYY HH:MM:SS UTC`, amounts with a decimal comma);
`posted-date` is a bare date, `MM/DD/YY` in Amazon's V2 file, and an unreadable one is only
noted: the line keeps its `posted-date-time`. Lines have no id of their own and a settlement never changes once
issued, so a line is (settlement_id, line_number); the summary is keyed by settlement_id.
Lines are dated by their posted date (else the settlement's end), the summary by its last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA, as_utc
from amazon_assets.parsers.seller_history.tsv import (
    KINDS,
    TIMESTAMP,
    Field,
    parse_tsv,
)

REPORT_TYPE = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"
SOURCE = "settlements"

_SUMMARY_FIELDS = (
    Field("settlement-id", "settlement_id"),  # lines may leave it to the summary
    Field("settlement-start-date", "settlement_start_date", "timestamp"),
    Field("settlement-end-date", "settlement_end_date", "timestamp"),
    Field("deposit-date", "deposit_date", "timestamp"),
    Field("total-amount", "total_amount", "money"),
    Field("currency", "currency"),
)
_LINE_FIELDS = (
    Field("transaction-type", "transaction_type"),
    Field("order-id", "order_id"),
    Field("merchant-order-id", "merchant_order_id"),
    Field("adjustment-id", "adjustment_id"),
    Field("shipment-id", "shipment_id"),
    Field("marketplace-name", "marketplace_name"),
    Field("amount-type", "amount_type"),
    Field("amount-description", "amount_description"),
    Field("amount", "amount", "money"),
    Field("fulfillment-id", "fulfillment_id"),
    Field("posted-date", "posted_date", "timestamp"),
    Field("posted-date-time", "posted_date_time", "timestamp"),
    Field("order-item-code", "order_item_code"),
    Field("merchant-order-item-id", "merchant_order_item_id"),
    Field("merchant-adjustment-item-id", "merchant_adjustment_item_id"),
    Field("sku", "sku"),
    Field("quantity-purchased", "quantity_purchased", "int"),
    Field("promotion-id", "promotion_id"),
)
FIELDS = _SUMMARY_FIELDS + _LINE_FIELDS

_LINEAGE = {"report_id": pl.Utf8(), "ingested_at": TIMESTAMP}
SETTLEMENT_SUMMARIES_SCHEMA = pl.Schema(
    {
        "report_date": pl.Date(),
        "account": pl.Utf8(),
        **{f.column: KINDS[f.kind] for f in _SUMMARY_FIELDS},
        "line_count": pl.Int64(),
        **_LINEAGE,
    }
)
SETTLEMENTS_SCHEMA = pl.Schema(
    {
        "report_date": pl.Date(),
        "account": pl.Utf8(),
        "settlement_id": pl.Utf8(),
        **{f.column: KINDS[f.kind] for f in _LINE_FIELDS},
        "currency": pl.Utf8(),
        "line_number": pl.Int64(),
        **_LINEAGE,
    }
)
LINE_KEY = ("account", "settlement_id", "line_number")
SUMMARY_KEY = ("account", "settlement_id")


@dataclass(frozen=True)
class ParsedSettlement:
    """One settlement report: its summary row, its lines and the rows it refused."""

    summary: pl.DataFrame  # SETTLEMENT_SUMMARIES_SCHEMA, one row
    lines: pl.DataFrame  # SETTLEMENTS_SCHEMA
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA
    document_rows: int


def parse_settlement(
    document: bytes,
    *,
    account: str,
    report_id: str,
    charset: str | None,
    fallback_date: date,
    ingested_at: datetime,
) -> ParsedSettlement:
    """The summary and lines of one settlement report; malformed lines quarantined."""
    ingested_at = as_utc(ingested_at)
    parsed = parse_tsv(
        document,
        fields=FIELDS,
        source=SOURCE,
        document_id=report_id,
        charset=charset,
        row_date=_line_day,
        fallback_date=fallback_date,
        ingested_at=ingested_at,
    )
    rows = parsed.rows
    is_summary = pl.col("total_amount").is_not_null() & (
        pl.col("line_number") == rows["line_number"].min()
    )
    summary = rows.filter(is_summary) if rows.height else rows
    lines = rows.filter(~is_summary) if rows.height else rows
    quarantine = parsed.quarantine
    if summary.height != 1:
        # Without its summary a settlement cannot be dated or totalled: keep it all in quarantine.
        return ParsedSettlement(
            summary=pl.DataFrame(schema=SETTLEMENT_SUMMARIES_SCHEMA),
            lines=pl.DataFrame(schema=SETTLEMENTS_SCHEMA),
            quarantine=pl.concat(
                [quarantine, _refuse_all(rows, report_id, fallback_date, ingested_at)]
            ),
            document_rows=parsed.document_rows,
        )
    head = summary.row(0, named=True)
    lineage = {
        "account": pl.lit(account),
        "report_id": pl.lit(report_id),
        "ingested_at": pl.lit(ingested_at, dtype=TIMESTAMP),
    }
    lines = lines.with_columns(
        settlement_id=pl.col("settlement_id").fill_null(head["settlement_id"]),
        currency=pl.col("currency").fill_null(head["currency"]),
        settlement_end_date=pl.col("settlement_end_date").fill_null(head["settlement_end_date"]),
        **lineage,
    ).with_columns(report_date=_line_day_expr())
    summary = summary.with_columns(
        # The end moment is exclusive (Amazon writes e.g. midnight after the last day).
        report_date=(pl.col("settlement_end_date") - pl.duration(microseconds=1)).dt.date(),
        line_count=pl.lit(lines.height, dtype=pl.Int64),
        **lineage,
    )
    return ParsedSettlement(
        summary=summary.select(SETTLEMENT_SUMMARIES_SCHEMA.names()).cast(
            dict(SETTLEMENT_SUMMARIES_SCHEMA)
        ),
        lines=lines.select(SETTLEMENTS_SCHEMA.names()).cast(dict(SETTLEMENTS_SCHEMA)),
        quarantine=quarantine,
        document_rows=parsed.document_rows,
    )


def _line_day_expr() -> pl.Expr:
    return pl.coalesce(
        pl.col("posted_date_time"), pl.col("posted_date"), pl.col("settlement_end_date")
    ).dt.date()


def _line_day(rows: pl.DataFrame) -> pl.Series:
    return rows.select(_line_day_expr()).to_series()


def _refuse_all(
    rows: pl.DataFrame, report_id: str, fallback_date: date, ingested_at: datetime
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": [SOURCE] * rows.height,
            "report_date": [fallback_date] * rows.height,
            "document_id": [report_id] * rows.height,
            "line_number": rows["line_number"].to_list(),
            "reason": ["the settlement has no single summary row (settlement-id with total-amount)"]
            * rows.height,
            "raw_row": [None] * rows.height,
            "quarantined_at": [ingested_at] * rows.height,
            "row_loaded": [False] * rows.height,
        },
        schema=QUARANTINE_SCHEMA,
    )
