"""The warehouse IO managers: DuckDB for real (a file in tmp_path), BigQuery's SQL and job config."""

import signal
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
import polars as pl
import pytest

from amazon_assets.asset_keys import silver_key
from amazon_assets.resources.bigquery import (
    BigQueryPolarsWarehouseTypeHandler,
    BigQueryWarehouseIOManager,
    WarehouseBigQueryClient,
    bigquery_load_job_config,
    bigquery_replace_script,
)
from amazon_assets.resources.warehouse import (
    DuckDBWarehouseIOManager,
    WarehouseDuckDbClient,
    WarehouseResource,
    create_table_sql,
    sql_type,
    warehouse_from_settings,
)
from amazon_assets.settings import Settings

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-11")
DATASET = "amazon_econ"  # the default BIGQUERY_DATASET
KEY = silver_key("fact_sales")
METADATA = {"partition_expr": "report_date", "cluster_by": ["msku", "asin"]}
INGESTED = datetime(2026, 1, 12, 9, 30, tzinfo=UTC)
SCHEMA = {
    "report_date": pl.Date,
    "msku": pl.String,
    "asin": pl.String,
    "units_ordered": pl.Int64,
    "ordered_product_sales": pl.Decimal(18, 2),
    "ingested_at": pl.Datetime("us", "UTC"),
}


def _rows(day: str, skus: list[str], price: str = "19.99") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "report_date": [date.fromisoformat(day)] * len(skus),
            "msku": skus,
            "asin": [f"B0{sku}" for sku in skus],
            "units_ordered": list(range(1, len(skus) + 1)),
            "ordered_product_sales": [Decimal(price)] * len(skus),
            "ingested_at": [INGESTED] * len(skus),
        },
        schema=SCHEMA,
    )


