"""Ranking quality on test days: NDCG@k, precision@k and recall of planted take-offs.

Every ranking is judged within its (marketplace, category, day) group, the way a user reads the
list. Ties in a score are broken by account and ASIN, so a ranking with many equal scores is neither
flattered nor punished by row order. NDCG uses gains 2^relevance - 1 (LightGBM's) and averages
over groups that have anything relevant; a group with nothing to find says nothing about a ranking.

Each figure comes with a 95 % bootstrap interval over test days (days resampled with replacement,
each metric recomputed from per-day sums), since neighbouring groups of one day are not independent
but days roughly are: `<metric>_low` and `<metric>_high`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import numpy as np
import polars as pl

from amazon_assets.ml.ranker import GROUP_COLUMNS

_RANK = "_rank"
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 7


def random_scores(rows: int, seed: int) -> np.ndarray:
    """A seeded random ranking: the floor any useful score must clear."""
    return np.random.default_rng(seed).random(rows)


def _ranked(frame: pl.DataFrame, score: str) -> pl.DataFrame:
    """`frame` with the 1-based rank of `score` (highest first) within each group."""
    group = list(GROUP_COLUMNS)
    return frame.sort(
        [*group, score, "account", "asin"],
        descending=[False] * len(group) + [True, False, False],
        nulls_last=True,
    ).with_columns((pl.int_range(pl.len()).over(group) + 1).alias(_RANK))


def _dcg(ranked: pl.DataFrame, relevance: str, k: int) -> pl.DataFrame:
    gain = (2.0 ** pl.col(relevance).cast(pl.Float64) - 1) / (pl.col(_RANK) + 1).log(2)
    return ranked.filter(pl.col(_RANK) <= k).group_by(GROUP_COLUMNS).agg(gain.sum().alias("dcg"))


def _per_day(values: pl.DataFrame, value: pl.Expr) -> pl.DataFrame:
    """Per test day: the sum of `value` and how many items it sums (the numerator and denominator
    of a mean over items, which is what the bootstrap resamples)."""
    return values.group_by("report_date").agg(value.sum().alias("sum"), pl.len().alias("count"))


def _ndcg_by_day(frame: pl.DataFrame, score: str, k: int, relevance: str) -> pl.DataFrame:
    dcg = _dcg(_ranked(frame, score), relevance, k)
    ideal = _dcg(_ranked(frame, relevance), relevance, k).rename({"dcg": "ideal"})
    joined = ideal.filter(pl.col("ideal") > 0).join(dcg, on=GROUP_COLUMNS, nulls_equal=True)
    return _per_day(joined, pl.col("dcg") / pl.col("ideal"))


def _precision_by_day(frame: pl.DataFrame, score: str, k: int, positive: str) -> pl.DataFrame:
    top = _ranked(frame, score).filter(pl.col(_RANK) <= k)
    per_group = top.group_by(GROUP_COLUMNS).agg(pl.col(positive).cast(pl.Float64).mean())
    return _per_day(per_group, pl.col(positive))


def take_off_hits(
    frame: pl.DataFrame, score: str, k: int, take_offs: pl.DataFrame, horizon_days: int
) -> pl.DataFrame:
    """One row per (planted take-off, day) with its onset in (D - H, D]: `days_since_onset` and
    `hit`, whether `score` ranked the product in the top k of its group that day."""
    keys = ["account", "asin"] if "account" in take_offs.columns else ["asin"]
    starts = take_offs.select(*keys, "take_off_date").unique()
    ranked = _ranked(frame, score).join(starts, on=keys, how="inner")
    h = timedelta(days=horizon_days)
    return ranked.filter(
        (pl.col("take_off_date") <= pl.col("report_date"))
        & (pl.col("take_off_date") > pl.col("report_date") - h)
    ).select(
        *keys,
        "report_date",
        (pl.col("report_date") - pl.col("take_off_date")).dt.total_days().alias("days_since_onset"),
        (pl.col(_RANK) <= k).alias("hit"),
    )


def _recall_by_day(
    frame: pl.DataFrame, score: str, k: int, take_offs: pl.DataFrame, horizon_days: int
) -> pl.DataFrame:
    hits = take_off_hits(frame, score, k, take_offs, horizon_days)
    return _per_day(hits, pl.col("hit").cast(pl.Float64))


def _mean(by_day: pl.DataFrame) -> float:
    count = by_day["count"].sum()
    return float(by_day["sum"].sum() / count) if count else float("nan")


def bootstrap_interval(
    by_day: pl.DataFrame,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the mean when the days of `by_day` (sum, count) are resampled."""
    if not by_day.height or not by_day["count"].sum():
        return float("nan"), float("nan")
    sums = by_day["sum"].cast(pl.Float64).to_numpy()
    counts = by_day["count"].cast(pl.Float64).to_numpy()
    draws = np.random.default_rng(seed).integers(0, len(sums), (samples, len(sums)))
    picked_counts = counts[draws].sum(axis=1)
    means = sums[draws].sum(axis=1) / np.where(picked_counts > 0, picked_counts, np.nan)
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(means, [tail, 100 - tail])
    return float(low), float(high)


