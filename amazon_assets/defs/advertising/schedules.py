"""Daily advertising refreshes per seller account: entity snapshots, and the ad reports of a
restatement lookback.

Amazon revises ad metrics for weeks after the day (attribution windows close, invalid clicks are
credited back; reported as up to ~28 days, airbyte issue #18929), so the reports refresh re-pulls
the last `lookback_days` days (default the specs' `lookback_days`, 30;
AMAZON_ASSETS_ADS_LOOKBACK_DAYS). It can never reach beyond the Ads API's 95-day retention, so
older partitions are never requested nor replaced.
Each registered account (`amazon-assets accounts add`) gets its own runs.
"""

from __future__ import annotations

import dagster as dg

from amazon_assets.defs.advertising.spec import ADS_REPORT_RETENTION_DAYS, ADS_REPORTS
from amazon_assets.partitions import ACCOUNTS
from amazon_assets.schedules import NO_ACCOUNTS, build_daily_refresh_schedule

# Every report type restates alike (spec.ADS_REPORTS): one lookback for the reports job.
DEFAULT_LOOKBACK_DAYS = max(spec.lookback_days for spec in ADS_REPORTS.values())
LOOKBACK_VARIABLE = "AMAZON_ASSETS_ADS_LOOKBACK_DAYS"


def check_lookback_days(lookback_days: int) -> int:
    """The lookback, refused with a sentence naming the variable when the API cannot serve it."""
    if not 1 <= lookback_days <= ADS_REPORT_RETENTION_DAYS:
        raise ValueError(
            f"{LOOKBACK_VARIABLE} must be 1..{ADS_REPORT_RETENTION_DAYS} (the Ads API keeps "
            f"{ADS_REPORT_RETENTION_DAYS} days of reports); got {lookback_days}."
        )
    return lookback_days


def build_advertising_schedules(
    entities_job: dg.UnresolvedAssetJobDefinition,
    reports_job: dg.UnresolvedAssetJobDefinition,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> list[dg.ScheduleDefinition]:
    """Entities at 06:00 UTC (so the day's reports join fresh versions), reports at 08:00 UTC."""
    lookback_days = check_lookback_days(lookback_days)
    first_partition = partitions_def.start.date()

    @dg.schedule(
        job=entities_job,
        cron_schedule="0 6 * * *",
        execution_timezone="UTC",
        name="ads_entities_daily",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def ads_entities_daily(
        context: dg.ScheduleEvaluationContext,
    ) -> list[dg.RunRequest] | dg.SkipReason:
        accounts = context.instance.get_dynamic_partitions(ACCOUNTS.name)
        today = f"{context.scheduled_execution_time:%Y-%m-%d}"
        return [
            dg.RunRequest(run_key=f"ads_entities_{account}_{today}", partition_key=account)
            for account in accounts
        ] or dg.SkipReason(NO_ACCOUNTS)

    ads_reports_daily = build_daily_refresh_schedule(
        reports_job,
        name="ads_reports_daily",
        cron_schedule="0 8 * * *",
        days=lookback_days,
        first_partition=first_partition,
        per_account=True,
    )

    return [ads_entities_daily, ads_reports_daily]
