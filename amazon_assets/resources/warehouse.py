"""The silver warehouse: polars frames in DuckDB (embedded default) or BigQuery (production).

Both IO managers are Dagster's DbIOManager (asset key ["silver", "fact_x"] -> table `fact_x` of
the configured dataset, BIGQUERY_DATASET, which is also the DuckDB schema: the IO manager's
`schema`/`dataset` comes before the key prefix, so keys stay fixed whatever the dataset is called
(see amazon_assets/asset_keys.py); a write replaces the run's partition window in one
transaction: DuckDB deletes and inserts inside BEGIN ... COMMIT, BigQuery runs one multi-statement
query job, so a crash mid-write leaves the days as they were)
and share one piece of logic below: polars schema -> column types per dialect, the CREATE TABLE
and ADD COLUMN statements, and the partition-window WHERE clause of the delete and the select.
The DuckDB IO managers are here; the BigQuery one is in resources/bigquery.py, imported only
when GOOGLE_CLOUD_PROJECT selects it (its libraries take seconds to import).

Definition metadata an asset sets: `partition_expr` (the date column, e.g. "report_date") and
`cluster_by` (list of columns; BigQuery CLUSTER BY, DuckDB has no equivalent and ignores it).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import duckdb
import polars as pl
from dagster._core.definitions.partitions.utils import TimeWindow
from dagster._core.storage.db_io_manager import (
    DbIOManager,
    DbTypeHandler,
    TablePartitionDimension,
    TableSlice,
    static_where_clause,
)
from dagster_duckdb.io_manager import DuckDbClient, DuckDBIOManager

from amazon_assets import interrupts
from amazon_assets.errors import PermanentError
from amazon_assets.run_metadata import COLUMN_SCHEMA, ROW_COUNT, column_schema, rows_per_partition

if TYPE_CHECKING:
    from amazon_assets.settings import Settings

Dialect = Literal["duckdb", "bigquery", "postgres"]

# BigQuery NUMERIC holds up to 29 integer digits and 9 decimals; BIGNUMERIC 38 and 38.
_NUMERIC_MAX_SCALE, _NUMERIC_MAX_INTEGER_DIGITS = 9, 29
_MAX_DECIMAL_PRECISION = 38
_BIGQUERY_MAX_CLUSTER_COLUMNS = 4

_SIMPLE_TYPES: dict[type[pl.DataType], tuple[str, str]] = {
    pl.Boolean: ("BOOLEAN", "BOOL"),
    pl.Int8: ("BIGINT", "INT64"),
    pl.Int16: ("BIGINT", "INT64"),
    pl.Int32: ("BIGINT", "INT64"),
    pl.Int64: ("BIGINT", "INT64"),
    pl.UInt8: ("BIGINT", "INT64"),
    pl.UInt16: ("BIGINT", "INT64"),
    pl.UInt32: ("BIGINT", "INT64"),
    pl.UInt64: ("UBIGINT", "INT64"),
    pl.Int128: ("HUGEINT", "NUMERIC(38, 0)"),
    pl.Float32: ("DOUBLE", "FLOAT64"),
    pl.Float64: ("DOUBLE", "FLOAT64"),
    pl.String: ("VARCHAR", "STRING"),
    pl.Categorical: ("VARCHAR", "STRING"),
    pl.Enum: ("VARCHAR", "STRING"),
    pl.Binary: ("BLOB", "BYTES"),
    pl.Date: ("DATE", "DATE"),
    pl.Time: ("TIME", "TIME"),
}
# PostgreSQL reads DuckDB's names except these (it has no unsigned, 128-bit or BLOB types).
_POSTGRES_TYPES: dict[type[pl.DataType], str] = {
    pl.UInt64: "NUMERIC(20, 0)",
    pl.Int128: "NUMERIC(38, 0)",
    pl.Float32: "DOUBLE PRECISION",
    pl.Float64: "DOUBLE PRECISION",
    pl.Binary: "BYTEA",
}


# ---------------------------------------------------------------------------------------------
# Shared column / DDL logic
# ---------------------------------------------------------------------------------------------


def quote(name: str, dialect: Dialect) -> str:
    """A quoted identifier: "name" in DuckDB and PostgreSQL, `name` in BigQuery."""
    if dialect != "bigquery":
        return '"' + name.replace('"', '""') + '"'
    if "`" in name:
        raise ValueError(f"BigQuery column names cannot contain backticks: {name!r}.")
    return f"`{name}`"


def sql_type(dtype: pl.DataType, dialect: Dialect, column: str = "?") -> str:
    """The column type a polars dtype is stored as in `dialect`."""
    if dialect == "postgres":
        return _postgres_type(dtype, column)
    duckdb_side = dialect == "duckdb"
    if isinstance(dtype, pl.Decimal):
        precision = dtype.precision or _MAX_DECIMAL_PRECISION
        scale = dtype.scale or 0
        if duckdb_side:
            return f"DECIMAL({precision}, {scale})"
        if scale <= _NUMERIC_MAX_SCALE and precision - scale <= _NUMERIC_MAX_INTEGER_DIGITS:
            return f"NUMERIC({precision}, {scale})"
        return f"BIGNUMERIC({precision}, {scale})"
    if isinstance(dtype, pl.Datetime):
        # BigQuery TIMESTAMP is an instant; naive datetimes are stored as UTC (see `conform`).
        if duckdb_side:
            return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
        return "TIMESTAMP"
    if isinstance(dtype, pl.Duration) and duckdb_side:
        return "INTERVAL"
    if isinstance(dtype, pl.List | pl.Array):
        inner = sql_type(dtype.inner, dialect, column)
        return f"{inner}[]" if duckdb_side else f"ARRAY<{inner}>"
    if isinstance(dtype, pl.Struct):
        fields = [
            f"{quote(f.name, dialect)} {sql_type(f.dtype, dialect, column)}" for f in dtype.fields
        ]
        return f"STRUCT({', '.join(fields)})" if duckdb_side else f"STRUCT<{', '.join(fields)}>"
    types = _SIMPLE_TYPES.get(dtype.base_type())
    if types is None:
        raise TypeError(
            f"Column {column!r} has polars type {dtype}, which the {dialect} warehouse does not "
            "store; cast it to a string, number, decimal, date or datetime first."
        )
    return types[0] if duckdb_side else types[1]


def _postgres_type(dtype: pl.DataType, column: str) -> str:
    if isinstance(dtype, pl.Decimal):
        return f"NUMERIC({dtype.precision or _MAX_DECIMAL_PRECISION}, {dtype.scale or 0})"
    if isinstance(dtype, pl.Struct):
        raise TypeError(
            f"Column {column!r} is a struct, which the postgres warehouse does not store; "
            "unnest it into columns first."
        )
    if isinstance(dtype, pl.List | pl.Array):
        return f"{_postgres_type(dtype.inner, column)}[]"
    return _POSTGRES_TYPES.get(dtype.base_type()) or sql_type(dtype, "duckdb", column)


def _instances(schema: Mapping[str, Any]) -> dict[str, pl.DataType]:
    # Schemas written by hand may hold dtype classes (pl.Date) rather than instances (pl.Date()).
    return {name: dtype() if isinstance(dtype, type) else dtype for name, dtype in schema.items()}


def column_definitions(
    schema: Mapping[str, pl.DataType], dialect: Dialect
) -> list[tuple[str, str]]:
    """(name, SQL type) for every column of a polars schema."""
    return [(name, sql_type(dtype, dialect, name)) for name, dtype in _instances(schema).items()]


def create_table_sql(
    table: str,
    schema: Mapping[str, pl.DataType],
    dialect: Dialect,
    *,
    partition_expr: str | None = None,
    cluster_by: Sequence[str] = (),
) -> str:
    """CREATE TABLE IF NOT EXISTS from a polars schema; BigQuery adds PARTITION BY / CLUSTER BY."""
    columns = ",\n  ".join(
        f"{quote(name, dialect)} {type_}" for name, type_ in column_definitions(schema, dialect)
    )
    statement = f"CREATE TABLE IF NOT EXISTS {table} (\n  {columns}\n)"
    if dialect == "bigquery":
        if partition_expr:
            statement += f"\nPARTITION BY {_bigquery_partitioning(partition_expr, schema)}"
        if cluster_by:
            unknown = [name for name in cluster_by if name not in schema]
            if unknown or len(cluster_by) > _BIGQUERY_MAX_CLUSTER_COLUMNS:
                raise ValueError(
                    f"cluster_by must name at most {_BIGQUERY_MAX_CLUSTER_COLUMNS} columns of the "
                    f"frame; got {list(cluster_by)} (unknown: {unknown})."
                )
            statement += "\nCLUSTER BY " + ", ".join(quote(name, dialect) for name in cluster_by)
    return statement


def _bigquery_partitioning(partition_expr: str, schema: Mapping[str, pl.DataType]) -> str:
    dtype = _instances(schema).get(partition_expr)
    if dtype is None:  # an expression, used as written
        return partition_expr
    if isinstance(dtype, pl.Date):
        return quote(partition_expr, "bigquery")
    if isinstance(dtype, pl.Datetime):
        return f"TIMESTAMP_TRUNC({quote(partition_expr, 'bigquery')}, DAY)"
    raise ValueError(
        f"partition_expr column {partition_expr!r} is {dtype}; BigQuery partitions by a date or "
        "datetime column."
    )


def missing_columns(
    schema: Mapping[str, pl.DataType], existing: Sequence[str], dialect: Dialect
) -> list[tuple[str, str]]:
    """The frame's columns the table lacks, with their SQL types."""
    present = {name.lower() for name in existing}
    return [(n, t) for n, t in column_definitions(schema, dialect) if n.lower() not in present]