def ndcg_at_k(frame: pl.DataFrame, score: str, k: int, relevance: str = "relevance") -> float:
    """Mean NDCG@k over the groups that hold at least one relevant row."""
    return _mean(_ndcg_by_day(frame, score, k, relevance))


def precision_at_k(frame: pl.DataFrame, score: str, k: int, positive: str = "takes_off") -> float:
    """Mean share of positives among each group's top k (top min(k, group size))."""
    return _mean(_precision_by_day(frame, score, k, positive))


def take_off_recall_at_k(
    frame: pl.DataFrame, score: str, k: int, take_offs: pl.DataFrame, horizon_days: int
) -> float:
    """Share of (planted take-off, day) pairs ranked in the top k of their group.

    A product counts on day D when its take-off started in (D - H, D]: it is taking off and still
    accelerating. Starts after D are left out, as no trailing feature can see them yet.
    """
    return _mean(_recall_by_day(frame, score, k, take_offs, horizon_days))


def evaluate_rankings(
    frame: pl.DataFrame,
    scores: Mapping[str, str],
    *,
    ndcg_at: Sequence[int] = (10, 20),
    precision_k: int = 10,
    take_offs: pl.DataFrame | None = None,
    recall_at: Sequence[int] = (10, 20),
    horizon_days: int = 14,
    intervals: bool = False,
) -> dict[str, float]:
    """Every metric for every named score column: {"<name>_ndcg_at_20": 0.41, ...}; with
    `intervals`, each also has `_low` and `_high`, its 95 % bootstrap interval over days."""
    metrics: dict[str, float] = {
        "test_rows": float(frame.height),
        "test_days": float(frame["report_date"].n_unique()),
        "test_groups": float(frame.select(GROUP_COLUMNS).unique().height),
    }
    for name, column in scores.items():
        by_day = {
            f"{name}_ndcg_at_{k}": _ndcg_by_day(frame, column, k, "relevance") for k in ndcg_at
        }
        by_day[f"{name}_precision_at_{precision_k}"] = _precision_by_day(
            frame, column, precision_k, "takes_off"
        )
        if take_offs is not None:
            for k in recall_at:
                by_day[f"{name}_take_off_recall_at_{k}"] = _recall_by_day(
                    frame, column, k, take_offs, horizon_days
                )
        for metric, days in by_day.items():
            metrics[metric] = _mean(days)
            if intervals:
                metrics[f"{metric}_low"], metrics[f"{metric}_high"] = bootstrap_interval(days)
    if take_offs is not None:
        active = _recall_by_day(frame, next(iter(scores.values())), 1, take_offs, horizon_days)
        metrics["take_off_days_in_test"] = float(active["count"].sum())
    return metrics
