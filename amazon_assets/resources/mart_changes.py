"""What every mart write tells the serving layer: a change record, a snapshot, a message.

The product API caches answers read from the mart and must learn when a Dagster run rewrites
mart partitions. The mart IO managers (DuckDB and PostgreSQL) call this module on every output,
so no asset has code of its own for it:

1. `record_change`, inside the write's own connection (PostgreSQL: the same transaction, so the
   record commits with the data or not at all): one row in `mart.table_changes` naming the table,
   the days rewritten and the run. Its `change_id` is the table's version: the API's ETags and
   cache entries are keyed on it, so they are equal on every worker.
2. DuckDB only: DuckDB lets one process hold a file that is being written, so the API never opens
   the warehouse. `export_serving_tables` writes each table the API reads to parquet under
   `$AMAZON_ASSETS_HOME/serving/` and swaps a manifest naming the current files; API workers
   read those files. It runs once per run (per step process with a multi-process executor), when
   the IO manager is torn down, for the tables the run wrote: a table written several times in a
   run is exported once, and the API sees the run's tables change together.
3. `publish_changes`, after the commit (DuckDB: after the export): a Redis pub/sub message on
   `<AMAZON_ASSETS_REDIS_PREFIX>:mart_changes`, so workers refresh at once instead of at their
   next poll of `mart.table_changes` (which also works without Redis).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the API imports this module without Dagster
    from dagster._core.storage.db_io_manager import TableSlice

CHANGES_SCHEMA = "mart"
CHANGES_TABLE = "table_changes"
CHANGES_KEY = f"{CHANGES_SCHEMA}.{CHANGES_TABLE}"
_SEQUENCE = f"{CHANGES_SCHEMA}.table_change_id"
MANIFEST = "manifest.json"
# The tables the product API reads; DuckDB exports these (and only these) for it.
SERVING_TABLES = frozenset(
    {
        "mart.mart_asin_daily",
        "mart.tracked_asins",
        "features.score_baseline_daily",
        "features.alerts",
        "features.competitor_comparison_daily",
        "ml.predictions_daily",
        CHANGES_KEY,
    }
)
# Readers may still be scanning the previous file of a table when a new one lands.
_KEPT_FILES_PER_TABLE = 2
# Point lookups (one ASIN) read one row group; smaller groups mean less to decompress.
_ROW_GROUP_SIZE = 16_384

Dialect = Literal["duckdb", "postgres"]


@dataclass(frozen=True)
class MartChange:
    """One write of one mart table: its new version and the days it replaced (None: all)."""

    change_id: int
    table: str  # schema.table
    first_day: date | None
    last_day: date | None
    run_id: str
    written_at: datetime

    def message(self) -> str:
        """The pub/sub message body (JSON)."""
        fields = asdict(self)
        for name in ("first_day", "last_day", "written_at"):
            value = fields[name]
            fields[name] = None if value is None else value.isoformat()
        return json.dumps(fields)


def _days(table_slice: TableSlice) -> tuple[date | None, date | None]:
    """The first and last day a slice replaces; (None, None) when it replaces the whole table."""
    from dagster._core.definitions.partitions.utils import TimeWindow

    for dimension in table_slice.partition_dimensions or ():
        if isinstance(dimension.partitions, TimeWindow):
            start, end = dimension.partitions
            return start.date(), (end - timedelta(microseconds=1)).date()
    return None, None


def _changes_ddl(dialect: Dialect) -> list[str]:
    timestamp = "TIMESTAMPTZ" if dialect == "duckdb" else "TIMESTAMP WITH TIME ZONE"
    return [
        f"CREATE SCHEMA IF NOT EXISTS {CHANGES_SCHEMA}",
        f"CREATE SEQUENCE IF NOT EXISTS {_SEQUENCE}",
        f"CREATE TABLE IF NOT EXISTS {CHANGES_KEY} (change_id BIGINT PRIMARY KEY, "
        "table_name VARCHAR NOT NULL, first_day DATE, last_day DATE, run_id VARCHAR, "
        f"written_at {timestamp} NOT NULL)",
    ]


def record_change(
    connection: Any, dialect: Dialect, table_slice: TableSlice, run_id: str
) -> MartChange:
    """Append the write of `table_slice` to mart.table_changes in `connection`; its change.

    PostgreSQL: a transaction-scoped advisory lock makes change ids commit in the order they are
    drawn, so a reader that has seen id n has seen every id below it.
    """
    first_day, last_day = _days(table_slice)
    table = f"{table_slice.schema}.{table_slice.table}"
    written_at = datetime.now(UTC)
    if dialect == "postgres":
        from amazon_assets.resources.postgres import create_if_missing

        for statement in _changes_ddl(dialect):
            create_if_missing(connection, statement)
        connection.execute("SELECT pg_advisory_xact_lock(hashtext('amazon_assets:table_changes'))")
        placeholder = "%s"
    else:
        for statement in _changes_ddl(dialect):
            connection.execute(statement)
        placeholder = "?"
    values = ", ".join([f"nextval('{_SEQUENCE}')"] + [placeholder] * 5)
    row = connection.execute(
        f"INSERT INTO {CHANGES_KEY} (change_id, table_name, first_day, last_day, run_id, "
        f"written_at) VALUES ({values}) RETURNING change_id",
        [table, first_day, last_day, run_id, written_at],
    ).fetchone()
    return MartChange(int(row[0]), table, first_day, last_day, run_id, written_at)


def ensure_serving_indexes(
    connection: Any, schema: str, table: str, columns: Sequence[str]
) -> None:
    """PostgreSQL indexes the API's lookups need: by ASIN and day, and by day."""
    from amazon_assets.resources.postgres import create_if_missing, postgres_table

    qualified = postgres_table(schema, table)
    if "asin" in columns and "report_date" in columns:
        create_if_missing(
            connection,
            f'CREATE INDEX IF NOT EXISTS "{table}_asin_day" ON {qualified} (asin, report_date)',
        )
    if "report_date" in columns:
        create_if_missing(
            connection,
            f'CREATE INDEX IF NOT EXISTS "{table}_day" ON {qualified} (report_date)',
        )


