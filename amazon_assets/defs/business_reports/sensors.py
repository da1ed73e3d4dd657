"""Sales-and-traffic history without Data Kiosk: what the app's 96 a day leave each day, spent
automatically on every account's missing history.

Each tick the `sales_and_traffic_history` sensor asks the planner (`history_plan` in
`sources/sales_and_traffic_budget.py`) what is left of the day's budget once every account's
settling window is served (the requests its 07:00 refresh has not spent today are kept for it,
whether it has run yet or not), picks that many history days round-robin across the accounts
missing some (newest first), and launches them as one asset backfill per account (bronze and
silver), tagged with the budget's day and as an accounts-API job (operation `history`: listed by
`/v1/jobs`, followed by the account's progress). What its backfills in progress target stays counted
until it is in bronze, so a tick never spends the same request twice, and a day launched and
failed waits for the next budget day. Budget used and left are an observation of
`bronze/business_reports` in the UI whenever they change; once the day is spent the tick says so
in one sentence. With Data Kiosk on (`AMAZON_ASSETS_DATA_KIOSK=1`) history costs none of the 96
and the sensor does nothing; stop it in the UI to spend the budget by hand only.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus

from amazon_assets.account_jobs import HISTORY as HISTORY_OPERATION
from amazon_assets.account_jobs import job_tags
from amazon_assets.defs.business_reports.assets import app_budget
from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS
from amazon_assets.onboarding import OnboardingScope, onboarding_subset
from amazon_assets.partitions import ACCOUNTS, partition_key
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.sources.quotas import Clock
from amazon_assets.sources.sales_and_traffic_budget import (
    HISTORY,
    REPORT_TYPE,
    SETTLING,
    amazon_day,
    history_days,
    history_plan,
)
from amazon_assets.sources.vault import vault_for

HISTORY_SENSOR = "sales_and_traffic_history"
# On each history backfill: the budget's day it spends (its assets' partitions name the days).
HISTORY_TAG = "amazon_assets/sales_and_traffic_history"


def spent_sentence(
    day: date, budget: int, settling: int, history: int, waiting: Counter[str]
) -> str:
    """The one sentence a tick says when the day's budget has nothing left for history."""
    return (
        f"The app's {budget} {REPORT_TYPE} requests for {day} are spent ({settling} kept for "
        f"the settling windows, {history} on history); {sum(waiting.values())} history days of "
        f"{len(waiting)} account(s) ({', '.join(sorted(waiting))}) wait for "
        f"{day + timedelta(days=1)}."
    )


def history_in_flight(instance: dg.DagsterInstance, bronze: dg.AssetKey) -> set[str]:
    """The `bronze` partitions of the history backfills still in progress."""
    backfills = instance.get_backfills(
        filters=BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED])
    )
    return {
        key
        for backfill in backfills
        if HISTORY_TAG in backfill.tags and backfill.asset_backfill_data is not None
        for key in backfill.asset_backfill_data.target_subset.get_partitions_subset(
            bronze
        ).get_partition_keys()
    }


