"""Reading the mart from the API: PostgreSQL (`DATABASE_URL`) or the DuckDB serving snapshot.

Both readers take the same SQL, written with psycopg's `%(name)s` parameters (the DuckDB reader
turns them into `$name`), and return rows as dicts. Calls block; the app runs them in threads.

- PostgreSQL: a small pool of read-only connections (MVCC: a Dagster run rewriting partitions
  never blocks a read, and a read sees a write's transaction whole or not at all).
- DuckDB: a DuckDB file has one writer process, and a reader process would block it. So the API
  never opens the warehouse: the mart IO manager exports the tables the API reads to parquet
  (resources/mart_changes.py) and the reader is an in-memory DuckDB whose views point at the
  files the manifest names, re-pointed when the manifest changes.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol

from amazon_assets.resources.mart_changes import (
    MANIFEST,
    SERVING_TABLES,
    read_manifest,
    snapshot_warehouse,
)
from amazon_assets.settings import Settings

_PARAMETER = re.compile(r"%\((\w+)\)s")
_STATEMENT_TIMEOUT_MS = 5000
# The mart queries of the computation in progress (GraphQL reports them: no N+1 shows there).
_query_count: ContextVar[list[int] | None] = ContextVar("mart_query_count", default=None)


@contextmanager
def counting_queries() -> Iterator[list[int]]:
    """Count the mart queries run within (in this task, its threads and the tasks it starts):
    `with counting_queries() as count: ...; count[0]`."""
    count = [0]
    token = _query_count.set(count)
    try:
        yield count
    finally:
        _query_count.reset(token)


def _counted() -> None:
    count = _query_count.get()
    if count is not None:
        count[0] += 1


class MartUnavailable(RuntimeError):
    """The mart cannot be read right now (database down, snapshot missing); retry later."""


class MissingTable(LookupError):
    """A mart table the answer needs has not been materialized yet."""


class MartReader(Protocol):
    """What services need from the mart."""

    kind: str

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of `sql` as dicts; MartUnavailable when the mart cannot be read."""
        ...

    def columns(self, table: str) -> list[str]:
        """The columns of `schema.table`, in order; [] when it does not exist."""
        ...

    def accounts(self, table: str) -> frozenset[str]:
        """The accounts `schema.table` holds rows of (kept until the next refresh)."""
        ...

    def refresh(self) -> bool:
        """Pick up a newer snapshot if there is one; True when something changed."""
        ...

    def ping(self) -> None:
        """MartUnavailable unless the mart can be read."""
        ...

    def close(self) -> None: ...


def in_list(name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """`(%(name_0)s, %(name_1)s, ...)` for `values`, adding them to `params`."""
    names = [f"{name}_{i}" for i in range(len(values))]
    params.update(zip(names, values, strict=True))
    return "(" + ", ".join(f"%({n})s" for n in names) + ")"


class PostgresMartReader:
    """Read-only pooled connections to the PostgreSQL mart."""

    kind = "postgres"

    def __init__(self, database_url: str, max_connections: int = 8) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        def configure(connection: Any) -> None:
            connection.execute("SET default_transaction_read_only = on")
            connection.execute("SET TIME ZONE 'UTC'")
            connection.execute(f"SET statement_timeout = {_STATEMENT_TIMEOUT_MS}")

        self._pool = ConnectionPool(
            database_url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "row_factory": dict_row},
            configure=configure,
            timeout=5.0,
            open=False,
            name="amazon_assets_api",
        )
        # Do not wait for the first connection: the API starts (and serves from its cache,
        # or 503) while the database is down, and connects when it is back.
        self._pool.open(wait=False)
        self._columns: dict[str, list[str]] = {}
        self._accounts: dict[str, frozenset[str]] = {}

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        import psycopg
        import psycopg_pool

        _counted()
        try:
            with self._pool.connection() as connection:
                return connection.execute(sql, params or {}).fetchall()  # type: ignore[arg-type]
        except psycopg.errors.UndefinedTable as error:
            raise MissingTable(str(error).splitlines()[0]) from None
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
            raise MartUnavailable(
                f"the PostgreSQL mart is unreachable ({type(error).__name__})"
            ) from None

    def columns(self, table: str) -> list[str]:
        if table not in self._columns:
            schema, name = table.split(".", 1)
            found = [
                row["column_name"]
                for row in self.rows(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "%(schema)s AND table_name = %(name)s ORDER BY ordinal_position",
                    {"schema": schema, "name": name},
                )
            ]
            if not found:
                return []  # not cached: the table may appear with the next mart write
            self._columns[table] = found
        return self._columns[table]

    def accounts(self, table: str) -> frozenset[str]:
        return _accounts(self, self._accounts, table)

    def refresh(self) -> bool:
        self._columns.clear()  # a write may have added columns
        self._accounts.clear()
        return True

    def ping(self) -> None:
        self.rows("SELECT 1 AS ok")

    def close(self) -> None:
        self._pool.close()


