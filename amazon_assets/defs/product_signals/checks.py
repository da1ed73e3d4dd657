"""Data-quality checks on fact_product_snapshot, evaluated on the days each run writes."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import polars as pl

from amazon_assets.defs.product_signals.spec import PRODUCT_SIGNALS
from amazon_assets.quality import keys_not_null_and_unique

KEY_COLUMNS = PRODUCT_SIGNALS.natural_key
MONEY_COLUMNS = ("price", "buy_box_price", "landed_price")


def product_signal_check_specs() -> list[dg.AssetCheckSpec]:
    """All three block downstream assets: a bad snapshot would raise false alerts."""
    asset = PRODUCT_SIGNALS.silver_key
    return [
        dg.AssetCheckSpec(
            "keys_not_null_and_unique",
            asset=asset,
            blocking=True,
            description="(account, asin, snapshot_date) is non-null and unique.",
        ),
        dg.AssetCheckSpec(
            "prices_not_negative",
            asset=asset,
            blocking=True,
            description="price, buy_box_price and landed_price are >= 0 where known.",
        ),
        dg.AssetCheckSpec(
            "rating_in_range",
            asset=asset,
            blocking=True,
            description="rating lies within 1..5 where known.",
        ),
    ]


def evaluate_product_signal_checks(facts: pl.DataFrame) -> Iterator[dg.AssetCheckResult]:
    """Every check above for the rows one run writes (writes replace whole days)."""
    asset = PRODUCT_SIGNALS.silver_key
    yield keys_not_null_and_unique(asset, facts, KEY_COLUMNS)
    negative = {c: facts.filter(pl.col(c) < 0).height for c in MONEY_COLUMNS}
    yield dg.AssetCheckResult(
        asset_key=asset,
        check_name="prices_not_negative",
        passed=not any(negative.values()),
        metadata={f"negative_{c}": n for c, n in negative.items()},
    )
    outside = facts.filter(~pl.col("rating").is_between(1.0, 5.0)).height
    yield dg.AssetCheckResult(
        asset_key=asset,
        check_name="rating_in_range",
        passed=outside == 0,
        metadata={
            "rows_out_of_range": outside,
            "rows_without_rating": facts["rating"].null_count(),
        },
    )
