"""The take-off ranker: LightGBM lambdarank over (marketplace, category, day) groups.

Rows are ordered by group (a permutation of the sort keys; the frame itself is never sorted or
copied), features reach LightGBM in float32 batches, and LightGBM gets the group sizes; early stopping watches the validation
NDCG@20. A trained model travels as LightGBM's text format plus a JSON manifest (parameters,
features, the days it was trained on, metrics, feature importance), stored in the lake under
`models/ranker/<version>/`; `models/ranker/latest.json` names the newest version and is written
last, so a reader never sees a half-written model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from amazon_assets.analytics.features import FEATURE_COLUMNS
from amazon_assets.resources.lake import Lake

GROUP_COLUMNS = ("marketplace_id", "category", "report_date")
MODEL_PREFIX = "models/ranker"
LATEST_KEY = f"{MODEL_PREFIX}/latest.json"
# Within a group rows are ordered by account and ASIN, so the row order never depends on the input's.
SORT_COLUMNS = (*GROUP_COLUMNS, "account", "asin")
BATCH_ROWS = 65_536

# deterministic + force_row_wise + a fixed thread count and seed: the same data gives the same
# model bit for bit. feature_pre_filter=False lets tuning change min_data_in_leaf on one Dataset.
DEFAULT_PARAMS: Mapping[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    # One metric only: LightGBM's early stopping stops on whichever watched metric stalls first.
    "eval_at": [20],
    "lambdarank_truncation_level": 20,
    # Gains of relevance 0..4 (LightGBM's default is 2^r - 1: 0, 1, 3, 7, 15). A user wants the
    # products taking off (growth above 3.5x, relevance 4, which a take-off reaches within days)
    # at the top, not the many products a quarter or half up (relevance 1: an ad push, a season,
    # noise): those gain nothing, and relevance 4 counts double.
    "label_gain": [0, 0, 1, 7, 31],
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "seed": 7,
    "feature_pre_filter": False,
    "verbosity": -1,
}


@dataclass(frozen=True)
class RankerConfig:
    """Features, label, LightGBM parameter overrides and boosting rounds of the ranker."""

    features: tuple[str, ...] = FEATURE_COLUMNS
    label: str = "relevance"
    params: Mapping[str, Any] = field(default_factory=dict)
    num_boost_round: int = 400
    early_stopping_rounds: int = 40

    def lightgbm_params(self) -> dict[str, Any]:
        """DEFAULT_PARAMS with this config's overrides."""
        return {**DEFAULT_PARAMS, **self.params}


@dataclass
class RankingData:
    """A LightGBM Dataset of rows ordered by group, and the group keys in that order."""

    dataset: lgb.Dataset
    groups: pl.DataFrame  # one row per group: GROUP_COLUMNS and its size `rows`
    rows: int


def group_order(frame: pl.DataFrame) -> np.ndarray:
    """Row positions that order `frame` by (marketplace, category, day) then account and ASIN.

    Only the sort keys are read: the permutation is computed without copying the frame.
    """
    return (
        frame.select(pl.arg_sort_by(*SORT_COLUMNS, nulls_last=True, maintain_order=True))
        .to_series()
        .cast(pl.UInt32)
        .to_numpy()
    )


def group_sizes(frame: pl.DataFrame, order: np.ndarray) -> pl.DataFrame:
    """Group keys and sizes, one row per group, in `order` (group_order's): from run lengths.

    Runs are found on a 64-bit hash of the group keys in `order`, not on the keys themselves, so
    no sorted copy of the key columns is built; equal keys hash equally and a run boundary missed
    would need two neighbouring groups to collide in 64 bits.
    """
    if not len(order):
        return frame.select(GROUP_COLUMNS).clear().with_columns(rows=pl.lit(0, pl.Int64))
    hashes = frame.select(pl.struct(GROUP_COLUMNS).hash(seed=0)).to_series().to_numpy()[order]
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1])))
    sizes = np.diff(np.append(starts, len(order)))
    return frame.select(GROUP_COLUMNS)[order[starts]].with_columns(rows=pl.Series(sizes))


