"""The code location's automation: what each layer's condition requests, tick by tick.

Evaluated with Dagster's own evaluator on the real definitions; upstream updates are recorded
in the instance as materializations (the conditions read nothing else), and a source "being
written" is a started run that planned its partition, as Dagster records it.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent, DagsterEventType
from dagster._core.test_utils import create_run_for_test

from amazon_assets.automation import AUTOMATION_SENSOR, FRESHNESS_SENSOR
from amazon_assets.definitions import build_definitions
from amazon_assets.onboarding import ONBOARDING_SENSOR
from amazon_assets.partitions import partition_key, register_account
from amazon_assets.settings import DEFAULT_ACCOUNT, ConfigError, Settings

NOW = datetime.now(UTC)
YESTERDAY = NOW.date() - timedelta(days=1)
START = YESTERDAY - timedelta(days=40)
BUSINESS_REPORTS = dg.AssetKey(["silver", "fact_business_reports_us"])
SNAPSHOT = dg.AssetKey(["silver", "fact_product_snapshot"])
MART = dg.AssetKey(["mart", "mart_asin_daily"])
FOLLOWERS = [
    dg.AssetKey(["mart", "data_quality_daily"]),
    dg.AssetKey(["features", "features_asin_daily"]),
    dg.AssetKey(["features", "score_baseline_daily"]),
    dg.AssetKey(["features", "alerts"]),
    dg.AssetKey(["features", "competitor_comparison_daily"]),
]
FEATURES = dg.AssetKey(["features", "features_asin_daily"])
LABELS = dg.AssetKey(["ml", "labels"])
RANKER = dg.AssetKey(["ml", "ranker"])
EVALUATION = dg.AssetKey(["ml", "ranker_evaluation"])
PREDICTIONS = dg.AssetKey(["ml", "predictions_daily"])


@pytest.fixture
def defs(amazon_home: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    monkeypatch.setenv("AMAZON_ASSETS_START_DATE", START.isoformat())
    monkeypatch.setenv("AMAZON_ASSETS_RANKER_RETRAIN_CRON", "0 6 * * *")
    return build_definitions(Settings.from_env())


def days(first: date, last: date) -> set[str]:
    return {(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}


def of_default(days: list[str]) -> list[str]:
    """The default account's (account, day) partitions of `days`."""
    return [partition_key(DEFAULT_ACCOUNT, date.fromisoformat(day)) for day in days]


def materialized(instance: dg.DagsterInstance, key: dg.AssetKey, *partitions: str) -> None:
    for partition in partitions or (None,):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))


