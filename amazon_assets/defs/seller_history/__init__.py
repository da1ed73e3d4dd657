"""Seller history: seven SP-API sources per seller account, backfilled 18 months and kept fresh."""

from __future__ import annotations

import dagster as dg

from amazon_assets.asset_keys import silver_key
from amazon_assets.defs.seller_history.assets import SOURCE_NAMES, build_seller_history_assets
from amazon_assets.defs.seller_history.schedules import (
    SELLER_HISTORY_JOB,
    build_seller_history_schedule,
)
from amazon_assets.defs.seller_history.spec import SETTLEMENT_SUMMARIES_TABLE, SETTLEMENTS, SPECS
from amazon_assets.partitions import account_day_partitions
from amazon_assets.settings import Settings


def source_job_name(source: str) -> str:
    """The job `amazon-assets ingest <source>` runs: that source's bronze and silver."""
    return f"seller_history_{source}_job"


def source_asset_keys(source: str) -> list[dg.AssetKey]:
    """A source's assets: its bronze documents, its silver facts and quarantine (and the
    settlement summaries for settlements)."""
    spec = SPECS[source]
    keys = [spec.bronze_key, spec.silver_key, spec.quarantine_key]
    if spec is SETTLEMENTS:
        keys.append(silver_key(SETTLEMENT_SUMMARIES_TABLE))
    return keys


def build_seller_history_definitions(
    settings: Settings, partitions: dg.TimeWindowPartitionsDefinition
) -> dg.Definitions:
    """Assets, checks, jobs and the daily schedule (no resources; a new account's backfill is
    `amazon_assets/onboarding.py`'s)."""
    seller = account_day_partitions(partitions)
    assets = build_seller_history_assets(
        seller,
        lake_kind="gcs" if settings.gcs_bucket else "file",
        warehouse_kind="bigquery" if settings.uses_bigquery else "duckdb",
    )
    job = dg.define_asset_job(
        SELLER_HISTORY_JOB,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=seller,
        description="Seller history: every source's bronze documents, then silver facts.",
    )
    source_jobs = []
    for source in SOURCE_NAMES:
        source_jobs.append(
            dg.define_asset_job(
                source_job_name(source),
                selection=dg.AssetSelection.assets(*source_asset_keys(source)),
                partitions_def=seller,
                description=f"Seller history, {source.replace('_', ' ')} only.",
            )
        )
    return dg.Definitions(
        assets=assets,
        jobs=[job, *source_jobs],
        schedules=[build_seller_history_schedule(job, partitions)],
    )
