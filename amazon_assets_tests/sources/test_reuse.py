"""Which earlier fetches a run may reuse: its own, and the last hour's unless scheduled."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from amazon_assets.settings import Settings
from amazon_assets.sources.reuse import ROOT_RUN_TAG, recent_since, reuse_since, run_reuse_since

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


def test_a_run_started_by_hand_reuses_the_last_minutes() -> None:
    started = NOW - timedelta(minutes=2)
    assert reuse_since(started, {}, 10.0, NOW) == NOW - timedelta(minutes=10)
    long_ago = NOW - timedelta(hours=3)  # a step retried late in a long run: its own fetches
    assert reuse_since(long_ago, {}, 10.0, NOW) == long_ago


def test_a_scheduled_or_sensor_run_reuses_only_its_own_fetches() -> None:
    started = NOW - timedelta(minutes=2)
    for tag in ("dagster/schedule_name", "dagster/sensor_name"):
        assert reuse_since(started, {tag: "daily_refresh"}, 10.0, NOW) == started


def test_reuse_minutes_comes_from_the_environment(amazon_home) -> None:
    assert Settings.from_env().reuse_minutes == 60.0
    settings = Settings.from_env(
        {"AMAZON_ASSETS_HOME": str(amazon_home), "AMAZON_ASSETS_REUSE_MINUTES": "2.5"}
    )
    assert settings.reuse_minutes == 2.5


def test_a_call_outside_any_run_reuses_the_last_minutes() -> None:
    before = datetime.now(UTC)
    since = recent_since(60.0)
    assert before - timedelta(minutes=60) <= since <= datetime.now(UTC) - timedelta(minutes=60)


def test_a_retried_scheduled_run_reuses_what_its_root_run_fetched() -> None:
    """Through a real Dagster instance: run_retries re-executes a failed scheduled run with the
    schedule's tags and the root run's id; it reuses since the root run's start, not its own."""
    seen: list[datetime] = []

    @dg.asset
    def fetches(context: dg.AssetExecutionContext) -> None:
        seen.append(run_reuse_since(context, 60.0))

    scheduled = {"dagster/schedule_name": "daily_refresh"}
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.materialize([fetches], instance=instance, tags=scheduled)
        retry = dg.materialize(
            [fetches], instance=instance, tags={**scheduled, ROOT_RUN_TAG: first.run_id}
        )
        starts = {
            run.run_id: datetime.fromtimestamp(
                instance.get_run_record_by_id(run.run_id).start_time, UTC
            )
            for run in (first, retry)
        }
    assert seen == [starts[first.run_id], starts[first.run_id]]
    assert starts[retry.run_id] > starts[first.run_id]  # the retry's own start is later
