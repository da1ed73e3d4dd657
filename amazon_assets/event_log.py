"""The embedded Dagster instance's event log: Dagster's SQLite storage, batches in one transaction.

A single-run backfill materializes each asset once per day of the run, and Dagster hands those
events to storage in batches (DAGSTER_EVENT_BATCH_SIZE, see `commands.lighten_dagster_bookkeeping`).
Its PostgreSQL storage writes a batch in one statement; its SQLite storage stores the events one by
one, each in its own transactions on two database files (the run's and the cross-run index),
20 to 40 ms apiece: 360 of them were most of a 60-day mart run. This storage writes a batch of
materializations (or observations) as its PostgreSQL storage does: every event of the batch in
one transaction per file, each event serialized once, the asset's latest-event row updated once.
It also remembers which tables exist (Dagster checks on a new connection before each read of
dynamic partitions or write of asset tags) and, while a command's run executes, the dynamic
partitions (seller accounts) as the run first read them: Dagster lists them again for every day
and account-partitioned input of a step, 480 queries in a 60-day mart run. Everything else, and
every other read, is Dagster's own SQLite storage, in the same files.

Its connections: Dagster builds a new SQLAlchemy engine (and initializes its dialect) for every
read and write of a database file, then disposes of it; this storage keeps one engine per
recently used file (still without a pool: every use opens and closes its SQLite connection, as
before). The files are in WAL mode (Dagster sets it), where closing a file's last connection
checkpoints the WAL into the file and deletes it, so every event paid a checkpoint and the next
one recreated the WAL: this storage also keeps one idle connection per kept file, never in a
transaction, so it holds no lock and other processes see the files as before. Its connections
commit with `synchronous=NORMAL`, SQLite's recommendation for WAL: a commit no longer waits for
the disk, a killed process loses nothing, and a power cut may lose the last events but never
corrupts the file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as db
from dagster import DagsterInstance
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

# Engines kept: the index's, the running run's and a few runs the UI reads.
_KEPT_ENGINES = 8
_BATCHED_TYPES = (
    {DagsterEventType.ASSET_MATERIALIZATION},
    {DagsterEventType.ASSET_OBSERVATION},
)


def run_snapshot(instance: DagsterInstance) -> contextlib.AbstractContextManager[None]:
    """While a run executes in this process: its instance's dynamic partitions read once (with
    this storage; Dagster's own reads them every time)."""
    storage = instance.event_log_storage
    if isinstance(storage, BatchedSqliteEventLogStorage):
        return storage.run_snapshot()
    return contextlib.nullcontext()


def event_logs_directory(dagster_home: Path) -> str:
    """Where Dagster's default instance keeps its SQLite event logs under DAGSTER_HOME."""
    return os.path.join(dagster_home, "history", "runs", "")


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (same configuration, same files), storing a batch of
    materializations at once.

    Configured in the embedded instance's dagster.yaml (`event_log_storage`), so the CLI, the
    webserver and the daemon all use it.
    """

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._tables_seen: set[str] = set()
        # Dynamic partitions by definition name while a run executes (`run_snapshot`), else None.
        self._dynamic_partitions: dict[str, Sequence[str]] | None = None
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        # The idle connection kept open per kept engine, and the process that opened them.
        self._idle: dict[str, sqlite3.Connection] = {}
        self._pid = os.getpid()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchedSqliteEventLogStorage:
        return cls(config_value["base_dir"], inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine, created on first use (callers hold `_db_lock`)."""
        engine = self._engines.get(shard)
        if engine is None:
            engine = db.create_engine(
                self.conn_string_for_shard(shard),
                poolclass=NullPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            db.event.listen(engine, "connect", _commit_without_waiting_for_disk)
            self._engines[shard] = engine
            if len(self._engines) > _KEPT_ENGINES:
                evicted, old = self._engines.popitem(last=False)
                old.dispose()
                self._close_idle(evicted)
        else:
            self._engines.move_to_end(shard)
        return engine

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's own, with the shard's kept engine instead of a new one per call.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            if shard not in self._idle and os.getpid() == self._pid:
                idle = sqlite3.connect(self.path_for_shard(shard), check_same_thread=False)
                idle.execute("PRAGMA schema_version").fetchone()  # opens the file and its WAL
                self._idle[shard] = idle
            with engine.connect() as connection, connection.begin():
                yield connection

    def _close_idle(self, shard: str) -> None:
        idle = self._idle.pop(shard, None)
        if idle is not None and os.getpid() == self._pid:  # never a connection from before a fork
            idle.close()

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                shard, engine = self._engines.popitem()
                engine.dispose()
                self._close_idle(shard)
        super().dispose()

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before every read of dynamic partitions and every write of asset tags,
        # each time on a new database connection; a table that exists stays.
        if table_name not in self._tables_seen:
            if not super().has_table(table_name):
                return False
            self._tables_seen.add(table_name)
        return True

    @contextlib.contextmanager
    def run_snapshot(self) -> Iterator[None]:
        """Within: each definition's dynamic partitions are read once, then as of that read
        (changes made through this storage still show at once)."""
        self._dynamic_partitions = {}
        try:
            yield
        finally:
            self._dynamic_partitions = None

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]:
        snapshot = self._dynamic_partitions
        if snapshot is None:
            return super().get_dynamic_partitions(partitions_def_name)
        if partitions_def_name not in snapshot:
            snapshot[partitions_def_name] = super().get_dynamic_partitions(partitions_def_name)
        return snapshot[partitions_def_name]

    def add_dynamic_partitions(
        self, partitions_def_name: str, partition_keys: Sequence[str]
    ) -> None:
        super().add_dynamic_partitions(partitions_def_name, partition_keys)
        self._forget_dynamic_partitions(partitions_def_name)

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        super().delete_dynamic_partition(partitions_def_name, partition_key)
        self._forget_dynamic_partitions(partitions_def_name)

    def _forget_dynamic_partitions(self, partitions_def_name: str) -> None:
        if self._dynamic_partitions is not None:
            self._dynamic_partitions.pop(partitions_def_name, None)

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


def _commit_without_waiting_for_disk(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