def feature_matrix(frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The features as a C-ordered float32 matrix; nulls become NaN (LightGBM's missing value)."""
    return frame.select(pl.col(name).cast(pl.Float32) for name in features).to_numpy(order="c")


class FeatureRows(lgb.Sequence):
    """The feature matrix of `frame` in `order`, handed to LightGBM one batch of rows at a time.

    Only one float32 batch exists at a time, never the whole matrix or a sorted copy of the frame.
    """

    batch_size = BATCH_ROWS

    def __init__(self, frame: pl.DataFrame, order: np.ndarray, features: Sequence[str]):
        self._frame = frame.select(features)  # a view: no data is copied
        self._order = order

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, index: int | slice) -> np.ndarray:  # type: ignore[override]
        if isinstance(index, slice):
            start, stop, _ = index.indices(len(self))
            return feature_matrix(self._frame[self._order[start:stop]], self._frame.columns)
        return self[index : index + 1][0]


def dataset_params(config: RankerConfig) -> dict[str, Any]:
    """The training parameters, as a Dataset sees them (binning, seeds)."""
    return {**config.lightgbm_params(), "feature_pre_filter": False, "verbosity": -1}


class _Sampler(lgb.Dataset):
    """LightGBM's row sampler (LGBM_SampleIndices, private in the Python package since 3.3) fed
    every parameter: Dataset.get_params drops `seed`, from which a matrix's sampling seed derives."""

    def get_params(self) -> dict[str, Any]:
        return dict(self.params or {})


def _bins(frame: pl.DataFrame, order: np.ndarray, config: RankerConfig) -> lgb.Dataset:
    """A Dataset of the rows LightGBM would sample to find bin boundaries, and only those.

    The sample indices are LightGBM's own (its sampler, same seed and sample size) as for a matrix;
    the full Dataset then takes these bins by reference, so LightGBM never sees the whole matrix.
    """
    params = dataset_params(config)
    sample = _Sampler(None, params=params)._create_sample_indices(total_nrow=len(order))
    rows = feature_matrix(frame.select(config.features)[order[sample]], config.features)
    return lgb.Dataset(
        rows, feature_name=list(config.features), params=params, free_raw_data=True
    ).construct()


def ranking_data(
    frame: pl.DataFrame,
    config: RankerConfig,
    reference: RankingData | None = None,
    *,
    keep_source: bool = False,
) -> RankingData:
    """Features, label and group sizes of `frame`, rows ordered by group, as a constructed Dataset.

    Bin boundaries come from a sample of rows (the training Dataset's for validation); then all
    rows are pushed in batches. The Dataset is binned here, once: trainings with parameters that
    don't change the binning (all of the tuning's) reuse it. keep_source keeps the batch reader so
    LightGBM could re-bin if a later training changed a binning parameter.
    """
    order = group_order(frame)
    groups = group_sizes(frame, order)
    dataset = lgb.Dataset(
        [FeatureRows(frame, order, config.features)],
        label=frame.get_column(config.label).to_numpy()[order],
        group=groups["rows"].to_numpy(),
        feature_name=list(config.features),
        reference=reference.dataset if reference else _bins(frame, order, config),
        params=dataset_params(config),
        free_raw_data=not keep_source,
    ).construct()
    return RankingData(dataset=dataset, groups=groups, rows=frame.height)


@dataclass
class TrainedRanker:
    """A trained booster and its manifest."""

    booster: lgb.Booster
    manifest: dict[str, Any]

    @property
    def features(self) -> list[str]:
        return list(self.manifest["features"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        """Model scores for `frame`'s rows, in the frame's order."""
        num_threads = self.manifest["params"].get("num_threads", 0)
        return self.booster.predict(feature_matrix(frame, self.features), num_threads=num_threads)

    def model_bytes(self) -> bytes:
        return self.booster.model_to_string().encode()

    def manifest_bytes(self) -> bytes:
        return json.dumps(self.manifest, indent=2, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, model: bytes, manifest: bytes) -> TrainedRanker:
        """Inverse of model_bytes / manifest_bytes."""
        return cls(booster=lgb.Booster(model_str=model.decode()), manifest=json.loads(manifest))


def _date_range(frame: pl.DataFrame) -> list[str]:
    days = frame["report_date"]
    return [days.min().isoformat(), days.max().isoformat()] if frame.height else []


def fit_ranker(
    train: RankingData,
    validation: RankingData | None,
    config: RankerConfig,
    callbacks: Sequence[Callable[..., None]] = (),
) -> tuple[lgb.Booster, dict[str, float]]:
    """Boost on `train`, stopping early on validation NDCG@20; returns the booster and best scores."""
    params = config.lightgbm_params()
    all_callbacks = list(callbacks)
    valid_sets, valid_names = [], []
    if validation is not None:
        valid_sets, valid_names = [validation.dataset], ["validation"]
        all_callbacks.append(lgb.early_stopping(config.early_stopping_rounds, verbose=False))
    booster = lgb.train(
        params,
        train.dataset,
        num_boost_round=config.num_boost_round,
        valid_sets=valid_sets,
        valid_names=valid_names,
        callbacks=all_callbacks,
    )
    scores = {
        f"validation_{metric.replace('@', '_at_')}": float(value)
        for metric, value in booster.best_score.get("validation", {}).items()
    }
    return booster, scores


def train_ranker(
    train: pl.DataFrame,
    validation: pl.DataFrame | None,
    config: RankerConfig | None = None,
    *,
    split: Mapping[str, Any] | None = None,
    callbacks: Sequence[Callable[..., None]] = (),
    label_definition: Mapping[str, Any] | None = None,
) -> TrainedRanker:
    """Train the lambdarank model on labelled feature rows; the manifest records what it saw."""
    config = config or RankerConfig()
    train_data = ranking_data(train, config)
    validation_data = (
        ranking_data(validation, config, reference=train_data)
        if validation is not None and validation.height
        else None
    )
    booster, scores = fit_ranker(train_data, validation_data, config, callbacks)
    importance = booster.feature_importance(importance_type="gain")
    model_text = booster.model_to_string()
    trained_at = datetime.now(UTC)
    manifest = {
        "version": f"{trained_at:%Y%m%dT%H%M%SZ}-{hashlib.sha256(model_text.encode()).hexdigest()[:8]}",
        "trained_at": trained_at.isoformat(),
        "lightgbm_version": lgb.__version__,
        "params": config.lightgbm_params(),
        "num_boost_round": config.num_boost_round,
        "best_iteration": booster.best_iteration or booster.current_iteration(),
        "features": list(config.features),
        "label": config.label,
        "label_definition": dict(label_definition or {}),
        "train_days": _date_range(train),
        "validation_days": _date_range(validation) if validation is not None else [],
        "train_rows": train_data.rows,
        "train_groups": train_data.groups.height,
        "split": dict(split or {}),
        "metrics": scores,
        "feature_importance_gain": {
            name: float(gain) for name, gain in zip(config.features, importance, strict=True)
        },
    }
    return TrainedRanker(booster=booster, manifest=manifest)


def save_ranker(lake: Lake, ranker: TrainedRanker) -> str:
    """Write model and manifest under models/ranker/<version>/, then point latest.json at them."""
    folder = f"{MODEL_PREFIX}/{ranker.version}"
    lake.write_bytes(f"{folder}/model.txt", ranker.model_bytes(), "text/plain")
    lake.write_bytes(f"{folder}/manifest.json", ranker.manifest_bytes(), "application/json")
    lake.write_bytes(
        LATEST_KEY, json.dumps({"version": ranker.version}).encode(), "application/json"
    )
    return folder


def load_ranker(lake: Lake, version: str | None = None) -> TrainedRanker:
    """A saved ranker: the given version, or the newest one."""
    if version is None:
        if not lake.exists(LATEST_KEY):
            raise FileNotFoundError(
                f"No trained ranker in the lake ({lake.uri(LATEST_KEY)} is missing): "
                "materialize ml/ranker first (`amazon-assets train`)."
            )
        version = json.loads(lake.read_bytes(LATEST_KEY))["version"]
    folder = f"{MODEL_PREFIX}/{version}"
    return TrainedRanker.from_bytes(
        lake.read_bytes(f"{folder}/model.txt"), lake.read_bytes(f"{folder}/manifest.json")
    )
