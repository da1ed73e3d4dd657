"""The mart in PostgreSQL (`DATABASE_URL`): polars frames written with COPY, one table per asset.

`PostgresWarehouseIOManager` is Dagster's DbIOManager like the DuckDB and BigQuery warehouse IO
managers (asset key ["mart", "mart_asin_daily"] -> schema `mart`, table `mart_asin_daily`) and
shares their column and partition SQL (resources/warehouse.py, dialect "postgres"). One output is
one transaction: create the schema and table if missing, delete the run's partition window, COPY
the frame in as CSV written by polars; a failure rolls all of it back, so a day is either replaced
whole or left as it was. Loads stream `COPY (SELECT ...) TO STDOUT` back into polars.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import polars as pl
import psycopg
from dagster._core.storage.db_io_manager import DbClient, DbIOManager, DbTypeHandler, TableSlice
from psycopg.conninfo import conninfo_to_dict

from amazon_assets.errors import DatabaseUnreachableError
from amazon_assets.resources.warehouse import (
    DuckDBMartIOManager,
    WarehouseResource,
    _output_metadata,
    add_columns_sql,
    check_rows_in_window,
    conform,
    create_table_sql,
    delete_sql,
    missing_columns,
    quote,
    select_sql,
)

if TYPE_CHECKING:
    from amazon_assets.settings import Settings

_DIALECT: Literal["postgres"] = "postgres"
# Instants travel as text with an explicit offset; the session runs in UTC so loads read "+00".
_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S%.6f%:z"
_NAIVE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S%.6f"
_COPY_CHUNK_BYTES = 8 << 20


def postgres_table(schema: str, table: str) -> str:
    """A quoted schema.table name."""
    return f"{quote(schema, _DIALECT)}.{quote(table, _DIALECT)}"


def connect(database_url: str, variable: str = "DATABASE_URL") -> psycopg.Connection:
    """A connection in UTC, outside autocommit: the caller's block is one transaction.

    A server that cannot be reached is named with the variable that points at it (never with
    the URL's password).
    """
    try:
        connection = psycopg.connect(database_url)
    except psycopg.OperationalError as error:
        raise DatabaseUnreachableError(
            f"Cannot connect to the PostgreSQL database of {variable} "
            f"({describe_database(database_url)}): {first_line(error)}."
        ) from error
    connection.execute("SET TIME ZONE 'UTC'")
    return connection


def describe_database(database_url: str) -> str:
    """user@host:port/database of a PostgreSQL URL, without its password."""
    try:
        info = conninfo_to_dict(database_url)
    except psycopg.ProgrammingError:
        return "an unparsable URL"
    user = f"{info['user']}@" if info.get("user") else ""
    return f"{user}{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def first_line(error: BaseException) -> str:
    """The first line of an error's message, without a trailing period."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")


def table_columns(connection: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    """(name, formatted type) of an existing table's columns, in order; [] when it is missing."""
    rows = connection.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod)"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        [schema, table],
    ).fetchall()
    return [(name, type_) for name, type_ in rows]


def copy_frame(connection: psycopg.Connection, table: str, frame: pl.DataFrame) -> None:
    """Append `frame` to `table` with COPY FROM STDIN (CSV: exact decimals, "" distinct from NULL)."""
    columns = ", ".join(quote(name, _DIALECT) for name in frame.columns)
    buffer = io.BytesIO()
    frame.write_csv(buffer, datetime_format=_DATETIME_FORMAT)
    buffer.seek(0)
    with connection.cursor() as cursor:
        statement = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv, HEADER true)"
        with cursor.copy(statement) as copy:  # type: ignore[arg-type]
            while chunk := buffer.read(_COPY_CHUNK_BYTES):
                copy.write(chunk)


def _polars_type(pg_type: str) -> pl.DataType | None:
    """The polars dtype a PostgreSQL column loads as; None keeps the text (e.g. NUMERIC without
    a scale, which no polars decimal holds exactly)."""
    base = pg_type.split("(")[0].strip()
    if base == "numeric" and "(" in pg_type:
        precision, scale = pg_type[pg_type.index("(") + 1 : -1].split(",")
        return pl.Decimal(int(precision), int(scale))
    if pg_type.endswith("[]"):
        return None
    return {
        "bigint": pl.Int64(),
        "integer": pl.Int64(),
        "smallint": pl.Int64(),
        "double precision": pl.Float64(),
        "real": pl.Float64(),
        "boolean": pl.Boolean(),
        "date": pl.Date(),
        "time without time zone": pl.Time(),
        "timestamp with time zone": pl.Datetime("us", "UTC"),
        "timestamp without time zone": pl.Datetime("us"),
    }.get(base)


