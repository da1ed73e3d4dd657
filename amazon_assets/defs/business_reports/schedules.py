"""The daily refresh: Amazon restates sales and traffic for days, so each run re-pulls a week."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

REFRESH_DAYS = 7


def refresh_window_tags(last_day_key: str, days: int) -> dict[str, str]:
    """Run tags that make one run cover the `days` partitions ending with `last_day_key`."""
    last_day = date.fromisoformat(last_day_key)
    first_day = last_day - timedelta(days=days - 1)
    return {
        ASSET_PARTITION_RANGE_START_TAG: first_day.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: last_day.isoformat(),
    }


def build_business_reports_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """Every morning (UTC), one run refreshes the 7 days ending yesterday."""

    @dg.schedule(
        job=job,
        cron_schedule="0 7 * * *",
        execution_timezone="UTC",
        name="business_reports_daily",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def business_reports_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        yesterday = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(
            run_key=f"business_reports_{yesterday}",
            tags=refresh_window_tags(yesterday, REFRESH_DAYS),
        )

    return business_reports_daily
