"""GET_SALES_AND_TRAFFIC_REPORT documents -> typed rows of silver fact_business_reports_us.

The document is JSON (Amazon's schema: selling-partner-api-models,
schemas/reports/sellerSalesAndTrafficReport.json). Its salesAndTrafficByAsin section holds one
object per ASIN (or SKU) summed over the whole requested range, so the project requests one report
per day and this parser stamps every row with that day. Amazon's camelCase names are mapped to
snake_case here and nowhere else.

Key columns by asinGranularity (reportOptions.asinGranularity; Amazon's default is PARENT):
- SKU:    msku = sku, asin = childAsin, parent_asin = parentAsin
- CHILD:  msku is null, asin = childAsin, parent_asin = parentAsin
- PARENT: msku and asin are null, parent_asin = parentAsin
A field Amazon's schema requires (the identifiers of the granularity, every non-B2B metric, an
amount's amount and currencyCode) quarantines its row when missing; an absent B2B metric is null.
Silver loads SKU granularity; the other two give the same typed columns for ad-hoc use.

A broken document raises MalformedDocumentError; a broken row goes to quarantine and the rest load.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from amazon_assets.parsers.compression import CorruptGzipError, gunzipped
from amazon_assets.parsers.quarantine import (
    QuarantineRecord,
    as_utc,
    json_text,
    quarantine_frame,
)

REPORT_TYPE = "GET_SALES_AND_TRAFFIC_REPORT"
QUARANTINE_SOURCE = "business_reports"
ASIN_GRANULARITIES = ("SKU", "CHILD", "PARENT")

_MONEY = pl.Decimal(18, 2)
_INT64_MAX = 2**63 - 1
_MONEY_LIMIT = Decimal(10) ** 16  # Decimal(18, 2) holds 16 digits before the point
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class _Metric:
    """One metric of a by-ASIN row: where Amazon puts it and what it must look like."""

    column: str
    section: str  # "salesByAsin" or "trafficByAsin"
    kind: str  # "count" | "percent" (0..100) | "rate" (>= 0, no upper bound) | "money"
    required: bool  # Amazon's schema requires it; the B2B variants are optional (B2B sellers only)
    # (key, "section.key") pairs in the order they are tried: Amazon's name first, then the
    # misspellings found in Amazon's own examples; the path names the field in a refusal.
    lookups: tuple[tuple[str, str], ...]


def _metric(column: str, section: str, kind: str, *keys: str) -> _Metric:
    lookups = tuple((key, f"{section}.{key}") for key in keys)
    return _Metric(column, section, kind, not column.endswith("_b2b"), lookups)


_S, _T = "salesByAsin", "trafficByAsin"

# Column order of the silver table after the keys; B2B variants are only populated for B2B sellers.
# Aliases: Amazon's published examples spell browserPageViews as "browerPageViews" and
# mobileAppPageViews as "mobilePageViews"; the Data Kiosk renamed buy box to "featured offer".
_METRICS: tuple[_Metric, ...] = (
    _metric("sessions", _T, "count", "sessions"),
    _metric("page_views", _T, "count", "pageViews"),
    _metric("buy_box_percentage", _T, "percent", "buyBoxPercentage", "featuredOfferPercentage"),
    # Above 100 is valid: one session may order several units.
    _metric("unit_session_percentage", _T, "rate", "unitSessionPercentage"),
    _metric("units_ordered", _S, "count", "unitsOrdered"),
    _metric("ordered_product_sales", _S, "money", "orderedProductSales"),
    _metric("total_order_items", _S, "count", "totalOrderItems"),
    _metric("browser_sessions", _T, "count", "browserSessions"),
    _metric("mobile_app_sessions", _T, "count", "mobileAppSessions"),
    _metric("session_percentage", _T, "percent", "sessionPercentage"),
    _metric("browser_session_percentage", _T, "percent", "browserSessionPercentage"),
    _metric("mobile_app_session_percentage", _T, "percent", "mobileAppSessionPercentage"),
    _metric("browser_page_views", _T, "count", "browserPageViews", "browerPageViews"),
    _metric("mobile_app_page_views", _T, "count", "mobileAppPageViews", "mobilePageViews"),
    _metric("page_views_percentage", _T, "percent", "pageViewsPercentage"),
    _metric("browser_page_views_percentage", _T, "percent", "browserPageViewsPercentage"),
    _metric(
        "mobile_app_page_views_percentage",
        _T,
        "percent",
        "mobileAppPageViewsPercentage",
        "mobilePageViewsPercentage",
    ),
    _metric("units_ordered_b2b", _S, "count", "unitsOrderedB2B"),
    _metric("ordered_product_sales_b2b", _S, "money", "orderedProductSalesB2B"),
    _metric("total_order_items_b2b", _S, "count", "totalOrderItemsB2B"),
    _metric("sessions_b2b", _T, "count", "sessionsB2B"),
    _metric("browser_sessions_b2b", _T, "count", "browserSessionsB2B"),
    _metric("mobile_app_sessions_b2b", _T, "count", "mobileAppSessionsB2B"),
    _metric("session_percentage_b2b", _T, "percent", "sessionPercentageB2B"),
    _metric("browser_session_percentage_b2b", _T, "percent", "browserSessionPercentageB2B"),
    _metric("mobile_app_session_percentage_b2b", _T, "percent", "mobileAppSessionPercentageB2B"),
    _metric("page_views_b2b", _T, "count", "pageViewsB2B"),
    _metric("browser_page_views_b2b", _T, "count", "browserPageViewsB2B", "browerPageViewsB2B"),
    _metric(
        "mobile_app_page_views_b2b", _T, "count", "mobileAppPageViewsB2B", "mobilePageViewsB2B"
    ),
    _metric("page_views_percentage_b2b", _T, "percent", "pageViewsPercentageB2B"),
    _metric("browser_page_views_percentage_b2b", _T, "percent", "browserPageViewsPercentageB2B"),
    _metric(
        "mobile_app_page_views_percentage_b2b",
        _T,
        "percent",
        "mobileAppPageViewsPercentageB2B",
        "mobilePageViewsPercentageB2B",
    ),
    _metric(
        "buy_box_percentage_b2b", _T, "percent", "buyBoxPercentageB2B", "featuredOfferPercentageB2B"
    ),
    _metric("unit_session_percentage_b2b", _T, "rate", "unitSessionPercentageB2B"),
)

_DTYPES = {"count": pl.Int64, "percent": pl.Float64, "rate": pl.Float64, "money": _MONEY}

# The silver schema of amazon_econ.fact_business_reports_us: one row per (report_date, msku, asin).
SALES_AND_TRAFFIC_SCHEMA = pl.Schema(
    {
        "report_date": pl.Date,
        "account": pl.Utf8,
        "marketplace_id": pl.Utf8,
        "msku": pl.Utf8,
        "asin": pl.Utf8,
        "parent_asin": pl.Utf8,
        **{m.column: _DTYPES[m.kind] for m in _METRICS[:6]},
        "currency_code": pl.Utf8,
        **{m.column: _DTYPES[m.kind] for m in _METRICS[6:]},
        "report_id": pl.Utf8,
        "ingested_at": pl.Datetime("us", "UTC"),
    }
)


class MalformedDocumentError(ValueError):
    """The document as a whole cannot be read as a sales and traffic report."""

    def __init__(self, report_id: str, problem: str) -> None:
        super().__init__(f"Report {report_id}: {problem}")
        self.report_id = report_id


@dataclass(frozen=True)
class ParsedReport:
    """Typed rows, refused rows and the document's own by-date totals for the report day."""

    facts: pl.DataFrame  # exactly SALES_AND_TRAFFIC_SCHEMA
    quarantine: pl.DataFrame  # exactly QUARANTINE_SCHEMA
    # salesAndTrafficByDate totals for report_date: sessions, page_views, units_ordered,
    # total_order_items (int) and ordered_product_sales (Decimal); empty when the day is absent.
    by_date_totals: dict[str, int | Decimal] = field(default_factory=dict)
    asin_granularity: str = "SKU"
    # Rows in the document's salesAndTrafficByAsin section: facts plus the rows quarantined from
    # it (the quarantine may also hold a by-date entry, whose line_number is null).
    document_rows: int = 0