class Ticks:
    """Successive evaluations of every automation condition, as the sensor's ticks."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance, self.cursor = defs, instance, None

    def __call__(self, at: datetime | None = None) -> dg.EvaluateAutomationConditionsResult:
        result = dg.evaluate_automation_conditions(
            self.defs, self.instance, evaluation_time=at, cursor=self.cursor
        )
        self.cursor = result.cursor
        return result


def test_the_code_location_loads_with_its_sensors_on_and_no_mart_schedule(defs) -> None:
    dg.Definitions.validate_loadable(defs)
    repository = defs.get_repository_def()
    sensors = {sensor.name: sensor for sensor in repository.sensor_defs}
    for name in (AUTOMATION_SENSOR, FRESHNESS_SENSOR, ONBOARDING_SENSOR):
        assert sensors[name].default_status == dg.DefaultSensorStatus.RUNNING
    assert "mart_daily" not in {schedule.name for schedule in repository.schedule_defs}
    checked = {
        check.asset_key
        for check in repository.asset_checks_defs_by_key
        if check.name == "freshness_check"
    }
    assert {BUSINESS_REPORTS, SNAPSHOT, MART, *FOLLOWERS, PREDICTIONS} <= checked
    assert dg.AssetKey(["silver", "fact_orders"]) in checked
    assert not any(key.path[0] == "bronze" for key in checked)


def test_a_retrain_cron_that_is_not_one_fails_naming_the_variable(
    amazon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMAZON_ASSETS_RANKER_RETRAIN_CRON", "every monday")
    with pytest.raises(ConfigError, match="AMAZON_ASSETS_RANKER_RETRAIN_CRON"):
        Settings.from_env()


def test_the_mart_waits_for_its_sources_then_the_layers_follow(defs) -> None:
    recent = sorted(days(YESTERDAY - timedelta(days=2), YESTERDAY))
    with dg.DagsterInstance.get() as instance:
        tick = Ticks(defs, instance)
        assert tick().total_requested == 0  # opening the UI on a home starts nothing

        register_account(instance, DEFAULT_ACCOUNT)
        register_account(instance, "acme")  # connected later: no sales and traffic yet
        materialized(instance, SNAPSHOT, *of_default(recent))
        assert tick().total_requested == 0  # no business reports for those days yet

        materialized(instance, BUSINESS_REPORTS, *of_default(recent))
        result = tick()
        assert result.get_requested_partitions(MART) == set(recent)
        for key in FOLLOWERS:
            assert result.get_requested_partitions(key) == set(recent), key
        # The labels whose 14-day future reaches the rewritten days; no prediction without a
        # ranker, which waits for its cron.
        assert result.get_requested_partitions(LABELS) == days(
            YESTERDAY - timedelta(days=16), YESTERDAY - timedelta(days=14)
        )
        for key in (PREDICTIONS, RANKER, EVALUATION):
            assert result.get_num_requested(key) == 0, key
        assert tick().total_requested == 0  # handled: requested once

        # The day's business reports are being written: a new snapshot does not start the mart.
        run = create_run_for_test(
            instance, job_name="business_reports_job", status=dg.DagsterRunStatus.STARTED
        )
        planned = DagsterEvent.build_asset_materialization_planned_event(
            "business_reports_job",
            "business_reports",
            AssetMaterializationPlannedData(BUSINESS_REPORTS, partition=of_default(recent)[-1]),
        )
        instance.report_dagster_event(planned, run.run_id, logging.DEBUG)
        materialized(instance, SNAPSHOT, of_default(recent)[-1])
        assert tick().get_num_requested(MART) == 0

        # ... and once they land, the mart rebuilds that day.
        materialized(instance, BUSINESS_REPORTS, of_default(recent)[-1])
        instance.report_dagster_event(
            DagsterEvent(DagsterEventType.RUN_SUCCESS.value, "business_reports_job"),
            run.run_id,
            logging.DEBUG,
        )
        assert tick().get_requested_partitions(MART) == {recent[-1]}


def test_labels_follow_the_mart_days_whose_horizon_has_passed(defs) -> None:
    with dg.DagsterInstance.get() as instance:
        tick = Ticks(defs, instance)
        tick()
        rewritten = YESTERDAY - timedelta(days=20)
        materialized(instance, MART, rewritten.isoformat())
        requested = tick().get_requested_partitions(LABELS)
    # Day D's label reads the mart over [D - 13, D + 14]; only days 14+ days old are labelled.
    assert requested == days(rewritten - timedelta(days=14), YESTERDAY - timedelta(days=14))


def test_the_ranker_retrains_on_its_cron_once_inputs_updated_and_predictions_follow(
    defs,
) -> None:
    morning = datetime.combine(NOW.date() + timedelta(days=1), datetime.min.time(), UTC)
    today = NOW.date().isoformat()  # the newest partition at that evaluation time
    with dg.DagsterInstance.get() as instance:
        tick = Ticks(defs, instance)
        tick(morning + timedelta(hours=5))
        # The 06:00 tick passed, but no labels or features since: nothing to learn from.
        assert tick(morning + timedelta(hours=6, minutes=30)).get_num_requested(RANKER) == 0

        materialized(instance, LABELS, (YESTERDAY - timedelta(days=20)).isoformat())
        materialized(instance, FEATURES, today)
        result = tick(morning + timedelta(hours=6, minutes=40))
        assert result.get_num_requested(RANKER) == 1
        assert result.get_num_requested(EVALUATION) == 1
        assert tick(morning + timedelta(hours=6, minutes=50)).get_num_requested(RANKER) == 0

        # A new ranker is evaluated; a new features day is predicted.
        materialized(instance, RANKER)
        materialized(instance, dg.AssetKey(["mart", "mart_asin_daily"]), today)
        materialized(instance, FEATURES, today)
        result = tick(morning + timedelta(hours=7))
        assert result.get_num_requested(EVALUATION) == 1
        assert result.get_requested_partitions(PREDICTIONS) == {today}
