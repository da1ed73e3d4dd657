"""The business-reports domain as one Definitions object (no resources: the code location adds them).

Resources it needs: `sp_api` (SpApiResource), `lake_io_manager` and `warehouse_io_manager`.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from amazon_assets.defs.business_reports.assets import build_business_report_assets
from amazon_assets.defs.business_reports.checks import SILVER_TABLE
from amazon_assets.defs.business_reports.commands import BUSINESS_REPORTS_JOB
from amazon_assets.schedules import build_daily_refresh_schedule

# Silver business reports must have landed within the last 30 hours: the schedule runs daily.
SILVER_FRESHNESS = timedelta(hours=30)
# Amazon restates sales and traffic for days after the fact (about a week to settle).
REFRESH_DAYS = 7


def build_business_reports_definitions(
    partitions: dg.PartitionsDefinition, dataset: str, lake_kind: str, warehouse_kind: str
) -> dg.Definitions:
    """Bronze documents, silver facts and their checks, the job and its daily schedule."""
    assets = build_business_report_assets(partitions, dataset, lake_kind, warehouse_kind)
    job = dg.define_asset_job(
        BUSINESS_REPORTS_JOB,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=partitions,
        description="Business reports: bronze documents then silver facts, for a range of days.",
    )
    freshness_checks = dg.build_last_update_freshness_checks(
        assets=[dg.AssetKey([dataset, SILVER_TABLE])], lower_bound_delta=SILVER_FRESHNESS
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=freshness_checks,
        jobs=[job],
        schedules=[
            build_daily_refresh_schedule(
                job,
                name="business_reports_daily",
                cron_schedule="0 7 * * *",
                days=REFRESH_DAYS,
                description="Every morning (UTC), one run refreshes the 7 days ending yesterday.",
            )
        ],
        sensors=[
            dg.build_sensor_for_freshness_checks(
                freshness_checks=freshness_checks, name="business_reports_freshness_sensor"
            )
        ],
    )
