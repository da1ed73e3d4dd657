"""Seller history end to end: real client, real sandbox over HTTP, real lake, real DuckDB."""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from amazon_assets.account_jobs import ACCOUNT_TAG, ONBOARDING, job_tags
from amazon_assets.api.services.sources import SOURCES
from amazon_assets.cli import prepare_dagster_home
from amazon_assets.commands import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    EVENT_BATCH_SIZE,
)
from amazon_assets.definitions import build_definitions
from amazon_assets.defs.seller_history import source_job_name
from amazon_assets.defs.seller_history.assets import FETCH, MODE_TAG, SOURCE_NAMES
from amazon_assets.defs.seller_history.commands import add_account
from amazon_assets.defs.seller_history.schedules import SELLER_HISTORY_JOB
from amazon_assets.defs.seller_history.spec import ORDERS, SPECS
from amazon_assets.onboarding import ONBOARDING_SENSOR
from amazon_assets.partitions import ACCOUNTS, daily_partitions, history_start, partition_key
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.sandbox import SandboxServer
from amazon_assets.sandbox.seller_history import ledger_history_start
from amazon_assets.settings import Settings
from amazon_assets.sources import planner

YESTERDAY = date.today() - timedelta(days=1)
ACCOUNT_NAMES = ("default", "eu")
ORDERS_TYPE = ORDERS.report_type


def seller_definitions(settings: Settings) -> dg.Definitions:
    """The code location's definitions, seller history included."""
    return build_definitions(settings)


@pytest.fixture
def seller_sandbox(sandbox_factory: Callable[..., SandboxServer]) -> SandboxServer:
    """Two accounts, the second serving Windows-1252 documents; few SKUs; a clock fast enough for
    18 months of quotas in seconds, slow enough that the sandbox's real document building never
    outlasts the client's 4-hour report wait, and that a second and a half of a busy host's
    scheduling between a quota token and its request's arrival stays within the client's
    reserve (`client_quota`: at 600x createReport's reserve covers 0.76 s, and 429s were seen
    beside the deployment test)."""
    return sandbox_factory(
        accounts=ACCOUNT_NAMES, skus_per_account=8, speed=200.0, encodings=(("eu", "cp1252"),)
    )


@pytest.fixture
def pipeline(amazon_home: Path, seller_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch):
    """Settings and definitions pointed at the test's sandbox, accounts registered."""
    monkeypatch.setenv("SP_API_ENDPOINT", seller_sandbox.url)
    monkeypatch.setenv("SP_API_LWA_TOKEN_URL", seller_sandbox.token_url)
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", str(seller_sandbox.config.speed))
    settings = Settings.from_env()
    prepare_dagster_home(settings)  # the embedded instance the commands use
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(ACCOUNTS.name, list(ACCOUNT_NAMES))
    return settings, seller_definitions(settings)


def run(
    defs: dg.Definitions,
    account: str,
    first: date,
    last: date,
    job: str = SELLER_HISTORY_JOB,
    instance: dg.DagsterInstance | None = None,
    **tags: str,
) -> dg.ExecuteInProcessResult:
    with contextlib.ExitStack() as stack:
        if instance is None:
            instance = stack.enter_context(dg.DagsterInstance.get())
        return defs.resolve_job_def(job).execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: partition_key(account, first),
                ASSET_PARTITION_RANGE_END_TAG: partition_key(account, last),
                **tags,
            },
            raise_on_error=False,
        )


def query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def silver_totals(
    settings: Settings, table: str, money: str, account: str, where: str = "true"
) -> tuple[int, Decimal]:
    [(rows, total)] = query(
        settings,
        f"select count(*), coalesce(sum({money}), 0) from amazon_econ.{table} "
        f"where account = '{account}' and {where}",
    )
    return rows, Decimal(total)


