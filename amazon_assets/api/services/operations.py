"""Accounts and their syncs: register, disable, refresh, backfill, jobs.

Accounts are Dagster's `accounts` dynamic partitions (registered the way `amazon-assets accounts
add` does, so the onboarding sensor backfills them); what the vault knows about each is added.
Refreshes and backfills are Dagster asset backfills launched through the webserver's GraphQL API
(`launchPartitionBackfill`), so they show in the UI like any other and run on its daemon; jobs
are those backfills, read back from the Dagster instance by their account tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg
from dagster._core.execution.backfill import BulkActionsFilter

from amazon_assets.defs.seller_history import source_asset_keys
from amazon_assets.defs.seller_history.assets import BACKFILL, MODE_TAG, REFRESH, SOURCE_NAMES
from amazon_assets.defs.seller_history.schedules import REFRESH_DAYS
from amazon_assets.partitions import ACCOUNTS, daily_partitions, partition_key, register_account
from amazon_assets.settings import Settings
from amazon_assets.sources.vault import CredentialVault

ACCOUNT_TAG = "amazon_assets/account"
OPERATION_TAG = "amazon_assets/operation"
DAYS_TAG = "amazon_assets/days"
SOURCES_TAG = "amazon_assets/sources"
_LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
    ... on RunConflict { message }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
    ... on InvalidSubsetError { message }
  }
}
"""


class OperationError(Exception):
    """An operation could not be launched or found; the message is one sentence."""


class UnknownAccount(OperationError):
    """No such account (404)."""


class UnknownJob(OperationError):
    """No such job (404)."""


@dataclass(frozen=True)
class Account:
    name: str
    disabled: bool
    authorizations: list[dict[str, Any]]

    def answer(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": "disabled" if self.disabled else "enabled",
            "authorizations": self.authorizations,
        }


def list_accounts(instance: dg.DagsterInstance, vault: CredentialVault) -> list[Account]:
    """Every registered account with what the vault says about its authorizations."""
    names = instance.get_dynamic_partitions(ACCOUNTS.name)
    disabled = vault.disabled_accounts()
    entries: dict[str, list[dict[str, Any]]] = {}
    for entry in vault.entries():
        entries.setdefault(entry.account, []).append(
            {
                "api": entry.api,
                "status": entry.status,
                "partner_id": entry.partner_id,
                "reauthorize_by": entry.reauthorize_by.date().isoformat(),
                "warning": entry.warning(),
            }
        )
    return [Account(name, name in disabled, entries.get(name, [])) for name in sorted(names)]


def get_account(instance: dg.DagsterInstance, vault: CredentialVault, name: str) -> Account:
    for account in list_accounts(instance, vault):
        if account.name == name:
            return account
    raise UnknownAccount(f"account {name!r} is not registered.")


def create_account(instance: dg.DagsterInstance, name: str) -> bool:
    """Register `name` (False when it was already); the onboarding sensor backfills it."""
    try:
        return register_account(instance, name)
    except ValueError as error:
        raise OperationError(str(error)) from None


def set_disabled(
    instance: dg.DagsterInstance, vault: CredentialVault, name: str, disabled: bool
) -> Account:
    """Disable (runs of the account fail at once with one sentence) or enable an account."""
    get_account(instance, vault, name)
    vault.set_disabled(name, disabled)
    return get_account(instance, vault, name)


def check_sources(sources: Sequence[str] | None) -> list[str]:
    chosen = list(sources or SOURCE_NAMES)
    unknown = [s for s in chosen if s not in SOURCE_NAMES]
    if unknown:
        raise OperationError(
            f"unknown source {unknown[0]!r}; sources are {', '.join(SOURCE_NAMES)}."
        )
    return chosen


