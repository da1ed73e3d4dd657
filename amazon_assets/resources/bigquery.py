"""The silver warehouse in BigQuery (production): Dagster's BigQuery IO manager with the shared
SQL of amazon_assets.resources.warehouse (types, CREATE TABLE, partition windows).

A module of its own because google-cloud-bigquery and dagster-gcp take seconds to import: the
embedded default (DuckDB) never imports them, so every command starts that much sooner.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

import dagster as dg
import polars as pl
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster_gcp.bigquery.io_manager import BigQueryClient, BigQueryIOManager

from amazon_assets.resources.warehouse import (
    _output_metadata,
    _WarehouseDbIOManager,
    add_columns_sql,
    bigquery_table,
    check_rows_in_window,
    conform,
    create_table_sql,
    delete_sql,
    missing_columns,
    normalize_loaded,
    quote,
    select_sql,
)


def bigquery_load_job_config() -> Any:
    """Append parquet written by polars; decimals land as NUMERIC, or BIGNUMERIC when too wide."""
    from google.cloud import bigquery

    parquet_options = bigquery.ParquetOptions()
    parquet_options.enable_list_inference = True
    return bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
        decimal_target_types=["NUMERIC", "BIGNUMERIC"],
        parquet_options=parquet_options,
    )


def bigquery_staging_table(table_slice: TableSlice, token: str) -> str:
    """A one-day table beside the target that holds a write's rows until its replace commits."""
    name = f"_staging_{table_slice.table}_{token}"
    return f"`{table_slice.database}.{table_slice.schema}.{name}`"


def bigquery_replace_script(
    table: str, table_slice: TableSlice, columns: Sequence[str], staging: str | None
) -> str:
    """One multi-statement job replacing the slice's days: the delete and the insert of the
    staged rows commit together, and a failed or abandoned job changes nothing."""
    statements = ["BEGIN TRANSACTION"]
    if table_slice.partition_dimensions:
        statements.append(delete_sql(table, table_slice))
    if staging is not None:
        names = ", ".join(quote(name, "bigquery") for name in columns)
        statements.append(f"INSERT INTO {table} ({names})\nSELECT {names} FROM {staging}")
    statements.append("COMMIT TRANSACTION")
    return ";\n".join(statements) + ";"


class WarehouseBigQueryClient(BigQueryClient):
    """Dagster's BigQuery client with the shared partition SQL (dates compare as DATE)."""

    @staticmethod
    def delete_table_slice(context: dg.OutputContext, table_slice: TableSlice, connection) -> None:
        # Days are replaced by the type handler, delete and insert in one transaction; a table
        # without partitions keeps Dagster's write_mode (truncate, append or replace).
        if not table_slice.partition_dimensions:
            BigQueryClient.delete_table_slice(context, table_slice, connection)

    @staticmethod
    def get_select_statement(table_slice: TableSlice) -> str:
        return select_sql(bigquery_table(table_slice), table_slice)

    @staticmethod
    def ensure_schema_exists(
        context: dg.OutputContext, table_slice: TableSlice, connection
    ) -> None:
        connection.query(
            f"CREATE SCHEMA IF NOT EXISTS `{table_slice.database}.{table_slice.schema}`"
        ).result()


class BigQueryPolarsWarehouseTypeHandler(DbTypeHandler[pl.DataFrame]):
    """Creates the partitioned, clustered table from the frame's schema, loads the parquet into a
    staging table and replaces the run's days from it in one transaction."""

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pl.DataFrame, connection
    ) -> Mapping[str, Any]:
        from google.api_core.exceptions import NotFound

        frame = conform(obj, "bigquery")
        config = context.resource_config or {}
        table = bigquery_table(table_slice)
        if not frame.columns:
            context.log.warning("The frame has no columns: nothing to create or write.")
            if table_slice.partition_dimensions:
                with suppress(NotFound):  # no table yet: no days to clear
                    _run_replace(connection, config, table, table_slice, [], None)
            return _output_metadata(frame)
        check_rows_in_window(frame, table_slice)
        metadata = context.definition_metadata or {}
        partition_expr = metadata.get("partition_expr")
        connection.query(
            create_table_sql(
                table,
                frame.schema,
                "bigquery",
                partition_expr=partition_expr if isinstance(partition_expr, str) else None,
                cluster_by=list(metadata.get("cluster_by") or ()),
            )
        ).result()
        table_id = f"{table_slice.database}.{table_slice.schema}.{table_slice.table}"
        existing = [field.name for field in connection.get_table(table_id).schema]
        for statement in add_columns_sql(
            table, missing_columns(frame.schema, existing, "bigquery"), "bigquery"
        ):
            connection.query(statement).result()
        staging = None
        if len(frame):
            # Rows land in a staging table first: a load job cannot join the delete's transaction.
            staging = bigquery_staging_table(table_slice, uuid.uuid4().hex)
            connection.query(
                f"CREATE TABLE {staging} LIKE {table} OPTIONS (expiration_timestamp = "
                "TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 1 DAY))"
            ).result()
            buffer = io.BytesIO()
            frame.write_parquet(buffer, compression="snappy")
            connection.load_table_from_file(
                buffer,
                staging.strip("`"),
                rewind=True,
                job_config=bigquery_load_job_config(),
                location=config.get("location"),
                timeout=config.get("timeout"),
            ).result()
        try:
            if staging is not None or table_slice.partition_dimensions:
                _run_replace(connection, config, table, table_slice, frame.columns, staging)
        finally:
            if staging is not None:
                connection.delete_table(staging.strip("`"), not_found_ok=True)
        return _output_metadata(frame)

    def load_input(
        self, context: dg.InputContext, table_slice: TableSlice, connection
    ) -> pl.DataFrame:
        if table_slice.partition_dimensions and not context.asset_partition_keys:
            return pl.DataFrame()
        config = context.resource_config or {}
        arrow = connection.query(
            WarehouseBigQueryClient.get_select_statement(table_slice),
            project=table_slice.database,
            location=config.get("location"),
            timeout=config.get("timeout"),
        ).to_arrow()
        return normalize_loaded(pl.from_arrow(arrow))  # type: ignore[arg-type]

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pl.DataFrame]


def _run_replace(
    connection: Any,
    config: Mapping[str, Any],
    table: str,
    table_slice: TableSlice,
    columns: Sequence[str],
    staging: str | None,
) -> None:
    connection.query(
        bigquery_replace_script(table, table_slice, columns, staging),
        location=config.get("location"),
        timeout=config.get("timeout"),
    ).result()


class BigQueryWarehouseIOManager(BigQueryIOManager):
    """Silver tables in BigQuery: date-partitioned, clustered, partitions replaced on every write."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [BigQueryPolarsWarehouseTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pl.DataFrame

    def create_io_manager(self, context) -> DbIOManager:
        return _WarehouseDbIOManager(
            db_client=WarehouseBigQueryClient(
                write_mode=self.write_mode, gcp_credentials=self.gcp_credentials
            ),
            io_manager_name="BigQueryWarehouseIOManager",
            database=self.project,
            schema=self.dataset,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
        )
