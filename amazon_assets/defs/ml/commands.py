"""`amazon-assets train`, `tune --trials N`, `predict --date D`, and the ml part of the demo."""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from typing import Any

import dagster as dg

from amazon_assets.analytics.features import LOOKBACK_DAYS
from amazon_assets.commands import (
    CommandError,
    DemoContext,
    embedded_sandbox,
    run_account_job,
    run_job,
)
from amazon_assets.defs.ml.assets import (
    ML_HISTORY_JOB,
    ML_LABELS_JOB,
    ML_PREDICT_JOB,
    ML_TRAIN_JOB,
    ML_TUNE_JOB,
)
from amazon_assets.ml.labels import LabelConfig, label_history_days
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings


def register(commands: argparse._SubParsersAction, ingest: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="label past days, train and evaluate the ranker")
    train.add_argument("--start", type=date.fromisoformat, default=None, help="first day to label")
    train.set_defaults(handler=train_command)
    tune = commands.add_parser("tune", help="run more trials of the ranker's optuna study")
    tune.add_argument("--trials", type=int, default=20)
    tune.set_defaults(handler=tune_command)
    predict = commands.add_parser("predict", help="score and rank one day with the newest ranker")
    predict.add_argument("--date", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    predict.set_defaults(handler=predict_command)


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    events = result.asset_materializations_for_node(node)
    return {name: value.value for name, value in events[-1].metadata.items()} if events else {}


def train_command(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.definitions import defs
    from amazon_assets.partitions import daily_partitions

    started = time.monotonic()
    partitions = daily_partitions(settings)
    first = args.start or date.fromisoformat(partitions.get_first_partition_key() or "")
    # Day D's label needs D + H: yesterday's data labels the day H days before it.
    last = date.today() - timedelta(days=1 + LabelConfig().horizon_days)
    if last < first:
        raise CommandError(
            f"no day from {first} on has {LabelConfig().horizon_days} later days yet."
        )
    run_job(defs, ML_LABELS_JOB, first.isoformat(), last.isoformat())
    with embedded_sandbox(settings):  # the evaluation reads the sandbox's planted take-offs
        result = run_job(defs, ML_TRAIN_JOB)
    metrics = _metadata(result, "ml__ranker_evaluation")
    print(
        f"train: labels {first}..{last}, ranker {metrics.get('model_version')} in "
        f"{time.monotonic() - started:.1f}s; test NDCG@20 " + ndcg_line(metrics)
    )
    return 0


def tune_command(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.definitions import defs

    if args.trials < 1:
        raise CommandError("--trials must be at least 1.")
    started = time.monotonic()
    result = run_job(
        defs,
        ML_TUNE_JOB,
        run_config={"ops": {"ml__ranker_tuning": {"config": {"trials": args.trials}}}},
    )
    summary = _metadata(result, "ml__ranker_tuning")
    print(
        f"tune: {args.trials} trials in {time.monotonic() - started:.1f}s; study holds "
        f"{summary.get('trials', 0):.0f} ({summary.get('trials_pruned', 0):.0f} pruned), best "
        f"validation NDCG@20 {summary.get('best_validation_ndcg_at_20', float('nan')):.4f}"
    )
    return 0


def predict_command(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.definitions import defs
    from amazon_assets.ml.predictions import export_key
    from amazon_assets.ml.ranker import LATEST_KEY
    from amazon_assets.resources.lake import LakeIOManager

    if not LakeIOManager.from_settings(settings).lake().exists(LATEST_KEY):
        raise CommandError("no ranker trained yet: run `amazon-assets train`.")
    key = args.date.isoformat()
    result = run_job(defs, ML_PREDICT_JOB, key, key)
    rows = _metadata(result, "ml__predictions_daily").get("rows", 0)
    print(f"predict: {rows} ASINs ranked for {key}; top candidates in {export_key(args.date)}")
    return 0


def ndcg_line(metrics: dict[str, Any]) -> str:
    """'ranker 0.34, baseline 0.20, random 0.12' from evaluation metrics."""
    return _metric_line(metrics, "ndcg_at_20")


def recall_line(metrics: dict[str, Any]) -> str:
    """Take-off recall@10 of the three rankings, or why there is none."""
    if "ranker_take_off_recall_at_10" not in metrics:
        return "n/a (no planted take-off in its first 14 days on a test day)"
    return _metric_line(metrics, "take_off_recall_at_10")


def _metric_line(metrics: dict[str, Any], metric: str) -> str:
    return ", ".join(
        f"{name} {metrics.get(f'{name}_{metric}', float('nan')):.3f}"
        for name in ("ranker", "baseline", "random")
    )


# Labelled days the demo trains and evaluates on: a split of train, validation and test with two
# horizon-long embargoes between them (12 test days).
DEMO_LABELLED_DAYS = 90


def demo_days(last: date, config: LabelConfig) -> tuple[date, date, date]:
    """The ML part's first mart day, first and last labelled day: DEMO_LABELLED_DAYS days ending
    a horizon before the demo's last day `last`, after the history a label needs."""
    last_label = last - timedelta(days=config.horizon_days)
    first_label = last_label - timedelta(days=DEMO_LABELLED_DAYS - 1)
    first_mart_day = first_label - timedelta(days=label_history_days(config) - 1)
    return first_mart_day, first_label, last_label


def demo(context: DemoContext) -> list[str]:
    """Labels, ranker, evaluation and predictions through the graph. The ML part needs months of
    history where the rest of the demo needs days: it loads the business reports (one report a
    day, whatever the catalogue's size) and rebuilds the mart, features and score for the months
    before the demo's days, then labels, trains, evaluates and predicts the demo's last day."""
    from amazon_assets.defs.business_reports.commands import BUSINESS_REPORTS_JOB
    from amazon_assets.partitions import daily_partitions

    config = LabelConfig()
    partition_start = daily_partitions(context.settings).start.date()
    first_mart_day, first_label, last_label = demo_days(context.last, config)
    if first_mart_day < partition_start:
        return [
            f"ranker: not trained; its {DEMO_LABELLED_DAYS} labelled days need mart days from "
            f"{first_mart_day} on and the partitions start on {partition_start} "
            "(AMAZON_ASSETS_START_DATE)."
        ]
    started = time.monotonic()
    lines = []
    # The mart step loaded the windows' history before the demo days; the ranker needs more.
    loaded_first = max(context.first - timedelta(days=LOOKBACK_DAYS), partition_start)
    if first_mart_day < loaded_first:
        history_last = loaded_first - timedelta(days=1)
        run_account_job(
            context.defs, BUSINESS_REPORTS_JOB, DEFAULT_ACCOUNT, first_mart_day, history_last
        )
        # Rebuilt up to the demo days, so the features of the mart step's first days see their
        # whole windows too.
        before = (context.first - timedelta(days=1)).isoformat()
        run_job(context.defs, ML_HISTORY_JOB, first_mart_day.isoformat(), before)
        lines.append(
            f"ranker history: business reports {first_mart_day}..{history_last}, mart and "
            f"features {first_mart_day}..{before} ({time.monotonic() - started:.0f}s)"
        )
    started = time.monotonic()
    run_job(context.defs, ML_LABELS_JOB, first_label.isoformat(), last_label.isoformat())
    result = run_job(context.defs, ML_TRAIN_JOB)
    metrics = _metadata(result, "ml__ranker_evaluation")
    key = context.last.isoformat()
    run_job(context.defs, ML_PREDICT_JOB, key, key)
    return [
        *lines,
        f"ranker {metrics.get('model_version')}: labels {first_label}..{last_label}, trained, "
        f"evaluated and predicted {key} through the graph ({time.monotonic() - started:.0f}s)",
        f"evaluation on {metrics.get('test_days', 0):.0f} test days: NDCG@20 "
        f"{ndcg_line(metrics)}; take-off recall@10 {recall_line(metrics)}",
    ]
