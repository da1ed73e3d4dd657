"""The PostgreSQL warehouse IO manager against the real PostgreSQL server of this machine."""

import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest

from amazon_assets.resources.postgres import PostgresResource, PostgresWarehouseIOManager
from amazon_assets.resources.warehouse import create_table_sql, sql_type

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-11")
KEY = dg.AssetKey(["mart", "fact_sales"])
INGESTED = datetime(2026, 1, 12, 9, 30, 15, 123456, tzinfo=UTC)
SCHEMA = pl.Schema(
    {
        "report_date": pl.Date,
        "msku": pl.String,
        "units_ordered": pl.Int64,
        "ordered_product_sales": pl.Decimal(18, 2),
        "conversion": pl.Float64,
        "has_buy_box": pl.Boolean,
        "ingested_at": pl.Datetime("us", "UTC"),
    }
)


def _rows(day: str, skus: list[str], price: str = "19.99") -> pl.DataFrame:
    n = len(skus)
    return pl.DataFrame(
        {
            "report_date": [date.fromisoformat(day)] * n,
            "msku": skus,
            "units_ordered": list(range(1, n + 1)),
            "ordered_product_sales": [Decimal(price)] * n,
            "conversion": [0.1 + i / 3 for i in range(n)],
            "has_buy_box": [i % 2 == 0 for i in range(n)],
            "ingested_at": [INGESTED] * n,
        },
        schema=SCHEMA,
    )


