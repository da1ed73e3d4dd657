"""Daily refresh schedules: each morning one run re-pulls the days Amazon may still restate."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG


def refresh_window_tags(
    last_day: date, days: int, first_partition: date | None = None
) -> dict[str, str]:
    """Run tags making one run cover the `days` days ending `last_day` (not before the first)."""
    first_day = last_day - timedelta(days=days - 1)
    if first_partition is not None:
        first_day = max(first_day, first_partition)
    return {
        ASSET_PARTITION_RANGE_START_TAG: first_day.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: last_day.isoformat(),
    }


def build_daily_refresh_schedule(
    job: dg.UnresolvedAssetJobDefinition,
    *,
    name: str,
    cron_schedule: str,
    days: int,
    first_partition: date | None = None,
    description: str | None = None,
) -> dg.ScheduleDefinition:
    """At `cron_schedule` (UTC), one run of `job` over the `days` days ending yesterday."""

    @dg.schedule(
        job=job,
        cron_schedule=cron_schedule,
        execution_timezone="UTC",
        name=name,
        description=description,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        yesterday = (context.scheduled_execution_time - timedelta(days=1)).date()
        return dg.RunRequest(
            run_key=f"{name}_{yesterday.isoformat()}",
            tags=refresh_window_tags(yesterday, days, first_partition),
        )

    return refresh
