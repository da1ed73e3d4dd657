"""Onboarding: a newly registered seller account gets its history backfill, launched once.

The sensor targets the seller-history assets (`asset_selection`), which is what lets the daemon
turn its requests into asset backfills (one per new account, on the UI's backfill page).

An account the sensor has not seen yet is backfilled unless it already has seller history in
the instance (`make demo`, `amazon-assets ingest ...` or `backfill` wrote some): such an account
counts as onboarded, so opening the UI on an existing home never starts an 18-month backfill by
surprise. `amazon-assets backfill --account NAME` loads its full history when wanted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset

from amazon_assets.defs.seller_history.assets import BACKFILL, MODE_TAG
from amazon_assets.partitions import ACCOUNTS, account_of

ONBOARDING_SENSOR = "seller_account_onboarding"


def accounts_with_history(
    instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey], accounts: Sequence[str]
) -> set[str]:
    """The accounts among `accounts` with a materialized (account, day) partition of any of
    `keys` in the instance."""
    found: set[str] = set()
    for key in keys:
        found |= {account_of(p) for p in instance.get_materialized_partitions(key)}
        if found >= set(accounts):
            break
    return found & set(accounts)


def build_onboarding_sensor(
    assets: list[dg.AssetsDefinition], account_days: dg.MultiPartitionsDefinition
) -> dg.SensorDefinition:
    """Launch an asset backfill of every seller-history asset for each account not seen before.

    The backfill shows on the UI's backfill page with its progress; with single-run backfill
    policies it runs as one run per step (bronze, then each silver table), not one per day.
    """
    keys = [key for definition in assets for key in definition.keys]

    @dg.sensor(
        name=ONBOARDING_SENSOR,
        asset_selection=dg.AssetSelection.assets(*keys),
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="A new seller account (amazon-assets accounts add) -> its history backfill; "
        "accounts that already have seller history count as onboarded.",
    )
    def seller_account_onboarding(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        accounts = context.instance.get_dynamic_partitions(ACCOUNTS.name)
        new = [account for account in accounts if account not in seen]
        if not new:
            return dg.SensorResult(skip_reason="No new seller account.")
        loaded = accounts_with_history(context.instance, keys, new)
        days = account_days.get_partitions_def_for_dimension("day").get_partition_keys()
        requests = []
        for account in new:
            if account in loaded:
                context.log.info(f"{account}: has seller history already; counted as onboarded")
                continue
            partitions = account_days.empty_subset().with_partition_keys(
                str(dg.MultiPartitionKey({"account": account, "day": day})) for day in days
            )
            subset = AssetGraphSubset(
                partitions_subsets_by_asset_key=dict.fromkeys(keys, partitions)
            )
            requests.append(dg.RunRequest.for_asset_graph_subset(subset, tags={MODE_TAG: BACKFILL}))
            context.log.info(f"{account}: backfilling {days[0]}..{days[-1]} ({len(days)} days)")
        return dg.SensorResult(
            run_requests=requests, cursor=json.dumps(sorted(seen | set(accounts)))
        )

    return seller_account_onboarding