def build_history_sensor(
    keys: Sequence[dg.AssetKey],
    account_days: dg.MultiPartitionsDefinition,
    first_day: date,
) -> dg.SensorDefinition:
    """Spend what each day's budget leaves after the settling windows on the accounts' missing
    sales-and-traffic history (`keys`: the business-report assets, bronze first)."""
    bronze = BUSINESS_REPORTS.bronze_key
    scope = [OnboardingScope(tuple(keys), (BUSINESS_REPORTS.name,))]

    @dg.sensor(
        name=HISTORY_SENSOR,
        asset_selection=dg.AssetSelection.assets(*keys),
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Without Data Kiosk: what the app's 96 GET_SALES_AND_TRAFFIC_REPORT "
        "requests a day leave after every account's settling window -> backfills of the "
        "accounts' missing history days, round-robin, newest first.",
    )
    def sales_and_traffic_history(
        context: dg.SensorEvaluationContext, sp_api: SpApiResource
    ) -> dg.SensorResult:
        budget = app_budget(sp_api)
        if sp_api.data_kiosk or budget is None:
            return dg.SensorResult(
                skip_reason="Data Kiosk serves the sales-and-traffic history "
                "(AMAZON_ASSETS_DATA_KIOSK=1): none of the app's reports is spent on it."
                if sp_api.data_kiosk
                else "This SP-API client counts no budget (pace_requests off)."
            )
        day = amazon_day(Clock(sp_api.clock_speed))
        last_day = datetime.now(UTC).date() - timedelta(days=1)
        cursor = json.loads(context.cursor) if context.cursor else {}
        stored = set(context.instance.get_materialized_partitions(bronze))
        in_flight = history_in_flight(context.instance, bronze) - stored
        # Launched today (a failed backfill's days wait for tomorrow, not for the next tick).
        launched = set(cursor.get("launched", [])) if cursor.get("day") == str(day) else set()
        older = history_days(first_day, last_day)
        known = stored | in_flight | launched
        # A disabled account's runs fail at once: its window takes none of the day, nor history.
        disabled = vault_for(sp_api.state_path).disabled_accounts()
        missing = {
            account: [d for d in older if partition_key(account, d) not in known]
            for account in context.instance.get_dynamic_partitions(ACCOUNTS.name)
            if account not in disabled
        }
        counts = budget.counts(day)
        settling_spent = Counter(
            {account: n for (account, purpose), n in counts.items() if purpose == SETTLING}
        )
        pending = len(in_flight)  # launched, not in bronze yet: counted as spent
        plan = history_plan(
            missing,  # every account: a complete history's window is kept too
            settling_spent,
            last_day,
            used_before=budget.used(day) + pending,
            budget=budget.daily,
        )
        chosen: dict[str, list[date]] = {}
        for request in plan.requests:
            if request.purpose == HISTORY:
                chosen.setdefault(request.account, []).append(request.day)
        settling_kept = len(plan.requests) - sum(len(days) for days in chosen.values())
        metadata = {
            **budget.metadata(day),
            "sales_and_traffic_budget_day": str(day),
            "sales_and_traffic_budget_kept_for_settling": settling_kept,
            "sales_and_traffic_budget_history_pending": pending
            + sum(len(days) for days in chosen.values()),
            "sales_and_traffic_budget_left_for_history": plan.left,
            "sales_and_traffic_history_days_missing": pending
            + sum(len(days) for days in missing.values()),
        }
        requests = []
        for account, days in chosen.items():
            subset = onboarding_subset(
                account, scope, account_days, sorted(d.isoformat() for d in days)
            )
            tags = job_tags(
                account, HISTORY_OPERATION, (BUSINESS_REPORTS.name,), min(days), max(days)
            )
            requests.append(
                dg.RunRequest.for_asset_graph_subset(subset, tags={**tags, HISTORY_TAG: str(day)})
            )
            launched |= {partition_key(account, d) for d in days}
            context.log.info(f"{account}: {len(days)} history day(s), {min(days)}..{max(days)}")
        waiting = +Counter(
            {account: len(days) - len(chosen.get(account, ())) for account, days in missing.items()}
        )
        result = {
            "cursor": json.dumps(
                {"day": str(day), "launched": sorted(launched), "metadata": metadata}
            ),
            # Budget used and left in the UI, whenever they change.
            "asset_events": [dg.AssetObservation(asset_key=bronze, metadata=metadata)]
            if metadata != cursor.get("metadata")
            else [],
        }
        if requests:
            return dg.SensorResult(run_requests=requests, **result)
        if not waiting:
            return dg.SensorResult(
                skip_reason="Every account's sales-and-traffic history is in bronze.", **result
            )
        history = sum(n for (_, purpose), n in counts.items() if purpose == HISTORY) + pending
        sentence = spent_sentence(
            day, budget.daily, settling_spent.total() + settling_kept, history, waiting
        )
        return dg.SensorResult(skip_reason=sentence, **result)

    return sales_and_traffic_history
