"""Rows a parser could not type, kept with the reason so nobody loses data silently.

Every source's parser returns its good rows as facts and its bad rows as a quarantine frame with
this one schema, so a single table (and a single asset check) covers every source.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

QUARANTINE_SCHEMA = pl.Schema(
    {
        "source": pl.Utf8,  # e.g. "business_reports"; names the fact table the row was meant for
        "report_date": pl.Date,
        "document_id": pl.Utf8,  # the report id (or document id) the row came from
        "line_number": pl.Int64,  # 1-based row/line within the document; null for document-level parts
        "reason": pl.Utf8,  # one sentence naming the field and the value that is wrong
        "raw_row": pl.Utf8,  # the row exactly as text (JSON for JSON documents, the line for TSV)
        "quarantined_at": pl.Datetime("us", "UTC"),
        # False: the row is not in silver (refused). True: the row is in silver and only the
        # value the reason names was loaded as null. "Every row loaded" counts silver rows plus
        # refused rows.
        "row_loaded": pl.Boolean,
    }
)

# The same plus the account, the partition dimension of every per-account table.
ACCOUNT_QUARANTINE_SCHEMA = pl.Schema({**QUARANTINE_SCHEMA, "account": pl.Utf8()})


# How one document (or one page of a Finances window) is accounted for: what Amazon served, what
# is in silver, what was refused. served == loaded + refused, or rows went missing.
ACCOUNTING_SCHEMA = pl.Schema(
    {
        "document_id": pl.Utf8,
        "page_number": pl.Int64,  # null for a document without pages
        "served": pl.Int64,
        "loaded": pl.Int64,
        "refused": pl.Int64,
    }
)


@dataclass(frozen=True)
class QuarantineRecord:
    """One row a parser refused, with where it came from and why."""

    source: str
    report_date: date
    document_id: str
    line_number: int | None
    reason: str
    raw_row: str
    quarantined_at: datetime
    row_loaded: bool = False  # True: a note on a row that is in silver with one value null


def quarantine_frame(records: Iterable[QuarantineRecord]) -> pl.DataFrame:
    """A frame with exactly QUARANTINE_SCHEMA from records (empty and typed when there are none)."""
    records = list(records)
    columns: dict[str, list[Any]] = {name: [] for name in QUARANTINE_SCHEMA.names()}
    for record in records:
        columns["source"].append(record.source)
        columns["report_date"].append(record.report_date)
        columns["document_id"].append(record.document_id)
        columns["line_number"].append(record.line_number)
        columns["reason"].append(record.reason)
        columns["raw_row"].append(record.raw_row)
        columns["quarantined_at"].append(as_utc(record.quarantined_at))
        columns["row_loaded"].append(record.row_loaded)
    return pl.DataFrame(columns, schema=QUARANTINE_SCHEMA)


def refused_rows(quarantine: pl.DataFrame) -> pl.DataFrame:
    """The quarantined rows that are not in silver (notes on loaded rows left out)."""
    return quarantine.filter(~pl.col("row_loaded").fill_null(False))


def document_accounting(
    document_id: str, served: int, loaded: int, quarantine: pl.DataFrame
) -> pl.DataFrame:
    """One ACCOUNTING_SCHEMA row for a document without pages."""
    return pl.DataFrame(
        [(document_id, None, served, loaded, refused_rows(quarantine).height)],
        schema=ACCOUNTING_SCHEMA,
        orient="row",
    )


def unaccounted(accounting: pl.DataFrame) -> pl.DataFrame:
    """The documents (or pages) whose rows are neither all in silver nor refused."""
    return accounting.filter(pl.col("served") != pl.col("loaded") + pl.col("refused"))


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is refused because its zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone; pass an aware datetime.")
    return moment.astimezone(UTC)


def json_text(value: Any) -> str:
    """Compact JSON text of a parsed value, writing Decimals as the numbers they were read from."""
    return _write_json(value)


def _write_json(value: Any) -> str:
    # json.dumps cannot write a Decimal as a bare number, and going through float would change
    # the very digits the quarantine is meant to preserve, so write the few JSON shapes by hand.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(key))}:{_write_json(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_write_json(item) for item in value) + "]"
    return json.dumps(value)