def _typed(column: str, dtype: pl.DataType | None) -> pl.Expr:
    text = pl.col(column)
    if dtype is None:
        return text
    if isinstance(dtype, pl.Boolean):
        return text.replace_strict({"t": True, "f": False}, default=None, return_dtype=pl.Boolean)
    if isinstance(dtype, pl.Date):
        return text.str.to_date("%Y-%m-%d")
    if isinstance(dtype, pl.Time):
        return text.str.to_time("%H:%M:%S%.f")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        return text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%#z", time_unit="us", time_zone="UTC")
    if isinstance(dtype, pl.Datetime):
        return text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us")
    return text.cast(dtype)


def read_frame(
    connection: psycopg.Connection, select: str, columns: Sequence[tuple[str, str]]
) -> pl.DataFrame:
    """The result of `select` (whose columns are `columns`, (name, PG type)) as a typed frame."""
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        # FORCE_QUOTE marks every non-null value, so an empty string never reads back as NULL.
        statement = f"COPY ({select}) TO STDOUT (FORMAT csv, HEADER true, FORCE_QUOTE *)"
        with cursor.copy(statement) as copy:  # type: ignore[arg-type]
            for chunk in copy:
                buffer.write(chunk)
    names = [name for name, _ in columns]
    if buffer.tell() == 0:
        text = pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    else:
        text = pl.read_csv(buffer.getvalue(), infer_schema=False, new_columns=names)
    return text.select(_typed(name, _polars_type(type_)) for name, type_ in columns)


def create_if_missing(connection: psycopg.Connection, statement: str) -> None:
    """Run a CREATE ... IF NOT EXISTS that a concurrent writer may win; its win is ours too."""
    try:
        # A savepoint: the race's error must not abort the caller's transaction.
        with connection.transaction():
            connection.execute(statement)  # type: ignore[arg-type]
    except psycopg.errors.UniqueViolation:
        pass  # IF NOT EXISTS checks the catalog before a concurrent creation commits


class PostgresClient(DbClient[psycopg.Connection]):
    """Dagster's DbClient for PostgreSQL with the warehouse's shared partition SQL."""

    @staticmethod
    def delete_table_slice(context: dg.OutputContext, table_slice: TableSlice, connection) -> None:
        # Writers of one table take turns until commit: two runs replacing the same day at once
        # would otherwise both delete, then both insert, and leave the day twice.
        connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            [f"amazon_assets:{table_slice.schema}.{table_slice.table}"],
        )
        # A failed statement aborts the transaction, so test for the table instead of catching.
        if table_columns(connection, table_slice.schema, table_slice.table):
            table = postgres_table(table_slice.schema, table_slice.table)
            connection.execute(delete_sql(table, table_slice))

    @staticmethod
    def get_select_statement(table_slice: TableSlice) -> str:
        return select_sql(postgres_table(table_slice.schema, table_slice.table), table_slice)

    @staticmethod
    def get_table_name(table_slice: TableSlice) -> str:
        # The database is a URL with credentials: keep it out of what the UI shows.
        return f"{table_slice.schema}.{table_slice.table}"

    @staticmethod
    def ensure_schema_exists(
        context: dg.OutputContext, table_slice: TableSlice, connection
    ) -> None:
        create_if_missing(
            connection, f"CREATE SCHEMA IF NOT EXISTS {quote(table_slice.schema, _DIALECT)}"
        )

    @staticmethod
    @contextmanager
    def connect(
        context: dg.OutputContext | dg.InputContext, table_slice: TableSlice
    ) -> Iterator[psycopg.Connection]:
        # Leaving the block commits (schema, delete and COPY together) or rolls back on error.
        with connect(context.resource_config["database_url"]) as connection:  # type: ignore[index]
            yield connection


class PostgresPolarsTypeHandler(DbTypeHandler[pl.DataFrame]):
    """Writes polars frames with COPY into a table created from the frame's schema."""

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pl.DataFrame, connection
    ) -> Mapping[str, Any]:
        frame = conform(obj, _DIALECT)
        if not frame.columns:
            context.log.warning("The frame has no columns: nothing to create or write.")
            return _output_metadata(frame)
        check_rows_in_window(frame, table_slice)
        table = postgres_table(table_slice.schema, table_slice.table)
        create_if_missing(connection, create_table_sql(table, frame.schema, _DIALECT))
        existing = [name for name, _ in table_columns(connection, *_names(table_slice))]
        for statement in add_columns_sql(
            table, missing_columns(frame.schema, existing, _DIALECT), _DIALECT
        ):
            connection.execute(statement)
        if len(frame):
            copy_frame(connection, table, frame)
        return _output_metadata(frame)

    def load_input(
        self, context: dg.InputContext, table_slice: TableSlice, connection
    ) -> pl.DataFrame:
        if table_slice.partition_dimensions and not context.asset_partition_keys:
            return pl.DataFrame()
        columns = table_columns(connection, *_names(table_slice))
        if not columns:
            raise dg.Failure(
                f"Table {table_slice.schema}.{table_slice.table} does not exist in DATABASE_URL: "
                "materialize its asset first."
            )
        if table_slice.columns:
            wanted = {name: type_ for name, type_ in columns}
            columns = [(name, wanted[name]) for name in table_slice.columns]
        return read_frame(connection, PostgresClient.get_select_statement(table_slice), columns)

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pl.DataFrame]


