"""Ranking metrics against values worked out by hand."""

from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest

from amazon_assets.ml.evaluation import (
    evaluate_rankings,
    ndcg_at_k,
    precision_at_k,
    take_off_recall_at_k,
)

DAY = date(2024, 5, 1)


def group(relevance: list[int], score: list[float], category: str = "Toys") -> pl.DataFrame:
    n = len(relevance)
    return pl.DataFrame(
        {
            "account": "acct",
            "asin": [f"{category[0]}{i}" for i in range(n)],
            "report_date": DAY,
            "marketplace_id": "US",
            "category": category,
            "relevance": relevance,
            "takes_off": [r >= 3 for r in relevance],
            "score": score,
        }
    )


def test_ndcg_by_hand():
    frame = group([0, 3, 1], [0.9, 0.5, 0.1])
    dcg = 7 / math.log2(3) + 1 / math.log2(4)
    ideal = 7 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(frame, "score", 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(frame, "relevance", 10) == pytest.approx(1.0)
    assert ndcg_at_k(frame, "score", 1) == pytest.approx(0.0)


def test_groups_without_relevant_rows_are_skipped_and_others_averaged():
    frame = pl.concat([group([0, 0], [1.0, 0.0], "Home"), group([1, 0], [0.0, 1.0], "Toys")])
    assert ndcg_at_k(frame, "score", 10) == pytest.approx(1 / math.log2(3))


def test_precision_and_take_off_recall():
    frame = group([4, 0, 3, 0], [0.9, 0.8, 0.1, 0.0])
    assert precision_at_k(frame, "score", 2) == pytest.approx(0.5)
    take_offs = pl.DataFrame(
        {"asin": ["T0", "T2", "T3"], "take_off_date": [DAY, DAY, date(2024, 6, 1)]}
    )
    # T0 ranked 1st, T2 3rd; T3 starts after the day and is not counted.
    assert take_off_recall_at_k(frame, "score", 2, take_offs, horizon_days=14) == pytest.approx(0.5)


def test_evaluate_rankings_names_every_metric():
    frame = group([4, 0, 3, 0], [0.9, 0.8, 0.1, 0.0])
    metrics = evaluate_rankings(frame, {"model": "score"}, precision_k=2)
    assert set(metrics) == {
        "test_rows",
        "test_days",
        "test_groups",
        "model_ndcg_at_10",
        "model_ndcg_at_20",
        "model_precision_at_2",
    }


def test_recall_at_10_and_20_with_bootstrap_intervals_over_days():
    from datetime import timedelta

    frame = pl.concat(
        group([4, 0, 3, 0], [0.9, 0.8, 0.1, 0.0]).with_columns(
            pl.lit(DAY + timedelta(days=i)).alias("report_date")
        )
        for i in range(5)
    )
    take_offs = pl.DataFrame({"asin": ["T0", "T2"], "take_off_date": [DAY, DAY]})
    metrics = evaluate_rankings(
        frame, {"model": "score"}, precision_k=2, take_offs=take_offs, intervals=True
    )
    assert metrics["model_take_off_recall_at_10"] == pytest.approx(1.0)
    assert metrics["model_take_off_recall_at_20"] == pytest.approx(1.0)
    assert metrics["take_off_days_in_test"] == 10
    for name in ("model_ndcg_at_20", "model_take_off_recall_at_10"):
        assert metrics[f"{name}_low"] <= metrics[name] <= metrics[f"{name}_high"]
