"""Business reports end to end: real client, real sandbox over HTTP, real lake, real DuckDB."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from amazon_assets.definitions import build_definitions
from amazon_assets.defs.business_reports.checks import sku_sums_within_document_totals
from amazon_assets.defs.business_reports.commands import BUSINESS_REPORTS_JOB
from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS
from amazon_assets.partitions import partition_key, register_account
from amazon_assets.settings import DEFAULT_ACCOUNT, SANDBOX_CLIENT_ID, Settings
from amazon_assets.sources.quotas import Clock
from amazon_assets.sources.sales_and_traffic_budget import (
    BudgetedRequest,
    SalesAndTrafficBudget,
    amazon_day,
)
from amazon_assets.sources.state import open_state_store
from amazon_assets_tests.test_cli import REPO_ROOT, amazon_assets, clean_env

YESTERDAY = date.today() - timedelta(days=1)
WEEK = [YESTERDAY - timedelta(days=offset) for offset in range(7, 0, -1)]
DAYS = WEEK[-3:]


@pytest.fixture
def pipeline(amazon_home: Path, sandbox, monkeypatch: pytest.MonkeyPatch):
    """Settings and definitions pointed at the test's sandbox (no credentials: sandbox mode)."""
    monkeypatch.setenv("SP_API_ENDPOINT", sandbox.url)
    monkeypatch.setenv("SP_API_LWA_TOKEN_URL", sandbox.token_url)
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", str(sandbox.config.speed))
    monkeypatch.setenv("AMAZON_ASSETS_START_DATE", (YESTERDAY - timedelta(days=40)).isoformat())
    settings = Settings.from_env()
    return settings, build_definitions(settings)


def run_days(
    defs: dg.Definitions,
    first: date,
    last: date,
    account: str = DEFAULT_ACCOUNT,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(BUSINESS_REPORTS_JOB)
    with dg.DagsterInstance.get() as instance:
        register_account(instance, account)
        return job.execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: partition_key(account, first),
                ASSET_PARTITION_RANGE_END_TAG: partition_key(account, last),
            },
            raise_on_error=raise_on_error,
        )


