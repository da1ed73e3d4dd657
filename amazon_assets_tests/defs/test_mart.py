"""The mart domain end to end: sandbox-fed business reports, real DuckDB, real PostgreSQL, real HTTP."""

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from amazon_assets.commands import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    DemoContext,
)
from amazon_assets.definitions import (
    build_definitions,
    build_resources,
    build_source_definitions,
)
from amazon_assets.defs.business_reports.commands import BUSINESS_REPORTS_JOB
from amazon_assets.defs.mart.assets import LOOKBACK_DAYS, MART_JOB, build_mart_definitions
from amazon_assets.defs.mart.commands import demo
from amazon_assets.parsers.product_signals import PRODUCT_SNAPSHOT_SCHEMA
from amazon_assets.partitions import daily_partitions, partition_key, register_account
from amazon_assets.resources.postgres import (
    PostgresResource,
    connect,
    read_frame,
    table_columns,
)
from amazon_assets.resources.warehouse import WarehouseResource
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings
from amazon_assets.tracking import track

YESTERDAY = date.today() - timedelta(days=1)
DAYS = [YESTERDAY - timedelta(days=offset) for offset in range(3, 0, -1)]
COMPETITORS = ["B0COMPET01", "B0COMPET02", "B0COMPET03"]
UNSEEN = "B0UNSEEN01"  # tracked, but no source has anything about it


class Webhook:
    """A tiny HTTP server recording the JSON bodies POSTed to it; can be told to fail."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.fail = False
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if webhook.fail:
                    self.send_response(503)
                else:
                    webhook.bodies.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[dict]:
        return [alert for body in self.bodies for alert in body["alerts"]]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    yield server
    server.server.shutdown()


@pytest.fixture
def settings(amazon_home: Path, sandbox, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Business reports for DAYS loaded from the test's sandbox into the DuckDB warehouse."""
    monkeypatch.setenv("SP_API_ENDPOINT", sandbox.url)
    monkeypatch.setenv("SP_API_LWA_TOKEN_URL", sandbox.token_url)
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", str(sandbox.config.speed))
    monkeypatch.setenv("AMAZON_ASSETS_START_DATE", (YESTERDAY - timedelta(days=40)).isoformat())
    settings = Settings.from_env()
    assert _run(build_definitions(settings), BUSINESS_REPORTS_JOB, DAYS[0], DAYS[-1]).success
    return settings


def _silver(settings: Settings) -> WarehouseResource:
    return WarehouseResource(kind="duckdb", database=str(settings.warehouse_path))


def _run(defs: dg.Definitions, job: str, first: date, last: date) -> dg.ExecuteInProcessResult:
    """A daily job over [first, last]; a job on (account, day) over the default account's days."""
    job_def = defs.resolve_job_def(job)
    keys = (first.isoformat(), last.isoformat())
    with dg.DagsterInstance.get() as instance:
        if isinstance(job_def.partitions_def, dg.MultiPartitionsDefinition):
            register_account(instance, DEFAULT_ACCOUNT)
            keys = (partition_key(DEFAULT_ACCOUNT, first), partition_key(DEFAULT_ACCOUNT, last))
        return job_def.execute_in_process(
            instance=instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[1]},
            raise_on_error=False,
        )


@pytest.fixture
def mart_defs(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., dg.Definitions]:
    """The code location as definitions.py wires it; the mart in PostgreSQL when a URL is given."""

    def build(postgres_url: str | None = None, webhook_url: str | None = None) -> dg.Definitions:
        for name, value in (("DATABASE_URL", postgres_url), ("ALERTS_WEBHOOK_URL", webhook_url)):
            if value:
                monkeypatch.setenv(name, value)
            else:
                monkeypatch.delenv(name, raising=False)
        return build_definitions(Settings.from_env())

    return build


def _own_asins(settings: Settings, n: int) -> list[str]:
    asins = _silver(settings).query(
        "SELECT DISTINCT asin FROM amazon_econ.fact_business_reports_us ORDER BY asin"
    )
    return asins["asin"].to_list()[:n]


def _plant_snapshots(settings: Settings, rows: list[dict]) -> None:
    """Write silver fact_product_snapshot rows directly (the product-signals domain's table)."""
    frame = pl.DataFrame(
        [
            {
                "account": "default",
                "role": "own",
                "offer_count": 3,
                "has_buy_box": True,
                "in_stock": True,
                "category": "Kitchen",
                "rating": 4.5,
                "review_count": 100,
                "ingested_at": datetime.now(UTC),
                **row,
            }
            for row in rows
        ],
        schema=PRODUCT_SNAPSHOT_SCHEMA,
    )
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        conn.register("planted", frame.to_arrow())
        conn.execute(
            "CREATE OR REPLACE TABLE amazon_econ.fact_product_snapshot AS SELECT * FROM planted"
        )


def _duckdb_table(settings: Settings, schema: str, table: str) -> pl.DataFrame:
    return _silver(settings).query(f"SELECT * FROM {schema}.{table}")