def add_columns_sql(table: str, columns: Sequence[tuple[str, str]], dialect: Dialect) -> list[str]:
    """ALTER TABLE statements adding `columns` (one statement in BigQuery, one each in DuckDB)."""
    if not columns:
        return []
    clauses = [
        f"ADD COLUMN IF NOT EXISTS {quote(name, dialect)} {type_}" for name, type_ in columns
    ]
    if dialect == "bigquery":
        return [f"ALTER TABLE {table} " + ", ".join(clauses)]
    return [f"ALTER TABLE {table} {clause}" for clause in clauses]


def conform(frame: pl.DataFrame, dialect: Dialect) -> pl.DataFrame:
    """Cast columns to what the table stores, so a load writes exactly the declared types."""
    casts = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Categorical | pl.Enum):
            casts.append(column.cast(pl.String))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone:
            casts.append(column.dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
        elif isinstance(dtype, pl.Datetime) and dialect == "bigquery":
            casts.append(column.dt.replace_time_zone("UTC").dt.cast_time_unit("us"))
        elif dialect == "bigquery" and dtype.is_integer() and dtype != pl.Int64:
            casts.append(column.cast(pl.Decimal(38, 0) if dtype == pl.Int128 else pl.Int64))
        elif dialect == "bigquery" and dtype == pl.Float32:
            casts.append(column.cast(pl.Float64))
        elif isinstance(dtype, pl.Decimal) and dtype.precision is None:
            casts.append(column.cast(pl.Decimal(_MAX_DECIMAL_PRECISION, dtype.scale or 0)))
    return frame.with_columns(casts) if casts else frame


def _is_midnight(moment: datetime) -> bool:
    return (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0)


def _time_window_where_clause(dimension: TablePartitionDimension) -> str:
    start, end = dimension.partitions  # type: ignore[misc]
    if _is_midnight(start) and _is_midnight(end):
        # Day-aligned windows compare as dates: BigQuery refuses to cast '2026-01-05 00:00:00'
        # to DATE (dagster-io/dagster#13147), while '2026-01-05' compares with DATE, DATETIME and
        # TIMESTAMP columns alike, in both dialects.
        low, high = start.date().isoformat(), end.date().isoformat()
    else:
        low, high = start.strftime("%Y-%m-%d %H:%M:%S"), end.strftime("%Y-%m-%d %H:%M:%S")
    expr = dimension.partition_expr
    return f"{expr} >= '{low}' AND {expr} < '{high}'"


def partition_where_clause(dimensions: Sequence[TablePartitionDimension]) -> str:
    """The WHERE clause selecting a table slice's partitions, the same in both dialects."""
    return " AND\n".join(
        _time_window_where_clause(dimension)
        if isinstance(dimension.partitions, TimeWindow)
        else static_where_clause(dimension)
        for dimension in dimensions
    )


def delete_sql(table: str, table_slice: TableSlice) -> str:
    """DELETE the slice's partition window (the whole table when unpartitioned)."""
    if not table_slice.partition_dimensions:
        return f"DELETE FROM {table} WHERE TRUE"
    return f"DELETE FROM {table} WHERE\n" + partition_where_clause(table_slice.partition_dimensions)


def select_sql(table: str, table_slice: TableSlice) -> str:
    """SELECT the slice's columns and partitions."""
    columns = ", ".join(table_slice.columns) if table_slice.columns else "*"
    statement = f"SELECT {columns} FROM {table}"
    if table_slice.partition_dimensions:
        statement += " WHERE\n" + partition_where_clause(table_slice.partition_dimensions)
    return statement


def duckdb_table(table_slice: TableSlice) -> str:
    return f"{quote(table_slice.schema, 'duckdb')}.{quote(table_slice.table, 'duckdb')}"


def bigquery_table(table_slice: TableSlice) -> str:
    return f"`{table_slice.database}.{table_slice.schema}.{table_slice.table}`"


def check_rows_in_window(frame: pl.DataFrame, table_slice: TableSlice) -> None:
    """Refuse rows outside the run's days: the next run of a day could not replace them."""
    for dimension in table_slice.partition_dimensions or ():
        name = dimension.partition_expr
        if not isinstance(dimension.partitions, TimeWindow) or name not in frame.columns:
            continue
        start, end = dimension.partitions
        if not (_is_midnight(start) and _is_midnight(end)):
            continue
        column = frame[name]
        if isinstance(column.dtype, pl.Datetime):
            column = column.dt.date()
        if not isinstance(column.dtype, pl.Date):
            continue
        outside = frame.filter((column < start.date()) | (column >= end.date()) | column.is_null())
        if len(outside):
            raise ValueError(
                f"{len(outside)} row(s) have {name} outside this run's partitions "
                f"[{start.date()}, {end.date()}), e.g. {outside[name][0]}; a partitioned asset "
                "returns rows of its own days only."
            )


def normalize_loaded(frame: pl.DataFrame) -> pl.DataFrame:
    """Loaded instants in "UTC" (DuckDB says "Etc/UTC"), so both warehouses return one schema."""
    utc = [
        pl.col(name).dt.convert_time_zone("UTC")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone and dtype.time_zone != "UTC"
    ]
    return frame.with_columns(utc) if utc else frame


def _output_metadata(frame: pl.DataFrame) -> dict[str, Any]:
    # The run's rows; the IO manager adds each partition's and the column schema (run_metadata).
    return {ROW_COUNT: len(frame)}


# ---------------------------------------------------------------------------------------------
# DuckDB
# ---------------------------------------------------------------------------------------------


@contextmanager
def duckdb_transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: a write's delete of its days and its insert commit together, so a
    process killed in between leaves the days as they were (DuckDB autocommits otherwise)."""
    connection.begin()
    try:
        yield
    except BaseException:
        connection.rollback()
        raise
    connection.commit()


class WarehouseDuckDbClient(DuckDbClient):
    """Dagster's DuckDB client with the shared SQL; connects through `_duckdb_connection`."""

    @staticmethod
    @contextmanager
    def connect(context, _) -> Iterator[duckdb.DuckDBPyConnection]:
        # Dagster's own connect retries every I/O error for about a minute, a corrupt file too.
        config = context.resource_config
        with (
            _duckdb_connection(
                config["database"], read_only=False, config=config.get("connection_config")
            ) as connection,
            duckdb_transaction(connection),
        ):
            yield connection

    @staticmethod
    def delete_table_slice(context: dg.OutputContext, table_slice: TableSlice, connection) -> None:
        # A missing table is fine: the type handler creates it.
        with suppress(duckdb.CatalogException):
            connection.execute(delete_sql(duckdb_table(table_slice), table_slice))

    @staticmethod
    def get_select_statement(table_slice: TableSlice) -> str:
        return select_sql(duckdb_table(table_slice), table_slice)

    @staticmethod
    def get_table_name(table_slice: TableSlice) -> str:
        # The database is a file path: keep it out of the table name users see in the UI.
        return f"{table_slice.schema}.{table_slice.table}"


def create_or_widen_duckdb_table(
    connection: duckdb.DuckDBPyConnection, table_slice: TableSlice, schema: Mapping[str, Any]
) -> None:
    """The slice's table, created from `schema` if missing, with the columns it lacks added."""
    table = duckdb_table(table_slice)
    connection.execute(create_table_sql(table, schema, "duckdb"))
    existing = [
        row[0]
        for row in connection.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = ? AND table_name = ?",
            [table_slice.schema, table_slice.table],
        ).fetchall()
    ]
    for statement in add_columns_sql(table, missing_columns(schema, existing, "duckdb"), "duckdb"):
        connection.execute(statement)