class _RowError(Exception):
    """A row (or by-date entry) that cannot be typed; the message is the quarantine reason."""


def parse_sales_and_traffic(
    document: bytes,
    *,
    report_date: date,
    report_id: str,
    account: str,
    marketplace_id: str | None = None,
    ingested_at: datetime,
) -> ParsedReport:
    """Rows of fact_business_reports_us from one day's GET_SALES_AND_TRAFFIC_REPORT document."""
    ingested_at = as_utc(ingested_at)
    report = _load_json(document, report_id)
    granularity, marketplace_id = _check_specification(
        report, report_id=report_id, report_date=report_date, marketplace_id=marketplace_id
    )
    by_asin = _section(report, "salesAndTrafficByAsin", report_id)
    by_date = _section(report, "salesAndTrafficByDate", report_id)
    quarantined: list[QuarantineRecord] = []

    def refuse(line_number: int | None, reason: str, raw: Any) -> None:
        quarantined.append(
            QuarantineRecord(
                source=QUARANTINE_SOURCE,
                report_date=report_date,
                document_id=report_id,
                line_number=line_number,
                reason=reason,
                raw_row=json_text(raw),
                quarantined_at=ingested_at,
            )
        )

    rows: list[tuple[Any, ...]] = []
    seen: dict[tuple[str | None, ...], int] = {}
    for line_number, row in enumerate(by_asin, start=1):
        try:
            typed = _typed_row(row, granularity)
            # The key of a row: (sku, childAsin) at SKU, childAsin at CHILD, parentAsin at PARENT.
            key = (typed[0], typed[1], typed[2] if granularity == "PARENT" else None)
            if key in seen:
                raise _RowError(
                    f"{_describe_key(key)} appears again (first at row {seen[key]}); "
                    "a key must be unique within a report."
                )
            seen[key] = line_number
        except _RowError as error:
            refuse(line_number, str(error), row)
            continue
        rows.append(typed)

    totals = _by_date_totals(by_date, report_date, refuse)
    facts = _facts_frame(
        rows,
        report_date=report_date,
        account=account,
        marketplace_id=marketplace_id,
        report_id=report_id,
        ingested_at=ingested_at,
    )
    return ParsedReport(
        facts=facts,
        quarantine=quarantine_frame(quarantined),
        by_date_totals=totals,
        asin_granularity=granularity,
        document_rows=len(by_asin),
    )


