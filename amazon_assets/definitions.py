"""The code location: every domain's assets, wired to the resources the environment selects."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from amazon_assets.defs.business_reports.assets import build_business_report_assets
from amazon_assets.defs.business_reports.checks import SILVER_TABLE
from amazon_assets.defs.business_reports.commands import BUSINESS_REPORTS_JOB
from amazon_assets.defs.business_reports.schedules import build_business_reports_schedule
from amazon_assets.partitions import daily_partitions
from amazon_assets.resources.lake import LakeIOManager
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.resources.warehouse import warehouse_from_settings
from amazon_assets.settings import Settings

# Silver business reports must have landed within the last 30 hours: the schedule runs daily.
SILVER_FRESHNESS = timedelta(hours=30)


def lake_io_manager_from_settings(settings: Settings) -> LakeIOManager:
    if settings.gcs_bucket:
        return LakeIOManager(gcs_bucket=settings.gcs_bucket)
    return LakeIOManager(root=str(settings.lake_root))


def build_definitions(settings: Settings) -> dg.Definitions:
    """All assets, checks, jobs, schedules and resources for one environment."""
    partitions = daily_partitions(settings)
    dataset = settings.bigquery_dataset
    warehouse_io_manager, warehouse = warehouse_from_settings(settings)
    business_assets = build_business_report_assets(
        partitions,
        dataset,
        lake_kind="gcs" if settings.gcs_bucket else "file",
        warehouse_kind="bigquery" if settings.uses_bigquery else "duckdb",
    )
    business_job = dg.define_asset_job(
        BUSINESS_REPORTS_JOB,
        selection=dg.AssetSelection.assets(*business_assets),
        partitions_def=partitions,
        description="Business reports: bronze documents then silver facts, for a range of days.",
    )
    freshness_checks = dg.build_last_update_freshness_checks(
        assets=[dg.AssetKey([dataset, SILVER_TABLE])], lower_bound_delta=SILVER_FRESHNESS
    )
    return dg.Definitions(
        assets=business_assets,
        asset_checks=freshness_checks,
        jobs=[business_job],
        schedules=[build_business_reports_schedule(business_job)],
        sensors=[
            dg.build_sensor_for_freshness_checks(
                freshness_checks=freshness_checks, name="freshness_checks_sensor"
            )
        ],
        resources={
            "sp_api": SpApiResource.from_settings(settings),
            "lake_io_manager": lake_io_manager_from_settings(settings),
            "warehouse_io_manager": warehouse_io_manager,
            "warehouse": warehouse,
        },
    )


defs = build_definitions(Settings.from_env())