class DuckDBPolarsWarehouseTypeHandler(DbTypeHandler[pl.DataFrame]):
    """Writes polars frames by column name into a table created from the frame's schema."""

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pl.DataFrame, connection
    ) -> Mapping[str, Any]:
        frame = conform(obj, "duckdb")
        if not frame.columns:
            context.log.warning("The frame has no columns: nothing to create or write.")
            return _output_metadata(frame)
        check_rows_in_window(frame, table_slice)
        table = duckdb_table(table_slice)  # created or widened before the write's transaction
        if len(frame):
            connection.register("_warehouse_frame", frame.to_arrow())
            try:
                connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _warehouse_frame")
            finally:
                connection.unregister("_warehouse_frame")
        return _output_metadata(frame)

    def load_input(
        self, context: dg.InputContext, table_slice: TableSlice, connection
    ) -> pl.DataFrame:
        if table_slice.partition_dimensions and not context.asset_partition_keys:
            return pl.DataFrame()
        select = WarehouseDuckDbClient.get_select_statement(table_slice)
        return normalize_loaded(connection.execute(select).pl())

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pl.DataFrame]


class _WarehouseDbIOManager(DbIOManager):
    """DbIOManager that can resolve dynamic partitions (e.g. seller accounts x days).

    Dagster's DbIOManager lists a dynamic dimension's keys without the instance, which fails
    outside a partition-loading context; the run's instance is the store that holds them.
    """

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        with dg.partition_loading_context(dynamic_partitions_store=_instance(context)):
            if isinstance(self._db_client, WarehouseDuckDbClient) and _has_columns(obj):
                # DuckDB cannot commit a delete and an ALTER TABLE of one table in one
                # transaction ("another transaction has altered this table"): columns a newer
                # version adds (new features) are added in their own transaction first.
                table_slice = self._get_table_slice(context, context)
                with self._db_client.connect(context, table_slice) as connection:
                    self._db_client.ensure_schema_exists(context, table_slice, connection)
                    create_or_widen_duckdb_table(
                        connection, table_slice, conform(obj, "duckdb").schema
                    )
            super().handle_output(context, obj)
            if isinstance(obj, pl.DataFrame):
                _add_partition_metadata(context, obj)

    def load_input(self, context: dg.InputContext) -> object:
        with dg.partition_loading_context(dynamic_partitions_store=_instance(context)):
            return super().load_input(context)


