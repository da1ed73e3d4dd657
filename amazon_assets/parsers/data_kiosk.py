"""Data Kiosk salesAndTrafficTrends documents (JSONL) -> rows of silver fact_business_reports_us.

Amazon's schema: selling-partner-api-models, schemas/data-kiosk/
analytics_salesAndTraffic_2024_04_24.graphql. Each line is one `SalesAndTrafficTrends` object:
one child ASIN on one day (startDate = endDate with dateAggregation DAY), its `sales` and
`traffic` carrying the same metric names as a sales and traffic report's salesByAsin and
trafficByAsin, so the metrics are typed by the report parser's own rules.

What differs from the report's SKU rows: Data Kiosk aggregates by child ASIN, so `msku` is null
and a child ASIN sold under several SKUs is one row; everything else is the same column.

Each day the query covered is marked `provisional` or `settled` (`day_statuses`): a day younger
than the settling window may still be restated by Amazon, and a day without rows in that window
is provisional, never a zero.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from amazon_assets.parsers.compression import CorruptGzipError, gunzipped
from amazon_assets.parsers.quarantine import QuarantineRecord, as_utc, json_text, quarantine_frame
from amazon_assets.parsers.sales_and_traffic import (
    SALES_AND_TRAFFIC_SCHEMA,
    MalformedDocumentError,
    _facts_frame,
    _RowError,
    _typed_row,
)

QUARANTINE_SOURCE = "business_reports_data_kiosk"
PROVISIONAL, SETTLED = "provisional", "settled"

DAY_STATUS_SCHEMA = pl.Schema(
    {
        "report_date": pl.Date,
        "account": pl.Utf8,
        "status": pl.Utf8,  # PROVISIONAL | SETTLED
        "rows": pl.Int64,
    }
)


@dataclass(frozen=True)
class ParsedTrends:
    """Typed rows, refused lines and every covered day's status."""

    facts: pl.DataFrame  # exactly SALES_AND_TRAFFIC_SCHEMA
    quarantine: pl.DataFrame  # exactly QUARANTINE_SCHEMA
    days: pl.DataFrame  # exactly DAY_STATUS_SCHEMA
    document_rows: int
    # The document's lines per day (a line without a day of the query's range counts on its
    # first day, where its refusal is recorded): what silver plus quarantine must account for.
    lines_by_day: dict[date, int]


def day_status(day: date, fetched_on: date, settle_days: int) -> str:
    """`provisional` while Amazon may still restate the day (fewer than `settle_days` days old
    when fetched), else `settled`, whatever its rows: an empty recent day is provisional."""
    return PROVISIONAL if (fetched_on - day).days < settle_days else SETTLED


