"""The product-signals domain as one Definitions object (no resources: the code location adds them).

Resources it needs: `sp_api` (SpApiResource), `reviews` (ApifyDatasetReviews), `warehouse`
(WarehouseResource), `lake_io_manager` and `warehouse_io_manager`.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from amazon_assets.defs.business_reports.schedules import refresh_window_tags
from amazon_assets.defs.product_signals.assets import build_product_signal_assets

PRODUCT_SIGNALS_JOB = "product_signals_job"


def build_product_signals_definitions(
    partitions: dg.PartitionsDefinition, dataset: str, lake_kind: str, warehouse_kind: str
) -> dg.Definitions:
    """Tracked ASINs, bronze signal documents, silver snapshots, their job and daily schedule."""
    tracked, bronze, silver = build_product_signal_assets(
        partitions, dataset, lake_kind, warehouse_kind
    )
    job = dg.define_asset_job(
        PRODUCT_SIGNALS_JOB,
        selection=dg.AssetSelection.assets(bronze, silver),
        partitions_def=partitions,
        description="Product signals of tracked ASINs: bronze documents then silver snapshots.",
    )

    @dg.schedule(
        job=job,
        cron_schedule="30 7 * * *",
        execution_timezone="UTC",
        name="product_signals_daily",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def product_signals_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Every morning (UTC) the current state is stored as yesterday's snapshot."""
        yesterday = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(
            run_key=f"product_signals_{yesterday}", tags=refresh_window_tags(yesterday, 1)
        )

    return dg.Definitions(
        assets=[tracked, bronze, silver], jobs=[job], schedules=[product_signals_daily]
    )
