"""The optuna study is stored in SQLite, resumes by name and feeds the ranker."""

from __future__ import annotations

from pathlib import Path

import optuna
import polars as pl

from amazon_assets.ml.dataset import model_frame
from amazon_assets.ml.labels import LabelConfig
from amazon_assets.ml.ranker import RankerConfig, train_ranker
from amazon_assets.ml.split import SplitConfig, temporal_split
from amazon_assets.ml.tuning import (
    TuningConfig,
    best_params,
    sample_groups,
    study_summary,
    tune_ranker,
)


def test_study_resumes_and_best_params_train_a_ranker(small_mart: pl.DataFrame, tmp_path: Path):
    frame = model_frame(small_mart, LabelConfig(horizon_days=7))
    split = temporal_split(
        frame["report_date"].min(), frame["report_date"].max(), SplitConfig(embargo_days=7)
    )
    train, validation = frame.filter(split.part("train")), frame.filter(split.part("validation"))
    storage = f"sqlite:///{tmp_path / 'optuna.sqlite'}"
    config = TuningConfig(
        trials=3,
        num_boost_round=30,
        early_stopping_rounds=5,
        pruning_startup_trials=1,
        pruning_warmup_rounds=2,
    )
    tune_ranker(train, validation, storage, config)
    study = tune_ranker(train, validation, storage, config)  # a second run resumes the study
    assert len(study.trials) == 6
    reopened = optuna.load_study(study_name=config.study_name, storage=storage)
    assert len(reopened.trials) == 6
    summary = study_summary(reopened)
    assert summary["trials_complete"] + summary["trials_pruned"] == 6
    assert summary["tuning_train_share"] == 1.0  # below max_train_rows: every training row
    assert all(t.intermediate_values for t in reopened.trials)  # reported every round
    params = best_params(reopened)
    assert set(params) >= {"learning_rate", "num_leaves"}
    ranker = train_ranker(train, validation, RankerConfig(params=params, num_boost_round=30))
    assert ranker.manifest["params"]["num_leaves"] == params["num_leaves"]


def test_tuning_samples_whole_groups_deterministically(small_mart: pl.DataFrame):
    frame = model_frame(small_mart, LabelConfig(horizon_days=7))
    keys = ["marketplace_id", "category", "report_date"]
    sample = sample_groups(frame, frame.height // 3, seed=7)
    assert 0 < sample.height <= frame.height // 3
    assert sample.equals(sample_groups(frame, frame.height // 3, seed=7))
    sizes = frame.group_by(keys).len()
    assert (
        sample.group_by(keys)
        .len()
        .join(sizes, on=keys)
        .filter(pl.col("len") != pl.col("len_right"))
        .is_empty()
    )  # groups are kept whole
    assert sample_groups(frame, None, seed=7).height == frame.height