def _names(table_slice: TableSlice) -> tuple[str, str]:
    return table_slice.schema, table_slice.table


class PostgresMartTypeHandler(PostgresPolarsTypeHandler):
    """Writes with COPY, then, in the same transaction, the indexes the product API looks up by
    and the change record that versions its cache (resources/mart_changes.py)."""

    def __init__(self, publisher) -> None:
        self.publisher = publisher

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pl.DataFrame, connection
    ) -> Mapping[str, Any]:
        from amazon_assets.resources.mart_changes import ensure_serving_indexes

        metadata = super().handle_output(context, table_slice, obj, connection)
        columns = [name for name, _ in table_columns(connection, *_names(table_slice))]
        ensure_serving_indexes(connection, table_slice.schema, table_slice.table, columns)
        return {**metadata, **self.publisher.on_write(connection, _DIALECT, table_slice, context)}


class PostgresWarehouseIOManager(dg.ConfigurableIOManagerFactory):
    """Mart tables in PostgreSQL: one table per asset, partitions replaced in one transaction;
    each write is recorded in mart.table_changes and announced on Redis for the product API."""

    # A postgresql:// URL; wire dg.EnvVar("DATABASE_URL") so the password stays out of the UI.
    database_url: str
    redis_url: str | None = None  # dg.EnvVar("REDIS_URL") when set
    changes_channel: str | None = None

    def create_io_manager(self, context) -> DbIOManager:
        from amazon_assets.resources.mart_changes import ChangePublisher
        from amazon_assets.resources.warehouse import _PublishingDbIOManager

        publisher = ChangePublisher(self.redis_url, self.changes_channel)
        return _PublishingDbIOManager(
            publisher=publisher,
            db_client=PostgresClient(),
            database="postgres",
            schema=None,
            type_handlers=[PostgresMartTypeHandler(publisher)],
            default_load_type=pl.DataFrame,
            io_manager_name="PostgresWarehouseIOManager",
        )


class PostgresResource(dg.ConfigurableResource):
    """Queries the PostgreSQL mart (the `query`/`table` interface of WarehouseResource)."""

    database_url: str
    kind: Literal["postgres"] = "postgres"

    def table(self, schema: str, name: str) -> str:
        """The qualified table name to use in SQL."""
        return postgres_table(schema, name)

    def query(self, sql: str, *, read_only: bool = True) -> pl.DataFrame:
        """Run `sql` in its own transaction; rows it returns as a polars frame (else empty)."""
        with connect(self.database_url) as connection:
            if read_only:
                connection.execute("SET TRANSACTION READ ONLY")
            cursor = connection.execute(sql)  # type: ignore[arg-type]
            if cursor.description is None:
                return pl.DataFrame()
            names = [column.name for column in cursor.description]
            rows = cursor.fetchall()
        return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def mart_warehouse_from_settings(
    settings: Settings, *, secret_from_env: bool = True
) -> tuple[PostgresWarehouseIOManager | DuckDBMartIOManager, PostgresResource | WarehouseResource]:
    """The mart's IO manager and query resource: PostgreSQL when DATABASE_URL is set, else DuckDB.

    In definitions the URL is a dg.EnvVar, read at run time, so its password never shows in the
    UI; commands querying outside a run pass `secret_from_env=False` to use the value itself.
    """
    serving = settings.serving
    redis_url = None
    if serving.redis_url:
        redis_url = dg.EnvVar("REDIS_URL") if secret_from_env else serving.redis_url
    announce = {"redis_url": redis_url, "changes_channel": serving.mart_changes_channel}
    if settings.database_url:
        url = dg.EnvVar("DATABASE_URL") if secret_from_env else settings.database_url
        return (
            PostgresWarehouseIOManager(database_url=url, **announce),
            PostgresResource(database_url=url),
        )
    database = str(settings.warehouse_path)
    return DuckDBMartIOManager(
        database=database, serving_dir=str(settings.serving_path), **announce
    ), WarehouseResource(kind="duckdb", database=database)
