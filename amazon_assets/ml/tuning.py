"""Hyperparameter search for the ranker: an optuna study, durable and resumable.

The study lives in an optuna RDB storage: a SQLite file by default, the PostgreSQL database in
production (`postgresql+psycopg2://...`). Opening a study by name with load_if_exists resumes it,
so an interrupted tuning run loses only its current trial. TPE with a fixed seed proposes the
parameters; each trial reports validation NDCG@20 every boosting round, so the median pruner stops
hopeless trials early, and early stopping ends the others once they stop improving.

Cost: the training and validation Datasets are binned once and shared by every trial (nothing in
the search space changes the binning), the learning rate starts at 0.05 so a trial converges
within its 200 rounds, and trials train on a sample of whole training groups (at most
`max_train_rows` rows, drawn with the study's seed); the share used is a study user attribute and
part of study_summary. Validation is never sampled, so trials are compared on the same rows the
final ranker stops on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
import polars as pl

from amazon_assets.ml.ranker import (
    GROUP_COLUMNS,
    RankerConfig,
    RankingData,
    fit_ranker,
    group_order,
    group_sizes,
    ranking_data,
)

STUDY_NAME = "ranker"
VALIDATION_METRIC = "ndcg@20"


@dataclass(frozen=True)
class TuningConfig:
    """Trials, sampler seed, pruning warm-up, the boosting budget and training sample of a trial."""

    trials: int = 20
    seed: int = 7
    study_name: str = STUDY_NAME
    # Rounds each trial reports before the pruner may stop it, and finished trials it compares to.
    pruning_warmup_rounds: int = 20
    pruning_startup_trials: int = 5
    num_boost_round: int = 200
    early_stopping_rounds: int = 30
    # Trials train on whole (marketplace, category, day) groups totalling at most this many rows;
    # None trains every trial on all training rows.
    max_train_rows: int | None = 400_000
    timeout_seconds: float | None = None


def _pruning_callback(trial: optuna.Trial) -> Callable[[Any], None]:
    """optuna's LightGBM pruning callback (optuna-integration) or the same thing written out."""
    try:
        from optuna_integration.lightgbm import LightGBMPruningCallback

        return LightGBMPruningCallback(trial, VALIDATION_METRIC, valid_name="validation")
    except ImportError:  # optuna 5 moved integrations out; fall back to reporting by hand
        pass

    def report(env: lgb.callback.CallbackEnv) -> None:
        for data_name, metric, value, _ in env.evaluation_result_list:
            if data_name == "validation" and metric == VALIDATION_METRIC:
                trial.report(value, step=env.iteration)
                if trial.should_prune():
                    raise optuna.TrialPruned(
                        f"{VALIDATION_METRIC} {value:.4f} at round {env.iteration}"
                    )

    report.order = 15  # type: ignore[attr-defined]  # after LightGBM's evaluation, like its own callbacks
    return report


def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
    """The search space: tree shape, learning rate, sampling and regularisation."""
    return {
        # From 0.05 up: slower rates would not converge within the 200-round budget of a trial.
        "learning_rate": trial.suggest_float("learning_rate", 0.05, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 15, 127, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 500, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def open_study(storage_url: str, config: TuningConfig) -> optuna.Study:
    """Create the study in `storage_url`, or resume it when it exists."""
    return optuna.create_study(
        study_name=config.study_name,
        storage=optuna.storages.RDBStorage(storage_url),
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=config.pruning_startup_trials,
            n_warmup_steps=config.pruning_warmup_rounds,
        ),
        load_if_exists=True,
    )


def sample_groups(frame: pl.DataFrame, max_rows: int | None, seed: int) -> pl.DataFrame:
    """Whole groups of `frame`, drawn at random (seeded), totalling at most `max_rows` rows."""
    if max_rows is None or frame.height <= max_rows:
        return frame
    groups = group_sizes(frame, group_order(frame))
    shuffled = groups[np.random.default_rng(seed).permutation(groups.height)]
    # Always at least one group, even when the first one alone is larger than max_rows.
    keep = shuffled.filter((pl.col("rows").cum_sum() <= max_rows) | (pl.int_range(pl.len()) == 0))
    return frame.join(keep.select(GROUP_COLUMNS), on=GROUP_COLUMNS, how="semi", nulls_equal=True)


def tune_ranker(
    train: pl.DataFrame,
    validation: pl.DataFrame,
    storage_url: str,
    config: TuningConfig | None = None,
    ranker_config: RankerConfig | None = None,
) -> optuna.Study:
    """Run `config.trials` more trials of the study; the best trial's params feed RankerConfig."""
    config = config or TuningConfig()
    base = replace(
        ranker_config or RankerConfig(),
        num_boost_round=config.num_boost_round,
        early_stopping_rounds=config.early_stopping_rounds,
    )
    sample = sample_groups(train, config.max_train_rows, config.seed)
    # Binned once, shared by every trial: nothing in the search space changes the binning.
    train_data = ranking_data(sample, base, keep_source=True)
    validation_data: RankingData = ranking_data(
        validation, base, reference=train_data, keep_source=True
    )

    def objective(trial: optuna.Trial) -> float:
        trial_config = replace(base, params={**base.params, **suggest_params(trial)})
        booster, scores = fit_ranker(
            train_data, validation_data, trial_config, callbacks=[_pruning_callback(trial)]
        )
        trial.set_user_attr("best_iteration", booster.best_iteration)
        return scores["validation_ndcg_at_20"]

    study = open_study(storage_url, config)
    # What this run's trials trained on (a resumed study records its latest run).
    study.set_user_attr("tuning_train_rows", sample.height)
    study.set_user_attr("tuning_train_rows_available", train.height)
    study.set_user_attr("tuning_train_share", sample.height / train.height if train.height else 0.0)
    study.set_user_attr("tuning_validation_rows", validation.height)
    study.optimize(objective, n_trials=config.trials, timeout=config.timeout_seconds)
    return study


def best_params(study: optuna.Study) -> dict[str, Any]:
    """The best finished trial's parameters; empty before any trial finishes."""
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        return {}
    return dict(study.best_trial.params)


def study_summary(study: optuna.Study) -> dict[str, float]:
    """Trial counts by state, the best validation NDCG@20 and the training sample, for metadata."""
    states = [t.state for t in study.trials]
    complete = optuna.trial.TrialState.COMPLETE
    summary = {
        "trials": float(len(states)),
        "trials_complete": float(states.count(complete)),
        "trials_pruned": float(states.count(optuna.trial.TrialState.PRUNED)),
    }
    if complete in states:
        summary["best_validation_ndcg_at_20"] = float(study.best_value)
    summary.update({k: float(v) for k, v in study.user_attrs.items() if k.startswith("tuning_")})
    return summary