def _has_columns(obj: object) -> bool:
    return isinstance(obj, pl.DataFrame) and bool(obj.columns)


def _add_partition_metadata(context: dg.OutputContext, frame: pl.DataFrame) -> None:
    """Each partition's row count on its own materialization and the column schema once, on the
    run's last partition (see amazon_assets.run_metadata); all of it on a one-partition write."""
    keys = context.asset_partition_keys if context.has_asset_partitions else []
    schema = {COLUMN_SCHEMA: column_schema(frame)}
    try:
        step = context.step_context
    except Exception:  # a context built by hand in a unit test has no step
        step = None
    if len(keys) < 2 or step is None:
        context.add_output_metadata(schema)
        return
    counts = rows_per_partition(
        frame,
        context.asset_partitions_def,
        (context.definition_metadata or {}).get("partition_expr"),
        keys,
    )
    for key, rows in (counts or {}).items():
        step.add_asset_metadata({ROW_COUNT: rows}, asset_key=context.asset_key, partition_key=key)
    step.add_asset_metadata(schema, asset_key=context.asset_key, partition_key=keys[-1])


def _instance(context: dg.OutputContext | dg.InputContext) -> dg.DagsterInstance | None:
    try:
        return context.step_context.instance
    except Exception:  # a context built by hand in a unit test has no step
        return None


