"""ML assets: thin wiring of amazon_assets.ml's pure functions to the warehouse and the lake.

Upstream (wired by the code location): the mart and the features layer, all daily-partitioned in
the mart database with partition_expr "report_date". Models, tuning results and CSV exports live in
the lake; labels and predictions in the mart database (DuckDB, or PostgreSQL with DATABASE_URL)
under the "ml" schema, beside the mart they are computed from: the product API reads predictions
there, never in silver.
"""

import json
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
import httpx
import polars as pl

from amazon_assets.analytics.features import FEATURE_COLUMNS
from amazon_assets.automation import after_horizon, follows, predicts_new_days, retrains_on_cron
from amazon_assets.ml.evaluation import evaluate_rankings, random_scores
from amazon_assets.ml.labels import (
    LabelConfig,
    join_labels,
    label_history_days,
    labels_asin_daily,
)
from amazon_assets.ml.predictions import (
    candidates_csv,
    export_key,
    predict_daily,
    top_candidates,
)
from amazon_assets.ml.ranker import (
    MODEL_PREFIX,
    RankerConfig,
    load_ranker,
    save_ranker,
    train_ranker,
)
from amazon_assets.ml.split import DateSplit, SplitConfig, temporal_split
from amazon_assets.partitions import PLANNED_PER_ASSET_TAGS
from amazon_assets.resources.lake import LakeIOManager
from amazon_assets.settings import DEFAULT_RANKER_RETRAIN_CRON

if TYPE_CHECKING:
    from amazon_assets.settings import Settings

MART_KEY = dg.AssetKey(["mart", "mart_asin_daily"])
FEATURES_KEY = dg.AssetKey(["features", "features_asin_daily"])
SCORE_KEY = dg.AssetKey(["features", "score_baseline_daily"])
LABELS_KEY = dg.AssetKey(["ml", "labels"])
RANKER_KEY = dg.AssetKey(["ml", "ranker"])
TUNING_KEY = dg.AssetKey(["ml", "ranker_tuning"])
EVALUATION_KEY = dg.AssetKey(["ml", "ranker_evaluation"])
PREDICTIONS_KEY = dg.AssetKey(["ml", "predictions_daily"])
BEST_PARAMS_KEY = f"{MODEL_PREFIX}/best_params.json"

ML_LABELS_JOB = "ml_labels_job"
ML_TRAIN_JOB = "ml_train_job"
ML_TUNE_JOB = "ml_tune_job"
ML_PREDICT_JOB = "ml_predict_job"
ML_HISTORY_JOB = "ml_history_job"
RANDOM_SEED = 7

# The ground truth of planted take-offs (account, asin, take_off_date): the sandbox knows it.
TakeOffs = Callable[[], pl.DataFrame | None]


def sandbox_take_offs(sandbox_url: str) -> TakeOffs:
    """The sandbox's planted take-offs (account, asin, take_off_date), read when evaluating.

    Recall is extra metadata: with no sandbox answering, the evaluation goes on without it.
    """

    def take_offs() -> pl.DataFrame | None:
        try:
            rows = httpx.get(f"{sandbox_url}/_sandbox/take_offs", timeout=30).raise_for_status()
        except httpx.HTTPError:
            return None
        return pl.DataFrame(
            rows.json(),
            schema={"account": pl.String, "asin": pl.String, "take_off_date": pl.String},
        ).with_columns(pl.col("take_off_date").str.to_date())

    return take_offs


class TuningRunConfig(dg.Config):
    """How many more trials `ranker_tuning` runs, each one's round budget and training sample."""

    trials: int = 20
    num_boost_round: int = 200
    # Trials train on whole groups totalling at most this many rows (0: all training rows).
    max_train_rows: int = 400_000


def study_storage_from_settings(settings: "Settings") -> str:
    """The optuna storage URL: PostgreSQL (DATABASE_URL) in production, else a SQLite file."""
    if settings.database_url:
        # SQLAlchemy picks the driver from the scheme; psycopg2 is the one optuna is tested with.
        rest = settings.database_url.split("://", 1)[1]
        return f"postgresql+psycopg2://{rest}"
    return f"sqlite:///{settings.home / 'optuna.sqlite'}"


def _markdown(frame: pl.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        frame.to_pandas().to_markdown(index=False) if frame.height else "(no rows)"
    )


def _checked(features: pl.DataFrame, needed: Sequence[str]) -> pl.DataFrame:
    """`features`, unless it lacks a column the ranker reads (a table written by older code)."""
    missing = [name for name in needed if name not in features.columns]
    if missing:
        raise dg.Failure(
            f"features/features_asin_daily has no column {', '.join(missing)} (written before "
            "these features existed): rebuild the features of the days the ranker reads with "
            "`amazon-assets ingest mart --start <first day> --end <last day>`."
        )
    return features


