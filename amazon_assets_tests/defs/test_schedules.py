"""The daily schedule refreshes the 7 days ending yesterday, in one run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from amazon_assets.partitions import ACCOUNTS
from amazon_assets.schedules import build_daily_refresh_schedule


def test_schedule_requests_the_week_ending_yesterday() -> None:
    job = dg.define_asset_job("business_reports_job")
    schedule = build_daily_refresh_schedule(
        job, name="business_reports_daily", cron_schedule="0 7 * * *", days=7
    )
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 2, 7, tzinfo=UTC)
    )
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-02-23"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2026-03-01"
    assert request.run_key == "business_reports_daily_2026-03-01"


def test_per_account_schedule_runs_each_registered_account_over_its_own_days(
    amazon_home: Path,
) -> None:
    job = dg.define_asset_job("seller_history_job")
    schedule = build_daily_refresh_schedule(
        job,
        name="seller_history_daily",
        cron_schedule="30 7 * * *",
        days=30,
        first_partition=datetime(2026, 2, 10).date(),
        per_account=True,
        tags={"amazon_assets/seller_history_mode": "refresh"},
    )
    moment = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)

    def tick() -> dg.ScheduleExecutionData:
        with (
            dg.DagsterInstance.get() as instance,
            dg.build_schedule_context(
                instance=instance, scheduled_execution_time=moment
            ) as context,
        ):
            return schedule.evaluate_tick(context)

    nobody = tick()
    assert not nobody.run_requests and "accounts add" in (nobody.skip_message or "")
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(ACCOUNTS.name, ["default", "eu"])
    requests = tick().run_requests or []
    assert [r.run_key for r in requests] == [
        "seller_history_daily_default_2026-03-01",
        "seller_history_daily_eu_2026-03-01",
    ]
    for account, request in zip(["default", "eu"], requests, strict=True):
        # 30 days back would be 2026-01-31: the window starts at the first partition instead.
        assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == f"{account}|2026-02-10"
        assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == f"{account}|2026-03-01"
        assert request.tags["amazon_assets/seller_history_mode"] == "refresh"