class DuckDBSnapshotReader:
    """An in-memory DuckDB reading the parquet snapshot the DuckDB mart IO manager publishes."""

    kind = "duckdb"

    def __init__(self, directory: Path, threads: int = 2) -> None:
        import duckdb

        self._directory = directory
        self._connection = duckdb.connect(":memory:", config={"threads": threads})
        # Every query reads the same few files: keep their footers instead of re-reading them.
        self._connection.execute("SET parquet_metadata_cache = true")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._manifest_stamp: tuple[int, int] | None = None
        self._tables: dict[str, str] = {}
        self._columns: dict[str, list[str]] = {}
        self._accounts: dict[str, frozenset[str]] = {}
        for schema in sorted({table.split(".")[0] for table in SERVING_TABLES}):
            self._connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        self.refresh()

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._connection.cursor()
        yield cursor

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self._directory / MANIFEST)
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_ino

    def refresh(self) -> bool:
        stamp = self._stamp()
        if stamp == self._manifest_stamp:
            return False
        with self._lock:
            if stamp == self._manifest_stamp:
                return False
            tables = read_manifest(self._directory)["tables"]
            for table, name in tables.items():
                if self._tables.get(table) != name:
                    path = str(self._directory / name).replace("'", "''")
                    self._connection.execute(
                        f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{path}')"
                    )
                    # Read its footer now, not in the first request that needs it.
                    self._connection.execute(f"SELECT * FROM {table} LIMIT 1").fetchall()
            self._tables = dict(tables)
            self._columns.clear()
            self._accounts.clear()
            self._manifest_stamp = stamp
        return True

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        import duckdb

        statement = _PARAMETER.sub(r"$\1", sql)
        # DuckDB refuses parameters a statement does not use (PostgreSQL ignores them).
        used = set(_PARAMETER.findall(sql))
        values = {name: value for name, value in (params or {}).items() if name in used}
        _counted()
        for attempt in range(2):
            try:
                with self._cursor() as cursor:
                    result = cursor.execute(statement, values)
                    names = [column[0] for column in result.description]
                    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
            except duckdb.IOException as error:
                # The file a view names was pruned after a newer snapshot: re-point and retry.
                if attempt or not self.refresh():
                    raise MartUnavailable(
                        f"the serving snapshot cannot be read ({error})"
                    ) from None
            except duckdb.CatalogException as error:
                raise MissingTable(str(error).splitlines()[0]) from None
        raise AssertionError("unreachable")

    def ping(self) -> None:
        if self._stamp() is None:
            raise MartUnavailable(
                f"no serving snapshot in {self._directory} yet: materialize the mart "
                "(`amazon-assets ingest mart`)."
            )
        self.refresh()
        missing = [name for name in self._tables.values() if not (self._directory / name).exists()]
        if missing:
            raise MartUnavailable(f"the serving snapshot lacks {', '.join(sorted(missing))}")

    def columns(self, table: str) -> list[str]:
        if table not in self._tables:
            return []
        if table not in self._columns:
            with self._cursor() as cursor:
                self._columns[table] = [
                    row[0] for row in cursor.execute(f"DESCRIBE {table}").fetchall()
                ]
        return self._columns[table]

    def accounts(self, table: str) -> frozenset[str]:
        return _accounts(self, self._accounts, table)

    def close(self) -> None:
        self._connection.close()


def _accounts(reader: MartReader, cache: dict[str, frozenset[str]], table: str) -> frozenset[str]:
    if table not in cache:
        if "account" not in reader.columns(table):
            return frozenset()
        rows = reader.rows(f"SELECT DISTINCT account FROM {table}")
        cache[table] = frozenset(row["account"] for row in rows)
    return cache[table]


def open_reader(settings: Settings, snapshot_wait_seconds: float = 60.0) -> MartReader:
    """The reader for this environment; on DuckDB, takes a first snapshot when none exists."""
    if settings.database_url:
        return PostgresMartReader(settings.database_url)
    directory = settings.serving_path
    if not (directory / MANIFEST).exists() and settings.warehouse_path.exists():
        deadline = time.monotonic() + snapshot_wait_seconds
        while True:
            try:
                snapshot_warehouse(settings.warehouse_path, directory)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
    return DuckDBSnapshotReader(directory)