def _load_json(document: bytes, report_id: str) -> dict[str, Any]:
    try:
        data = gunzipped(document)
    except CorruptGzipError as error:
        raise MalformedDocumentError(report_id, f"{error}; re-download it.") from error
    if not data.strip():
        raise MalformedDocumentError(report_id, "the document is empty, not a JSON report.")
    try:
        # Amounts and percentages become Decimal so money never passes through a float.
        report = json.loads(data, parse_float=Decimal, parse_constant=Decimal)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedDocumentError(report_id, f"the document is not JSON ({error}).") from error
    if not isinstance(report, dict):
        raise MalformedDocumentError(
            report_id, f"the document is a JSON {_json_type(report)}, not a report object."
        )
    return report


def _check_specification(
    report: dict[str, Any], *, report_id: str, report_date: date, marketplace_id: str | None
) -> tuple[str, str]:
    """The ASIN granularity and marketplace of the report, after checking it covers report_date."""
    spec = report.get("reportSpecification")
    if not isinstance(spec, dict):
        raise MalformedDocumentError(
            report_id,
            "the document has no reportSpecification object, so it is no sales and traffic report.",
        )
    report_type = spec.get("reportType", REPORT_TYPE)
    if report_type != REPORT_TYPE:
        raise MalformedDocumentError(
            report_id, f"reportSpecification.reportType is {report_type!r}, not {REPORT_TYPE}."
        )
    options = spec.get("reportOptions") or {}
    if not isinstance(options, dict):
        raise MalformedDocumentError(
            report_id, f"reportSpecification.reportOptions is {json_text(options)}, not an object."
        )
    granularity = options.get("asinGranularity", "PARENT")  # Amazon's default when omitted
    if granularity not in ASIN_GRANULARITIES:
        raise MalformedDocumentError(
            report_id,
            f"reportOptions.asinGranularity is {json_text(granularity)}, "
            f"not one of {', '.join(ASIN_GRANULARITIES)}.",
        )
    # The by-ASIN section sums over the whole range Amazon used: rows of a longer range stamped
    # with one day would silently inflate that day, so the range must be exactly report_date.
    # WEEK and MONTH expand the range to whole weeks or months, so only DAY qualifies.
    date_granularity = options.get("dateGranularity", "DAY")  # Amazon's default when omitted
    if date_granularity != "DAY":
        raise MalformedDocumentError(
            report_id,
            f"reportOptions.dateGranularity is {json_text(date_granularity)}, which widens the "
            f"report to whole periods, so its rows are not the single day {report_date}.",
        )
    start, end = spec.get("dataStartTime"), spec.get("dataEndTime")
    for name, value in (("dataStartTime", start), ("dataEndTime", end)):
        if isinstance(value, str) and value[:10] != report_date.isoformat():
            raise MalformedDocumentError(
                report_id,
                f"the document covers {str(start)[:10]} to {str(end)[:10]} ({name} is {value}), "
                f"but is loaded as the single day {report_date.isoformat()}.",
            )
    if marketplace_id is None:
        marketplaces = spec.get("marketplaceIds")
        if not (
            isinstance(marketplaces, list) and marketplaces and isinstance(marketplaces[0], str)
        ):
            raise MalformedDocumentError(
                report_id,
                "reportSpecification.marketplaceIds names no marketplace and none was given.",
            )
        marketplace_id = marketplaces[0]
    return granularity, marketplace_id


