"""The business-reports domain as one Definitions object (no resources: the code location adds them).

Resources it needs: `sp_api` (SpApiResource), `lake` (LakeResource) and `warehouse_io_manager`.
"""

from __future__ import annotations

import dagster as dg

from amazon_assets.defs.business_reports.assets import build_business_report_assets
from amazon_assets.defs.business_reports.commands import BUSINESS_REPORTS_JOB
from amazon_assets.defs.business_reports.sensors import build_history_sensor
from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS
from amazon_assets.partitions import account_day_partitions
from amazon_assets.schedules import build_daily_refresh_schedule


def build_business_reports_definitions(
    partitions: dg.TimeWindowPartitionsDefinition,
    lake_kind: str,
    warehouse_kind: str,
) -> dg.Definitions:
    """Bronze documents, silver facts and their checks, the job, its daily schedule and the
    history sensor (`sensors.py`), on (account, day) partitions."""
    account_days = account_day_partitions(partitions)
    assets = build_business_report_assets(account_days, lake_kind, warehouse_kind)
    job = dg.define_asset_job(
        BUSINESS_REPORTS_JOB,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=account_days,
        description="Business reports: bronze documents then silver facts, for an account's "
        "range of days.",
    )
    return dg.Definitions(
        assets=assets,
        jobs=[job],
        schedules=[
            build_daily_refresh_schedule(
                job,
                name="business_reports_daily",
                cron_schedule="0 7 * * *",
                days=BUSINESS_REPORTS.lookback_days,
                first_partition=partitions.start.date(),
                per_account=True,
                description="Every morning (UTC), one run per account refreshes the 7 days "
                "ending yesterday (Amazon restates them).",
            )
        ],
        sensors=[
            build_history_sensor(
                [key for asset in assets for key in asset.keys],
                account_days,
                partitions.start.date(),
            )
        ],
    )
