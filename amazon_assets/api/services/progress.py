"""An account's history as it arrives: per source, how many partition steps are done.

Read from the Dagster instance (each asset's per-partition status: materialized, in progress,
failed) and the report ledger (reports Amazon is still building). A source's work is its bronze
documents and its silver facts (`AccountSource.progress_keys`) for each of its days in the job:
`current` counts the (asset, day) pairs materialized, `total` all of them, so 100 % means every
day of the source is in silver. The failure
message of the newest failed run of the account (one sentence, e.g. a revoked token) is included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
from dagster._core.storage.partition_status_cache import AssetPartitionStatus

from amazon_assets.api.services.sources import SOURCES
from amazon_assets.partitions import account_day_partitions, daily_partitions, partition_key
from amazon_assets.settings import Settings
from amazon_assets.sources.state import REQUESTED, StateStore

RUNNING, QUEUED, DONE, FAILED = "running", "queued", "done", "failed"


@dataclass(frozen=True)
class SourceProgress:
    source: str
    report_type: str
    current: int
    total: int
    in_progress: int
    failed: int
    reports_open: int

    @property
    def status(self) -> str:
        if self.total and self.current == self.total:
            return DONE
        if self.in_progress or self.reports_open:
            return RUNNING
        if self.failed:
            return FAILED
        return QUEUED

    def answer(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "report_type": self.report_type,
            "current": self.current,
            "total": self.total,
            "percentage": round(100 * self.current / self.total, 1) if self.total else 100.0,
            "status": self.status,
            "reports_in_flight": self.reports_open,
        }


def account_progress(
    settings: Settings,
    instance: dg.DagsterInstance,
    store: StateStore,
    account: str,
    scope: Mapping[str, Sequence[date]],
) -> dict[str, Any]:
    """The account's progress per source over each source's days in `scope` (a job's)."""
    partitions = account_day_partitions(daily_partitions(settings))
    open_reports = _open_reports(store, account)
    rows: list[SourceProgress] = []
    for name, days in scope.items():
        source = SOURCES[name]
        keys = [partition_key(account, day) for day in days]
        counts: Counter[AssetPartitionStatus | None] = Counter()
        for key in source.progress_keys:
            statuses = instance.get_status_by_partition(key, keys, partitions) or {}
            counts.update(statuses.values())
        rows.append(
            SourceProgress(
                source=name,
                report_type=source.report_type,
                current=counts[AssetPartitionStatus.MATERIALIZED],
                total=len(source.progress_keys) * len(keys),
                in_progress=counts[AssetPartitionStatus.IN_PROGRESS],
                failed=counts[AssetPartitionStatus.FAILED],
                reports_open=sum(open_reports.get(t, 0) for t in source.report_types),
            )
        )
    current = sum(s.current for s in rows)
    total = sum(s.total for s in rows)
    statuses = {s.status for s in rows}
    status = (
        DONE
        if statuses == {DONE}
        else RUNNING
        if RUNNING in statuses
        else FAILED
        if FAILED in statuses
        else QUEUED
    )
    every_day = [d for days in scope.values() for d in days]
    answer = {
        "account": account,
        "first_day": min(every_day).isoformat() if every_day else None,
        "last_day": max(every_day).isoformat() if every_day else None,
        "current": current,
        "total": total,
        "percentage": round(100 * current / total, 1) if total else 100.0,
        "status": status,
        "sources": [s.answer() for s in rows],
    }
    if status == FAILED:
        answer["error"] = last_failure(instance, account)
    return answer


def _open_reports(store: StateStore, account: str) -> dict[str, int]:
    with store.connection() as connection:
        rows = connection.execute(
            "SELECT report_type, count(*) FROM report_ledger WHERE account = ? AND status = ? "
            "GROUP BY report_type",
            (account, REQUESTED),
        ).fetchall()
    return {report_type: count for report_type, count in rows}


def last_failure(instance: dg.DagsterInstance, account: str) -> str | None:
    """The step failure message of the newest failed run that covered `account`."""
    records = instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]), limit=20
    )
    for record in records:
        run = record.dagster_run
        span = " ".join(
            str(run.tags.get(tag, ""))
            for tag in (
                "dagster/partition",
                "dagster/asset_partition_range_start",
                "dagster/asset_partition_range_end",
            )
        )
        if f"{account}|" not in span:
            continue
        for message in _failure_messages(instance, run.run_id):
            return message
    return None


def _failure_messages(instance: dg.DagsterInstance, run_id: str) -> Iterator[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.step_failure_data if event else None
        if data is None:
            continue
        if data.user_failure_data is not None and data.user_failure_data.description:
            yield data.user_failure_data.description
        elif data.error is not None:
            yield data.error.message.strip().splitlines()[0]
