"""Ranker benchmark: the pipeline's train_ranker vs bare LightGBM on 1M rows, and a 20-trial study.

Training: both sides train the same 1M rows (in the same group order, as float32) with the same
parameters (DEFAULT_PARAMS: num_threads fixed at 2, deterministic) for the same number of rounds,
without a validation set or early stopping. Bare LightGBM gets its NumPy matrix, labels and group
sizes ready-made, outside the measurement; the pipeline starts from the polars frame, so its
numbers include ordering by group and building the matrix. Each measurement runs in a fresh
process that first loads its input (bare: the float32 matrix, labels and group sizes from .npy;
pipeline: the polars frame from parquet), then resets the kernel's peak-RSS mark and trains.
Memory is shown two ways: the peak RSS of the process during training (input included), and that
peak above the RSS when training starts (what training adds to its input). The sides alternate,
three runs each; the table shows the best time, the median memory, and whether both produced the
same model (they should: same rows, order, bins and parameters).

Tuning: the default TuningConfig (20 trials, pruning, early stopping, a sample of training groups)
on the same 1M rows split by day into 80 % train and, after a 14-day gap, validation.

The machine may be shared: the load average is printed before and after.
Run: python benchmarks/ranker.py
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from amazon_assets.analytics.features import FEATURE_COLUMNS

ROWS = 1_000_000
GROUP_ROWS = 200
ROUNDS = 100
REPEATS = 3
TRIALS = 20


def synthetic_frame(rows: int = ROWS, seed: int = 7) -> pl.DataFrame:
    """Feature rows in groups of 200 (10 categories x days), relevance from a noisy signal."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURE_COLUMNS))).astype(np.float32)
    signal = x[:, 0] - 0.7 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + rng.normal(0, 1.5, rows)
    relevance = np.digitize(signal, np.quantile(signal, [0.8, 0.9, 0.95, 0.98]))
    group = np.arange(rows) // GROUP_ROWS
    return pl.DataFrame(
        {
            "account": "acct",
            "asin": pl.Series(np.arange(rows)).cast(pl.Utf8).str.zfill(9).str.replace("^", "B"),
            "marketplace_id": "ATVPDKIKX0DER",
            "category": pl.Series(group % 10).cast(pl.Utf8),
            "report_date": pl.Series(
                np.datetime64(date(2023, 1, 1), "D") + (group // 10).astype("timedelta64[D]")
            ),
            **{name: x[:, i] for i, name in enumerate(FEATURE_COLUMNS)},
            "relevance": relevance.astype(np.int32),
        }
    )


def _status(field: str) -> float:
    """A /proc/self/status memory field in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def _train(kind: str, folder: str) -> None:
    """One measured training in this (fresh) process; prints `seconds peak input model_sha`."""
    import gc

    import lightgbm as lgb

    from amazon_assets.ml.ranker import RankerConfig, train_ranker

    config = RankerConfig(num_boost_round=ROUNDS)
    if kind == "bare":
        # Prepared by the parent, outside the measurement: the pipeline's rows in its order.
        matrix, label, sizes = (np.load(Path(folder) / f"{n}.npy") for n in ("x", "y", "g"))
    else:
        frame = pl.read_parquet(Path(folder) / "rows.parquet")
    gc.collect()
    _reset_peak()
    before = _status("VmRSS")
    started = time.perf_counter()
    if kind == "bare":
        dataset = lgb.Dataset(
            matrix,
            label=label,
            group=sizes,
            feature_name=list(config.features),
            params={"feature_pre_filter": False, "verbosity": -1},
        )
        booster = lgb.train(config.lightgbm_params(), dataset, num_boost_round=ROUNDS)
    else:
        booster = train_ranker(frame, None, config).booster
    seconds = time.perf_counter() - started
    peak = _status("VmHWM")
    model = hashlib.sha256(booster.model_to_string().encode()).hexdigest()[:12]
    print(f"{seconds} {peak} {before} {model}")


def measure(kind: str, folder: str) -> tuple[float, float, float, str]:
    out = subprocess.run(
        [sys.executable, __file__, "--train", kind, folder],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), float(out[1]), float(out[2]), out[3]


def _prepare(frame: pl.DataFrame, folder: Path) -> None:
    """The polars frame for the pipeline; bare LightGBM's matrix, labels and group sizes."""
    frame.write_parquet(folder / "rows.parquet")
    ordered = frame.sort("marketplace_id", "category", "report_date", "account", "asin")
    np.save(folder / "x.npy", ordered.select(FEATURE_COLUMNS).to_numpy(order="c"))
    np.save(folder / "y.npy", ordered["relevance"].to_numpy())
    runs = ordered.select(pl.struct("marketplace_id", "category", "report_date").rle_id())
    np.save(folder / "g.npy", np.bincount(runs.to_series().to_numpy()))


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    from amazon_assets.ml.tuning import TuningConfig, study_summary, tune_ranker

    print(f"load average (1/5/15 min): {_load()} on {os.cpu_count()} CPUs")
    print(
        f"ranker benchmark: {ROWS:,} rows, {len(FEATURE_COLUMNS)} features, groups of "
        f"{GROUP_ROWS}, {ROUNDS} rounds, num_threads=2, best time / median peak of {REPEATS} runs"
    )
    frame = synthetic_frame()
    runs: dict[str, list[tuple[float, float, float, str]]] = {"bare": [], "pipeline": []}
    with tempfile.TemporaryDirectory() as folder:
        _prepare(frame, Path(folder))
        for _ in range(REPEATS):
            for kind in runs:
                runs[kind].append(measure(kind, folder))
    best = {kind: min(r[0] for r in results) for kind, results in runs.items()}
    peak = {kind: statistics.median(r[1] for r in results) for kind, results in runs.items()}
    added = {
        kind: statistics.median(r[1] - r[2] for r in results) for kind, results in runs.items()
    }
    print("                     best time (runs)                peak RSS   above its input")
    for kind, label in (("bare", "bare LightGBM  "), ("pipeline", "pipeline ranker")):
        times = ", ".join(f"{r[0]:.1f}" for r in runs[kind])
        print(
            f"  {label}  {best[kind]:6.1f} s ({times:18})  {peak[kind]:6.0f} MB  "
            f"+{added[kind]:4.0f} MB"
        )
    models = {r[3] for results in runs.values() for r in results}
    print(
        f"  pipeline overhead  {100 * (best['pipeline'] / best['bare'] - 1):+5.1f} % time, "
        f"{100 * (peak['pipeline'] / peak['bare'] - 1):+5.1f} % peak RSS "
        f"({peak['pipeline'] - peak['bare']:+.0f} MB; above input: "
        f"{added['pipeline'] - added['bare']:+.0f} MB); "
        f"identical models: {'yes' if len(models) == 1 else 'NO ' + str(sorted(models))}"
    )

    days = frame["report_date"].unique().sort()
    cut, gap = days[int(len(days) * 0.8)], 14
    train = frame.filter(pl.col("report_date") < cut)
    validation = frame.filter(pl.col("report_date") >= cut + timedelta(days=gap))
    del frame
    config = TuningConfig(trials=TRIALS)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        study = tune_ranker(
            train, validation, f"sqlite:///{Path(folder) / 'optuna.sqlite'}", config
        )
        seconds = time.perf_counter() - started
    summary = study_summary(study)
    rounds = [len(t.intermediate_values) for t in study.trials]
    print(
        f"tuning: {TRIALS} trials, {summary['tuning_train_rows']:,.0f} of {train.height:,} train "
        f"rows ({100 * summary['tuning_train_share']:.0f} % of the groups' rows, max_train_rows="
        f"{config.max_train_rows:,}) / {validation.height:,} validation rows, up to "
        f"{config.num_boost_round} rounds, early stopping {config.early_stopping_rounds}"
    )
    print(
        f"  wall time {seconds / 60:.1f} min: {summary['trials_complete']:.0f} completed, "
        f"{summary['trials_pruned']:.0f} pruned, rounds per trial median {np.median(rounds):.0f} "
        f"(max {max(rounds)}), best validation NDCG@20 "
        f"{summary.get('best_validation_ndcg_at_20', float('nan')):.4f}"
    )
    print(f"load average (1/5/15 min): {_load()}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--train"]:
        _train(sys.argv[2], sys.argv[3])
    else:
        main()