def parse_sales_and_traffic_trends(
    document: bytes,
    *,
    query_id: str,
    account: str,
    data_start: date,
    data_end: date,
    asins: tuple[str, ...],
    fetched_at: datetime,
    settle_days: int,
    ingested_at: datetime,
) -> ParsedTrends:
    """Silver rows of one query's document (b"" when Amazon had no data for the range)."""
    ingested_at = as_utc(ingested_at)
    lines = _lines(document, query_id)
    quarantined: list[QuarantineRecord] = []
    by_day: dict[date, list[tuple[Any, ...]]] = {}
    marketplaces: dict[date, str] = {}
    seen: dict[tuple[date, str], int] = {}
    wanted = set(asins)
    lines_by_day: Counter[date] = Counter()
    for line_number, text in enumerate(lines, start=1):
        try:
            raw = json.loads(text, parse_float=Decimal, parse_constant=Decimal)
        except ValueError as error:
            lines_by_day[data_start] += 1
            quarantined.append(
                _refusal(
                    line_number, data_start, query_id, f"not JSON ({error})", text, ingested_at
                )
            )
            continue
        try:
            day, marketplace_id = _day_of(raw, data_start, data_end)
            typed = _typed_row(
                {
                    "parentAsin": raw.get("parentAsin"),
                    "childAsin": raw.get("childAsin"),
                    "salesByAsin": raw.get("sales"),
                    "trafficByAsin": raw.get("traffic"),
                },
                "CHILD",
            )
            asin = typed[1]
            if asin not in wanted:
                raise _RowError(f"childAsin {asin!r} was not asked for in this query.")
            if (day, asin) in seen:
                raise _RowError(
                    f"childAsin {asin!r} on {day} appears again (first at line "
                    f"{seen[(day, asin)]}); a child ASIN has one line per day."
                )
            seen[(day, asin)] = line_number
        except _RowError as error:
            report_day = _line_day(raw, data_start, data_end)
            lines_by_day[report_day] += 1
            quarantined.append(
                _refusal(
                    line_number,
                    report_day,
                    query_id,
                    str(error),
                    raw,
                    ingested_at,
                )
            )
            continue
        lines_by_day[day] += 1
        by_day.setdefault(day, []).append(typed)
        marketplaces[day] = marketplace_id
    frames = [
        _facts_frame(
            rows,
            report_date=day,
            account=account,
            marketplace_id=marketplaces[day],
            report_id=query_id,
            ingested_at=ingested_at,
        )
        for day, rows in sorted(by_day.items())
    ]
    facts = pl.concat(frames) if frames else SALES_AND_TRAFFIC_SCHEMA.to_frame()
    fetched_on = as_utc(fetched_at).date()
    days = [
        data_start + timedelta(days=offset) for offset in range((data_end - data_start).days + 1)
    ]
    statuses = pl.DataFrame(
        [
            (
                day,
                account,
                day_status(day, fetched_on, settle_days),
                len(by_day.get(day, [])),
            )
            for day in days
        ],
        schema=DAY_STATUS_SCHEMA,
        orient="row",
    )
    return ParsedTrends(
        facts=facts,
        quarantine=quarantine_frame(quarantined),
        days=statuses,
        document_rows=len(lines),
        lines_by_day=dict(lines_by_day),
    )


def _lines(document: bytes, query_id: str) -> list[str]:
    try:
        data = gunzipped(document)
    except CorruptGzipError as error:
        raise MalformedDocumentError(query_id, f"{error}; download it again.") from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedDocumentError(query_id, f"the document is not UTF-8 ({error}).") from None
    return [line for line in text.splitlines() if line.strip()]


def _day_of(raw: Any, data_start: date, data_end: date) -> tuple[date, str]:
    if not isinstance(raw, dict):
        raise _RowError(f"the line is {json_text(raw)}, not an object.")
    start, end = raw.get("startDate"), raw.get("endDate")
    try:
        day = date.fromisoformat(start)
    except (TypeError, ValueError):
        raise _RowError(f"startDate is {json_text(start)}, not a date.") from None
    if end != start:
        raise _RowError(
            f"the line covers {start} to {end}; a daily (dateAggregation DAY) line has one day."
        )
    if not data_start <= day <= data_end:
        raise _RowError(f"startDate {day} is outside the query's {data_start}..{data_end}.")
    marketplace_id = raw.get("marketplaceId")
    if not (isinstance(marketplace_id, str) and marketplace_id):
        raise _RowError(f"marketplaceId is {json_text(marketplace_id)}, not an identifier.")
    return day, marketplace_id


def _line_day(raw: Any, data_start: date, data_end: date) -> date:
    """The day a refused line is recorded on: its startDate when that is a day of the query's
    range, else the range's first day (a day outside it is no partition this document fills)."""
    try:
        day = date.fromisoformat(raw.get("startDate") if isinstance(raw, dict) else None)
    except (TypeError, ValueError):
        return data_start
    return day if data_start <= day <= data_end else data_start


def _refusal(
    line_number: int, day: date, query_id: str, reason: str, raw: Any, at: datetime
) -> QuarantineRecord:
    return QuarantineRecord(
        source=QUARANTINE_SOURCE,
        report_date=day,
        document_id=query_id,
        line_number=line_number,
        reason=reason,
        raw_row=raw if isinstance(raw, str) else json_text(raw),
        quarantined_at=at,
    )
