"""Data-quality checks every layer shares, as pure functions of the frame a run writes.

Writes replace whole partitions, so the frame a run writes is what the table holds for those
partitions: checking it is checking the table. Each check here can fail on its bad case (see
`amazon_assets_tests/test_quality.py`); a check that runs after the rows were deduplicated on
its own key could not, so callers check before any such guard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import polars as pl

from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA, as_utc, json_text

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


@dataclass(frozen=True)
class RepeatedKeys:
    """A frame's rows once repeats of its key are sorted out (`separate_repeated_keys`)."""

    kept: pl.DataFrame  # each key once
    conflicting: pl.DataFrame  # every copy of a key repeated with different values
    identical_dropped: int  # copies equal to a kept row in everything but lineage


def separate_repeated_keys(
    frame: pl.DataFrame, key_columns: Sequence[str], lineage: Sequence[str] = ()
) -> RepeatedKeys:
    """Copies of a row equal in every column but `lineage` (which document, when read) reduced to
    the last; rows repeating a key with different values set apart, every copy of them: which
    one is right is unknown, so none is kept. Check keys on `kept` plus `conflicting` (what the
    documents gave), or the check cannot fail."""
    values = [column for column in frame.columns if column not in lineage]
    distinct = frame.unique(subset=values, keep="last", maintain_order=True)
    repeated = pl.len().over(list(key_columns)) > 1
    return RepeatedKeys(
        kept=distinct.filter(~repeated),
        conflicting=distinct.filter(repeated),
        identical_dropped=frame.height - distinct.height,
    )


def conflicting_key_quarantine(
    conflicting: pl.DataFrame,
    key_columns: Sequence[str],
    source: str,
    quarantined_at: datetime,
) -> pl.DataFrame:
    """QUARANTINE_SCHEMA rows (refused) for rows repeating a key with different values, each
    naming its key and how many rows share it."""
    if not conflicting.height:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    keys = list(key_columns)
    copies = conflicting.with_columns(pl.len().over(keys).alias("__copies"))
    return pl.DataFrame(
        {
            "source": source,
            "report_date": copies["report_date"],
            "document_id": copies["report_id"],
            "line_number": None,
            "reason": [
                f"the key ({', '.join(f'{c}={row[c]}' for c in keys)}) is in {row['__copies']} "
                "rows with different values; none is loaded (which one is right is unknown)"
                for row in copies.iter_rows(named=True)
            ],
            "raw_row": [
                json_text({c: _json_value(v) for c, v in row.items()})
                for row in conflicting.iter_rows(named=True)
            ],
            "quarantined_at": as_utc(quarantined_at),
            "row_loaded": False,
        },
        schema=QUARANTINE_SCHEMA,
    )


def _json_value(value: object) -> object:
    """Dates and times as ISO text; numbers (Decimals included) and text as they are."""
    return value.isoformat() if hasattr(value, "isoformat") else value
