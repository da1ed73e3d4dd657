"""Data-quality checks every layer shares, as pure functions of the frame a run writes.

Writes replace whole partitions, so the frame a run writes is what the table holds for those
partitions: checking it is checking the table. Each check here can fail on its bad case (see
`amazon_assets_tests/test_quality.py`); a check that runs after the rows were deduplicated on
its own key could not, so callers check before any such guard.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import polars as pl

KEYS_CHECK = "keys_not_null_and_unique"


def keys_not_null_and_unique(
    asset_key: dg.AssetKey,
    frame: pl.DataFrame,
    key_columns: Sequence[str],
    check_name: str = KEYS_CHECK,
    not_null: Sequence[str] | None = None,
) -> dg.AssetCheckResult:
    """No key occurs twice and none of `not_null` (default: every key column) is null; a few
    offending keys as metadata. A key column may be null where Amazon leaves it empty (a
    financial event without a SKU): such keys name it in neither `not_null`."""
    keys = list(key_columns)
    required = keys if not_null is None else list(not_null)
    null_rows = frame.filter(pl.any_horizontal(pl.col(c).is_null() for c in required))
    repeated = frame.group_by(keys).len().filter(pl.col("len") > 1).sort("len", descending=True)
    duplicates = int(repeated["len"].sum() - repeated.height) if repeated.height else 0
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=null_rows.height == 0 and duplicates == 0,
        metadata={
            "null_keys": null_rows.height,
            "duplicate_keys": duplicates,
            "rows": frame.height,
            "repeated_keys": dg.MetadataValue.json(
                repeated.head(5).select(pl.all().cast(pl.Utf8)).to_dicts()
            ),
        },
    )
