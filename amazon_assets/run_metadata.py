"""Metadata of a run that materializes many days at once (a single-run backfill).

Dagster stores one materialization per asset and partition, and metadata added to an output is
copied into every one of them: a 60-day run of the mart stored its preview, column schema and
run totals 60 times per asset. What the UI needs per partition is that partition's row count;
what a person reads once per run (its totals, a preview, the column schema) goes on the run's
last partition, which is the asset's latest materialization, the one the asset page shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import dagster as dg
import polars as pl

ROW_COUNT = "dagster/row_count"
COLUMN_SCHEMA = "dagster/column_schema"


def column_schema(frame: pl.DataFrame) -> dg.TableSchema:
    """The frame's columns and their polars types, as the UI shows them."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in frame.schema.items()]
    )


def _day(partitions_def: dg.PartitionsDefinition, key: str) -> date | None:
    """The day of a daily partition key; None for any other kind of partition."""
    if not isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return None
    window = partitions_def.time_window_for_partition_key(key)
    if window.end - window.start != timedelta(days=1):
        return None
    return window.start.date()


def rows_per_partition(
    frame: pl.DataFrame,
    partitions_def: dg.PartitionsDefinition,
    partition_expr: str | Mapping[str, str] | None,
    keys: Sequence[str],
) -> dict[str, int] | None:
    """Rows of `frame` in each partition key: daily dimensions by the date in their column, others
    by the key in theirs. None when a dimension's `partition_expr` is not a column of the frame or
    a time dimension is not daily (its rows cannot be told apart here)."""
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        if not isinstance(partition_expr, Mapping):
            return None
        dimensions = [
            (d.name, d.partitions_def, partition_expr.get(d.name))
            for d in partitions_def.partitions_defs
        ]
    else:
        dimensions = [("", partitions_def, partition_expr)]
    columns: list[pl.Expr] = []
    for _, definition, column in dimensions:
        if not isinstance(column, str) or column not in frame.columns:
            return None
        if isinstance(definition, dg.TimeWindowPartitionsDefinition):
            dtype = frame.schema[column]
            if not isinstance(dtype, pl.Date | pl.Datetime):
                return None
            columns.append(pl.col(column).cast(pl.Date).alias(column))
        else:
            columns.append(pl.col(column).cast(pl.String).alias(column))
    counts = {
        tuple(row[:-1]): row[-1] for row in frame.select(columns).group_by(pl.all()).len().rows()
    }
    result: dict[str, int] = {}
    for key in keys:
        by_dimension = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else {"": key}
        values: list[Any] = []
        for name, definition, _ in dimensions:
            if isinstance(definition, dg.TimeWindowPartitionsDefinition):
                day = _day(definition, by_dimension[name])
                if day is None:
                    return None
                values.append(day)
            else:
                values.append(by_dimension[name])
        result[key] = counts.get(tuple(values), 0)
    return result


def add_run_summary(context: dg.AssetExecutionContext, metadata: Mapping[str, Any]) -> None:
    """Metadata about the whole run, once: on its last partition (all of it when unpartitioned)."""
    if context.has_partition_key_range and len(context.partition_keys) > 1:
        context.add_asset_metadata(metadata, partition_key=context.partition_keys[-1])
    else:
        context.add_asset_metadata(metadata)