def _labelled(features: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    return join_labels(_checked(features, FEATURE_COLUMNS).lazy(), labels.lazy()).collect()


def _split(frame: pl.DataFrame, label_config: LabelConfig) -> DateSplit:
    h, history = label_config.horizon_days, label_config.history_days
    if not frame.height:
        raise dg.Failure(
            f"no labelled days: a label needs {history} days of mart history before a day and "
            f"{h} after it; load more days (`amazon-assets ingest business-reports --days N`, "
            "then `amazon-assets ingest mart --days N`) and run `amazon-assets train` again."
        )
    try:
        return temporal_split(
            frame["report_date"].min(),
            frame["report_date"].max(),
            SplitConfig(embargo_days=h),
        )
    except ValueError as error:
        raise dg.Failure(f"{error} (load more days of history)") from None


def _load_ranker(lake_io_manager: LakeIOManager):
    try:
        return load_ranker(lake_io_manager.lake())
    except FileNotFoundError:
        raise dg.Failure("no ranker trained yet: run `amazon-assets train`.") from None


def evaluation_table(metrics: dict[str, float]) -> str:
    """The evaluation as a markdown table: each ranking's figures with their 95 % intervals."""

    def cell(name: str) -> str:
        value = metrics.get(name)
        if value is None or value != value:
            return "n/a"
        low, high = metrics.get(f"{name}_low"), metrics.get(f"{name}_high")
        interval = f" ({low:.3f}-{high:.3f})" if low == low and high == high else ""
        return f"{value:.3f}{interval}"

    columns = ("ndcg_at_20", "take_off_recall_at_10", "take_off_recall_at_20")
    lines = [
        "| ranking | NDCG@20 | take-off recall@10 | take-off recall@20 |",
        "|---|---|---|---|",
    ]
    for name, label in (
        ("ranker", "LightGBM ranker"),
        ("baseline", "baseline score"),
        ("random", "random"),
    ):
        lines.append(f"| {label} | " + " | ".join(cell(f"{name}_{c}") for c in columns) + " |")
    return "\n".join(lines)


def build_ml_assets(
    partitions_def: dg.PartitionsDefinition,
    *,
    study_storage_url: str,
    label_config: LabelConfig | None = None,
    take_offs: TakeOffs | None = None,
    warehouse_kind: str = "duckdb",
    lake_kind: str = "file",
    retrain_cron: str = DEFAULT_RANKER_RETRAIN_CRON,
) -> list[dg.AssetsDefinition]:
    """The five ml assets over the given day partitions; the ranker retrains at `retrain_cron`
    (UTC) and the others follow their inputs (amazon_assets.automation), tuning runs on demand."""
    label_config = label_config or LabelConfig()
    h = label_config.horizon_days
    warehouse_kinds = {"polars", warehouse_kind}
    partitioned = {
        "partitions_def": partitions_def,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "io_manager_key": "mart_io_manager",
        "metadata": {"partition_expr": "report_date"},
    }

    @dg.asset(
        key=LABELS_KEY,
        group_name="ml",
        kinds=warehouse_kinds,
        ins={
            # Day D's label reads the mart from its history and baseline windows to D + H.
            "mart": dg.AssetIn(
                key=MART_KEY,
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=-(label_history_days(label_config) - 1),
                    end_offset=h,
                    allow_nonexistent_upstream_partitions=True,
                ),
            )
        },
        automation_condition=after_horizon(h),
        **partitioned,
    )
    def labels(context: dg.AssetExecutionContext, mart: pl.DataFrame) -> pl.DataFrame:
        """Future growth per ASIN and day: binary take-off, graded relevance, log growth."""
        days = [date.fromisoformat(key) for key in context.partition_keys]
        last_with_data = mart["report_date"].max() if mart.height else None
        needed = max(days) + timedelta(days=h)
        if last_with_data is None or last_with_data < needed:
            raise dg.Failure(
                f"Labels for {max(days)} need mart data through {needed} ({h} days ahead); the mart "
                f"has data through {last_with_data}. Label only days at least {h} days old."
            )
        result = (
            labels_asin_daily(mart.lazy(), label_config)
            .filter(pl.col("report_date").is_between(min(days), max(days)))
            .collect()
        )
        context.add_output_metadata(
            {
                "rows": result.height,
                "label_definition": dg.MetadataValue.json(label_config.describe()),
                "horizon_days": h,
                "take_off_share": float(result["takes_off"].mean() or 0.0),
                "mean_relevance": float(result["relevance"].mean() or 0.0),
            }
        )
        return result

    @dg.asset(
        key=TUNING_KEY,
        group_name="ml",
        kinds={"optuna", "lightgbm"},
        ins={"labels": dg.AssetIn(key=LABELS_KEY), "features": dg.AssetIn(key=FEATURES_KEY)},
    )
    def ranker_tuning(
        context: dg.AssetExecutionContext,
        config: TuningRunConfig,
        labels: pl.DataFrame,
        features: pl.DataFrame,
        lake_io_manager: dg.ResourceParam[LakeIOManager],
    ) -> dg.MaterializeResult:
        """An optuna study of the ranker's parameters (resumed if it exists); best params to the lake."""
        # Imported here: optuna is a second of every command's start, and only this asset uses it.
        from amazon_assets.ml.tuning import TuningConfig, best_params, study_summary, tune_ranker

        frame = _labelled(features, labels)
        split = _split(frame, label_config)
        study = tune_ranker(
            frame.filter(split.part("train")),
            frame.filter(split.part("validation")),
            study_storage_url,
            TuningConfig(
                trials=config.trials,
                num_boost_round=config.num_boost_round,
                max_train_rows=config.max_train_rows or None,
            ),
        )
        params = best_params(study)
        lake = lake_io_manager.lake()
        lake.write_bytes(
            BEST_PARAMS_KEY, json.dumps(params, sort_keys=True).encode(), "application/json"
        )
        return dg.MaterializeResult(
            metadata={
                **study_summary(study),
                "best_params": dg.MetadataValue.json(params),
                "study": study.study_name,
                "best_params_uri": lake.uri(BEST_PARAMS_KEY),
            }
        )

    @dg.asset(
        key=RANKER_KEY,
        group_name="ml",
        kinds={"lightgbm", lake_kind},
        ins={"labels": dg.AssetIn(key=LABELS_KEY), "features": dg.AssetIn(key=FEATURES_KEY)},
        deps=[TUNING_KEY],
        automation_condition=retrains_on_cron(retrain_cron, ignore=[TUNING_KEY]),
    )
    def ranker(
        context: dg.AssetExecutionContext,
        labels: pl.DataFrame,
        features: pl.DataFrame,
        lake_io_manager: dg.ResourceParam[LakeIOManager],
    ) -> dg.MaterializeResult:
        """LightGBM lambdarank over (marketplace, category, day), trained on every labelled day."""
        lake = lake_io_manager.lake()
        tuned = json.loads(lake.read_bytes(BEST_PARAMS_KEY)) if lake.exists(BEST_PARAMS_KEY) else {}
        frame = _labelled(features, labels)
        split = _split(frame, label_config)
        model = train_ranker(
            frame.filter(split.part("train")),
            frame.filter(split.part("validation")),
            RankerConfig(params=tuned),
            split=split.as_dict(),
            label_definition=label_config.describe(),
        )
        folder = save_ranker(lake, model)
        importance = pl.DataFrame(
            list(model.manifest["feature_importance_gain"].items()),
            schema=["feature", "gain"],
            orient="row",
        ).sort("gain", descending=True)
        return dg.MaterializeResult(
            metadata={
                "model_version": model.version,
                "model_uri": lake.uri(f"{folder}/model.txt"),
                "tuned_params": dg.MetadataValue.json(tuned),
                "params": dg.MetadataValue.json(model.manifest["params"]),
                "label_definition": dg.MetadataValue.json(label_config.describe()),
                "best_iteration": model.manifest["best_iteration"],
                "train_rows": model.manifest["train_rows"],
                "trained_days": dg.MetadataValue.json(split.as_dict()),
                **model.manifest["metrics"],
                **{
                    f"importance_{r['feature']}": r["gain"]
                    for r in importance.iter_rows(named=True)
                },
                "feature_importance": _markdown(importance),
            }
        )

    @dg.asset(
        key=EVALUATION_KEY,
        group_name="ml",
        kinds={"lightgbm"},
        ins={
            "labels": dg.AssetIn(key=LABELS_KEY),
            "features": dg.AssetIn(key=FEATURES_KEY),
            "score": dg.AssetIn(key=SCORE_KEY),
        },
        deps=[RANKER_KEY],
        automation_condition=follows(RANKER_KEY),
    )
    def ranker_evaluation(
        context: dg.AssetExecutionContext,
        labels: pl.DataFrame,
        features: pl.DataFrame,
        score: pl.DataFrame,
        lake_io_manager: dg.ResourceParam[LakeIOManager],
    ) -> dg.MaterializeResult:
        """NDCG@10/@20, precision@10 and take-off recall@10/@20 of ranker, baseline and random on
        the test days, each with a 95 % bootstrap interval over days."""
        model = _load_ranker(lake_io_manager)
        split = DateSplit.from_dict(model.manifest["split"])
        test = _labelled(features, labels).filter(split.part("test"))
        test = test.join(
            score.select("account", "asin", "report_date", "explosive_score"),
            on=["account", "asin", "report_date"],
            how="left",
        )
        test = test.with_columns(
            pl.Series("ranker_score", model.score(test)),
            pl.Series("random_score", random_scores(test.height, RANDOM_SEED)),
        )
        metrics = evaluate_rankings(
            test,
            {"ranker": "ranker_score", "baseline": "explosive_score", "random": "random_score"},
            take_offs=take_offs() if take_offs else None,
            horizon_days=h,
            intervals=True,
        )
        return dg.MaterializeResult(
            metadata={
                "model_version": model.version,
                "test_days": dg.MetadataValue.json(list(split.as_dict()["test"])),
                "table": dg.MetadataValue.md(evaluation_table(metrics)),
                # NaN (no relevant rows) is not a number Dagster can chart; leave it out.
                **{name: value for name, value in metrics.items() if value == value},
            }
        )

    @dg.asset(
        key=PREDICTIONS_KEY,
        group_name="ml",
        kinds=warehouse_kinds,
        ins={"features": dg.AssetIn(key=FEATURES_KEY), "mart": dg.AssetIn(key=MART_KEY)},
        deps=[RANKER_KEY],
        automation_condition=predicts_new_days(FEATURES_KEY),
        **partitioned,
    )
    def predictions_daily(
        context: dg.AssetExecutionContext,
        features: pl.DataFrame,
        mart: pl.DataFrame,
        lake_io_manager: dg.ResourceParam[LakeIOManager],
    ) -> pl.DataFrame:
        """The ranker's score and rank per ASIN within its category, per day; top 20 as CSV."""
        lake = lake_io_manager.lake()
        model = _load_ranker(lake_io_manager)
        attributes = mart.select("account", "asin", "report_date", "price", "bsr", "units_ordered")
        predictions = predict_daily(_checked(features, model.features), model, attributes)
        exported = []
        for (day,), rows in top_candidates(predictions).group_by("report_date"):
            key = export_key(day)
            lake.write_bytes(
                key, candidates_csv(rows.sort("category", "category_rank")), "text/csv"
            )
            exported.append(lake.uri(key))
        context.add_output_metadata(
            {
                "rows": predictions.height,
                "model_version": model.version,
                "exports": dg.MetadataValue.json(sorted(exported)),
                "preview": _markdown(top_candidates(predictions, 3).head(10)),
            }
        )
        return predictions

    return [labels, ranker_tuning, ranker, ranker_evaluation, predictions_daily]