def truth_totals(
    frames: list[pl.DataFrame], money: str, keep: pl.Expr | None = None
) -> tuple[int, Decimal]:
    frame = pl.concat(frames, how="vertical_relaxed")
    if keep is not None:
        frame = frame.filter(keep)
    return frame.height, Decimal(str(frame[money].sum() or 0))


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# Dagster stores one event per asset and (account, day) partition: 18 months of 15 assets is
# ~8,000 materializations a run, plus as many "planned" events when the run starts. The runs use
# the embedded instance the commands use (`prepare_dagster_home`): its event log stores a batch of
# materializations at once (DAGSTER_EVENT_BATCH_SIZE, amazon_assets.event_log), and Dagster
# announces a single-run backfill's partitions as one planned event per asset.
@pytest.mark.slow
@pytest.mark.longest
@pytest.mark.timeout(900)
def test_backfill_two_accounts_interrupted_then_resumed(
    pipeline, seller_sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """18 months, two accounts; the first run stops with every orders window FATAL, the second
    resumes."""
    settings, defs = pipeline
    first = history_start(date.today())
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    truth = seller_sandbox.seller_history
    plan = planner.plan_requests(SPECS.values(), first, YESTERDAY)
    reports = [r for r in plan if r.spec.serving == planner.REPORT]
    orders = [r for r in plan if r.spec is ORDERS]

    # Interrupt: Amazon ends each orders report FATAL, twice (the client retries once).
    seller_sandbox.faults.next_report_outcome(ORDERS_TYPE, "FATAL", times=2 * len(orders))
    interrupted = run(defs, "default", first, YESTERDAY)
    assert not interrupted.success
    resumed = run(defs, "default", first, YESTERDAY)
    assert resumed.success
    bronze = {
        m.asset_key.path[-1]: m.metadata
        for m in resumed.asset_materializations_for_node("seller_history_bronze")
    }
    assert bronze["orders"]["documents_fetched"].value == len(orders)
    assert bronze["inventory_ledger"]["already_in_bronze"].value > 0
    eu = run(defs, "eu", first, YESTERDAY)
    assert eu.success

    # The report ledger: each window completed by exactly one report per account; the only
    # other reports are the orders ones Amazon ended FATAL in the first run.
    with sqlite3.connect(settings.state_path) as connection:
        ledger = connection.execute(
            "select account, report_type, data_start, data_end, status, count(*) "
            "from report_ledger group by 1, 2, 3, 4, 5"
        ).fetchall()
    completed = {(a, t, s, e): n for a, t, s, e, status, n in ledger if status == "COMPLETED"}
    assert len(completed) == 2 * len(reports) and set(completed.values()) == {1}
    fatal = [(a, t, n) for a, t, _, _, status, n in ledger if status == "FATAL"]
    assert fatal == [("default", ORDERS_TYPE, 2)] * len(orders)
    assert {status for *_, status, _ in ledger} == {"COMPLETED", "FATAL"}
    for operation in ("createReport", "getReportDocument", "listFinancialEvents", "getReports"):
        assert seller_sandbox.throttled(operation) == 0

    for account in ACCOUNT_NAMES:
        span = days(max(first, seller_sandbox.marketplace.first_day(account)), YESTERDAY)
        assert silver_totals(settings, "fact_orders", "item_price", account) == truth_totals(
            [truth.orders(account, d) for d in span], "item_price"
        )
        ledger_start = ledger_history_start(seller_sandbox.marketplace.today)
        assert silver_totals(settings, "fact_inventory_ledger", "quantity", account) == (
            truth_totals([truth.ledger(account, d) for d in span if d >= ledger_start], "quantity")
        )
        assert silver_totals(
            settings, "fact_reimbursements", "amount_total", account
        ) == truth_totals([truth.reimbursements(account, d) for d in span], "amount_total")
        assert silver_totals(settings, "fact_customer_returns", "quantity", account) == (
            truth_totals([truth.returns(account, d) for d in span], "quantity")
        )
        # The sandbox's truth holds the parts of each event; silver adds Amazon's stated totals.
        parts = "amount_role = 'part'"
        assert silver_totals(settings, "fact_financial_events", "amount", account, parts) == (
            truth_totals([truth.financial_events(account, d) for d in span], "amount")
        )
        fees = truth.fee_preview(account, YESTERDAY)
        assert silver_totals(settings, "fact_fee_preview", "estimated_fee_total", account) == (
            fees.height,
            Decimal(str(fees["estimated_fee_total"].sum())),
        )
        stored = dict(
            query(
                settings,
                "select settlement_id, total_amount from amazon_econ.fact_settlement_summaries "
                f"where account = '{account}'",
            )
        )
        periods = {sid: (start, end) for sid, start, end in truth.settlement_periods(account)}
        recent = [sid for sid, (_, end) in periods.items() if end >= YESTERDAY - timedelta(days=80)]
        assert set(recent) <= set(stored) <= set(periods)
        settlements = {sid: truth.settlement_rows(account, *periods[sid]) for sid in stored}
        for sid, total in stored.items():
            assert Decimal(total) == Decimal(str(settlements[sid]["amount"].sum()))
        [(lines,)] = query(
            settings,
            f"select count(*) from amazon_econ.fact_settlements where account = '{account}'",
        )
        # Silver files settlement lines on their posted day: only the simulated days hold them.
        posted = pl.col("posted_date").dt.date().is_between(first, YESTERDAY)
        assert lines == sum(settlements[sid].filter(posted).height for sid in stored)
    checks = {
        (e.asset_key.path[-1], e.check_name): e.passed
        for e in resumed.get_asset_check_evaluations()
    }
    assert all(passed for (_, name), passed in checks.items() if name != "no_quarantined_rows")


def test_malformed_rows_are_quarantined_and_the_rest_load(pipeline, seller_sandbox) -> None:
    settings, defs = pipeline
    first = YESTERDAY - timedelta(days=6)
    seller_sandbox.faults.malform_next_document()
    result = run(
        defs, "default", first, YESTERDAY, job=source_job_name(ORDERS.name), **{MODE_TAG: FETCH}
    )
    assert result.success
    quarantined = query(
        settings,
        "select line_number, reason from amazon_econ.quarantine_orders order by line_number",
    )
    reasons = " | ".join(reason for _, reason in quarantined)
    assert len(quarantined) == 3, reasons
    assert "fields but the header has" in reasons
    # A bad quantity is not a key: its line loads with the quantity null and a note.
    assert "is not a whole number; the line is loaded with it null" in reasons
    assert "purchase-date: '31/31/2026 25:61' is not a date and time" in reasons
    rows, _ = silver_totals(settings, "fact_orders", "item_price", "default")
    expected = sum(
        seller_sandbox.seller_history.orders("default", d).height for d in days(first, YESTERDAY)
    )
    assert rows == expected - 2
    [(nulled,)] = query(
        settings, "select count(*) from amazon_econ.fact_orders where quantity is null"
    )
    assert nulled == 1
    warned = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not warned["no_quarantined_rows"].passed
    assert warned["no_quarantined_rows"].severity == dg.AssetCheckSeverity.WARN


def test_finance_pages_are_halved_when_amazon_says_too_large(pipeline, seller_sandbox) -> None:
    """Black Friday week: 100 results per page is refused (InvalidInput); 50 goes through."""
    settings, _ = pipeline
    sp_api = SpApiResource.from_settings(settings)
    start = datetime(YESTERDAY.year - 1, 11, 28, tzinfo=UTC)
    pages = sp_api.list_financial_events(start, start + timedelta(days=3))
    calls = seller_sandbox.calls("listFinancialEvents")
    assert calls > len(pages)  # the refused pages
    events = sum(len(v) for page in pages for v in page["FinancialEvents"].values())
    truth = pl.concat(
        [
            seller_sandbox.seller_history.financial_events(
                "default", (start + timedelta(days=i)).date()
            )
            for i in range(3)
        ]
    )
    assert events == truth["event_id"].n_unique()


def _onboarded(result: dg.SensorResult, key: dg.AssetKey) -> dict[str, list[str]]:
    """The (account, day) keys of `key` each of the sensor's backfills covers, by account."""
    accounts = {}
    for request in result.run_requests:
        keys = sorted(request.asset_graph_subset.get_partitions_subset(key).get_partition_keys())
        accounts[keys[0].split("|")[0]] = keys
    return accounts


def test_accounts_add_registers_a_partition_and_the_sensor_backfills_it(pipeline) -> None:
    """Through `evaluate_tick`, which validates the requests as the daemon does: a new account
    gets its seller history (every day), business reports (without Data Kiosk the 7-day settling
    window: the app's 96 reports a day cannot pay 18 months) and product signals (the newest day,
    all Amazon serves); an account that already has data counts as onboarded."""
    settings, defs = pipeline
    repository = defs.get_repository_def()
    sensor = repository.get_sensor_def(ONBOARDING_SENSOR)
    with dg.DagsterInstance.get() as instance:
        # "eu" has history (one day of orders); "default" has none yet.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                dg.AssetKey(["bronze", "orders"]), partition=partition_key("eu", YESTERDAY)
            )
        )
        assert add_account(settings, argparse.Namespace(name="newshop")) == 0
        assert "newshop" in instance.get_dynamic_partitions(ACCOUNTS.name)
        context = dg.build_sensor_context(instance=instance, repository_def=repository)
        result = sensor.evaluate_tick(context)
    assert not result.skip_message
    days = daily_partitions(settings).get_partition_keys()
    orders = _onboarded(result, dg.AssetKey(["bronze", "orders"]))
    assert sorted(orders) == ["default", "newshop"]
    assert orders["newshop"] == [f"newshop|{day}" for day in days]
    assert len(orders["default"]) == len(days)
    for key, newest in (
        (["bronze", "business_reports"], 7),
        (["silver", "fact_business_reports_us"], 7),
        (["silver", "business_reports_day_status_us"], 7),
        (["bronze", "product_signals"], 1),
        (["silver", "fact_product_snapshot"], 1),
    ):
        assert _onboarded(result, dg.AssetKey(key))["newshop"] == [
            f"newshop|{day}" for day in days[-newest:]
        ], key
    assert all(r.tags[MODE_TAG] == "backfill" for r in result.run_requests)
    # Tagged like the accounts API's jobs: /v1/jobs lists it with its sources and days.
    onboarded = [*SOURCE_NAMES, "business_reports", "product_signals"]
    (newshop,) = [r for r in result.run_requests if r.tags[ACCOUNT_TAG] == "newshop"]
    assert (
        newshop.tags.items()
        >= {
            MODE_TAG: "backfill",
            **job_tags("newshop", ONBOARDING, onboarded, days[0], days[-1]),
        }.items()
    )
    # The accounts API's sources name the assets the sensor backfills, and between them every
    # (account, day) asset of the graph (ads' where the account has the Ads API).
    assert newshop.asset_graph_subset.asset_keys == {
        key for source in onboarded for key in SOURCES[source].keys
    }
    graph = defs.resolve_asset_graph()
    per_account_day = {
        key
        for key in graph.materializable_asset_keys
        if isinstance(graph.get(key).partitions_def, dg.MultiPartitionsDefinition)
    }
    assert per_account_day == {key for source in SOURCES.values() for key in source.keys}
    assert json.loads(result.cursor) == ["default", "eu", "newshop"]
    with dg.DagsterInstance.get() as instance:
        again = sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, repository_def=repository, cursor=result.cursor
            )
        )
    assert not again.run_requests


def test_with_data_kiosk_a_new_account_gets_its_whole_sales_and_traffic_history(
    pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data Kiosk serves the history outside the 96-a-day budget: every day is onboarded; an
    account with business reports only (no seller history) counts as onboarded too."""
    monkeypatch.setenv("AMAZON_ASSETS_DATA_KIOSK", "1")
    settings = Settings.from_env()
    repository = build_definitions(settings).get_repository_def()
    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                dg.AssetKey(["bronze", "business_reports"]),
                partition=partition_key("eu", YESTERDAY),
            )
        )
        result = repository.get_sensor_def(ONBOARDING_SENSOR).evaluate_tick(
            dg.build_sensor_context(instance=instance, repository_def=repository)
        )
    days = daily_partitions(settings).get_partition_keys()
    business = _onboarded(result, dg.AssetKey(["silver", "fact_business_reports_us"]))
    assert business == {"default": [f"default|{day}" for day in days]}
    assert _onboarded(result, dg.AssetKey(["bronze", "product_signals"])) == {
        "default": [f"default|{days[-1]}"]
    }
