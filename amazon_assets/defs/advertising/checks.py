"""Data-quality checks on the ad facts and dimensions, evaluated on what each run writes.

Fact writes replace whole days and dimension writes replace the whole history, so the frames a run
writes are what the tables hold for those days: checking them is checking the tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal

import dagster as dg
import polars as pl

from amazon_assets.asset_keys import silver_key
from amazon_assets.parsers.ads_entities import AdsEntity
from amazon_assets.parsers.ads_reports import SP_ADVERTISED_PRODUCT, SP_CAMPAIGNS, AdsReportType
from amazon_assets.quality import keys_not_null_and_unique

# Campaign rows and advertised-product rows are two cuts of the same spend; Amazon computes them
# separately, so allow rounding (1 click, 1 impression, 1 cent, or 0.5% of the campaign total).
RECONCILED_COLUMNS = ("cost", "clicks", "impressions")
RELATIVE_TOLERANCE = Decimal("0.005")
ABSOLUTE_TOLERANCE = {"cost": Decimal("0.01"), "clicks": Decimal(1), "impressions": Decimal(1)}


def fact_check_specs(report_types: Sequence[AdsReportType]) -> list[dg.AssetCheckSpec]:
    """Blocking key/range checks on every fact table; the campaign reconciliation only warns."""
    specs = []
    for report_type in report_types:
        asset = silver_key(report_type.table)
        specs += [
            dg.AssetCheckSpec(
                "keys_unique",
                asset=asset,
                blocking=True,
                description=f"({', '.join(report_type.key_columns)}) is non-null and unique.",
            ),
            dg.AssetCheckSpec(
                "cost_not_negative", asset=asset, blocking=True, description="cost >= 0."
            ),
            dg.AssetCheckSpec(
                "clicks_not_above_impressions",
                asset=asset,
                blocking=True,
                description="clicks <= impressions on every row.",
            ),
        ]
    specs.append(
        dg.AssetCheckSpec(
            "reconciles_with_advertised_products",
            asset=silver_key(SP_CAMPAIGNS.table),
            blocking=False,
            description="Per account and day, campaign cost, clicks and impressions match the advertised-product totals (warns).",
        )
    )
    return specs


def dimension_check_specs(entities: Sequence[AdsEntity]) -> list[dg.AssetCheckSpec]:
    """Each dimension holds at most one current version per entity."""
    return [
        dg.AssetCheckSpec(
            "one_current_version_per_key",
            asset=silver_key(entity.table),
            blocking=True,
            description=f"At most one is_current row per ({', '.join(entity.key_columns)}).",
        )
        for entity in entities
    ]


def cost_not_negative(asset_key: dg.AssetKey, facts: pl.DataFrame) -> dg.AssetCheckResult:
    """Spend is never negative."""
    bad = facts.filter(pl.col("cost") < 0)
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="cost_not_negative",
        passed=bad.height == 0,
        metadata={"negative_rows": bad.height, "rows": facts.height},
    )


def clicks_not_above_impressions(
    asset_key: dg.AssetKey, facts: pl.DataFrame
) -> dg.AssetCheckResult:
    """A click needs an impression."""
    bad = facts.filter(pl.col("clicks") > pl.col("impressions"))
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="clicks_not_above_impressions",
        passed=bad.height == 0,
        metadata={"rows_with_more_clicks": bad.height, "rows": facts.height},
    )


def _daily_totals(facts: pl.DataFrame) -> dict[str, Mapping[str, object]]:
    """Totals per account and day, keyed "<account> <day>"."""
    return {
        f"{row['account']} {row['report_date'].isoformat()}": row
        for row in facts.group_by("account", "report_date")
        .agg(pl.col(c).sum() for c in RECONCILED_COLUMNS)
        .iter_rows(named=True)
    }


def reconciles_with_advertised_products(
    asset_key: dg.AssetKey, campaigns: pl.DataFrame, products: pl.DataFrame
) -> dg.AssetCheckResult:
    """Per account and day, campaign totals against advertised-product totals; differences in metadata."""
    campaign_days, product_days = _daily_totals(campaigns), _daily_totals(products)
    differences: dict[str, dict[str, str]] = {}
    for day in sorted(set(campaign_days) | set(product_days)):  # "<account> <day>"
        for column in RECONCILED_COLUMNS:
            expected = Decimal(str(campaign_days.get(day, {}).get(column) or 0))
            got = Decimal(str(product_days.get(day, {}).get(column) or 0))
            allowed = max(ABSOLUTE_TOLERANCE[column], abs(expected) * RELATIVE_TOLERANCE)
            if abs(expected - got) > allowed:
                differences.setdefault(day, {})[column] = (
                    f"campaigns {expected}, advertised products {got}, difference {expected - got}"
                )
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="reconciles_with_advertised_products",
        passed=not differences,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "account_days_checked": len(set(campaign_days) | set(product_days)),
            "account_days_differing": len(differences),
            "differences": dg.MetadataValue.json(differences),
        },
    )


def one_current_version_per_key(
    asset_key: dg.AssetKey, history: pl.DataFrame, key_columns: Sequence[str]
) -> dg.AssetCheckResult:
    """Two current versions of one entity would double its joins."""
    current = history.filter(pl.col("is_current"))
    duplicates = current.height - current.select(list(key_columns)).unique().height
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="one_current_version_per_key",
        passed=duplicates == 0,
        metadata={
            "current_versions": current.height,
            "versions": history.height,
            "duplicate_current_keys": duplicates,
        },
    )


def evaluate_fact_checks(
    facts: Mapping[str, pl.DataFrame], report_types: Sequence[AdsReportType]
) -> Iterator[dg.AssetCheckResult]:
    """Every fact check for the days one run wrote; `facts` is keyed by reportTypeId."""
    for report_type in report_types:
        key = silver_key(report_type.table)
        frame = facts[report_type.report_type_id]
        yield keys_not_null_and_unique(key, frame, report_type.key_columns, "keys_unique")
        yield cost_not_negative(key, frame)
        yield clicks_not_above_impressions(key, frame)
    yield reconciles_with_advertised_products(
        silver_key(SP_CAMPAIGNS.table),
        facts[SP_CAMPAIGNS.report_type_id],
        facts[SP_ADVERTISED_PRODUCT.report_type_id],
    )