def _postgres_table(url: str, schema: str, table: str) -> pl.DataFrame:
    with connect(url) as conn:
        columns = table_columns(conn, schema, table)
        return read_frame(conn, f'SELECT * FROM "{schema}"."{table}"', columns)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def test_mart_in_postgres_equals_mart_in_duckdb(
    settings: Settings, postgres_database, mart_defs
) -> None:
    own = _own_asins(settings, 2)
    track(_silver(settings), "amazon_econ", "default", [(c, own[0]) for c in COMPETITORS])
    _plant_snapshots(
        settings,
        [
            {
                "asin": asin,
                "snapshot_date": day,
                "price": Decimal("19.99") + i,
                "bsr": 1000 * (i + 1),
            }
            for day in DAYS
            for i, asin in enumerate([own[0], *COMPETITORS])
        ],
    )
    duck = _run(mart_defs(), MART_JOB, DAYS[0], DAYS[-1])
    pg = _run(mart_defs(postgres_database), MART_JOB, DAYS[0], DAYS[-1])
    assert duck.success and pg.success

    for schema, table in [
        ("mart", "mart_asin_daily"),
        ("mart", "data_quality_daily"),
        ("features", "features_asin_daily"),
        ("features", "score_baseline_daily"),
        ("features", "competitor_comparison_daily"),
    ]:
        in_duckdb = _sorted(_duckdb_table(settings, schema, table))
        in_postgres = _sorted(_postgres_table(postgres_database, schema, table))
        assert in_duckdb.height > 0, table
        assert in_postgres.schema == in_duckdb.schema, table
        assert in_postgres.equals(in_duckdb), table

    mart = _duckdb_table(settings, "mart", "mart_asin_daily")
    assert mart.filter(pl.col("asin") == own[0])["price"].to_list() == [Decimal("19.99")] * 3
    comparison = _duckdb_table(settings, "features", "competitor_comparison_daily")
    assert comparison["asin"].unique().to_list() == [own[0]]
    assert comparison["competitors_observed"].to_list() == [3, 3, 3]


def test_missing_sources_give_nulls_not_dropped_rows(settings: Settings, mart_defs) -> None:
    track(_silver(settings), "amazon_econ", "default", [(UNSEEN, None)])
    result = _run(mart_defs(), MART_JOB, DAYS[0], DAYS[-1])
    assert result.success
    mart = _duckdb_table(settings, "mart", "mart_asin_daily")
    business = _silver(settings).query(
        "SELECT DISTINCT account, asin, report_date FROM amazon_econ.fact_business_reports_us"
    )
    # Every business-report ASIN-day, plus the tracked ASIN on every day.
    assert mart.height == business.height + len(DAYS)
    assert mart.join(business, on=["account", "asin", "report_date"]).height == business.height
    for column in ("price", "bsr", "ad_spend", "fees", "returned_units", "reimbursements"):
        assert mart[column].null_count() == mart.height, column
    unseen = mart.filter(pl.col("asin") == UNSEEN)
    assert sorted(unseen["report_date"]) == DAYS
    assert unseen["sessions"].null_count() == len(DAYS)

    # The run's summary is on its last day; every day has its own row count.
    materializations = result.asset_materializations_for_node("mart__mart_asin_daily")
    missing = materializations[-1].metadata["missing_sources"].value
    assert "product_snapshot" in missing and "ads" in missing
    assert "missing_sources" not in materializations[0].metadata
    rows_per_day = mart.group_by("report_date").len().sort("report_date")["len"].to_list()
    assert [m.metadata["dagster/row_count"].value for m in materializations] == rows_per_day
    quality = result.asset_materializations_for_node("mart__data_quality_daily")[-1].metadata
    assert quality["coverage_product_signals"].value == 0
    assert 0 < quality["coverage_business_reports"].value < 1  # the unseen ASIN has none


def test_rerunning_days_replaces_them(settings: Settings, mart_defs) -> None:
    defs = mart_defs()
    assert _run(defs, MART_JOB, DAYS[0], DAYS[-1]).success
    first = {
        table: _sorted(_duckdb_table(settings, schema, table))
        for schema, table in [("mart", "mart_asin_daily"), ("features", "features_asin_daily")]
    }
    result = _run(defs, MART_JOB, DAYS[1], DAYS[1])
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["keys_unique"]
    assert _run(defs, MART_JOB, DAYS[0], DAYS[-1]).success
    for schema, table in [("mart", "mart_asin_daily"), ("features", "features_asin_daily")]:
        assert _sorted(_duckdb_table(settings, schema, table)).equals(first[table]), table


