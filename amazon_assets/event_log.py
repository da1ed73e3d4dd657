"""The embedded Dagster instance's event log: Dagster's SQLite storage, batches in one transaction.

A single-run backfill materializes each asset once per day of the run, and Dagster hands those
events to storage in batches (DAGSTER_EVENT_BATCH_SIZE, see `commands.lighten_dagster_bookkeeping`).
Its PostgreSQL storage writes a batch in one statement; its SQLite storage stores the events one by
one, each in its own transactions on two database files (the run's and the cross-run index),
20 to 40 ms apiece: 360 of them were most of a 60-day mart run. This storage writes a batch of
materializations (or observations) as its PostgreSQL storage does: every event of the batch in
one transaction per file, each event serialized once, the asset's latest-event row updated once.
It also remembers which tables exist: Dagster checks on a new connection before every read of
dynamic partitions (once per day and silver input of a mart run). Everything else, and every
read, is Dagster's own SQLite storage, in the same files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster._config import StringSource
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData

_BATCHED_TYPES = (
    {DagsterEventType.ASSET_MATERIALIZATION},
    {DagsterEventType.ASSET_OBSERVATION},
)


def event_logs_directory(dagster_home: str) -> str:
    """Where Dagster's default instance keeps its SQLite event logs under DAGSTER_HOME."""
    return os.path.join(dagster_home, "history", "runs", "")


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log in DAGSTER_HOME, storing a batch of materializations at once.

    Configured in the embedded instance's dagster.yaml (`event_log_storage`), so the CLI, the
    webserver and the daemon all use it on the same files as Dagster's default storage.
    """

    def __init__(self, dagster_home: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._tables_seen: set[str] = set()
        super().__init__(event_logs_directory(dagster_home), inst_data=inst_data)

    @classmethod
    def config_type(cls) -> Mapping[str, Any]:
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchedSqliteEventLogStorage:
        return cls(config_value["dagster_home"], inst_data=inst_data)

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before every read of dynamic partitions and every write of asset tags,
        # each time on a new database connection; a table that exists stays.
        if table_name not in self._tables_seen:
            if not super().has_table(table_name):
                return False
            self._tables_seen.add(table_name)
        return True

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        event_types = {event.get_dagster_event().event_type for event in events}
        asset_keys = {event.get_dagster_event().asset_key for event in events}
        run_ids = {event.run_id for event in events}
        if event_types not in _BATCHED_TYPES or len(asset_keys) != 1 or len(run_ids) != 1:
            super().store_event_batch(events)
            return
        [run_id] = run_ids
        rows = [self._event_to_row(event) for event in events]  # each event serialized once
        with self.run_connection(run_id) as connection:
            connection.execute(SqlEventLogStorageTable.insert(), rows)
        # Mirrored in the cross-run index as `store_event` does, in one transaction.
        insert_returning_ids = SqlEventLogStorageTable.insert().returning(
            SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
        )
        with self.index_transaction() as connection:
            event_ids = list(connection.execute(insert_returning_ids, rows).scalars())
            self._store_asset_event_tags(connection, events, event_ids)
            # The asset's row keeps its latest event: the batch's last, as on PostgreSQL.
            self._store_asset_event(connection, events[-1], event_ids[-1])
