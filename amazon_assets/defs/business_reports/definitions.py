"""The business-reports domain as one Definitions object (no resources: the code location adds them).

Resources it needs: `sp_api` (SpApiResource), `lake_io_manager` and `warehouse_io_manager`.
"""

from __future__ import annotations

import dagster as dg

from amazon_assets.defs.business_reports.assets import build_business_report_assets
from amazon_assets.defs.business_reports.commands import BUSINESS_REPORTS_JOB
from amazon_assets.schedules import build_daily_refresh_schedule

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
    return dg.Definitions(
        assets=assets,
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
    )