def silver_by_day(settings: Settings) -> dict[date, tuple[int, Decimal, int]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        rows = conn.execute(
            "select report_date, count(*), sum(ordered_product_sales), sum(units_ordered) "
            "from amazon_econ.fact_business_reports_us group by 1 order by 1"
        ).fetchall()
    return {day: (count, sales, units) for day, count, sales, units in rows}


def day_folder(settings: Settings, day: date, account: str = DEFAULT_ACCOUNT) -> Path:
    return settings.lake_root / BUSINESS_REPORTS.lake_prefix(account) / f"run_date={day}"


def document_rows(settings: Settings, day: date) -> list[list[dict]]:
    """Every bronze document kept for a day, as the SKU rows it carries."""
    documents = sorted(day_folder(settings, day).glob("report_id=*/part-000.json.gz"))
    return [
        json.loads(gzip.decompress(path.read_bytes()))["salesAndTrafficByAsin"]
        for path in documents
    ]


def fetched_earlier(settings: Settings, day: date, hours: float) -> None:
    """Make the day's stored documents look fetched `hours` earlier (an earlier day's refresh)."""
    for sidecar in day_folder(settings, day).glob("report_id=*/_meta.json"):
        meta = json.loads(sidecar.read_text())
        fetched = datetime.fromisoformat(meta["fetched_at"]) - timedelta(hours=hours)
        meta["fetched_at"] = fetched.isoformat()
        sidecar.write_text(json.dumps(meta))


def test_a_week_loads_correct_rows_without_a_429_then_a_day_reloads_without_duplicates(
    pipeline, sandbox
) -> None:
    """Default quotas on (sales and traffic: one report per 15 simulated minutes)."""
    settings, defs = pipeline
    result = run_days(defs, WEEK[0], WEEK[-1])
    assert result.success
    assert sandbox.calls("createReport") == len(WEEK)
    assert sandbox.stats()["throttled"] == {}  # steady state never earns a 429

    loaded = silver_by_day(settings)
    assert sorted(loaded) == WEEK
    for day in WEEK:
        [sku_rows] = document_rows(settings, day)
        count, sales, units = loaded[day]
        assert count == len(sku_rows) > 0
        assert sales == sum(
            Decimal(str(r["salesByAsin"]["orderedProductSales"]["amount"])) for r in sku_rows
        )
        assert units == sum(r["salesByAsin"]["unitsOrdered"] for r in sku_rows)
        truth = sandbox.marketplace.sales_and_traffic("default", day)
        assert units == truth["units_ordered"].sum()

    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["keys_not_null_and_unique"]
    assert evaluations["every_document_row_loaded"]
    assert evaluations["buy_box_percentage_in_range"]
    # What the document promises holds on every day (the SKU section is a part of the day).
    assert evaluations["sku_sums_within_document_totals"]

    # Run again minutes later (a retry, a resume): the stored document is reused.
    again = run_days(defs, DAYS[1], DAYS[1])
    assert again.success
    assert sandbox.calls("createReport") == len(WEEK)
    assert len(document_rows(settings, DAYS[1])) == 1
    # A day later Amazon may have restated the day: its document is fetched again.
    fetched_earlier(settings, DAYS[1], hours=24)
    refreshed = run_days(defs, DAYS[1], DAYS[1])
    assert refreshed.success
    assert sandbox.calls("createReport") == len(WEEK) + 1
    assert silver_by_day(settings) == loaded  # replaced, not duplicated
    assert len(document_rows(settings, DAYS[1])) == 2  # bronze keeps both documents
    assert sandbox.stats()["throttled"] == {}


def test_cancelled_day_is_an_empty_partition(pipeline, sandbox) -> None:
    settings, defs = pipeline
    sandbox.faults.next_report_outcome("GET_SALES_AND_TRAFFIC_REPORT", "CANCELLED")
    result = run_days(defs, DAYS[0], DAYS[0])
    assert result.success
    assert DAYS[0] not in silver_by_day(settings)
    meta = list(day_folder(settings, DAYS[0]).glob("report_id=*/_meta.json"))
    assert len(meta) == 1 and json.loads(meta[0].read_text())["status"] == "CANCELLED"


def test_malformed_rows_are_quarantined_and_accounted_for(pipeline, sandbox) -> None:
    """One malformed row no longer fails the run: it is in quarantine, the rest in silver."""
    settings, defs = pipeline
    sandbox.faults.malform_next_document()
    result = run_days(defs, DAYS[0], DAYS[0], raise_on_error=False)
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    check = evaluations["every_document_row_loaded"]
    assert check.passed
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        quarantined = conn.execute(
            "select count(*), min(reason) from amazon_econ.quarantine_business_reports_us "
            "where not row_loaded"
        ).fetchone()
        loaded = conn.execute(
            "select count(*) from amazon_econ.fact_business_reports_us"
        ).fetchone()
    assert quarantined[0] > 0 and quarantined[1]
    assert loaded[0] > 0  # the good rows of the document still load
    metadata = check.metadata
    assert metadata["refused_rows"].value == quarantined[0]
    assert metadata["document_rows"].value == loaded[0] + quarantined[0]


def test_definitions_load_with_schedule_and_checks(pipeline) -> None:
    _, defs = pipeline
    repository = defs.get_repository_def()
    assert repository.get_schedule_def("business_reports_daily")
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {"bronze/business_reports", "silver/fact_business_reports_us"} <= keys
    policy = repository.asset_graph.get(
        dg.AssetKey(["silver", "fact_business_reports_us"])
    ).backfill_policy
    assert policy == dg.BackfillPolicy.single_run()


def test_sku_rows_above_the_documents_total_fail_the_warning_naming_day_and_column() -> None:
    key = dg.AssetKey(["silver", "fact_business_reports_us"])
    facts = pl.DataFrame(
        {
            "account": ["default", "default", "default", "acme"],
            "report_date": [DAYS[0], DAYS[0], DAYS[1], DAYS[1]],
            "sessions": [10, 5, 7, 9],
            "page_views": [20, 9, 9, 9],
            "units_ordered": [1, 1, 0, 0],
            "total_order_items": [1, 1, 0, 0],
            "ordered_product_sales": [Decimal("9.99"), Decimal("5.00"), Decimal("0"), Decimal("0")],
        }
    )
    within = {"sessions": 30, "page_views": 40, "units_ordered": 2, "total_order_items": 2}
    totals = {
        ("default", DAYS[0]): {**within, "ordered_product_sales": Decimal("14.99")},
        ("default", DAYS[1]): {**within, "sessions": 6, "ordered_product_sales": Decimal("0")},
        # Another account's rows of the same day are not counted against this one's totals.
        ("acme", DAYS[1]): {**within, "sessions": 9, "ordered_product_sales": Decimal("0")},
    }
    result = sku_sums_within_document_totals(key, facts, totals)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["exceeding"].value == {
        f"default {DAYS[1].isoformat()}": {"sessions": "SKU rows 7, document total 6"}
    }
    assert result.metadata["units_ordered_share_in_sku_rows"].value == pytest.approx(1 / 3)
    totals[("default", DAYS[1])]["sessions"] = 7
    assert sku_sums_within_document_totals(key, facts, totals).passed


# Amazon's one sales-and-traffic report per 15 simulated minutes is 7.5 real seconds at 120x:
# the command is killed while it waits for the next report's turn.
KILL_CLOCK = 120.0
KILL_DAYS = 5


@pytest.mark.slow
def test_a_backfill_killed_mid_way_resumes_without_fetching_a_document_twice(
    tmp_path: Path, processes, sandbox_factory
) -> None:
    sandbox = sandbox_factory(speed=KILL_CLOCK)
    home = tmp_path / "home"
    env = clean_env(
        home,
        AMAZON_ASSETS_SANDBOX_PORT=sandbox.url.rsplit(":", 1)[1],
        AMAZON_ASSETS_SANDBOX_SPEED=str(KILL_CLOCK),
    )
    arguments = ("ingest", "business-reports", "--days", str(KILL_DAYS))
    lake = home / "lake" / BUSINESS_REPORTS.lake_prefix(DEFAULT_ACCOUNT)

    def stored() -> int:
        return len(list(lake.glob("run_date=*/report_id=*/_meta.json")))

    command = processes(
        [sys.executable, "-m", "amazon_assets.cli", *arguments],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while stored() < 2:
        assert command.poll() is None, command.stderr.read()
        assert time.monotonic() < deadline, "no document reached bronze"
        time.sleep(0.1)
    os.killpg(command.pid, signal.SIGKILL)  # the command and its step processes, at once
    assert command.wait(timeout=60) == -signal.SIGKILL
    kept = stored()
    assert 2 <= kept < KILL_DAYS  # killed mid-way, its documents safe in bronze

    resumed = amazon_assets(*arguments, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr

    days = [YESTERDAY - timedelta(days=offset) for offset in range(KILL_DAYS - 1, -1, -1)]
    requests = sandbox.requests_by_report()
    assert sorted(requests) == [
        (DEFAULT_ACCOUNT, "GET_SALES_AND_TRAFFIC_REPORT", day) for day in days
    ]
    for key, counts in requests.items():
        assert counts == {"createReport": 1, "getReportDocument": 1}, key
    assert stored() == KILL_DAYS

    settings = Settings.from_env({"AMAZON_ASSETS_HOME": str(home)})
    loaded = silver_by_day(settings)
    assert sorted(loaded) == days
    for day in days:
        truth = sandbox.marketplace.sales_and_traffic(DEFAULT_ACCOUNT, day)
        count, _, units = loaded[day]
        assert count > 0 and units == truth["units_ordered"].sum()


def test_the_apps_96_a_day_are_counted_shown_and_never_exceeded(
    amazon_home: Path, sandbox_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each report is counted against the app's day before it is requested; budget used and
    left are the bronze step's metadata; when other work spent the day, the run stops with one
    sentence before any createReport, and Dagster does not retry it."""
    sandbox = sandbox_factory(speed=60.0)  # a simulated day is 24 real minutes
    monkeypatch.setenv("SP_API_ENDPOINT", sandbox.url)
    monkeypatch.setenv("SP_API_LWA_TOKEN_URL", sandbox.token_url)
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", "60")
    monkeypatch.setenv("AMAZON_ASSETS_START_DATE", (YESTERDAY - timedelta(days=40)).isoformat())
    settings = Settings.from_env()
    defs = build_definitions(settings)

    result = run_days(defs, DAYS[-1], DAYS[-1])
    [bronze] = [
        m.metadata for m in result.asset_materializations_for_node("bronze__business_reports")
    ]
    assert bronze["sales_and_traffic_budget_used"].value == 1
    assert bronze["sales_and_traffic_budget_left"].value == 95
    assert bronze["sales_and_traffic_budget_settling"].value == 1

    # Other runs of the app spent today's (and, should midnight pass, tomorrow's) requests.
    budget = SalesAndTrafficBudget(
        open_state_store(settings.state_location), f"{sandbox.url}|{SANDBOX_CLIENT_ID}"
    )
    today = amazon_day(Clock(60.0))
    for day in (today, today + timedelta(days=1)):
        while budget.used(day) < 96:
            budget.spend(day, BudgetedRequest("another-seller", WEEK[0], "history"))
    refused = run_days(defs, DAYS[0], DAYS[0], raise_on_error=False)
    assert not refused.success
    assert sandbox.calls("createReport") == 1
    [failure] = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.user_failure_data.description
    assert "96 GET_SALES_AND_TRAFFIC_REPORT requests" in message and "waits for" in message
    retries = [e for e in refused.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries == []


def data_requests(sandbox) -> dict[str, int]:
    """Every call the sandbox answered but logins."""
    return {op: n for op, n in sandbox.stats()["calls"].items() if op != "token"}


def lay_out_as_an_earlier_version(settings: Settings) -> int:
    """Move the default account's documents to where versions before per-account lake prefixes
    kept them (one folder for every account, sidecars naming no account and no options); the
    number of documents moved."""
    current = settings.lake_root / BUSINESS_REPORTS.lake_prefix(DEFAULT_ACCOUNT)
    legacy = settings.lake_root / "amazon/reports/business/us"
    moved = 0
    for sidecar in sorted(current.glob("run_date=*/report_id=*/_meta.json")):
        meta = json.loads(sidecar.read_text())
        old = legacy / sidecar.parent.relative_to(current)
        old.mkdir(parents=True)
        (old / meta["file_name"]).write_bytes((sidecar.parent / meta["file_name"]).read_bytes())
        metadata = meta["metadata"]
        old_metadata = {
            name: metadata[name]
            for name in (
                "report_type",
                "report_document_id",
                "compression",
                "data_start",
                "data_end",
                "source",
            )
        }
        (old / "_meta.json").write_text(json.dumps({**meta, "metadata": old_metadata}))
        moved += 1
    shutil.rmtree(current)
    return moved


def test_a_lake_of_an_earlier_version_is_read_where_it_lies_and_nothing_is_fetched_again(
    pipeline, sandbox
) -> None:
    settings, defs = pipeline
    settled = [YESTERDAY - timedelta(days=offset) for offset in (12, 11, 10)]
    assert run_days(defs, settled[0], settled[-1]).success
    requests = data_requests(sandbox)
    assert sandbox.calls("createReport") == len(settled)
    loaded = silver_by_day(settings)
    assert lay_out_as_an_earlier_version(settings) == len(settled)
    settings.warehouse_path.unlink()

    again = run_days(defs, settled[0], settled[-1])
    assert again.success
    assert data_requests(sandbox) == requests  # not one request: every day is in the lake
    assert silver_by_day(settings) == loaded
    # Read in place: nothing was copied to the account's prefix.
    assert not (settings.lake_root / BUSINESS_REPORTS.lake_prefix(DEFAULT_ACCOUNT)).exists()