def test_alerts_fire_on_a_planted_move_and_notify_once(
    settings: Settings, postgres_database, webhook: Webhook, mart_defs
) -> None:
    [asin] = _own_asins(settings, 1)
    track(_silver(settings), "amazon_econ", "default", [(asin, None)])
    # +40 % on the last day against the median of the days before: large enough to alert at once.
    prices = [Decimal("20.00"), Decimal("20.00"), Decimal("28.00")]
    _plant_snapshots(
        settings,
        [
            {"asin": asin, "snapshot_date": day, "price": price, "bsr": 500}
            for day, price in zip(DAYS, prices, strict=True)
        ],
    )
    defs = mart_defs(postgres_database, webhook.url)
    first = _run(defs, MART_JOB, DAYS[0], DAYS[-1])
    assert first.success
    [alert] = webhook.alerts()
    assert (alert["asin"], alert["kind"], alert["report_date"]) == (
        asin,
        "price_change",
        DAYS[-1].isoformat(),
    )
    assert (alert["before"], alert["after"]) == ("20.00", "28.00")
    assert alert["baseline"] == "median of the 7 days before"

    # Re-running the day, or a range holding it, stores the alert again but never resends it.
    assert _run(defs, MART_JOB, DAYS[-1], DAYS[-1]).success
    assert _run(defs, MART_JOB, DAYS[0], DAYS[-1]).success
    assert len(webhook.bodies) == 1
    stored = _postgres_table(postgres_database, "features", "alerts")
    assert stored["alert_id"].to_list() == [alert["alert_id"]]
    sent = PostgresResource(database_url=postgres_database).query(
        "SELECT alert_id FROM features.alerts_sent"
    )
    assert sent["alert_id"].to_list() == [alert["alert_id"]]


def test_an_undelivered_alert_is_sent_by_the_next_run(
    settings: Settings, webhook: Webhook, mart_defs
) -> None:
    [asin] = _own_asins(settings, 1)
    track(_silver(settings), "amazon_econ", "default", [(asin, None)])
    _plant_snapshots(
        settings,
        [
            {"asin": asin, "snapshot_date": DAYS[0], "price": Decimal("10.00"), "bsr": 500},
            {"asin": asin, "snapshot_date": DAYS[1], "price": Decimal("10.00"), "bsr": 500},
            {"asin": asin, "snapshot_date": DAYS[2], "price": Decimal("10.00"), "bsr": 2000},
        ],
    )
    defs = mart_defs(webhook_url=webhook.url)
    webhook.fail = True
    assert not _run(defs, MART_JOB, DAYS[0], DAYS[2]).success
    webhook.fail = False
    assert _run(defs, MART_JOB, DAYS[2], DAYS[2]).success
    assert [a["kind"] for a in webhook.alerts()] == ["bsr_change"]


def test_definitions_load_with_and_without_optional_sources(settings: Settings) -> None:
    partitions = daily_partitions(settings)
    base = dg.Definitions.merge(
        build_source_definitions(settings, partitions),
        dg.Definitions(resources=build_resources(settings)),
    )
    present = set(base.resolve_asset_graph().get_all_asset_keys())
    for available in (set(), present):
        domain = build_mart_definitions(
            partitions, "amazon_econ", "duckdb", available_sources=available
        )
        defs = dg.Definitions.merge(base, domain)
        dg.Definitions.validate_loadable(defs)
        graph = defs.resolve_asset_graph()
        mart = graph.get(dg.AssetKey(["mart", "mart_asin_daily"]))
        assert dg.AssetKey(["silver", "fact_business_reports_us"]) in mart.parent_keys
        assert mart.backfill_policy == dg.BackfillPolicy.single_run()


@pytest.mark.slow
def test_demo_materializes_everything_and_summarizes(settings: Settings, mart_defs) -> None:
    defs = mart_defs()
    context = DemoContext(settings=settings, defs=defs, first=DAYS[0], last=DAYS[-1], skus=40)
    lines = demo(context)
    text = "\n".join(lines)
    assert "business reports for the windows' history" in text
    assert "checks passed" in text
    rows = _duckdb_table(settings, "mart", "mart_asin_daily")
    assert rows["report_date"].min() == DAYS[0] - timedelta(days=LOOKBACK_DAYS)
    assert f"mart: {rows.filter(pl.col('report_date') >= DAYS[0]).height} rows" in text
    assert lines[-1].startswith("alerts: ")


def test_changing_a_later_day_leaves_earlier_features_unchanged(
    settings: Settings, mart_defs
) -> None:
    [asin] = _own_asins(settings, 1)
    track(_silver(settings), "amazon_econ", "default", [(asin, None)])
    early = [
        {"asin": asin, "snapshot_date": day, "price": Decimal("10.00"), "bsr": 100 + i}
        for i, day in enumerate(DAYS[:2])
    ]
    _plant_snapshots(settings, early)
    defs = mart_defs()
    assert _run(defs, MART_JOB, DAYS[0], DAYS[-1]).success
    before = _sorted(_duckdb_table(settings, "features", "features_asin_daily"))

    late = {"asin": asin, "snapshot_date": DAYS[2], "price": Decimal("99.00"), "bsr": 90_000}
    _plant_snapshots(settings, [*early, late])
    assert _run(defs, MART_JOB, DAYS[0], DAYS[-1]).success
    after = _sorted(_duckdb_table(settings, "features", "features_asin_daily"))

    def days(frame: pl.DataFrame, wanted: list[date]) -> pl.DataFrame:
        return frame.filter(pl.col("report_date").is_in(wanted))

    assert days(after, DAYS[:2]).equals(days(before, DAYS[:2]))
    assert not days(after, DAYS[2:]).equals(days(before, DAYS[2:]))
