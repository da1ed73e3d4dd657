"""The ml assets in Dagster: labels, tuning, ranker, evaluation and predictions over a tiny graph."""

from datetime import date, timedelta

import dagster as dg
import duckdb
import polars as pl
import pytest

from amazon_assets.analytics.features import features_asin_daily
from amazon_assets.analytics.score import score_baseline_daily
from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from amazon_assets.defs.ml.assets import (
    EVALUATION_KEY,
    FEATURES_KEY,
    MART_KEY,
    RANKER_KEY,
    SCORE_KEY,
    build_ml_definitions,
)
from amazon_assets.defs.ml.commands import demo_days
from amazon_assets.ml.labels import LabelConfig
from amazon_assets.ml.predictions import export_key
from amazon_assets.resources.lake import LakeIOManager, LocalLake
from amazon_assets.resources.warehouse import DuckDBWarehouseIOManager


def upstream(partitions: dg.PartitionsDefinition, mart: pl.DataFrame) -> list[dg.AssetsDefinition]:
    """Stand-ins for the analytics assets, with their keys, serving slices of a prepared mart."""
    features = features_asin_daily(mart.lazy()).collect()
    score = score_baseline_daily(features.lazy()).collect()
    frames = {MART_KEY: mart, FEATURES_KEY: features, SCORE_KEY: score}

    def make(key: dg.AssetKey) -> dg.AssetsDefinition:
        @dg.asset(
            key=key,
            partitions_def=partitions,
            io_manager_key="mart_io_manager",
            metadata={"partition_expr": "report_date"},
            backfill_policy=dg.BackfillPolicy.single_run(),
        )
        def table(context: dg.AssetExecutionContext) -> pl.DataFrame:
            window = context.partition_time_window
            first, last = window.start.date(), window.end.date() - timedelta(days=1)
            return frames[key].filter(pl.col("report_date").is_between(first, last))

        return table

    return [make(key) for key in frames]


@pytest.mark.slow
def test_demo_sized_ml_path_through_the_assets(small_mart: pl.DataFrame, marketplace, tmp_path):
    """What `amazon-assets demo` runs: labels for the demo's labelled days, tuning, ranker,
    evaluation, then predictions for the last day (and for one more, as `predict` would)."""
    first, last = small_mart["report_date"].min(), small_mart["report_date"].max()
    label_config = LabelConfig()
    h = label_config.horizon_days
    first_mart_day, first_label, last_label = demo_days(last, label_config)
    assert first_mart_day >= first, "the shared mart holds the demo's history"
    partitions = dg.DailyPartitionsDefinition(start_date=first.isoformat(), end_offset=1)
    account = marketplace.accounts[0]
    ml = build_ml_definitions(
        partitions,
        study_storage_url=f"sqlite:///{tmp_path / 'optuna.sqlite'}",
        label_config=label_config,
        take_offs=lambda: marketplace.products(account).select("account", "asin", "take_off_date"),
    )
    database = str(tmp_path / "warehouse.duckdb")
    resources = {
        "mart_io_manager": DuckDBWarehouseIOManager(database=database),
        "lake_io_manager": LakeIOManager(root=str(tmp_path / "lake")),
    }
    assets = [*upstream(partitions, small_mart), *ml.assets]  # type: ignore[misc]
    instance = dg.DagsterInstance.ephemeral()

    def run(
        selection: list[str], start: date, end: date | None = None, **kwargs
    ) -> dg.ExecuteInProcessResult:
        tags = {
            ASSET_PARTITION_RANGE_START_TAG: start.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: (end or start).isoformat(),
        }
        return dg.materialize(
            assets,
            selection=selection,
            resources=resources,
            instance=instance,
            tags=tags if end else None,
            partition_key=None if end else start.isoformat(),
            raise_on_error=False,
            **kwargs,
        )

    assert run(
        ["mart/mart_asin_daily", "features/features_asin_daily", "features/score_baseline_daily"],
        first,
        last,
    ).success
    # The last H days have no future yet: labelling them fails with a clear message.
    too_new = run(["ml/labels"], last - timedelta(days=h - 1))
    assert not too_new.success
    # One day alone reads its whole history window: its label is there, as in a range.
    one_day = run(["ml/labels"], first_label)
    assert one_day.success
    one_day_rows = one_day.asset_materializations_for_node("ml__labels")[0].metadata["rows"]
    assert one_day_rows.value > 100
    assert run(["ml/labels"], first_label, last_label).success
    tuned = dg.materialize(
        assets,
        selection=["ml/ranker_tuning"],
        resources=resources,
        instance=instance,
        run_config={"ops": {"ml__ranker_tuning": {"config": {"trials": 2, "num_boost_round": 20}}}},
    )
    assert tuned.success
    trained = dg.materialize(
        assets,
        selection=["ml/ranker", "ml/ranker_evaluation"],
        resources=resources,
        instance=instance,
    )
    assert trained.success
    metadata = trained.asset_materializations_for_node("ml__ranker_evaluation")[0].metadata
    for name in ("ranker", "baseline", "random"):
        assert 0.0 <= metadata[f"{name}_ndcg_at_20"].value <= 1.0
    ranker_metadata = trained.asset_materializations_for_node("ml__ranker")[0].metadata
    assert ranker_metadata["trained_days"].value["train"][0] == first_label.isoformat()
    assert ranker_metadata["trained_days"].value["test"][1] == last_label.isoformat()
    assert ranker_metadata["label_definition"].value["history_days"] == 30
    table = metadata["table"].value
    assert "| LightGBM ranker |" in table and "take-off recall@10" in table
    for name in ("ranker", "baseline", "random"):
        low = metadata[f"{name}_ndcg_at_20_low"].value
        high = metadata[f"{name}_ndcg_at_20_high"].value
        assert low <= metadata[f"{name}_ndcg_at_20"].value <= high
    assert instance.get_latest_materialization_event(RANKER_KEY) is not None
    assert instance.get_latest_materialization_event(EVALUATION_KEY) is not None

    assert run(["ml/predictions_daily"], last).success
    assert run(["ml/predictions_daily"], last - timedelta(days=1)).success
    with duckdb.connect(database, read_only=True) as conn:
        rows = conn.execute(
            "select report_date, count(*), min(category_rank), count(distinct model_version) "
            "from ml.predictions_daily group by 1"
        ).fetchall()
    assert {day for day, *_ in rows} == {last - timedelta(days=1), last}
    assert all(count > 100 and best == 1 and versions == 1 for _, count, best, versions in rows)
    assert LocalLake(tmp_path / "lake").exists(export_key(last))


def test_sandbox_take_offs_are_read_over_http(sandbox) -> None:
    from amazon_assets.defs.ml.assets import sandbox_take_offs

    frame = sandbox_take_offs(sandbox.url)()
    expected = sorted(sandbox.marketplace.take_offs("default"))
    assert frame.columns == ["account", "asin", "take_off_date"]
    assert sorted(zip(frame["asin"], frame["take_off_date"], strict=True)) == expected
    assert set(frame["account"]) == {"default"}


def test_take_offs_are_optional_when_no_sandbox_answers(free_port: int) -> None:
    from amazon_assets.defs.ml.assets import sandbox_take_offs

    assert sandbox_take_offs(f"http://127.0.0.1:{free_port}")() is None
