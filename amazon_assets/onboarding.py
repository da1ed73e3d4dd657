"""Onboarding: a newly registered seller account gets every per-account source, launched once.

One asset backfill per new account (`amazon-assets accounts add`, or the accounts API), on the
UI's backfill page, tagged like the accounts API's jobs (`account_jobs.job_tags`, operation
`onboarding`), so `/v1/jobs` lists it and the account's progress follows it. What it covers of
each domain (`OnboardingScope`):
- seller history: the whole partition range (18 months), which Amazon's reports serve;
- business reports: with Data Kiosk on (`AMAZON_ASSETS_DATA_KIOSK=1`), the whole range too (its
  history from a few Data Kiosk queries, the 7-day settling window from 2 SKU reports, its
  newest day and the day leaving it, and Data Kiosk for the days between); without
  it, the settling window only: 7 of the app's 96 GET_SALES_AND_TRAFFIC_REPORT requests a day,
  where the history would take 541 more (5.6 days of the whole app's budget, every other account
  waiting). That history follows day by day, round-robin with every account's, through what the
  budget leaves (`defs/business_reports/sensors.py`);
- product signals: the newest day only, the one state Amazon's catalog and prices describe.

The sensor targets every asset it may backfill (`asset_selection`), which is what lets the
daemon turn its requests into asset backfills. An account the sensor has not seen yet is
onboarded unless it already has data of any of these assets in the instance (`make demo`,
`amazon-assets ingest ...` or `backfill` wrote some): such an account counts as onboarded, so
opening the UI on an existing home never starts an 18-month backfill by surprise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset

from amazon_assets.account_jobs import ONBOARDING, job_tags
from amazon_assets.defs.seller_history.assets import BACKFILL, MODE_TAG
from amazon_assets.partitions import ACCOUNTS, account_of

ONBOARDING_SENSOR = "seller_account_onboarding"


@dataclass(frozen=True)
class OnboardingScope:
    """A domain's share of a new account's backfill: its materializable assets, the sources they
    are (as the accounts API names them, for the backfill's tags) and how many of the newest days
    they get (None: every day of the partition range)."""

    keys: tuple[dg.AssetKey, ...]
    sources: tuple[str, ...]
    newest_days: int | None = None

    @classmethod
    def of(
        cls, definitions: dg.Definitions, sources: Sequence[str], newest_days: int | None = None
    ) -> OnboardingScope:
        """Every materializable asset of a domain's `definitions`, which are `sources`."""
        keys = (
            key
            for assets in definitions.assets or []
            if isinstance(assets, dg.AssetsDefinition) and assets.is_materializable
            for key in assets.keys
        )
        return cls(tuple(keys), tuple(sources), newest_days)

    def days(self, days: Sequence[str]) -> Sequence[str]:
        """The days (oldest first) of the range `days` this scope backfills."""
        return days if self.newest_days is None else days[-self.newest_days :]


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


def onboarding_subset(
    account: str,
    scopes: Sequence[OnboardingScope],
    account_days: dg.MultiPartitionsDefinition,
    days: Sequence[str],
) -> AssetGraphSubset:
    """The (account, day) partitions of each scope's assets a new `account` gets."""
    subsets = {}
    for scope in scopes:
        partitions = account_days.empty_subset().with_partition_keys(
            str(dg.MultiPartitionKey({"account": account, "day": day})) for day in scope.days(days)
        )
        subsets.update(dict.fromkeys(scope.keys, partitions))
    return AssetGraphSubset(partitions_subsets_by_asset_key=subsets)


def build_onboarding_sensor(
    scopes: Sequence[OnboardingScope], account_days: dg.MultiPartitionsDefinition
) -> dg.SensorDefinition:
    """Launch one asset backfill of every scope for each account not seen before.

    With single-run backfill policies it runs as one run per step (each bronze, then each silver
    table), not one per day.
    """
    keys = [key for scope in scopes for key in scope.keys]

    @dg.sensor(
        name=ONBOARDING_SENSOR,
        asset_selection=dg.AssetSelection.assets(*keys),
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="A new seller account (amazon-assets accounts add) -> its backfill of "
        "seller history, business reports and product signals; accounts that already have "
        "data of any of them count as onboarded.",
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
                context.log.info(f"{account}: has data already; counted as onboarded")
                continue
            subset = onboarding_subset(account, scopes, account_days, days)
            first = min(scope.days(days)[0] for scope in scopes)
            sources = [source for scope in scopes for source in scope.sources]
            tags = {MODE_TAG: BACKFILL, **job_tags(account, ONBOARDING, sources, first, days[-1])}
            requests.append(dg.RunRequest.for_asset_graph_subset(subset, tags=tags))
            context.log.info(
                f"{account}: backfilling "
                + "; ".join(
                    f"{len(scope.days(days))} day(s) of {len(scope.keys)} asset(s)"
                    for scope in scopes
                )
            )
        return dg.SensorResult(
            run_requests=requests, cursor=json.dumps(sorted(seen | set(accounts)))
        )

    return seller_account_onboarding
