"""Onboarding: a newly registered seller account gets its 18-month backfill, launched once."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey

from amazon_assets.defs.seller_history.assets import BACKFILL, MODE_TAG
from amazon_assets.partitions import ACCOUNTS, partition_key

ONBOARDING_SENSOR = "seller_account_onboarding"


def _day(key: str) -> date:
    return date.fromisoformat(key)


def build_onboarding_sensor(
    assets: list[dg.AssetsDefinition], daily: dg.TimeWindowPartitionsDefinition
) -> dg.SensorDefinition:
    """Launch an asset backfill of every seller-history asset for each account not seen before.

    The backfill shows on the UI's backfill page with its progress; with single-run backfill
    policies it runs as one run per step (bronze, then each silver table), not one per day.
    """
    keys = [key for definition in assets for key in definition.keys]

    @dg.sensor(
        name=ONBOARDING_SENSOR,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="A new seller account (amazon-assets accounts add) -> its 18-month backfill.",
    )
    def seller_account_onboarding(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        accounts = context.instance.get_dynamic_partitions(ACCOUNTS.name)
        new = [account for account in accounts if account not in seen]
        requests = []
        days = daily.get_partition_keys()
        for account in new:
            partitions = [partition_key(account, _day(day)) for day in days]
            subset = AssetGraphSubset.from_asset_partition_set(
                {AssetKeyPartitionKey(key, p) for key in keys for p in partitions},
                context.repository_def.asset_graph,
            )
            requests.append(dg.RunRequest.for_asset_graph_subset(subset, tags={MODE_TAG: BACKFILL}))
            context.log.info(f"{account}: backfilling {days[0]}..{days[-1]} ({len(days)} days)")
        return dg.SensorResult(
            run_requests=requests, cursor=json.dumps(sorted(seen | set(accounts)))
        )

    return seller_account_onboarding