def _fact(frames: dict[str, pl.DataFrame], key: dg.AssetKey = KEY) -> dg.AssetsDefinition:
    """A silver asset returning the given frame of each day in the run's partitions."""

    @dg.asset(
        key=key,
        partitions_def=DAYS,
        metadata=METADATA,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def fact_sales(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return pl.concat([frames[key] for key in context.partition_keys], how="diagonal_relaxed")

    return fact_sales


def _range(start: str, end: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "warehouse.duckdb")


@pytest.fixture
def warehouse(database: str) -> WarehouseResource:
    return WarehouseResource(kind="duckdb", database=database)


def _per_day(warehouse: WarehouseResource) -> dict[date, int]:
    counts = warehouse.query(
        f"SELECT report_date, count(*) AS n FROM {warehouse.table('amazon_econ', 'fact_sales')}"
        " GROUP BY 1 ORDER BY 1"
    )
    return dict(zip(counts["report_date"], counts["n"], strict=True))


def test_rematerializing_a_day_replaces_it(database: str, warehouse: WarehouseResource) -> None:
    resources = {"io_manager": DuckDBWarehouseIOManager(database=database, schema=DATASET)}
    frames = {day: _rows(day, ["S1", "S2"]) for day in ("2026-01-01", "2026-01-02", "2026-01-03")}
    result = dg.materialize(
        [_fact(frames)], resources=resources, tags=_range("2026-01-01", "2026-01-03")
    )
    assert _per_day(warehouse) == {date(2026, 1, d): 2 for d in (1, 2, 3)}
    # Each day's materialization has its own row count; the column schema is on the last one.
    materializations = result.asset_materializations_for_node("silver__fact_sales")
    assert [m.metadata["dagster/row_count"].value for m in materializations] == [2, 2, 2]
    assert materializations[0].metadata["dagster/table_name"].value == "amazon_econ.fact_sales"
    assert "dagster/column_schema" not in materializations[0].metadata
    schema = materializations[-1].metadata["dagster/column_schema"].value
    assert [column.name for column in schema.columns] == list(frames["2026-01-01"].columns)

    frames["2026-01-02"] = _rows("2026-01-02", ["S7", "S8", "S9"], price="5.00")
    dg.materialize([_fact(frames)], partition_key="2026-01-02", resources=resources)

    assert _per_day(warehouse) == {date(2026, 1, 1): 2, date(2026, 1, 2): 3, date(2026, 1, 3): 2}
    day_two = warehouse.query(
        "SELECT msku, ordered_product_sales FROM amazon_econ.fact_sales"
        " WHERE report_date = '2026-01-02' ORDER BY msku"
    )
    assert day_two["msku"].to_list() == ["S7", "S8", "S9"]
    assert day_two["ordered_product_sales"].to_list() == [Decimal("5.00")] * 3


def test_rewriting_a_day_with_a_new_column_widens_the_table(
    database: str, warehouse: WarehouseResource
) -> None:
    # A newer version adds a column (e.g. a feature) to a table that holds the day already:
    # DuckDB refused to commit the day's delete with the ALTER TABLE in one transaction.
    resources = {"io_manager": DuckDBWarehouseIOManager(database=database, schema=DATASET)}
    frames = {day: _rows(day, ["S1", "S2"]) for day in ("2026-01-01", "2026-01-02")}
    dg.materialize([_fact(frames)], resources=resources, tags=_range("2026-01-01", "2026-01-02"))

    frames["2026-01-02"] = _rows("2026-01-02", ["S1", "S2"]).with_columns(
        sessions_onset=pl.lit(0.5)
    )
    result = dg.materialize([_fact(frames)], partition_key="2026-01-02", resources=resources)

    assert result.success
    assert _per_day(warehouse) == {date(2026, 1, 1): 2, date(2026, 1, 2): 2}
    rows = warehouse.query(
        "SELECT report_date, sessions_onset FROM amazon_econ.fact_sales ORDER BY report_date"
    )
    assert rows["sessions_onset"].to_list() == [None, None, 0.5, 0.5]


def test_downstream_loads_its_partition_range_as_polars(database: str) -> None:
    resources = {
        "io_manager": DuckDBWarehouseIOManager(database=database, schema=DATASET),
        "mem": dg.InMemoryIOManager(),
    }
    frames = {f"2026-01-0{d}": _rows(f"2026-01-0{d}", [f"S{d}"]) for d in range(1, 6)}
    dg.materialize([_fact(frames)], resources=resources, tags=_range("2026-01-01", "2026-01-05"))

    @dg.asset(
        partitions_def=DAYS,
        ins={"facts": dg.AssetIn(key=KEY)},
        io_manager_key="mem",
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def reader(facts: pl.DataFrame) -> pl.DataFrame:
        return facts

    result = dg.materialize(
        [reader, _fact(frames).to_source_asset()],
        resources=resources,
        tags=_range("2026-01-02", "2026-01-04"),
    )
    loaded = result.output_for_node("reader").sort("report_date")
    assert loaded["msku"].to_list() == ["S2", "S3", "S4"]
    assert loaded.schema == pl.Schema(SCHEMA)


def test_empty_partition_creates_the_table_and_clears_the_day(
    database: str, warehouse: WarehouseResource
) -> None:
    resources = {"io_manager": DuckDBWarehouseIOManager(database=database, schema=DATASET)}
    empty = pl.DataFrame(schema=SCHEMA)
    dg.materialize([_fact({"2026-01-04": empty})], partition_key="2026-01-04", resources=resources)

    columns = warehouse.query(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'amazon_econ' AND table_name = 'fact_sales' ORDER BY ordinal_position"
    )
    assert dict(zip(columns["column_name"], columns["data_type"], strict=True)) == {
        "report_date": "DATE",
        "msku": "VARCHAR",
        "asin": "VARCHAR",
        "units_ordered": "BIGINT",
        "ordered_product_sales": "DECIMAL(18,2)",
        "ingested_at": "TIMESTAMP WITH TIME ZONE",
    }
    assert _per_day(warehouse) == {}

    frames = {"2026-01-04": _rows("2026-01-04", ["S1"]), "2026-01-05": _rows("2026-01-05", ["S1"])}
    dg.materialize([_fact(frames)], resources=resources, tags=_range("2026-01-04", "2026-01-05"))
    assert _per_day(warehouse) == {date(2026, 1, 4): 1, date(2026, 1, 5): 1}

    # Amazon cancels the re-fetch of the 4th (no data any more): the day becomes empty.
    dg.materialize([_fact({"2026-01-04": empty})], partition_key="2026-01-04", resources=resources)
    assert _per_day(warehouse) == {date(2026, 1, 5): 1}


def test_new_columns_are_added(database: str, warehouse: WarehouseResource) -> None:
    resources = {"io_manager": DuckDBWarehouseIOManager(database=database, schema=DATASET)}
    dg.materialize(
        [_fact({"2026-01-01": _rows("2026-01-01", ["S1"])})],
        partition_key="2026-01-01",
        resources=resources,
    )
    wider = (
        _rows("2026-01-02", ["S1"])
        .with_columns(buy_box_percentage=pl.lit(Decimal("87.50"), dtype=pl.Decimal(5, 2)))
        .select("buy_box_percentage", *SCHEMA)
    )  # column order differs from the table: insert by name
    dg.materialize([_fact({"2026-01-02": wider})], partition_key="2026-01-02", resources=resources)

    rows = warehouse.query(
        "SELECT report_date, msku, buy_box_percentage FROM amazon_econ.fact_sales ORDER BY 1"
    )
    assert rows["buy_box_percentage"].to_list() == [None, Decimal("87.50")]
    assert rows["msku"].to_list() == ["S1", "S1"]
    assert rows.schema["buy_box_percentage"] == pl.Decimal(5, 2)


def test_money_stays_exact(database: str, warehouse: WarehouseResource) -> None:
    resources = {"io_manager": DuckDBWarehouseIOManager(database=database, schema=DATASET)}
    skus = [f"S{i}" for i in range(10_000)]
    dg.materialize(
        [_fact({"2026-01-06": _rows("2026-01-06", skus, price="0.10")})],
        partition_key="2026-01-06",
        resources=resources,
    )

    total = warehouse.query(
        "SELECT sum(ordered_product_sales) AS total FROM amazon_econ.fact_sales"
    )
    assert total["total"][0] == Decimal("1000.00")
    stored = warehouse.query("SELECT ordered_product_sales FROM amazon_econ.fact_sales")
    assert stored.schema["ordered_product_sales"] == pl.Decimal(18, 2)
    assert stored["ordered_product_sales"].sum() == Decimal("1000.00")
    assert sum([0.1] * 10_000) != 1000.0  # what a float column would have stored


def test_rows_outside_the_run_are_refused(database: str) -> None:
    resources = {"io_manager": DuckDBWarehouseIOManager(database=database, schema=DATASET)}
    wrong_day = {"2026-01-03": _rows("2026-01-07", ["S1"])}
    with pytest.raises(ValueError, match="outside this run's partitions"):
        dg.materialize([_fact(wrong_day)], partition_key="2026-01-03", resources=resources)


def _hold_write_lock(processes, database: str, seconds: float) -> subprocess.Popen:
    """Another process (think: a parallel Dagster step) holding the DuckDB file for a while."""
    holder = processes(
        [
            sys.executable,
            "-c",
            "import duckdb, time\n"
            f"c = duckdb.connect({database!r})\n"
            "c.execute('CREATE TABLE IF NOT EXISTS t AS SELECT 42 AS answer')\n"
            "print('locked', flush=True)\n"
            f"time.sleep({seconds})\n"
            "c.close()\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_query_waits_for_another_process_to_release_the_file(
    database: str, warehouse: WarehouseResource, processes
) -> None:
    _hold_write_lock(processes, database, 1.5)
    assert warehouse.query("SELECT answer FROM t")["answer"].to_list() == [42]


def test_io_manager_waits_for_another_process_to_release_the_file(
    database: str, warehouse: WarehouseResource, processes
) -> None:
    _hold_write_lock(processes, database, 1.5)
    dg.materialize(
        [_fact({"2026-01-01": _rows("2026-01-01", ["S1"])})],
        partition_key="2026-01-01",
        resources={"io_manager": DuckDBWarehouseIOManager(database=database, schema=DATASET)},
    )
    assert _per_day(warehouse) == {date(2026, 1, 1): 1}


# A materialization whose process stops, for the parent to kill it, once the IO manager has
# deleted the day and before it inserts the new rows (the type handler runs between the two).
_KILLED_MID_REPLACE = """
import sys, time
import dagster as dg
from amazon_assets.resources.warehouse import (
    DuckDBPolarsWarehouseTypeHandler, DuckDBWarehouseIOManager,
)
from amazon_assets_tests.resources.test_warehouse import _fact, _rows

class PausedAfterDelete(DuckDBPolarsWarehouseTypeHandler):
    def handle_output(self, context, table_slice, obj, connection):
        print("deleted", flush=True)
        time.sleep(600)

class PausingIOManager(DuckDBWarehouseIOManager):
    @staticmethod
    def type_handlers():
        return [PausedAfterDelete()]

dg.materialize(
    [_fact({"2026-01-02": _rows("2026-01-02", ["S9"])})],
    partition_key="2026-01-02",
    resources={"io_manager": PausingIOManager(database=sys.argv[1])},
)
"""


def test_a_process_killed_mid_replace_leaves_the_day_as_it_was(
    database: str, warehouse: WarehouseResource, processes
) -> None:
    days = {
        "2026-01-01": _rows("2026-01-01", ["S1"]),
        "2026-01-02": _rows("2026-01-02", ["S1", "S2", "S3"]),
    }
    dg.materialize(
        [_fact(days)],
        tags=_range("2026-01-01", "2026-01-02"),
        resources={"io_manager": DuckDBWarehouseIOManager(database=database, schema=DATASET)},
    )
    writer = processes(
        [sys.executable, "-c", _KILLED_MID_REPLACE, database], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "deleted"
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=60) == -signal.SIGKILL
    assert _per_day(warehouse) == {date(2026, 1, 1): 1, date(2026, 1, 2): 3}


# --- BigQuery: what can be checked without the service ---------------------------------------


def _slices(partition_range: dg.PartitionKeyRange | None):
    """The table slice each IO manager builds for the same asset (Dagster's own resolution)."""
    context = dg.build_output_context(
        asset_key=KEY,
        definition_metadata=METADATA,
        asset_partitions_def=DAYS if partition_range else None,
        asset_partition_key_range=partition_range,
    )
    duck = DuckDBWarehouseIOManager(database="warehouse.duckdb", schema=DATASET)
    bq = BigQueryWarehouseIOManager(project="my-project", dataset=DATASET)
    duck, bq = duck.create_io_manager(None), bq.create_io_manager(None)
    return duck._get_table_slice(context, context), bq._get_table_slice(context, context)


def test_both_io_managers_resolve_the_same_table() -> None:
    duck, bq = _slices(dg.PartitionKeyRange("2026-01-02", "2026-01-04"))
    assert (duck.schema, duck.table) == (bq.schema, bq.table) == ("amazon_econ", "fact_sales")
    assert duck.partition_dimensions == bq.partition_dimensions
    assert WarehouseDuckDbClient.get_table_name(duck) == "amazon_econ.fact_sales"
    assert WarehouseBigQueryClient.get_table_name(bq) == "my-project.amazon_econ.fact_sales"


def test_partition_range_sql_compares_dates() -> None:
    duck, bq = _slices(dg.PartitionKeyRange("2026-01-02", "2026-01-04"))
    where = "WHERE\nreport_date >= '2026-01-02' AND report_date < '2026-01-05'"
    assert WarehouseBigQueryClient.get_select_statement(bq) == (
        f"SELECT * FROM `my-project.amazon_econ.fact_sales` {where}"
    )
    assert WarehouseDuckDbClient.get_select_statement(duck) == (
        f'SELECT * FROM "amazon_econ"."fact_sales" {where}'
    )
    from amazon_assets.resources.warehouse import bigquery_table, delete_sql

    assert delete_sql(bigquery_table(bq), bq) == (
        f"DELETE FROM `my-project.amazon_econ.fact_sales` {where}"
    )
    single, _ = _slices(dg.PartitionKeyRange("2026-01-07", "2026-01-07"))
    assert "report_date >= '2026-01-07' AND report_date < '2026-01-08'" in (
        WarehouseDuckDbClient.get_select_statement(single)
    )


def test_bigquery_ddl_partitions_and_clusters() -> None:
    schema = {
        **SCHEMA,
        "buy_box_percentage": pl.Decimal(5, 2),
        "in_stock": pl.Boolean,
        "sessions": pl.Int32,
        "conversion": pl.Float64,
    }
    ddl = create_table_sql(
        "`p.amazon_econ.fact_sales`",
        schema,
        "bigquery",
        partition_expr="report_date",
        cluster_by=["msku", "asin"],
    )
    assert ddl == (
        "CREATE TABLE IF NOT EXISTS `p.amazon_econ.fact_sales` (\n"
        "  `report_date` DATE,\n"
        "  `msku` STRING,\n"
        "  `asin` STRING,\n"
        "  `units_ordered` INT64,\n"
        "  `ordered_product_sales` NUMERIC(18, 2),\n"
        "  `ingested_at` TIMESTAMP,\n"
        "  `buy_box_percentage` NUMERIC(5, 2),\n"
        "  `in_stock` BOOL,\n"
        "  `sessions` INT64,\n"
        "  `conversion` FLOAT64\n"
        ")\n"
        "PARTITION BY `report_date`\n"
        "CLUSTER BY `msku`, `asin`"
    )
    duck = create_table_sql(
        '"amazon_econ"."fact_sales"',
        SCHEMA,
        "duckdb",
        partition_expr="report_date",
        cluster_by=["msku"],
    )
    assert "PARTITION" not in duck and "CLUSTER" not in duck
    assert '"ordered_product_sales" DECIMAL(18, 2)' in duck
    with pytest.raises(ValueError, match="cluster_by"):
        create_table_sql("t", SCHEMA, "bigquery", cluster_by=["not_a_column"])


@pytest.mark.parametrize(
    ("dtype", "duckdb_type", "bigquery_type"),
    [
        (pl.Decimal(18, 2), "DECIMAL(18, 2)", "NUMERIC(18, 2)"),
        (pl.Decimal(38, 12), "DECIMAL(38, 12)", "BIGNUMERIC(38, 12)"),
        (pl.Decimal(38, 2), "DECIMAL(38, 2)", "BIGNUMERIC(38, 2)"),
        (pl.Date, "DATE", "DATE"),
        (pl.Datetime("us"), "TIMESTAMP", "TIMESTAMP"),
        (pl.Datetime("us", "UTC"), "TIMESTAMPTZ", "TIMESTAMP"),
        (pl.Int32, "BIGINT", "INT64"),
        (pl.Int64, "BIGINT", "INT64"),
        (pl.Float64, "DOUBLE", "FLOAT64"),
        (pl.String, "VARCHAR", "STRING"),
        (pl.Boolean, "BOOLEAN", "BOOL"),
        (pl.List(pl.String), "VARCHAR[]", "ARRAY<STRING>"),
    ],
)
def test_type_map(dtype: pl.DataType, duckdb_type: str, bigquery_type: str) -> None:
    assert sql_type(dtype, "duckdb") == duckdb_type
    assert sql_type(dtype, "bigquery") == bigquery_type


def test_untyped_column_is_refused_with_its_name() -> None:
    with pytest.raises(TypeError, match="'nothing'"):
        sql_type(pl.Null(), "duckdb", "nothing")


def test_bigquery_load_job_config() -> None:
    config = bigquery_load_job_config()
    assert config.source_format == "PARQUET"
    assert config.write_disposition == "WRITE_APPEND"
    assert set(config.decimal_target_types) == {"NUMERIC", "BIGNUMERIC"}
    assert config.to_api_repr()["load"]["decimalTargetTypes"] == ["NUMERIC", "BIGNUMERIC"]


def test_warehouse_from_settings(amazon_home: Path) -> None:
    io_manager, resource = warehouse_from_settings(Settings.from_env())
    assert isinstance(io_manager, DuckDBWarehouseIOManager)
    assert io_manager.database == str(amazon_home.resolve() / "warehouse.duckdb")
    assert io_manager.schema_ == DATASET
    assert resource.kind == "duckdb" and resource.table("amazon_econ", "t") == "amazon_econ.t"

    settings = Settings.from_env(
        {"AMAZON_ASSETS_HOME": str(amazon_home), "GOOGLE_CLOUD_PROJECT": "acme-prod"}
    )
    io_manager, resource = warehouse_from_settings(settings)
    assert isinstance(io_manager, BigQueryWarehouseIOManager) and io_manager.project == "acme-prod"
    assert io_manager.dataset == DATASET
    assert resource.table("amazon_econ", "t") == "`acme-prod.amazon_econ.t`"


def _schemas(database: str) -> set[str]:
    with duckdb.connect(database, read_only=True) as connection:
        rows = connection.execute("SELECT DISTINCT table_schema FROM information_schema.tables")
        return {schema for (schema,) in rows.fetchall()}


def test_silver_keys_land_in_the_configured_dataset(
    amazon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The key is ["silver", table] in every environment; BIGQUERY_DATASET names where it lives.
    monkeypatch.setenv("BIGQUERY_DATASET", "shop_eu")
    io_manager, warehouse = warehouse_from_settings(Settings.from_env())
    frames = {"2026-01-01": _rows("2026-01-01", ["S1", "S2"])}
    dg.materialize(
        [_fact(frames)], partition_key="2026-01-01", resources={"io_manager": io_manager}
    )
    assert _schemas(str(io_manager.database)) == {"shop_eu"}
    assert warehouse.query("SELECT count(*) AS n FROM shop_eu.fact_sales")["n"][0] == 2


def test_an_existing_home_keeps_its_silver_tables(amazon_home: Path) -> None:
    """Homes written when silver keys were [dataset, table] keep their tables: the fixed keys
    write and read the same `amazon_econ` tables, nothing moves to a schema named silver."""
    io_manager, warehouse = warehouse_from_settings(Settings.from_env())
    database = str(io_manager.database)
    days = ("2026-01-01", "2026-01-02", "2026-01-03")
    before = {day: _rows(day, ["S1", "S2"]) for day in days}
    dg.materialize(
        [_fact(before, dg.AssetKey([DATASET, "fact_sales"]))],  # the former key, its own schema
        resources={"io_manager": DuckDBWarehouseIOManager(database=database)},
        tags=_range(days[0], days[-1]),
    )
    now = {**before, "2026-01-02": _rows("2026-01-02", ["S7", "S8", "S9"])}
    dg.materialize([_fact(now)], partition_key="2026-01-02", resources={"io_manager": io_manager})

    assert _schemas(database) == {DATASET}
    assert _per_day(warehouse) == {date(2026, 1, 1): 2, date(2026, 1, 2): 3, date(2026, 1, 3): 2}

    @dg.asset(partitions_def=DAYS, ins={"facts": dg.AssetIn(key=KEY)}, io_manager_key="mem")
    def reader(facts: pl.DataFrame) -> pl.DataFrame:
        return facts

    result = dg.materialize(
        [reader, _fact(now).to_source_asset()],
        resources={"io_manager": io_manager, "mem": dg.InMemoryIOManager()},
        partition_key="2026-01-03",
    )
    assert result.output_for_node("reader")["msku"].to_list() == ["S1", "S2"]


class _RecordingBigQuery:
    """Stands in for google.cloud.bigquery.Client: records the jobs a write would run."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, str]] = []

    def query(self, sql: str, **_: object) -> "_RecordingBigQuery":
        self.jobs.append(("query", sql))
        return self

    def load_table_from_file(self, _buffer, table_id: str, **_: object) -> "_RecordingBigQuery":
        self.jobs.append(("load", table_id))
        return self

    def delete_table(self, table_id: str, not_found_ok: bool) -> None:
        self.jobs.append(("drop", table_id))

    def get_table(self, _table_id: str) -> SimpleNamespace:
        return SimpleNamespace(schema=[SimpleNamespace(name=name) for name in SCHEMA])

    def result(self) -> None:
        return None


def test_bigquery_replaces_the_days_in_one_transaction() -> None:
    _, bq_slice = _slices(dg.PartitionKeyRange("2026-01-02", "2026-01-03"))
    context = dg.build_output_context(asset_key=KEY, definition_metadata=METADATA)
    bigquery = _RecordingBigQuery()
    WarehouseBigQueryClient.delete_table_slice(context, bq_slice, bigquery)
    assert bigquery.jobs == []  # nothing is deleted before the new rows are staged
    frame = pl.concat([_rows("2026-01-02", ["S1"]), _rows("2026-01-03", ["S2"])])
    BigQueryPolarsWarehouseTypeHandler().handle_output(context, bq_slice, frame, bigquery)

    table = "`my-project.amazon_econ.fact_sales`"
    [(_, create_staging), (load, staged)] = bigquery.jobs[1:3]
    assert create_staging.startswith("CREATE TABLE `my-project.amazon_econ._staging_fact_sales_")
    assert f"LIKE {table}" in create_staging and "expiration_timestamp" in create_staging
    assert (load, f"`{staged}`") == ("load", create_staging.split()[2])
    replaces = [sql for kind, sql in bigquery.jobs if kind == "query" and "DELETE" in sql]
    columns = ", ".join(f"`{name}`" for name in SCHEMA)
    assert replaces == [
        "BEGIN TRANSACTION;\n"
        f"DELETE FROM {table} WHERE\n"
        "report_date >= '2026-01-02' AND report_date < '2026-01-04';\n"
        f"INSERT INTO {table} ({columns})\nSELECT {columns} FROM `{staged}`;\n"
        "COMMIT TRANSACTION;"
    ]
    assert bigquery.jobs[-1] == ("drop", staged)


def test_bigquery_empty_day_is_cleared_in_one_statement() -> None:
    _, bq_slice = _slices(dg.PartitionKeyRange("2026-01-05", "2026-01-05"))
    assert bigquery_replace_script("`p.d.t`", bq_slice, list(SCHEMA), None) == (
        "BEGIN TRANSACTION;\n"
        "DELETE FROM `p.d.t` WHERE\n"
        "report_date >= '2026-01-05' AND report_date < '2026-01-06';\n"
        "COMMIT TRANSACTION;"
    )
