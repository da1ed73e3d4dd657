"""When a run may reuse a document fetched before it instead of asking Amazon again.

The project's one reuse rule (issue 15), for every source: the contract's bronze writer (lake
documents), seller history and advertising bronze (reports in the ledger, Finances pages).

A re-run after a crash should not spend createReport quota (one sales-and-traffic report per 15
minutes for the whole app) on documents fetched minutes ago, while a scheduled refresh exists to
fetch restated days again. The rule: a run reuses what was fetched since its own start (a step's
retry; for a re-execution, its root run's start) or in the last `reuse_minutes`
(AMAZON_ASSETS_REUSE_MINUTES); a run launched by a schedule or a sensor reuses only what its own
chain of runs fetched. Lake documents of settled days are reused whatever
their age (`ingestion.bronze.reusable`): Amazon no longer restates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import dagster as dg

# Tags Dagster puts on the runs its schedules and sensors launch.
_AUTOMATION_TAGS = ("dagster/schedule_name", "dagster/sensor_name")
# Tag of a re-execution (run_retries after a failure, or by hand): the first run of its chain.
ROOT_RUN_TAG = "dagster/root_run_id"


def reuse_since(
    run_start: datetime, tags: Mapping[str, str], reuse_minutes: float, now: datetime
) -> datetime:
    """The oldest fetch a run with these tags, started at `run_start`, may reuse."""
    if any(tag in tags for tag in _AUTOMATION_TAGS):
        return run_start
    return min(run_start, now - timedelta(minutes=reuse_minutes))


def recent_since(reuse_minutes: float) -> datetime:
    """`reuse_since` for a call outside any run: what was fetched in the last `reuse_minutes`."""
    now = datetime.now(UTC)
    return reuse_since(now, {}, reuse_minutes, now)


def run_reuse_since(context: dg.AssetExecutionContext, reuse_minutes: float) -> datetime:
    """`reuse_since` for the run a step belongs to, from its start as the instance recorded it;
    a re-execution starts when its root run did (a retried scheduled run reuses what the failed
    one fetched)."""
    now = datetime.now(UTC)
    root_run_id = context.run.tags.get(ROOT_RUN_TAG, context.run_id)
    record = context.instance.get_run_record_by_id(root_run_id)
    started = record.start_time if record is not None else None
    run_start = datetime.fromtimestamp(started, UTC) if started else now
    return reuse_since(run_start, context.run.tags, reuse_minutes, now)