def _section(report: dict[str, Any], name: str, report_id: str) -> list[Any]:
    section = report.get(name, [])
    if section is None:
        return []
    if not isinstance(section, list):
        raise MalformedDocumentError(
            report_id, f"{name} is a JSON {_json_type(section)}, not a list of rows."
        )
    return section


def _typed_row(row: Any, granularity: str) -> tuple[Any, ...]:
    """(msku, asin, parent_asin, currency_code, *metrics) of one by-ASIN row, or _RowError."""
    if not isinstance(row, dict):
        raise _RowError(f"the row is a JSON {_json_type(row)}, not an object.")
    msku = _identifier(row, "sku") if granularity == "SKU" else None
    asin = _identifier(row, "childAsin") if granularity in ("SKU", "CHILD") else None
    parent_asin = _identifier(row, "parentAsin")
    sales, traffic = _section_of(row, _S), _section_of(row, _T)

    values: list[Any] = []
    currencies: list[tuple[str, str]] = []
    for metric in _METRICS:
        section = sales if metric.section == _S else traffic
        raw, path = None, metric.lookups[0][1]
        for key, key_path in metric.lookups:
            raw = section.get(key)
            if raw is not None:
                path = key_path
                break
        if raw is None:
            if metric.required:
                raise _RowError(f"{path} is missing; Amazon's report schema requires it.")
            values.append(None)  # an absent optional (B2B) metric is null, never an error
        elif metric.kind == "count":
            values.append(_count(raw, path))
        elif metric.kind == "money":
            amount, currency = _money(raw, path)
            values.append(amount)
            currencies.append((path, currency))
        else:
            values.append(_percent(raw, path, bounded=metric.kind == "percent"))

    currency_code = currencies[0][1] if currencies else None
    for path, currency in currencies[1:]:
        if currency != currency_code:
            raise _RowError(
                f"{path}.currencyCode is {currency!r} but {currencies[0][0]}.currencyCode is "
                f"{currency_code!r}; one row must have one currency."
            )
    return (msku, asin, parent_asin, currency_code, *values)