# ---------------------------------------------------------------------------------------------
# DuckDB serving snapshot
# ---------------------------------------------------------------------------------------------


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_manifest(directory: Path) -> dict[str, Any]:
    """{"tables": {schema.table: file name}, "change_id": newest} or an empty manifest."""
    try:
        return json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return {"tables": {}, "change_id": 0}


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    draft = directory / f".{MANIFEST}.{os.getpid()}"
    draft.write_text(json.dumps(manifest, sort_keys=True))
    os.replace(draft, directory / MANIFEST)  # atomic: readers see the old or the new one


def _export(connection: Any, source: str, path: Path) -> None:
    """COPY `source` (a table or a parenthesised query) to parquet at `path`, sorted by the keys
    the API looks up, then move it into place."""
    columns = {
        name for name, *_ in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    }
    order = [name for name in ("account", "asin", "report_date") if name in columns]
    order_by = f" ORDER BY {', '.join(order)}" if order else ""
    draft = path.with_name(f".{path.name}.part")
    connection.execute(
        f"COPY (SELECT * FROM {source}{order_by}) TO '{draft}' "
        f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {_ROW_GROUP_SIZE})"
    )
    os.replace(draft, path)


def export_serving_tables(
    connection: Any, directory: Path, tables: Iterable[str], change_id: int
) -> list[str]:
    """Export `tables` (those the API reads) and mart.table_changes as parquet named by
    `change_id`, then swap the manifest to them; returns the tables exported."""
    exported = sorted(set(tables) & SERVING_TABLES | {CHANGES_KEY})
    with _locked(directory):
        manifest = read_manifest(directory)
        for table in exported:
            name = f"{table}.{change_id}.parquet"
            _export(connection, table, directory / name)
            manifest["tables"][table] = name
        manifest["change_id"] = max(int(manifest.get("change_id", 0)), change_id)
        _write_manifest(directory, manifest)
        _prune(directory, manifest, exported)
    return exported


def _prune(directory: Path, manifest: dict[str, Any], tables: Iterable[str]) -> None:
    current = set(manifest["tables"].values())
    for table in tables:
        files = sorted(
            directory.glob(f"{table}.*.parquet"),
            key=lambda path: int(path.name[len(table) + 1 :].split(".")[0]),
        )
        old = [path for path in files if path.name not in current]
        for path in old[: max(0, len(old) - (_KEPT_FILES_PER_TABLE - 1))]:
            path.unlink(missing_ok=True)


