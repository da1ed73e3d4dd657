"""The product-signals domain as one Definitions object (no resources: the code location adds them).

Resources it needs: `sp_api` (SpApiResource), `reviews` (ApifyDatasetReviews), `warehouse`
(WarehouseResource), `lake` (LakeResource) and `warehouse_io_manager`.
"""

from __future__ import annotations

import dagster as dg

from amazon_assets.defs.product_signals.assets import build_product_signal_assets
from amazon_assets.partitions import account_day_partitions
from amazon_assets.schedules import build_daily_refresh_schedule

PRODUCT_SIGNALS_JOB = "product_signals_job"


def build_product_signals_definitions(
    partitions: dg.TimeWindowPartitionsDefinition,
    dataset: str,
    lake_kind: str,
    warehouse_kind: str,
) -> dg.Definitions:
    """Tracked ASINs, bronze signal documents, silver snapshots, their job and daily schedule,
    on (account, day) partitions."""
    account_days = account_day_partitions(partitions)
    tracked, bronze, silver = build_product_signal_assets(
        account_days, dataset, lake_kind, warehouse_kind
    )
    job = dg.define_asset_job(
        PRODUCT_SIGNALS_JOB,
        selection=dg.AssetSelection.assets(bronze, silver),
        partitions_def=account_days,
        description="Product signals of tracked ASINs: bronze documents then silver snapshots.",
    )

    # Amazon serves the current state only: each morning's answer is yesterday's snapshot.
    product_signals_daily = build_daily_refresh_schedule(
        job, name="product_signals_daily", cron_schedule="30 7 * * *", days=1, per_account=True
    )

    return dg.Definitions(
        assets=[tracked, bronze, silver], jobs=[job], schedules=[product_signals_daily]
    )