class DuckDBWarehouseIOManager(DuckDBIOManager):
    """Silver tables in a DuckDB file: one table per asset, partitions replaced on every write."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [DuckDBPolarsWarehouseTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pl.DataFrame

    def create_io_manager(self, context) -> DbIOManager:
        return _WarehouseDbIOManager(
            db_client=WarehouseDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="DuckDBWarehouseIOManager",
        )


class _PublishingDbIOManager(_WarehouseDbIOManager):
    """Announces the mart changes its type handler recorded once the write has committed."""

    def __init__(self, *, publisher, **kwargs) -> None:
        super().__init__(**kwargs)
        self.publisher = publisher

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        super().handle_output(context, obj)
        self.publisher.after_commit(context.log)


class DuckDBMartTypeHandler(DuckDBPolarsWarehouseTypeHandler):
    """Writes like the warehouse, then records the change and refreshes the API's snapshot."""

    def __init__(self, publisher) -> None:
        self.publisher = publisher

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pl.DataFrame, connection
    ) -> Mapping[str, Any]:
        metadata = super().handle_output(context, table_slice, obj, connection)
        return {**metadata, **self.publisher.on_write(connection, "duckdb", table_slice, context)}


class DuckDBMartIOManager(DuckDBWarehouseIOManager):
    """The mart in the DuckDB warehouse file; every write also tells the product API
    (resources/mart_changes.py): a change record, then at the end of the run a parquet snapshot
    of the tables written and a Redis message."""

    serving_dir: str | None = None
    redis_url: str | None = None
    changes_channel: str | None = None

    @contextmanager
    def yield_for_execution(
        self, context: dg.InitResourceContext
    ) -> Iterator[_PublishingDbIOManager]:
        io_manager = self.create_io_manager(context)
        try:
            yield io_manager
        finally:
            io_manager.publisher.finish(context.log)

    def create_io_manager(self, context) -> _PublishingDbIOManager:
        from amazon_assets.resources.mart_changes import ChangePublisher

        publisher = ChangePublisher(
            self.redis_url, self.changes_channel, self.serving_dir, self.database
        )
        return _PublishingDbIOManager(
            publisher=publisher,
            db_client=WarehouseDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=[DuckDBMartTypeHandler(publisher)],
            default_load_type=pl.DataFrame,
            io_manager_name="DuckDBMartIOManager",
        )