_EMPTY_CHANGE_LOG = (
    "SELECT CAST(NULL AS BIGINT) AS change_id, CAST(NULL AS VARCHAR) AS table_name, "
    "CAST(NULL AS DATE) AS first_day, CAST(NULL AS DATE) AS last_day, "
    "CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS TIMESTAMPTZ) AS written_at WHERE false"
)


def snapshot_warehouse(database: Path, directory: Path) -> list[str]:
    """Export every serving table the DuckDB warehouse holds (first start of the API on a mart
    written before the snapshot existed); waits while another process writes the file."""
    from amazon_assets.resources.warehouse import _duckdb_connection

    with _duckdb_connection(str(database), read_only=True) as connection:
        present = {
            f"{schema}.{name}"
            for schema, name in connection.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
            ).fetchall()
        }
        tables = SERVING_TABLES & present
        if not tables:
            return []
        change_id = 0
        if CHANGES_KEY in present:
            newest = connection.execute(f"SELECT max(change_id) FROM {CHANGES_KEY}").fetchone()
            change_id = int(newest[0] or 0)
        with _locked(directory):
            manifest = read_manifest(directory)
            for table in sorted(tables | {CHANGES_KEY}):
                name = f"{table}.{change_id}.parquet"
                # Nothing recorded yet: an empty change log stands in for mart.table_changes.
                source = table if table in present else f"({_EMPTY_CHANGE_LOG})"
                _export(connection, source, directory / name)
                manifest["tables"][table] = name
            manifest["change_id"] = change_id
            _write_manifest(directory, manifest)
        return sorted(tables)


# ---------------------------------------------------------------------------------------------
# Redis announcement
# ---------------------------------------------------------------------------------------------


def publish_changes(redis_url: str, channel: str, changes: Sequence[MartChange]) -> int:
    """Announce `changes` on the pub/sub channel; returns how many workers received them."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        return sum(int(client.publish(channel, change.message())) for change in changes)
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------
# The IO-manager hook
# ---------------------------------------------------------------------------------------------


class ChangePublisher:
    """Records each mart write in its transaction and announces it after the commit; on DuckDB,
    exports the serving snapshot of the tables written and announces them when the run ends."""

    def __init__(
        self,
        redis_url: str | None,
        channel: str | None,
        serving_dir: str | None = None,
        database: str | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.serving_dir = Path(serving_dir) if serving_dir else None
        self.database = database
        self.pending: list[MartChange] = []

    def on_write(
        self, connection: Any, dialect: Dialect, table_slice: TableSlice, context: Any
    ) -> dict[str, Any]:
        """Inside the write: the change record; metadata for the UI."""
        change = record_change(connection, dialect, table_slice, _run_id(context))
        self.pending.append(change)
        metadata: dict[str, Any] = {"serving_change_id": change.change_id}
        if self.serving_dir is not None and change.table in SERVING_TABLES:
            metadata["serving_snapshot"] = str(self.serving_dir)
        return metadata

    def after_commit(self, log: Any) -> None:
        """Announce what was committed (DuckDB: at `finish`, once the snapshot holds it)."""
        if self.serving_dir is None:
            self._announce(log)

    def finish(self, log: Any) -> None:
        """At the end of the run: export the serving tables it wrote, then announce them."""
        if self.serving_dir is not None and self.pending:
            from amazon_assets.resources.warehouse import _duckdb_connection

            tables = {change.table for change in self.pending}
            change_id = max(change.change_id for change in self.pending)
            with _duckdb_connection(str(self.database), read_only=True) as connection:
                export_serving_tables(connection, self.serving_dir, tables, change_id)
        self._announce(log)

    def _announce(self, log: Any) -> None:
        # A Redis failure costs workers one poll, not the run.
        changes, self.pending = self.pending, []
        if not (changes and self.redis_url and self.channel):
            return
        try:
            publish_changes(self.redis_url, self.channel, changes)
        except Exception as error:  # the API falls back to polling mart.table_changes
            log.warning(f"Could not announce the mart change on Redis ({type(error).__name__}).")


def _run_id(context: Any) -> str:
    try:
        return context.run_id
    except Exception:  # a context built by hand in a unit test has no run
        return ""
