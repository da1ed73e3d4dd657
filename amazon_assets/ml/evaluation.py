"""Ranking quality on test days: NDCG@k, precision@k and recall of planted take-offs.

Every ranking is judged within its (marketplace, category, day) group, the way a user reads the
list. Ties in a score are broken by account and ASIN, so a ranking with many equal scores is neither
flattered nor punished by row order. NDCG uses gains 2^relevance - 1 (LightGBM's) and averages
over groups that have anything relevant; a group with nothing to find says nothing about a ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import numpy as np
import polars as pl

from amazon_assets.ml.ranker import GROUP_COLUMNS

_RANK = "_rank"


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


def ndcg_at_k(frame: pl.DataFrame, score: str, k: int, relevance: str = "relevance") -> float:
    """Mean NDCG@k over the groups that hold at least one relevant row."""
    dcg = _dcg(_ranked(frame, score), relevance, k)
    ideal = _dcg(_ranked(frame, relevance), relevance, k).rename({"dcg": "ideal"})
    joined = ideal.filter(pl.col("ideal") > 0).join(dcg, on=GROUP_COLUMNS, nulls_equal=True)
    if not joined.height:
        return float("nan")
    return float((joined["dcg"] / joined["ideal"]).mean())


def precision_at_k(frame: pl.DataFrame, score: str, k: int, positive: str = "takes_off") -> float:
    """Mean share of positives among each group's top k (top min(k, group size))."""
    top = _ranked(frame, score).filter(pl.col(_RANK) <= k)
    per_group = top.group_by(GROUP_COLUMNS).agg(pl.col(positive).cast(pl.Float64).mean())
    return float(per_group[positive].mean()) if per_group.height else float("nan")


def take_off_recall_at_k(
    frame: pl.DataFrame, score: str, k: int, take_offs: pl.DataFrame, horizon_days: int
) -> float:
    """Share of (planted take-off, day) pairs ranked in the top k of their group.

    A product counts on day D when its take-off started in (D - H, D]: it is taking off and still
    accelerating. Starts after D are left out, as no trailing feature can see them yet.
    """
    keys = ["account", "asin"] if "account" in take_offs.columns else ["asin"]
    starts = take_offs.select(*keys, "take_off_date").unique()
    ranked = _ranked(frame, score).join(starts, on=keys, how="inner")
    h = timedelta(days=horizon_days)
    active = ranked.filter(
        (pl.col("take_off_date") <= pl.col("report_date"))
        & (pl.col("take_off_date") > pl.col("report_date") - h)
    )
    if not active.height:
        return float("nan")
    return float((active[_RANK] <= k).mean())


def evaluate_rankings(
    frame: pl.DataFrame,
    scores: Mapping[str, str],
    *,
    ndcg_at: Sequence[int] = (10, 20),
    precision_k: int = 10,
    take_offs: pl.DataFrame | None = None,
    horizon_days: int = 14,
) -> dict[str, float]:
    """Every metric for every named score column: {"<name>_ndcg_at_20": 0.41, ...}."""
    metrics: dict[str, float] = {
        "test_rows": float(frame.height),
        "test_days": float(frame["report_date"].n_unique()),
        "test_groups": float(frame.select(GROUP_COLUMNS).unique().height),
    }
    for name, column in scores.items():
        for k in ndcg_at:
            metrics[f"{name}_ndcg_at_{k}"] = ndcg_at_k(frame, column, k)
        metrics[f"{name}_precision_at_{precision_k}"] = precision_at_k(frame, column, precision_k)
        if take_offs is not None:
            metrics[f"{name}_take_off_recall_at_{precision_k}"] = take_off_recall_at_k(
                frame, column, precision_k, take_offs, horizon_days
            )
    return metrics
