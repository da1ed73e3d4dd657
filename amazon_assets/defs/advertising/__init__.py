"""Advertising: Ads API entity history and Sponsored Products daily facts, per seller account."""

from __future__ import annotations

import dagster as dg

from amazon_assets.defs.advertising.assets import build_entity_assets, build_fact_assets
from amazon_assets.defs.advertising.schedules import (
    DEFAULT_LOOKBACK_DAYS,
    build_advertising_schedules,
)
from amazon_assets.partitions import ACCOUNTS, account_day_partitions

ADS_ENTITIES_JOB = "ads_entities_job"
ADS_REPORTS_JOB = "ads_reports_job"


def build_advertising_definitions(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    dataset: str,
    lake_kind: str,
    warehouse_kind: str,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> dg.Definitions:
    """Advertising assets, checks, jobs and schedules; resources come from the code location.

    Entities are partitioned by seller account, reports by account and day (`partitions_def`).
    """
    account_days = account_day_partitions(partitions_def)
    entity_assets = build_entity_assets(ACCOUNTS, dataset, lake_kind, warehouse_kind)
    fact_assets = build_fact_assets(account_days, lake_kind, warehouse_kind)
    entities_job = dg.define_asset_job(
        ADS_ENTITIES_JOB,
        selection=dg.AssetSelection.assets(*entity_assets),
        partitions_def=ACCOUNTS,
        description="Ads entities of one account: a snapshot of profiles, campaigns, ad groups, keywords and targets, merged into history.",
    )
    reports_job = dg.define_asset_job(
        ADS_REPORTS_JOB,
        selection=dg.AssetSelection.assets(*fact_assets),
        partitions_def=account_days,
        description="Ads reports: bronze v3 daily reports then silver facts, for an account and a range of days.",
    )
    return dg.Definitions(
        assets=[*entity_assets, *fact_assets],
        jobs=[entities_job, reports_job],
        schedules=build_advertising_schedules(
            entities_job, reports_job, partitions_def, lookback_days
        ),
    )
