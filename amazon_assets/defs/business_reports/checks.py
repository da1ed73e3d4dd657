"""Data-quality checks on fact_business_reports_us, evaluated on the partitions each run writes.

Writes replace whole days, so the frame a run writes is exactly what the table holds for those
days: checking it is checking the table, without a second read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal

import dagster as dg
import polars as pl

from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS
from amazon_assets.parsers.quarantine import refused_rows
from amazon_assets.quality import keys_not_null_and_unique

KEY_COLUMNS = BUSINESS_REPORTS.natural_key
KIOSK_NOT_NULL = tuple(column for column in KEY_COLUMNS if column != "msku")
# Per-document numbers are keyed by (account, report day).
AccountDay = tuple[str, date]


def business_report_check_specs() -> list[dg.AssetCheckSpec]:
    """Blocking checks stop downstream assets; the comparison with the document's totals warns."""
    asset = BUSINESS_REPORTS.silver_key
    return [
        dg.AssetCheckSpec(
            "keys_not_null_and_unique",
            asset=asset,
            blocking=True,
            description=f"({', '.join(KEY_COLUMNS)}) is unique and non-null (msku is null on "
            "Data Kiosk's child-ASIN rows).",
        ),
        dg.AssetCheckSpec(
            "buy_box_percentage_in_range",
            asset=asset,
            blocking=True,
            description="buy_box_percentage lies within 0..100.",
        ),
        dg.AssetCheckSpec(
            "unit_session_percentage_not_negative",
            asset=asset,
            blocking=True,
            description="unit_session_percentage >= 0 (it may exceed 100).",
        ),
        dg.AssetCheckSpec(
            "every_document_row_loaded",
            asset=asset,
            blocking=True,
            description="Every SKU row of each account's and day's report, and every line of its "
            "Data Kiosk documents, is in silver or refused into quarantine (or, for a Data Kiosk "
            "line, superseded by a newer document of the day).",
        ),
        dg.AssetCheckSpec(
            "sku_sums_within_document_totals",
            asset=asset,
            blocking=False,
            description="Per account and day, the SKU rows' sessions, page views, units, order items and "
            "sales do not exceed the report's by-date totals (warns). SKU reports' days only: a "
            "Data Kiosk document has no totals to compare with.",
        ),
    ]


def buy_box_percentage_in_range(asset_key: dg.AssetKey, facts: pl.DataFrame) -> dg.AssetCheckResult:
    bad = facts.filter(~pl.col("buy_box_percentage").is_between(0, 100)).height
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="buy_box_percentage_in_range",
        passed=bad == 0,
        metadata={"rows_out_of_range": bad},
    )


def unit_session_percentage_not_negative(
    asset_key: dg.AssetKey, facts: pl.DataFrame
) -> dg.AssetCheckResult:
    bad = facts.filter(pl.col("unit_session_percentage") < 0).height
    above_100 = facts.filter(pl.col("unit_session_percentage") > 100).height
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="unit_session_percentage_not_negative",
        passed=bad == 0,
        metadata={"negative_rows": bad, "rows_above_100": above_100},
    )


def _label(account_day: AccountDay) -> str:
    account, day = account_day
    return f"{account} {day.isoformat()}"


def _per_account_day(frame: pl.DataFrame) -> dict[AccountDay, int]:
    return {
        (account, day): n
        for account, day, n in frame.group_by("account", "report_date").len().iter_rows()
    }


