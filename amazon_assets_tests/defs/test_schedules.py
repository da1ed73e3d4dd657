"""The daily schedule refreshes the 7 days ending yesterday, in one run."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
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