# ---------------------------------------------------------------------------------------------
# Resource for checks and ad-hoc queries
# ---------------------------------------------------------------------------------------------

_LOCK_RETRY_SECONDS = 60.0
# DuckDB says this when another process holds the file's write lock; any other I/O error at
# connect time means the file itself is damaged, which waiting does not cure.
_LOCK_HELD = "Could not set lock on file"


def _corrupt_database(database: str, error: duckdb.Error) -> PermanentError:
    reason = " ".join(str(error).split()).removeprefix("IO Error: ")
    return PermanentError(
        f"The DuckDB warehouse {database} is corrupt or not a DuckDB file ({reason}); restore it "
        "from a backup, or move it away and load the days again (bronze keeps every document)."
    )


@contextmanager
def _duckdb_connection(
    database: str, read_only: bool, config: Mapping[str, Any] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection; waits (with jittered backoff) while another process writes, and
    names a damaged file at once."""
    if read_only and not Path(database).exists():
        read_only = False  # a read-only connection cannot create the file
    deadline = time.monotonic() + _LOCK_RETRY_SECONDS
    delay = 0.05
    while True:
        try:
            connection = duckdb.connect(database, read_only=read_only, config=dict(config or {}))
            break
        except duckdb.ConnectionException:
            if not read_only:
                raise
            # This process already holds a read-write connection to the file (DuckDB allows one
            # configuration per file and process): share it instead of waiting for ourselves.
            read_only = False
        except duckdb.IOException as error:
            if _LOCK_HELD not in str(error):
                raise _corrupt_database(database, error) from error
            if time.monotonic() > deadline:
                raise
            interrupts.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
    try:
        yield connection
    finally:
        connection.close()


@contextmanager
def warehouse_kept_open(settings: Settings) -> Iterator[None]:
    """Within: this process keeps the embedded DuckDB warehouse open, so every connection its
    run's steps open shares it instead of opening the file and checkpointing it when closed
    (seven steps, two to four connections each, in a mart run); one checkpoint at the end.
    Other processes wait for the file meanwhile, so only runs of seconds per day (the mart's)
    use it. BigQuery or PostgreSQL: nothing to keep."""
    if settings.uses_bigquery and settings.database_url:
        yield
        return
    with _duckdb_connection(str(settings.warehouse_path), read_only=False):
        yield


class WarehouseResource(dg.ConfigurableResource):
    """Queries the warehouse the IO manager writes to (for asset checks and reports)."""

    kind: Literal["duckdb", "bigquery"] = "duckdb"
    database: str | None = None
    project: str | None = None
    location: str | None = None

    def table(self, schema: str, name: str) -> str:
        """The qualified table name to use in SQL for this warehouse."""
        if self.kind == "bigquery":
            return f"`{self._project()}.{schema}.{name}`"
        return f"{schema}.{name}"

    def query(self, sql: str, *, read_only: bool = True) -> pl.DataFrame:
        """Run `sql` and return its result as a polars frame."""
        if self.kind == "bigquery":
            from google.cloud import bigquery

            client = bigquery.Client(project=self._project(), location=self.location)
            try:
                return normalize_loaded(pl.from_arrow(client.query(sql).to_arrow()))  # type: ignore[arg-type]
            finally:
                client.close()
        if not self.database:
            raise ValueError("WarehouseResource(kind='duckdb') needs `database`, the DuckDB file.")
        with _duckdb_connection(self.database, read_only) as connection:
            return normalize_loaded(connection.execute(sql).pl())

    def _project(self) -> str:
        if not self.project:
            raise ValueError(
                "WarehouseResource(kind='bigquery') needs `project` (GOOGLE_CLOUD_PROJECT)."
            )
        return self.project


def warehouse_from_settings(
    settings: Settings,
) -> tuple[dg.ConfigurableIOManagerFactory, WarehouseResource]:
    """The IO manager and query resource: BigQuery when GOOGLE_CLOUD_PROJECT is set, else DuckDB.
    Silver keys (["silver", table]) land in the configured dataset (the DuckDB schema)."""
    dataset = settings.bigquery_dataset
    if settings.gcp_project:
        from amazon_assets.resources.bigquery import BigQueryWarehouseIOManager

        return (
            BigQueryWarehouseIOManager(project=settings.gcp_project, dataset=dataset),
            WarehouseResource(kind="bigquery", project=settings.gcp_project),
        )
    database = str(settings.warehouse_path)
    return (
        DuckDBWarehouseIOManager(database=database, schema=dataset),
        WarehouseResource(kind="duckdb", database=database),
    )
