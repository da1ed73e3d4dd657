"""Data-quality checks on the seller-history silver tables, evaluated on what each run writes.

Writes replace the run's (account, day) partitions, so the frame a run writes is what the table
holds for them: checking it is checking the table, without a second read.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import polars as pl

from amazon_assets.defs.seller_history.spec import FINANCIAL_EVENTS, SETTLEMENTS, SPECS
from amazon_assets.parsers.quarantine import refused_rows, unaccounted
from amazon_assets.quality import keys_not_null_and_unique

ROWS_CHECK = "every_document_row_loaded"
EVENTS_CHECK = "every_event_accounted_for"


def accounting_check_name(source: str) -> str:
    """Finances are accounted for per page and event, reports per document and row."""
    return EVENTS_CHECK if source == FINANCIAL_EVENTS.name else ROWS_CHECK


def seller_check_specs(source: str) -> list[dg.AssetCheckSpec]:
    """Keys unique and every row accounted for (blocking), no quarantined rows (warns);
    settlements reconcile (warns)."""
    spec = SPECS[source]
    asset = spec.silver_key
    accounted = (
        "Every event Amazon served on each page of each Finances window is in silver or "
        "refused into quarantine (rows + quarantined = events served, per page)."
        if source == FINANCIAL_EVENTS.name
        else "Every data row of each document read is in silver or refused into quarantine."
    )
    specs = [
        dg.AssetCheckSpec(
            "keys_not_null_and_unique",
            asset=asset,
            blocking=True,
            description=f"({', '.join(spec.natural_key)}) is unique and report_date is not null.",
        ),
        dg.AssetCheckSpec(
            accounting_check_name(source), asset=asset, blocking=True, description=accounted
        ),
        dg.AssetCheckSpec(
            "no_quarantined_rows",
            asset=asset,
            blocking=False,
            description="Warns when rows of the documents went to quarantine instead of silver.",
        ),
    ]
    if source == SETTLEMENTS.name:
        specs.append(
            dg.AssetCheckSpec(
                "settlement_lines_sum_to_total",
                asset=asset,
                blocking=False,
                description="Each settlement's lines add up to its summary's total-amount (warns).",
            )
        )
    return specs


def rows_accounted_for(
    asset_key: dg.AssetKey, check_name: str, accounting: pl.DataFrame
) -> dg.AssetCheckResult:
    """Fails when a document (or page) served rows that are neither in silver nor refused."""
    short = unaccounted(accounting)
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=short.height == 0,
        metadata={
            "documents": accounting["document_id"].n_unique(),
            "pages": accounting.filter(pl.col("page_number").is_not_null()).height,
            "served": int(accounting["served"].sum() or 0),
            "in_silver": int(accounting["loaded"].sum() or 0),
            "refused_into_quarantine": int(accounting["refused"].sum() or 0),
            "unaccounted": dg.MetadataValue.json(short.head(20).to_dicts()),
        },
    )


def no_quarantined_rows(asset_key: dg.AssetKey, quarantine: pl.DataFrame) -> dg.AssetCheckResult:
    reasons = (
        quarantine.group_by("reason").len().sort("len", descending=True).head(5).rows()
        if quarantine.height
        else []
    )
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="no_quarantined_rows",
        passed=quarantine.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_rows": quarantine.height,
            "refused_rows": refused_rows(quarantine).height,
            "top_reasons": dg.MetadataValue.json({reason: n for reason, n in reasons}),
        },
    )


def settlement_lines_sum_to_total(
    asset_key: dg.AssetKey, lines: pl.DataFrame, summaries: pl.DataFrame
) -> dg.AssetCheckResult:
    """Only settlements whose every line is in this run's days can be compared."""
    sums = lines.group_by("account", "settlement_id").agg(
        pl.col("amount").sum().alias("lines"), pl.len().alias("loaded")
    )
    joined = summaries.join(sums, on=["account", "settlement_id"], how="inner").filter(
        pl.col("loaded") == pl.col("line_count")
    )
    differing = joined.filter(pl.col("lines") != pl.col("total_amount"))
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="settlement_lines_sum_to_total",
        passed=differing.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "settlements_compared": joined.height,
            "differing": dg.MetadataValue.json(
                {row["settlement_id"]: str(row["lines"]) for row in differing.iter_rows(named=True)}
            ),
        },
    )


def evaluate_seller_checks(
    source: str,
    facts: pl.DataFrame,
    quarantine: pl.DataFrame,
    summaries: pl.DataFrame | None,
    accounting: pl.DataFrame,
    key_conflicts: pl.DataFrame,
) -> Iterator[dg.AssetCheckResult]:
    """Every check of one source, for the partitions one run wrote. The key check sees the rows
    the documents gave: `facts` plus `key_conflicts`, the rows repeating a key with different
    values that silver set apart into quarantine (`silver.load_silver`)."""
    spec = SPECS[source]
    asset = spec.silver_key
    yield keys_not_null_and_unique(
        asset,
        pl.concat([facts, key_conflicts]),
        spec.natural_key,
        not_null=("account", "report_date"),
    )
    yield rows_accounted_for(asset, accounting_check_name(source), accounting)
    yield no_quarantined_rows(asset, quarantine)
    if source == SETTLEMENTS.name and summaries is not None:
        yield settlement_lines_sum_to_total(asset, facts, summaries)
