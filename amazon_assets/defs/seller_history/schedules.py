"""The daily seller-history refresh: one run per account over the longest source lookback."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from amazon_assets.defs.seller_history.assets import MODE_TAG, REFRESH
from amazon_assets.partitions import ACCOUNTS, partition_key
from amazon_assets.sources.planner import LOOKBACK_DAYS

SELLER_HISTORY_JOB = "seller_history_job"
# The run spans the longest lookback so each source's silver re-derives every day it re-fetched.
REFRESH_DAYS = max(days for days in LOOKBACK_DAYS.values())


def build_seller_history_schedule(
    job: dg.UnresolvedAssetJobDefinition, daily: dg.TimeWindowPartitionsDefinition
) -> dg.ScheduleDefinition:
    """Every morning (UTC), per account: each source re-fetches its own lookback."""

    @dg.schedule(
        job=job,
        cron_schedule="30 7 * * *",
        execution_timezone="UTC",
        name="seller_history_daily",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def seller_history_daily(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        last = (context.scheduled_execution_time - timedelta(days=1)).date()
        first = max(last - timedelta(days=REFRESH_DAYS - 1), daily.start.date())
        accounts = context.instance.get_dynamic_partitions(ACCOUNTS.name)
        return [
            dg.RunRequest(
                run_key=f"seller_history_{account}_{last.isoformat()}",
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: partition_key(account, first),
                    ASSET_PARTITION_RANGE_END_TAG: partition_key(account, last),
                    MODE_TAG: REFRESH,
                },
            )
            for account in accounts
        ]

    return seller_history_daily
