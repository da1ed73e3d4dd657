"""Sponsored Products v3 daily reports (gzip JSON rows) -> typed rows of the silver ad facts.

A v3 report (reporting/reports, format GZIP_JSON) is a JSON array with one object per row and
the requested `configuration.columns` as keys (Amazon's names: campaignId, cost, sales7d, ...).
Amazon's names are mapped to snake_case here and nowhere else. Ids are kept as strings: entity
listings (v3 /sp/*/list) return them as strings and reports as numbers, and silver joins both.

A row missing its date, a key id or a core metric (impressions, clicks, cost), or holding a value
of the wrong type, goes to quarantine with the reason; the other rows load. Range rules a person
must look at (cost >= 0, clicks <= impressions) are asset checks, not refusals, so they stay visible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from amazon_assets.parsers.compression import CorruptGzipError, gunzipped
from amazon_assets.parsers.quarantine import (
    QuarantineRecord,
    as_utc,
    json_text,
    quarantine_frame,
)

_MONEY = pl.Decimal(18, 2)
_INT64_MAX = 2**63 - 1
_MONEY_LIMIT = Decimal(10) ** 16  # Decimal(18, 2) holds 16 digits before the point
_CENT = Decimal("0.01")
# Amounts that are cents written through a binary float (1.2300000190734863) are rounded to the
# cent; anything further from a cent than this is a real sub-cent amount and is refused.
_FLOAT_NOISE = Decimal("0.000001")


@dataclass(frozen=True)
class _Field:
    """One report column: Amazon's name, ours, and what it must hold."""

    amazon: str
    column: str
    kind: str  # "id" | "text" | "count" | "money"
    required: bool = False


_DTYPES = {"id": pl.Utf8, "text": pl.Utf8, "count": pl.Int64, "money": _MONEY}

_CAMPAIGN_ID = _Field("campaignId", "campaign_id", "id", required=True)
_AD_GROUP_ID = _Field("adGroupId", "ad_group_id", "id", required=True)
_KEYWORD_ID = _Field("keywordId", "keyword_id", "id", required=True)
_CAMPAIGN_NAME = _Field("campaignName", "campaign_name", "text")
_AD_GROUP_NAME = _Field("adGroupName", "ad_group_name", "text")
_KEYWORD = _Field("keyword", "keyword", "text")
_MATCH_TYPE = _Field("matchType", "match_type", "text")
_TARGETING = _Field("targeting", "targeting", "text")

# The metrics every Sponsored Products report carries, in silver column order.
_METRICS: tuple[_Field, ...] = (
    _Field("impressions", "impressions", "count", required=True),
    _Field("clicks", "clicks", "count", required=True),
    _Field("cost", "cost", "money", required=True),
    _Field("purchases7d", "purchases_7d", "count"),
    _Field("purchases14d", "purchases_14d", "count"),
    _Field("sales7d", "sales_7d", "money"),
    _Field("sales14d", "sales_14d", "money"),
    _Field("unitsSoldClicks7d", "units_sold_clicks_7d", "count"),
    _Field("unitsSoldClicks14d", "units_sold_clicks_14d", "count"),
)


