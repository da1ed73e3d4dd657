"""Daily refresh schedules: each morning one run re-pulls the days Amazon may still restate."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import dagster as dg

from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from amazon_assets.partitions import ACCOUNTS, partition_key

NO_ACCOUNTS = "No seller account is registered: `amazon-assets accounts add NAME` registers one."


def refresh_window_tags(
    last_day: date, days: int, first_partition: date | None = None, account: str | None = None
) -> dict[str, str]:
    """Run tags making one run cover the `days` days ending `last_day` (not before the first),
    of one seller account's (account, day) partitions when `account` is given."""
    first_day = last_day - timedelta(days=days - 1)
    if first_partition is not None:
        first_day = max(first_day, first_partition)

    def key(day: date) -> str:
        return day.isoformat() if account is None else partition_key(account, day)

    return {
        ASSET_PARTITION_RANGE_START_TAG: key(first_day),
        ASSET_PARTITION_RANGE_END_TAG: key(last_day),
    }


def build_daily_refresh_schedule(
    job: dg.UnresolvedAssetJobDefinition,
    *,
    name: str,
    cron_schedule: str,
    days: int,
    first_partition: date | None = None,
    description: str | None = None,
    per_account: bool = False,
    tags: Mapping[str, str] | None = None,
) -> dg.ScheduleDefinition:
    """At `cron_schedule` (UTC), one run of `job` over the `days` days ending yesterday; with
    `per_account`, one such run per registered seller account (a job on account x day)."""

    @dg.schedule(
        job=job,
        cron_schedule=cron_schedule,
        execution_timezone="UTC",
        name=name,
        description=description,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def refresh(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
        yesterday = (context.scheduled_execution_time - timedelta(days=1)).date()
        if not per_account:
            window = refresh_window_tags(yesterday, days, first_partition)
            return [dg.RunRequest(run_key=f"{name}_{yesterday}", tags={**window, **(tags or {})})]
        accounts = context.instance.get_dynamic_partitions(ACCOUNTS.name)
        return [
            dg.RunRequest(
                run_key=f"{name}_{account}_{yesterday}",
                tags={
                    **refresh_window_tags(yesterday, days, first_partition, account),
                    **(tags or {}),
                },
            )
            for account in accounts
        ] or dg.SkipReason(NO_ACCOUNTS)

    return refresh
