"""Daily predictions: the ranker's score and rank for every ASIN within its category that day.

The rank is taken within (marketplace, category, day), the groups the model was trained on; ties
are broken by account and ASIN so the same features and model always give the same list.
"""

from __future__ import annotations

import io
from datetime import date

import polars as pl

from amazon_assets.ml.ranker import GROUP_COLUMNS, TrainedRanker

EXPORT_PREFIX = "exports"
TOP_CANDIDATES = 20

PREDICTIONS_SCHEMA = pl.Schema(
    {
        "account": pl.Utf8,
        "asin": pl.Utf8,
        "report_date": pl.Date,
        "marketplace_id": pl.Utf8,
        "category": pl.Utf8,
        "score": pl.Float64,
        "category_rank": pl.UInt32,
        "model_version": pl.Utf8,
    }
)


def predict_daily(
    features: pl.DataFrame, ranker: TrainedRanker, attributes: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Score and rank `features` rows; `attributes` (keyed by account, asin[, report_date]) join on."""
    scored = features.with_columns(
        pl.Series("score", ranker.score(features), dtype=pl.Float64),
        pl.lit(ranker.version).alias("model_version"),
    )
    ranked = scored.sort(
        [*GROUP_COLUMNS, "score", "account", "asin"],
        descending=[False] * len(GROUP_COLUMNS) + [True, False, False],
        nulls_last=True,
    ).with_columns(
        (pl.int_range(pl.len()).over(GROUP_COLUMNS) + 1).cast(pl.UInt32).alias("category_rank")
    )
    predictions = ranked.select(pl.col(n).cast(t) for n, t in PREDICTIONS_SCHEMA.items())
    if attributes is None:
        return predictions
    keys = [k for k in ("account", "asin", "report_date") if k in attributes.columns]
    extra = [c for c in attributes.columns if c not in PREDICTIONS_SCHEMA]
    return predictions.join(
        attributes.select(*keys, *extra).unique(keys, keep="last", maintain_order=True),
        on=keys,
        how="left",
        maintain_order="left",
    )


def top_candidates(predictions: pl.DataFrame, k: int = TOP_CANDIDATES) -> pl.DataFrame:
    """The k best-ranked ASINs of every (marketplace, category, day)."""
    return predictions.filter(pl.col("category_rank") <= k)


def export_key(day: date) -> str:
    """Lake key of a day's CSV of top candidates."""
    return f"{EXPORT_PREFIX}/top_candidates_{day:%Y%m%d}.csv"


def candidates_csv(candidates: pl.DataFrame) -> bytes:
    """The candidates as CSV bytes (UTF-8, header row, ISO dates)."""
    buffer = io.BytesIO()
    candidates.write_csv(buffer)
    return buffer.getvalue()
