"""Day partitions, and the seller-account dimension crossed with them, shared by every domain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

import dagster as dg

from amazon_assets.settings import Settings

HISTORY_MONTHS = 18


def history_start(today: date, months: int = HISTORY_MONTHS) -> date:
    """The first day of the month `months` before `today`: stable for a whole month."""
    month_index = today.year * 12 + (today.month - 1) - months
    return date(month_index // 12, month_index % 12 + 1, 1)


def daily_partitions(settings: Settings, today: date | None = None) -> dg.DailyPartitionsDefinition:
    """Report days from 18 months back (or AMAZON_ASSETS_START_DATE) through yesterday, UTC."""
    start = settings.start_date or history_start(today or date.today())
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=0)


def partition_days(first: date, last: date) -> list[str]:
    """Partition keys from `first` through `last` inclusive."""
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


# Seller accounts (registered with `amazon-assets accounts add`): a newly connected account is
# backfilled without touching the others.
ACCOUNTS = dg.DynamicPartitionsDefinition(name="accounts")


def register_account(instance: dg.DagsterInstance, name: str) -> bool:
    """Add `name` to the accounts partitions (the onboarding sensor then backfills it); False
    when it was registered already. Names cannot hold '|' or ',' (Dagster's key separators)."""
    if not name or "|" in name or "," in name:
        raise ValueError(f"account names cannot be empty or contain '|' or ','; got {name!r}.")
    if instance.has_dynamic_partition(ACCOUNTS.name, name):
        return False
    instance.add_dynamic_partitions(ACCOUNTS.name, [name])
    return True


def account_day_partitions(daily: dg.PartitionsDefinition) -> dg.MultiPartitionsDefinition:
    """Accounts crossed with report days."""
    return dg.MultiPartitionsDefinition({"account": ACCOUNTS, "day": daily})


def partition_key(account: str, day: date) -> str:
    """The (account, day) partition key as Dagster writes it."""
    return str(dg.MultiPartitionKey({"account": account, "day": day.isoformat()}))


def days_by_account(partition_keys: Sequence[str]) -> dict[str, tuple[date, date]]:
    """The first and last day a run covers per account, from its (account, day) keys."""
    return {
        account: (days[0], days[-1]) for account, days in days_of_accounts(partition_keys).items()
    }


def days_of_accounts(partition_keys: Sequence[str]) -> dict[str, list[date]]:
    """The days a run covers per account, from its (account, day) keys."""
    days: dict[str, list[date]] = defaultdict(list)
    for key in partition_keys:
        multi = key if isinstance(key, dg.MultiPartitionKey) else _parse_key(key)
        dimensions = multi.keys_by_dimension
        days[dimensions["account"]].append(date.fromisoformat(dimensions["day"]))
    return {account: sorted(d) for account, d in sorted(days.items())}


def account_of(key: str) -> str:
    """The account of an (account, day) partition key."""
    return _parse_key(key).keys_by_dimension["account"]


def _parse_key(key: str) -> dg.MultiPartitionKey:
    account, day = key.split("|")
    return dg.MultiPartitionKey({"account": account, "day": day})


# Dagster announces a run's work as one "planned" event per asset and partition before it starts
# (what the UI shows as in-progress and, if the run fails, failed partitions). For a job whose
# days take milliseconds each, storing those events costs more than the work: a job with these
# tags announces one event per asset when a command runs it, and a failed run then records the
# per-partition events of what it did not materialize, so the UI still marks exactly those
# partitions failed (`commands.run_job`). Runs launched from the UI keep Dagster's default.
PLANNED_EVENTS_TAG = "amazon_assets/planned_events"
PLANNED_PER_ASSET_TAGS = {PLANNED_EVENTS_TAG: "per_asset"}