def build_ml_definitions(
    partitions_def: dg.PartitionsDefinition,
    *,
    study_storage_url: str,
    label_config: LabelConfig | None = None,
    take_offs: TakeOffs | None = None,
    warehouse_kind: str = "duckdb",
    lake_kind: str = "file",
    retrain_cron: str = DEFAULT_RANKER_RETRAIN_CRON,
) -> dg.Definitions:
    """ml assets and their jobs; resources (warehouse_io_manager, lake_io_manager) come from the caller."""
    assets = build_ml_assets(
        partitions_def,
        study_storage_url=study_storage_url,
        label_config=label_config,
        take_offs=take_offs,
        warehouse_kind=warehouse_kind,
        lake_kind=lake_kind,
        retrain_cron=retrain_cron,
    )
    jobs: list[Any] = [
        dg.define_asset_job(
            ML_LABELS_JOB,
            selection=[LABELS_KEY],
            partitions_def=partitions_def,
            description="Labels for a range of days (each needs its horizon of later data).",
        ),
        dg.define_asset_job(
            ML_TRAIN_JOB,
            selection=[RANKER_KEY, EVALUATION_KEY],
            description="Train the ranker on every labelled day and evaluate it on the test days.",
        ),
        dg.define_asset_job(
            ML_TUNE_JOB, selection=[TUNING_KEY], description="More trials of the optuna study."
        ),
        dg.define_asset_job(
            ML_HISTORY_JOB,
            selection=[MART_KEY, FEATURES_KEY, SCORE_KEY],
            partitions_def=partitions_def,
            description="What the ranker reads, for a range of days: mart, features and score "
            "(without the alerts and comparisons the mart job adds).",
            tags=PLANNED_PER_ASSET_TAGS,
        ),
        dg.define_asset_job(
            ML_PREDICT_JOB,
            selection=[PREDICTIONS_KEY],
            partitions_def=partitions_def,
            description="Score and rank a range of days with the newest ranker.",
        ),
    ]
    return dg.Definitions(assets=assets, jobs=jobs)
