"""When a run may reuse a document fetched before it instead of asking Amazon again.

A re-run after a crash should not spend createReport quota (one sales-and-traffic report per 15
minutes for the whole app) on documents fetched minutes ago, while a scheduled refresh exists to
fetch restated days again. The rule: a run reuses what was fetched since its own start (a step's
retry) or in the last `reuse_minutes` (AMAZON_ASSETS_REUSE_MINUTES); a run launched by a schedule
or a sensor reuses only what it fetched itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import dagster as dg

# Tags Dagster puts on the runs its schedules and sensors launch.
_AUTOMATION_TAGS = ("dagster/schedule_name", "dagster/sensor_name")


def reuse_since(
    run_start: datetime, tags: Mapping[str, str], reuse_minutes: float, now: datetime
) -> datetime:
    """The oldest fetch a run with these tags, started at `run_start`, may reuse."""
    if any(tag in tags for tag in _AUTOMATION_TAGS):
        return run_start
    return min(run_start, now - timedelta(minutes=reuse_minutes))


def run_reuse_since(context: dg.AssetExecutionContext, reuse_minutes: float) -> datetime:
    """`reuse_since` for the run a step belongs to (its start as the instance recorded it)."""
    now = datetime.now(UTC)
    record = context.instance.get_run_record_by_id(context.run_id)
    started = record.start_time if record is not None else None
    run_start = datetime.fromtimestamp(started, UTC) if started else now
    return reuse_since(run_start, context.run.tags, reuse_minutes, now)