def _identifier(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        raise _RowError(f"{key} is missing; every row of this granularity needs one.")
    if not isinstance(value, str) or not value.strip():
        raise _RowError(f"{key} is {json_text(value)}, not a non-empty string.")
    return value


def _section_of(row: dict[str, Any], name: str) -> dict[str, Any]:
    section = row.get(name)
    if not isinstance(section, dict):
        shown = "missing" if section is None else f"{json_text(section)}"
        raise _RowError(f"{name} is {shown}, not an object of metrics.")
    return section


def _count(value: Any, path: str) -> int:
    if type(value) is int:  # not bool: JSON true is no count
        if 0 <= value <= _INT64_MAX:
            return value
    elif (
        isinstance(value, Decimal)
        and value.is_finite()
        and value == value.to_integral_value()
        and 0 <= value <= _INT64_MAX
    ):
        return int(value)  # 3.0 is a whole number written with a point
    raise _RowError(f"{path} is {json_text(value)}, not a whole number of at least 0.")


def _percent(value: Any, path: str, *, bounded: bool) -> float:
    is_number = type(value) is int or (isinstance(value, Decimal) and value.is_finite())
    if is_number and value >= 0 and (not bounded or value <= 100):
        return float(value)
    limit = "between 0 and 100" if bounded else "of at least 0"
    raise _RowError(f"{path} is {json_text(value)}, not a percentage {limit}.")


def _money(value: Any, path: str) -> tuple[Decimal, str]:
    if not isinstance(value, dict):
        raise _RowError(
            f"{path} is {json_text(value)}, not an object with amount and currencyCode."
        )
    amount, currency = value.get("amount"), value.get("currencyCode")
    if not (isinstance(currency, str) and currency.strip()):
        shown = "missing" if currency is None else json_text(currency)
        raise _RowError(f"{path}.currencyCode is {shown}, not a currency code.")
    if amount is None:
        raise _RowError(f"{path}.amount is missing; Amazon's report schema requires it.")
    if type(amount) is int:
        amount = Decimal(amount)
    if not (isinstance(amount, Decimal) and amount.is_finite()):
        raise _RowError(f"{path}.amount is {json_text(amount)}, not a number.")
    if amount < 0 or amount >= _MONEY_LIMIT:
        raise _RowError(f"{path}.amount is {amount}, outside 0 to {_MONEY_LIMIT} (exclusive).")
    if amount != amount.quantize(_CENT):
        # Storing it at 2 decimals would change the amount; keep the row for a person instead.
        raise _RowError(f"{path}.amount is {amount}, which has more than 2 decimal places.")
    return amount, currency


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _describe_key(key: tuple[str | None, ...]) -> str:
    parts = [
        f"{name}={value!r}"
        for name, value in zip(("sku", "childAsin", "parentAsin"), key, strict=True)
        if value is not None
    ]
    return "the row with " + ", ".join(parts)


_TOTALS = (
    ("sessions", "trafficByDate", "sessions", "count"),
    ("page_views", "trafficByDate", "pageViews", "count"),
    ("units_ordered", "salesByDate", "unitsOrdered", "count"),
    ("total_order_items", "salesByDate", "totalOrderItems", "count"),
    ("ordered_product_sales", "salesByDate", "orderedProductSales", "money"),
)


def _by_date_totals(
    by_date: list[Any], report_date: date, refuse: Callable[[int | None, str, Any], None]
) -> dict[str, int | Decimal]:
    """The document's own totals for report_date (for row-count and sum checks); {} if absent."""
    day = report_date.isoformat()
    entry = next(
        (e for e in by_date if isinstance(e, dict) and str(e.get("date", ""))[:10] == day), None
    )
    if entry is None:
        return {}
    totals: dict[str, int | Decimal] = {}
    problems: list[str] = []
    for name, section_name, key, kind in _TOTALS:
        section = entry.get(section_name)
        value = section.get(key) if isinstance(section, dict) else None
        if value is None:
            continue
        path = f"salesAndTrafficByDate[{day}].{section_name}.{key}"
        try:
            if kind == "count":
                totals[name] = _count(value, path)
            else:
                totals[name], _ = _money(value, path)
        except _RowError as error:
            problems.append(str(error))
    if problems:
        # line_number is null: the by-date entry is no row of the by-ASIN section.
        refuse(None, " ".join(problems), entry)
    return totals


def _facts_frame(
    rows: list[tuple[Any, ...]],
    *,
    report_date: date,
    account: str,
    marketplace_id: str,
    report_id: str,
    ingested_at: datetime,
) -> pl.DataFrame:
    n = len(rows)
    # Transpose once: one Python list per column, then one Series per column (no row appends).
    transposed = list(zip(*rows, strict=True)) if rows else [()] * (4 + len(_METRICS))
    by_name: dict[str, Any] = {
        "report_date": [report_date] * n,
        "account": [account] * n,
        "marketplace_id": [marketplace_id] * n,
        "msku": transposed[0],
        "asin": transposed[1],
        "parent_asin": transposed[2],
        "currency_code": transposed[3],
        **{metric.column: transposed[4 + i] for i, metric in enumerate(_METRICS)},
        "report_id": [report_id] * n,
        "ingested_at": [ingested_at] * n,
    }
    return pl.DataFrame(
        [
            pl.Series(name, list(by_name[name]), dtype=dtype)
            for name, dtype in SALES_AND_TRAFFIC_SCHEMA.items()
        ]
    )
