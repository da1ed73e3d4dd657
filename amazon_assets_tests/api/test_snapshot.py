"""The DuckDB serving snapshot: taken on first start from a mart written before it existed, and
re-pointed by every mart write with old files pruned."""

from datetime import date

import duckdb

from amazon_assets.api.changes import read_changes
from amazon_assets.api.mart import DuckDBSnapshotReader, open_reader
from amazon_assets.resources.mart_changes import read_manifest
from amazon_assets.settings import Settings
from amazon_assets_tests.api.market import FIRST_DAY, market_tables, plant_mart, yesterday


def test_first_start_snapshots_an_existing_mart(amazon_home) -> None:
    settings = Settings.from_env()
    with duckdb.connect(str(settings.warehouse_path)) as connection:
        connection.execute("CREATE SCHEMA mart")
        connection.execute(
            "CREATE TABLE mart.mart_asin_daily AS SELECT 'acme' AS account, "
            "'B0ACME0001' AS asin, DATE '2026-11-26' AS report_date, 7 AS units_ordered"
        )
        connection.execute("CREATE SCHEMA amazon_econ")  # silver is never exported
        connection.execute("CREATE TABLE amazon_econ.fact_x AS SELECT 1 AS x")
    reader = open_reader(settings)
    assert reader.rows("SELECT units_ordered FROM mart.mart_asin_daily") == [{"units_ordered": 7}]
    assert read_changes(reader, 0) == []  # nothing recorded yet: version 0 everywhere
    assert set(read_manifest(settings.serving_path)["tables"]) == {
        "mart.mart_asin_daily",
        "mart.table_changes",
    }
    reader.close()


def test_each_write_repoints_the_snapshot_and_prunes_old_files(amazon_home) -> None:
    settings = Settings.from_env()
    mart = {"mart.mart_asin_daily": market_tables()["mart.mart_asin_daily"]}
    for _ in range(4):
        assert plant_mart(settings, mart, FIRST_DAY, date(2025, 11, 30)).success
    reader = DuckDBSnapshotReader(settings.serving_path)
    changes = read_changes(reader, 0)
    assert [c.change_id for c in changes] == [1, 2, 3, 4]
    assert (changes[-1].first_day, changes[-1].last_day) == (FIRST_DAY, date(2025, 11, 30))
    files = sorted(path.name for path in settings.serving_path.glob("mart.mart_asin_daily.*"))
    # The current file and the one before it (a reader may still be scanning it).
    assert files == ["mart.mart_asin_daily.3.parquet", "mart.mart_asin_daily.4.parquet"]
    reader.close()


def test_a_run_exports_the_tables_it_wrote_once_at_its_end(amazon_home) -> None:
    settings = Settings.from_env()
    written = ("mart.mart_asin_daily", "features.score_baseline_daily")
    tables = {name: frame for name, frame in market_tables().items() if name in written}
    assert plant_mart(settings, tables, FIRST_DAY, yesterday()).success
    # Two writes (changes 1 and 2) in one run: one export, of both tables and the change log,
    # as of the run's last change; no file of the first write's version.
    files = sorted(path.name for path in settings.serving_path.glob("*.parquet"))
    assert files == [
        "features.score_baseline_daily.2.parquet",
        "mart.mart_asin_daily.2.parquet",
        "mart.table_changes.2.parquet",
    ]
    reader = DuckDBSnapshotReader(settings.serving_path)
    changes = read_changes(reader, 0)
    assert [c.change_id for c in changes] == [1, 2]
    assert {c.table for c in changes} == set(written)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as warehouse:
        for table in written:
            [(rows,)] = warehouse.execute(f"SELECT count(*) FROM {table}").fetchall()
            assert rows > 0
            assert reader.rows(f"SELECT count(*) AS n FROM {table}") == [{"n": rows}]
    reader.close()
