"""The ranker trains on sandbox features, round-trips through the lake and predicts deterministically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from amazon_assets.ml.dataset import model_frame
from amazon_assets.ml.labels import LabelConfig
from amazon_assets.ml.predictions import (
    PREDICTIONS_SCHEMA,
    candidates_csv,
    export_key,
    predict_daily,
    top_candidates,
)
from amazon_assets.ml.ranker import (
    GROUP_COLUMNS,
    SORT_COLUMNS,
    FeatureRows,
    RankerConfig,
    feature_matrix,
    group_order,
    group_sizes,
    load_ranker,
    save_ranker,
    train_ranker,
)
from amazon_assets.ml.split import SplitConfig, temporal_split
from amazon_assets.resources.lake import LocalLake

CONFIG = RankerConfig(num_boost_round=60, early_stopping_rounds=10)


@pytest.fixture(scope="module")
def parts(small_mart: pl.DataFrame) -> dict[str, pl.DataFrame]:
    frame = model_frame(small_mart, LabelConfig(horizon_days=7))
    split = temporal_split(
        frame["report_date"].min(), frame["report_date"].max(), SplitConfig(embargo_days=7)
    )
    return {name: frame.filter(split.part(name)) for name in ("train", "validation", "test")} | {
        "split": split.as_dict()
    }


def test_model_round_trips_through_the_lake(parts, tmp_path: Path):
    ranker = train_ranker(parts["train"], parts["validation"], CONFIG, split=parts["split"])
    lake = LocalLake(tmp_path)
    folder = save_ranker(lake, ranker)
    assert lake.exists(f"{folder}/model.txt") and lake.exists(f"{folder}/manifest.json")
    loaded = load_ranker(lake)
    assert loaded.version == ranker.version
    assert loaded.manifest["split"] == parts["split"]
    assert loaded.manifest["train_days"][0] == parts["split"]["train"][0]
    assert set(loaded.manifest["feature_importance_gain"]) == set(CONFIG.features)
    assert "validation_ndcg_at_20" in loaded.manifest["metrics"]
    np.testing.assert_array_equal(loaded.score(parts["test"]), ranker.score(parts["test"]))


def test_training_and_predictions_are_deterministic(parts):
    first = train_ranker(parts["train"], parts["validation"], CONFIG)
    second = train_ranker(parts["train"], parts["validation"], CONFIG)
    assert first.model_bytes() == second.model_bytes()
    one = predict_daily(parts["test"], first)
    # Row order of the input must not change scores or ranks.
    two = predict_daily(parts["test"].sample(fraction=1.0, shuffle=True, seed=3), second)
    assert one.drop("model_version").equals(two.drop("model_version"))
    assert one.schema == PREDICTIONS_SCHEMA
    groups = one.group_by("report_date", "category").agg(pl.col("category_rank").max(), pl.len())
    assert (groups["category_rank"] == groups["len"]).all()


def test_top_candidates_csv(parts):
    ranker = train_ranker(parts["train"], parts["validation"], CONFIG)
    day = parts["test"]["report_date"].max()
    attributes = parts["test"].select("account", "asin", "report_date", pl.lit(9.99).alias("price"))
    predictions = predict_daily(
        parts["test"].filter(pl.col("report_date") == day), ranker, attributes
    )
    top = top_candidates(predictions, 5)
    assert top.height == 5 * top["category"].n_unique()
    assert top["price"].to_list() == [9.99] * top.height
    csv = candidates_csv(top).decode()
    assert csv.splitlines()[0].startswith("account,asin,report_date")
    assert export_key(day) == f"exports/top_candidates_{day:%Y%m%d}.csv"


def test_group_order_sizes_and_batches_match_a_sorted_frame(parts):
    frame = parts["train"].sample(fraction=1.0, shuffle=True, seed=5)
    ordered = frame.sort(SORT_COLUMNS, nulls_last=True)
    order = group_order(frame)
    assert frame[order].select(SORT_COLUMNS).equals(ordered.select(SORT_COLUMNS))
    expected = ordered.group_by(GROUP_COLUMNS, maintain_order=True).agg(pl.len().alias("rows"))
    assert group_sizes(frame, order).equals(expected.cast({"rows": pl.Int64}))
    rows = FeatureRows(frame, order, CONFIG.features)
    rows.batch_size = 1000
    matrix = feature_matrix(ordered, CONFIG.features)
    np.testing.assert_array_equal(rows[1000:2500], matrix[1000:2500])
    np.testing.assert_array_equal(rows[7], matrix[7])