@dataclass(frozen=True)
class AdsReportType:
    """A v3 reportTypeId: its silver table, its key columns and its descriptive columns."""

    report_type_id: str
    table: str
    keys: tuple[_Field, ...]
    attributes: tuple[_Field, ...]

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The columns that identify one row of the silver table (each account's rows apart)."""
        return ("report_date", "account", *(f.column for f in self.keys))

    @property
    def schema(self) -> pl.Schema:
        """The silver schema of this report's fact table."""
        return pl.Schema(
            {
                "report_date": pl.Date,
                "account": pl.Utf8,
                "profile_id": pl.Utf8,
                **{f.column: _DTYPES[f.kind] for f in (*self.keys, *self.attributes, *_METRICS)},
                "currency": pl.Utf8,
                "report_id": pl.Utf8,
                "ingested_at": pl.Datetime("us", "UTC"),
            }
        )


SP_CAMPAIGNS = AdsReportType(
    "spCampaigns",
    "fact_ads_sp_campaigns",
    keys=(_CAMPAIGN_ID,),
    attributes=(
        _CAMPAIGN_NAME,
        _Field("campaignStatus", "campaign_status", "text"),
        _Field("campaignBudgetAmount", "campaign_budget_amount", "money"),
    ),
)
SP_TARGETING = AdsReportType(
    "spTargeting",
    "fact_ads_sp_targeting",
    keys=(_CAMPAIGN_ID, _AD_GROUP_ID, _KEYWORD_ID),
    attributes=(
        _CAMPAIGN_NAME,
        _AD_GROUP_NAME,
        _KEYWORD,
        _MATCH_TYPE,
        _TARGETING,
        _Field("keywordType", "keyword_type", "text"),
    ),
)
SP_SEARCH_TERM = AdsReportType(
    "spSearchTerm",
    "fact_ads_sp_search_terms",
    keys=(
        _CAMPAIGN_ID,
        _AD_GROUP_ID,
        _KEYWORD_ID,
        _Field("searchTerm", "search_term", "text", True),
    ),
    attributes=(_CAMPAIGN_NAME, _AD_GROUP_NAME, _KEYWORD, _MATCH_TYPE, _TARGETING),
)
SP_ADVERTISED_PRODUCT = AdsReportType(
    "spAdvertisedProduct",
    "fact_ads_sp_advertised_products",
    keys=(
        _CAMPAIGN_ID,
        _AD_GROUP_ID,
        _Field("advertisedAsin", "advertised_asin", "text", True),
        _Field("advertisedSku", "advertised_sku", "text", True),
    ),
    attributes=(_Field("adId", "ad_id", "id"), _CAMPAIGN_NAME, _AD_GROUP_NAME),
)

AD_REPORT_TYPES: dict[str, AdsReportType] = {
    t.report_type_id: t for t in (SP_CAMPAIGNS, SP_TARGETING, SP_SEARCH_TERM, SP_ADVERTISED_PRODUCT)
}
SP_CAMPAIGNS_SCHEMA = SP_CAMPAIGNS.schema
SP_TARGETING_SCHEMA = SP_TARGETING.schema
SP_SEARCH_TERM_SCHEMA = SP_SEARCH_TERM.schema
SP_ADVERTISED_PRODUCT_SCHEMA = SP_ADVERTISED_PRODUCT.schema
QUARANTINE_SOURCE_PREFIX = "ads_reports_"


class MalformedAdsReportError(ValueError):
    """The document as a whole cannot be read as a v3 report (not gzip/JSON, not an array)."""

    def __init__(self, report_id: str, problem: str) -> None:
        super().__init__(f"Ads report {report_id}: {problem}")
        self.report_id = report_id


@dataclass(frozen=True)
class ParsedAdsReport:
    """Typed rows, refused rows and how many rows the document held."""

    facts: pl.DataFrame  # exactly the report type's schema
    quarantine: pl.DataFrame  # exactly QUARANTINE_SCHEMA
    document_rows: int


class _RowError(Exception):
    """A row that cannot be typed; the message is the quarantine reason."""


def load_report_rows(document: bytes, report_id: str) -> list[Any]:
    """The rows of a v3 report body, gzip or plain JSON, numbers with a point read as Decimal."""
    try:
        rows = json.loads(gunzipped(document), parse_float=Decimal)
    except (CorruptGzipError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedAdsReportError(
            report_id, f"the body is not gzip JSON ({error}); re-fetch the report."
        ) from error
    if not isinstance(rows, list):
        raise MalformedAdsReportError(
            report_id, f"the body is a JSON {type(rows).__name__}, not an array of rows."
        )
    return rows


def parse_ads_report(
    document: bytes,
    report_type_id: str,
    *,
    report_id: str,
    account: str,
    profile_id: str,
    currency: str,
    report_days: set[date] | None = None,
    ingested_at: datetime,
) -> ParsedAdsReport:
    """Rows of one report type's fact table from one v3 report body (rows outside report_days refused)."""
    report_type = AD_REPORT_TYPES.get(report_type_id)
    if report_type is None:
        raise ValueError(
            f"Unknown reportTypeId {report_type_id!r}; expected one of {', '.join(AD_REPORT_TYPES)}."
        )
    ingested_at = as_utc(ingested_at)
    rows = load_report_rows(document, report_id)
    fields = (*report_type.keys, *report_type.attributes, *_METRICS)
    typed: list[tuple[Any, ...]] = []
    refused: list[QuarantineRecord] = []
    fallback_day = min(report_days) if report_days else date(1970, 1, 1)
    for line_number, row in enumerate(rows, start=1):
        try:
            day = _row_date(row, report_days)
            typed.append((day, *(_value(row, f) for f in fields)))
        except _RowError as error:
            refused.append(
                QuarantineRecord(
                    source=QUARANTINE_SOURCE_PREFIX + report_type_id,
                    report_date=_quarantine_day(row, report_days, fallback_day),
                    document_id=report_id,
                    line_number=line_number,
                    reason=str(error),
                    raw_row=json_text(row),
                    quarantined_at=ingested_at,
                )
            )
    columns = list(zip(*typed, strict=True)) if typed else [()] * (1 + len(fields))
    n = len(typed)
    by_name: dict[str, Any] = {
        "report_date": columns[0],
        "account": [account] * n,
        "profile_id": [str(profile_id)] * n,
        **{f.column: columns[1 + i] for i, f in enumerate(fields)},
        "currency": [currency] * n,
        "report_id": [report_id] * n,
        "ingested_at": [ingested_at] * n,
    }
    facts = pl.DataFrame(
        [
            pl.Series(name, list(by_name[name]), dtype=dtype)
            for name, dtype in report_type.schema.items()
        ]
    )
    return ParsedAdsReport(
        facts=facts, quarantine=quarantine_frame(refused), document_rows=len(rows)
    )


def _row_date(row: Any, report_days: set[date] | None) -> date:
    if not isinstance(row, dict):
        raise _RowError(f"the row is {json_text(row)}, not an object.")
    raw = row.get("date")
    try:
        day = date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        day = None
    if day is None:
        shown = "missing" if raw is None else json_text(raw)
        raise _RowError(f"date is {shown}, not a YYYY-MM-DD day.")
    if report_days is not None and day not in report_days:
        # Loading it would stamp a day this document was not requested for (and its partition
        # would not be replaced by the next pull of that day).
        raise _RowError(f"date {day} is outside the days this report was requested for.")
    return day


def _quarantine_day(row: Any, report_days: set[date] | None, fallback: date) -> date:
    """The row's own date when readable and requested, else the report's first day.

    A quarantine row must sit in a day the run writes, or the next pull could not replace it.
    """
    try:
        day = date.fromisoformat(row["date"])
    except (TypeError, KeyError, ValueError):
        return fallback
    return day if report_days is None or day in report_days else fallback


def _value(row: dict[str, Any], field: _Field) -> Any:
    raw = row.get(field.amazon)
    if raw is None:
        if field.required:
            raise _RowError(f"{field.amazon} is missing; every {field.column} row needs one.")
        return None
    if field.kind == "id":
        if type(raw) is int or (isinstance(raw, str) and raw.strip()):
            return str(raw)
        raise _RowError(f"{field.amazon} is {json_text(raw)}, not an id.")
    if field.kind == "text":
        if isinstance(raw, str) and (raw.strip() or not field.required):
            return raw
        raise _RowError(f"{field.amazon} is {json_text(raw)}, not a non-empty string.")
    if field.kind == "count":
        return _count(raw, field.amazon)
    return _money(raw, field.amazon)


def _count(value: Any, name: str) -> int:
    if type(value) is int and 0 <= value <= _INT64_MAX:  # not bool: JSON true is no count
        return value
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value == value.to_integral_value()
        and 0 <= value <= _INT64_MAX
    ):
        return int(value)  # 3.0 is a whole number written with a point
    raise _RowError(f"{name} is {json_text(value)}, not a whole number of at least 0.")


def _money(value: Any, name: str) -> Decimal:
    if type(value) is int:
        value = Decimal(value)
    elif isinstance(value, str):  # some clients and exports quote amounts
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise _RowError(f"{name} is {json_text(value)}, not an amount.") from None
    if not (isinstance(value, Decimal) and value.is_finite()):
        raise _RowError(f"{name} is {json_text(value)}, not an amount.")
    cents = value.quantize(_CENT)
    if abs(value - cents) > _FLOAT_NOISE:
        raise _RowError(f"{name} is {value}, which has more than 2 decimal places.")
    if abs(cents) >= _MONEY_LIMIT:
        raise _RowError(f"{name} is {value}, beyond what Decimal(18, 2) holds.")
    return cents