def every_document_row_loaded(
    asset_key: dg.AssetKey,
    facts: pl.DataFrame,
    quarantine: pl.DataFrame,
    document_rows: Mapping[AccountDay, int],
    superseded: Mapping[AccountDay, int] | None = None,
) -> dg.AssetCheckResult:
    """Each document's rows (a report's SKU rows, a Data Kiosk document's lines) are in silver
    or refused into quarantine, or superseded (a Data Kiosk line of a child ASIN a newer
    document of the day holds too); fails for a row that is none of these (a malformed row
    Amazon sent is accounted for by its quarantine record)."""
    superseded = superseded or {}
    loaded = _per_account_day(facts)
    # Refused by-ASIN rows only: a by-date entry (no line number) is not a row of the section.
    refused = _per_account_day(refused_rows(quarantine).filter(pl.col("line_number").is_not_null()))
    short = {
        key: (n, loaded.get(key, 0), refused.get(key, 0), superseded.get(key, 0))
        for key, n in document_rows.items()
        if loaded.get(key, 0) + refused.get(key, 0) + superseded.get(key, 0) != n
    }
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="every_document_row_loaded",
        passed=not short,
        metadata={
            "document_rows": sum(document_rows.values()),
            "loaded_rows": facts.height,
            "refused_rows": sum(refused.values()),
            "superseded_rows": sum(superseded.values()),
            "quarantined_rows": quarantine.height,
            "days_unaccounted": dg.MetadataValue.json(
                {
                    _label(key): {"document": n, "loaded": got, "refused": bad, "superseded": old}
                    for key, (n, got, bad, old) in sorted(short.items())
                }
            ),
        },
    )


# The document's by-date totals and the SKU rows' columns they cover.
TOTALED_COLUMNS = (
    "sessions",
    "page_views",
    "units_ordered",
    "total_order_items",
    "ordered_product_sales",
)


def sku_sums_within_document_totals(
    asset_key: dg.AssetKey,
    facts: pl.DataFrame,
    totals: Mapping[AccountDay, Mapping[str, object]],
) -> dg.AssetCheckResult:
    """What Amazon's document promises: its SKU rows are a part of the day it totals (the SKU
    section leaves out SKUs without orders), so per account and day their sums never exceed the by-date
    totals. Equality is not promised; the share of each total the SKU rows carry is metadata."""
    sums = {
        (row["account"], row["report_date"]): row
        for row in facts.group_by("account", "report_date")
        .agg(pl.col(c).sum() for c in TOTALED_COLUMNS)
        .iter_rows(named=True)
    }
    exceeding: dict[str, dict[str, str]] = {}
    covered: dict[str, list[Decimal]] = {
        column: [Decimal(0), Decimal(0)] for column in TOTALED_COLUMNS
    }
    for account_day, document in sorted(totals.items()):
        silver = sums.get(account_day, {})
        for column in TOTALED_COLUMNS:
            total = document.get(column)
            if total is None:
                continue
            got, expected = Decimal(str(silver.get(column) or 0)), Decimal(str(total))
            covered[column][0] += got
            covered[column][1] += expected
            if got > expected:
                exceeding.setdefault(_label(account_day), {})[column] = (
                    f"SKU rows {got}, document total {expected}"
                )
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="sku_sums_within_document_totals",
        passed=not exceeding,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "days_checked": len(totals),
            "days_exceeding": len(exceeding),
            "exceeding": dg.MetadataValue.json(exceeding),
            **{
                f"{column}_share_in_sku_rows": float(part / whole) if whole else 0.0
                for column, (part, whole) in covered.items()
            },
        },
    )


def evaluate_business_report_checks(
    facts: pl.DataFrame,
    quarantine: pl.DataFrame,
    document_rows: Mapping[AccountDay, int],
    totals: Mapping[AccountDay, Mapping[str, object]],
    superseded: Mapping[AccountDay, int] | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """Every check above, for the days one run wrote: `document_rows` counts each account-day's
    report rows or Data Kiosk lines, `totals` the reports' by-date totals (SKU days only)."""
    key = BUSINESS_REPORTS.silver_key
    # msku is null on Data Kiosk's rows (child ASIN level); the other key columns never are.
    yield keys_not_null_and_unique(key, facts, KEY_COLUMNS, not_null=KIOSK_NOT_NULL)
    yield buy_box_percentage_in_range(key, facts)
    yield unit_session_percentage_not_negative(key, facts)
    yield every_document_row_loaded(key, facts, quarantine, document_rows, superseded)
    yield sku_sums_within_document_totals(key, facts, totals)
