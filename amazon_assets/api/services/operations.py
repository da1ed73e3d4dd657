"""Accounts and their syncs: register, disable, refresh, backfill, jobs.

Accounts are Dagster's `accounts` dynamic partitions (registered the way `amazon-assets accounts
add` does, so the onboarding sensor backfills them); what the vault knows about each is added.
A refresh or backfill is one Dagster asset backfill launched through the webserver's GraphQL API
(`launchPartitionBackfill`, each asset its own days: `services.sources`), so it shows in the UI
like any other and runs on its daemon; jobs are those backfills and the onboarding sensor's, read
back from the Dagster instance by their tags (`account_jobs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.execution.backfill import BulkActionsFilter

from amazon_assets.account_jobs import (
    ACCOUNT_TAG,
    DAYS_TAG,
    OPERATION_TAG,
    SOURCES_TAG,
    job_tags,
)
from amazon_assets.api.services.sources import (
    SOURCES,
    SourceRefused,
    backfill_scope,
    check_sources,
    has_ads,
    refresh_scope,
    scope_range,
)
from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS
from amazon_assets.defs.seller_history.assets import BACKFILL, MODE_TAG, REFRESH
from amazon_assets.partitions import (
    ACCOUNTS,
    daily_partitions,
    days_of_accounts,
    partition_key,
    register_account,
)
from amazon_assets.settings import Settings
from amazon_assets.sources.sales_and_traffic_budget import (
    SETTLING,
    BudgetedRequest,
    BudgetSpent,
    amazon_day,
    purpose_of,
)
from amazon_assets.sources.vault import CredentialVault

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


class BudgetRefused(OperationError):
    """The app's sales-and-traffic requests of the day are spent (429)."""


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
    spend_budget: bool = False,
) -> str:
    """Launch a refresh (each source's lookback, re-fetched) or a backfill (chosen days, stored
    documents kept) of `account` through the webserver's GraphQL API; the backfill id."""
    found = get_account(instance, vault, account)
    if found.disabled:
        raise OperationError(f"account {account!r} is disabled; enable it first.")
    scope = sync_scope(
        settings, vault, account, operation, sources, first, last, spend_budget=spend_budget
    )
    if BUSINESS_REPORTS.name in scope:
        check_budget(settings, account, scope[BUSINESS_REPORTS.name])
    start, end = scope_range(scope)
    tags = {
        MODE_TAG: REFRESH if operation == REFRESH else BACKFILL,
        **job_tags(account, operation, list(scope), start, end),
    }
    params = {
        "partitionsByAssets": [
            {
                "assetKey": {"path": key.path},
                "partitions": {
                    "ranges": [
                        {
                            "start": partition_key(account, days[0]),
                            "end": partition_key(account, days[-1]),
                        }
                    ]
                },
            }
            for source, days in scope.items()
            for key in SOURCES[source].keys
        ],
        "tags": [{"key": key, "value": value} for key, value in tags.items()],
    }
    answer = _graphql(settings, _LAUNCH, {"params": params})["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        detail = answer.get("message") or answer["__typename"]
        raise OperationError(f"Dagster refused the {operation} of {account!r}: {detail}")
    return answer["backfillId"]


def sync_scope(
    settings: Settings,
    vault: CredentialVault,
    account: str,
    operation: str,
    sources: Sequence[str] | None = None,
    first: date | None = None,
    last: date | None = None,
    *,
    spend_budget: bool = False,
) -> dict[str, list[date]]:
    """The days of each source a refresh or backfill of `account` covers (see
    `services.sources`); refused in one sentence when it cannot be done as asked."""
    try:
        chosen = check_sources(sources, has_ads(settings, vault, account), account)
        every_day = account_days(settings, None, None)
        if operation == REFRESH and first is None and last is None:
            return refresh_scope(settings, chosen, every_day)
        return backfill_scope(
            settings,
            chosen,
            account_days(settings, first, last),
            chosen=bool(sources),
            newest=every_day[-1],
            today=datetime.now(UTC).date(),
            spend_budget=spend_budget,
        )
    except SourceRefused as error:
        raise OperationError(str(error)) from None


def check_budget(settings: Settings, account: str, days: Sequence[date]) -> None:
    """Refuse business reports when the day's share of the app's GET_SALES_AND_TRAFFIC_REPORT
    requests is spent (the sentence the asset's step would stop with), before anything is
    launched: every day of them needs a report, or with Data Kiosk the settling days."""
    from amazon_assets.defs.business_reports.assets import app_budget
    from amazon_assets.resources.sp_api import SpApiResource
    from amazon_assets.sources.quotas import Clock

    last_day = datetime.now(UTC).date() - timedelta(days=1)
    reports = [d for d in days if not settings.data_kiosk or purpose_of(d, last_day) == SETTLING]
    resource = SpApiResource.from_settings(settings, account)
    # The resource names a real app's client id by its variable (runs resolve it): the budget
    # is counted per app, so name it by its value.
    budget = app_budget(
        resource.model_copy(update={"client_id": settings.sp_api.credentials.client_id})
    )
    if budget is None or not reports:
        return
    newest = max(reports)
    request = BudgetedRequest(account, newest, purpose_of(newest, last_day))
    try:
        budget.check(amazon_day(Clock(resource.clock_speed)), request)
    except BudgetSpent as error:
        raise BudgetRefused(str(error)) from None


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
    """Refreshes and backfills of accounts (launched here or by the onboarding sensor), newest
    first, with their status."""
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
    scope = job_scope(backfill)
    return {
        "id": backfill.backfill_id,
        "account": backfill.tags.get(ACCOUNT_TAG),
        "operation": backfill.tags.get(OPERATION_TAG),
        "status": backfill.status.value,
        "created_at": backfill.backfill_timestamp,
        "days": backfill.tags.get(DAYS_TAG),
        "sources": list(scope),
        "source_days": {
            source: f"{days[0]}..{days[-1]}" if days else None for source, days in scope.items()
        },
        "runs": statuses,
    }


def job_scope(backfill: Any) -> dict[str, list[date]]:
    """The days of each source a job covers, as Dagster holds its target (per asset), else
    its tags' days."""
    sources = [s for s in backfill.tags.get(SOURCES_TAG, "").split(",") if s in SOURCES]
    target = backfill.asset_backfill_data.target_subset if backfill.asset_backfill_data else None
    scope: dict[str, list[date]] = {}
    for source in sources:
        key = SOURCES[source].progress_keys[0]
        if target is not None and key in target.partitions_subsets_by_asset_key:
            keys = target.get_partitions_subset(key).get_partition_keys()
            scope[source] = sorted({d for days in days_of_accounts(keys).values() for d in days})
        else:
            scope[source] = _tag_days(backfill.tags.get(DAYS_TAG))
    return scope


def _tag_days(tag: str | None) -> list[date]:
    if not tag:
        return []
    first, last = (date.fromisoformat(day) for day in tag.split(".."))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def latest_scope(instance: dg.DagsterInstance, account: str) -> dict[str, list[date]] | None:
    """The days of each source of the account's newest job (launched here or by the
    onboarding sensor), if any."""
    backfills = instance.get_backfills(
        filters=BulkActionsFilter(tags={ACCOUNT_TAG: account}), limit=1
    )
    return job_scope(backfills[0]) if backfills else None