def _fact(frames: dict[str, pl.DataFrame]) -> dg.AssetsDefinition:
    @dg.asset(
        key=KEY,
        partitions_def=DAYS,
        metadata={"partition_expr": "report_date"},
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def fact_sales(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return pl.concat([frames[key] for key in context.partition_keys])

    return fact_sales


def _range(start: str, end: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}


@pytest.fixture
def resources(postgres_database: str) -> dict[str, object]:
    return {"io_manager": PostgresWarehouseIOManager(database_url=postgres_database)}


@pytest.fixture
def mart(postgres_database: str) -> PostgresResource:
    return PostgresResource(database_url=postgres_database)


def _per_day(mart: PostgresResource) -> dict[date, int]:
    counts = mart.query(
        "SELECT report_date, count(*) AS n FROM mart.fact_sales GROUP BY 1 ORDER BY 1"
    )
    return dict(zip(counts["report_date"], counts["n"], strict=True))


def test_three_days_then_one_rewritten_without_duplicates(resources, mart) -> None:
    frames = {day: _rows(day, ["S1", "S2"]) for day in ("2026-01-01", "2026-01-02", "2026-01-03")}
    result = dg.materialize(
        [_fact(frames)], resources=resources, tags=_range("2026-01-01", "2026-01-03")
    )
    assert _per_day(mart) == {date(2026, 1, d): 2 for d in (1, 2, 3)}
    # Each day's materialization has its own row count.
    materializations = result.asset_materializations_for_node("mart__fact_sales")
    assert [m.metadata["dagster/row_count"].value for m in materializations] == [2, 2, 2]
    metadata = materializations[0].metadata
    assert metadata["dagster/table_name"].value == "mart.fact_sales"  # no URL, no password

    frames["2026-01-02"] = _rows("2026-01-02", ["S7", "S8", "S9"], price="5.00")
    dg.materialize([_fact(frames)], partition_key="2026-01-02", resources=resources)
    assert _per_day(mart) == {date(2026, 1, 1): 2, date(2026, 1, 2): 3, date(2026, 1, 3): 2}
    day_two = mart.query(
        "SELECT msku, ordered_product_sales FROM mart.fact_sales"
        " WHERE report_date = '2026-01-02' ORDER BY msku"
    )
    assert day_two["msku"].to_list() == ["S7", "S8", "S9"]
    assert day_two["ordered_product_sales"].to_list() == [Decimal("5.00")] * 3


def test_downstream_loads_exactly_what_was_written(resources) -> None:
    frames = {f"2026-01-0{d}": _rows(f"2026-01-0{d}", [f"S{d}", ""]) for d in range(1, 6)}
    frames["2026-01-03"] = frames["2026-01-03"].with_columns(
        pl.lit(None, dtype=pl.String).alias("msku"),
        pl.lit(None, dtype=pl.Boolean).alias("has_buy_box"),
    )
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
        resources={**resources, "mem": dg.InMemoryIOManager()},
        tags=_range("2026-01-02", "2026-01-04"),
    )
    loaded = result.output_for_node("reader").sort("report_date", "units_ordered")
    expected = pl.concat([frames[f"2026-01-0{d}"] for d in (2, 3, 4)])
    assert loaded.schema == SCHEMA
    # "" and NULL stay distinct, floats round-trip exactly, instants keep their microseconds.
    assert loaded.equals(expected)


def test_empty_partition_creates_the_table_and_clears_the_day(resources, mart) -> None:
    empty = pl.DataFrame(schema=SCHEMA)
    dg.materialize([_fact({"2026-01-04": empty})], partition_key="2026-01-04", resources=resources)
    columns = mart.query(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'mart' AND table_name = 'fact_sales' ORDER BY ordinal_position"
    )
    assert dict(zip(columns["column_name"], columns["data_type"], strict=True)) == {
        "report_date": "date",
        "msku": "character varying",
        "units_ordered": "bigint",
        "ordered_product_sales": "numeric",
        "conversion": "double precision",
        "has_buy_box": "boolean",
        "ingested_at": "timestamp with time zone",
    }
    assert _per_day(mart) == {}

    frames = {"2026-01-04": _rows("2026-01-04", ["S1"]), "2026-01-05": _rows("2026-01-05", ["S1"])}
    dg.materialize([_fact(frames)], resources=resources, tags=_range("2026-01-04", "2026-01-05"))
    dg.materialize([_fact({"2026-01-04": empty})], partition_key="2026-01-04", resources=resources)
    assert _per_day(mart) == {date(2026, 1, 5): 1}


def test_decimals_are_exact(resources, mart) -> None:
    skus = [f"S{i}" for i in range(10_000)]
    dg.materialize(
        [_fact({"2026-01-06": _rows("2026-01-06", skus, price="0.10")})],
        partition_key="2026-01-06",
        resources=resources,
    )
    total = mart.query("SELECT sum(ordered_product_sales) AS total FROM mart.fact_sales")
    assert total["total"][0] == Decimal("1000.00")
    scale = mart.query(
        "SELECT numeric_precision AS p, numeric_scale AS s FROM information_schema.columns"
        " WHERE table_name = 'fact_sales' AND column_name = 'ordered_product_sales'"
    ).row(0)
    assert scale == (18, 2)


def test_a_failed_write_leaves_the_day_as_it_was(resources, mart) -> None:
    dg.materialize(
        [_fact({"2026-01-07": _rows("2026-01-07", ["S1", "S2"])})],
        partition_key="2026-01-07",
        resources=resources,
    )
    wrong = _rows("2026-01-07", ["S3"]).with_columns(pl.lit("not a number").alias("units_ordered"))
    result = dg.materialize(
        [_fact({"2026-01-07": wrong})],
        partition_key="2026-01-07",
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    assert _per_day(mart) == {date(2026, 1, 7): 2}  # the delete rolled back with the COPY


# A write whose process stops, for the parent to kill it, once the day is deleted and before the
# COPY (the mart's type handler runs between the two, in the same transaction).
_KILLED_MID_REPLACE = """
import sys, time
import dagster as dg
import polars as pl
from amazon_assets.resources.postgres import PostgresMartTypeHandler, PostgresWarehouseIOManager
from amazon_assets_tests.resources.test_postgres import _fact, _rows

class PausedAfterDelete(PostgresMartTypeHandler):
    def handle_output(self, context, table_slice, obj, connection):
        print("deleted", flush=True)
        time.sleep(600)

class PausingIOManager(PostgresWarehouseIOManager):
    def create_io_manager(self, context):
        manager = super().create_io_manager(context)
        publisher = manager._handlers_by_type[pl.DataFrame].publisher
        manager._handlers_by_type[pl.DataFrame] = PausedAfterDelete(publisher)
        return manager

dg.materialize(
    [_fact({"2026-01-07": _rows("2026-01-07", ["S9"])})],
    partition_key="2026-01-07",
    resources={"io_manager": PausingIOManager(database_url=sys.argv[1])},
)
"""


def test_a_process_killed_mid_replace_leaves_the_day_as_it_was(
    resources, mart, postgres_database: str, processes
) -> None:
    dg.materialize(
        [_fact({"2026-01-07": _rows("2026-01-07", ["S1", "S2"])})],
        partition_key="2026-01-07",
        resources=resources,
    )
    writer = processes(
        [sys.executable, "-c", _KILLED_MID_REPLACE, postgres_database],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "deleted"
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=60) == -signal.SIGKILL
    assert _per_day(mart) == {date(2026, 1, 7): 2}


def test_postgres_types() -> None:
    assert sql_type(pl.Decimal(18, 2), "postgres") == "NUMERIC(18, 2)"
    assert sql_type(pl.Datetime("us", "UTC"), "postgres") == "TIMESTAMPTZ"
    assert sql_type(pl.Datetime("us"), "postgres") == "TIMESTAMP"
    assert sql_type(pl.Float32(), "postgres") == "DOUBLE PRECISION"
    assert sql_type(pl.UInt64(), "postgres") == "NUMERIC(20, 0)"
    assert sql_type(pl.List(pl.Int32), "postgres") == "BIGINT[]"
    assert sql_type(pl.Date(), "postgres") == "DATE"
    assert create_table_sql('"s"."t"', {"a b": pl.String}, "postgres") == (
        'CREATE TABLE IF NOT EXISTS "s"."t" (\n  "a b" VARCHAR\n)'
    )


def test_million_row_write_speed(resources, mart) -> None:
    """A benchmark, not an assertion on time: prints COPY throughput for 1M mart-like rows."""
    n = 1_000_000
    day = date(2026, 1, 8)
    frame = pl.DataFrame(
        {
            "report_date": pl.repeat(day, n, eager=True),
            "msku": pl.int_range(n, eager=True).cast(pl.String),
            "units_ordered": pl.int_range(n, eager=True),
            "ordered_product_sales": (pl.int_range(n, eager=True) % 10_000).cast(pl.Decimal(18, 2))
            / 100,
            "conversion": pl.int_range(n, eager=True) / n,
            "has_buy_box": pl.int_range(n, eager=True) % 3 == 0,
            "ingested_at": pl.repeat(INGESTED, n, eager=True),
        }
    ).cast(dict(SCHEMA))  # type: ignore[arg-type]
    started = time.perf_counter()
    dg.materialize(
        [_fact({day.isoformat(): frame})], partition_key=day.isoformat(), resources=resources
    )
    elapsed = time.perf_counter() - started
    assert mart.query("SELECT count(*) AS n FROM mart.fact_sales")["n"][0] == n
    print(
        f"\npostgres COPY: {n:,} rows in {elapsed:.2f}s ({n / elapsed:,.0f} rows/s, incl. Dagster)"
    )
    assert timedelta(seconds=elapsed) < timedelta(minutes=5)  # a hang, not a speed target


def test_concurrent_writers_of_one_day_leave_it_once(resources, mart) -> None:
    """Four runs replace the same day at once, on a fresh database (schema and table races too)."""
    frames = {"2026-01-09": _rows("2026-01-09", ["S1", "S2", "S3"])}
    errors: list[BaseException] = []

    def write() -> None:
        try:
            dg.materialize([_fact(frames)], partition_key="2026-01-09", resources=resources)
        except BaseException as error:  # surfaced below: a thread cannot fail the test itself
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _per_day(mart) == {date(2026, 1, 9): 3}