def account_days(settings: Settings, first: date | None, last: date | None) -> list[date]:
    """The days of a backfill: default every partition day; bounded by the partitions."""
    keys = daily_partitions(settings).get_partition_keys()
    if not keys:
        raise OperationError("there are no partition days yet (the history starts today).")
    start, end = date.fromisoformat(keys[0]), date.fromisoformat(keys[-1])
    first, last = first or start, last or end
    if first > last:
        raise OperationError(f"first ({first}) is after last ({last}).")
    if first < start or last > end:
        raise OperationError(f"days must be within {start}..{end}; got {first}..{last}.")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def launch(
    settings: Settings,
    instance: dg.DagsterInstance,
    vault: CredentialVault,
    account: str,
    operation: str,
    sources: Sequence[str] | None = None,
    first: date | None = None,
    last: date | None = None,
) -> str:
    """Launch a refresh (each source's lookback, re-fetched) or a backfill (chosen days, stored
    documents kept) of `account` through the webserver's GraphQL API; the backfill id."""
    found = get_account(instance, vault, account)
    if found.disabled:
        raise OperationError(f"account {account!r} is disabled; enable it first.")
    chosen = check_sources(sources)
    if operation == REFRESH and first is None:
        days = account_days(settings, None, None)
        days = days[-REFRESH_DAYS:]
    else:
        days = account_days(settings, first, last)
    keys = [key for source in chosen for key in source_asset_keys(source)]
    params = {
        "assetSelection": [{"path": key.path} for key in keys],
        "partitionNames": [partition_key(account, day) for day in days],
        "tags": [
            {"key": MODE_TAG, "value": REFRESH if operation == REFRESH else BACKFILL},
            {"key": ACCOUNT_TAG, "value": account},
            {"key": OPERATION_TAG, "value": operation},
            {"key": DAYS_TAG, "value": f"{days[0]}..{days[-1]}"},
            {"key": SOURCES_TAG, "value": ",".join(chosen)},
        ],
    }
    answer = _graphql(settings, _LAUNCH, {"params": params})["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        detail = answer.get("message") or answer["__typename"]
        raise OperationError(f"Dagster refused the {operation} of {account!r}: {detail}")
    return answer["backfillId"]


def _graphql(settings: Settings, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    url = settings.oauth.webserver_url if settings.oauth else "http://127.0.0.1:3000"
    client = DagsterGraphQLClient(url.split("://", 1)[1], use_https=url.startswith("https"))
    try:
        # The client's typed helpers cover single runs only; a backfill is sent as a document.
        return client._execute(query, variables)
    except DagsterGraphQLClientError as error:
        raise OperationError(
            f"the Dagster webserver at {url} (DAGSTER_WEBSERVER_URL) did not answer: "
            f"{str(error).splitlines()[0]}"
        ) from None


def jobs(instance: dg.DagsterInstance, account: str | None = None, limit: int = 50) -> list[dict]:
    """Refreshes and backfills launched here, newest first, with their status."""
    tags = {ACCOUNT_TAG: account} if account else None
    backfills = instance.get_backfills(
        filters=BulkActionsFilter(tags=tags) if tags else None, limit=limit
    )
    return [job_answer(instance, b) for b in backfills if ACCOUNT_TAG in b.tags]


def job(instance: dg.DagsterInstance, backfill_id: str) -> dict:
    backfill = instance.get_backfill(backfill_id)
    if backfill is None or ACCOUNT_TAG not in backfill.tags:
        raise UnknownJob(f"there is no job {backfill_id!r}.")
    return job_answer(instance, backfill)


def job_answer(instance: dg.DagsterInstance, backfill: Any) -> dict[str, Any]:
    runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
    statuses: dict[str, int] = {}
    for record in runs:
        statuses[record.dagster_run.status.value] = (
            statuses.get(record.dagster_run.status.value, 0) + 1
        )
    return {
        "id": backfill.backfill_id,
        "account": backfill.tags.get(ACCOUNT_TAG),
        "operation": backfill.tags.get(OPERATION_TAG),
        "status": backfill.status.value,
        "created_at": backfill.backfill_timestamp,
        "days": backfill.tags.get(DAYS_TAG),
        "sources": backfill.tags.get(SOURCES_TAG, "").split(","),
        "runs": statuses,
    }


def latest_scope(instance: dg.DagsterInstance, account: str) -> tuple[list[str], list[date]] | None:
    """The sources and days of the account's newest job launched here, if any."""
    backfills = instance.get_backfills(
        filters=BulkActionsFilter(tags={ACCOUNT_TAG: account}), limit=1
    )
    if not backfills or DAYS_TAG not in backfills[0].tags:
        return None
    tags = backfills[0].tags
    first, last = (date.fromisoformat(day) for day in tags[DAYS_TAG].split(".."))
    sources = [s for s in tags.get(SOURCES_TAG, "").split(",") if s in SOURCE_NAMES]
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return sources or list(SOURCE_NAMES), days
