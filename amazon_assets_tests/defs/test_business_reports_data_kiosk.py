"""Sales and traffic with Data Kiosk as the history path, through the assets: real client, real
sandbox over HTTP, real lake, real DuckDB."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from amazon_assets.definitions import build_definitions
from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS, DAY_STATUS_TABLE
from amazon_assets.defs.mart.sources import build_mart_for_days
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.resources.warehouse import WarehouseResource
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings
from amazon_assets_tests.defs.test_business_reports import YESTERDAY, run_days

SETTLING = [YESTERDAY - timedelta(days=offset) for offset in range(6, -1, -1)]
HISTORY = [SETTLING[0] - timedelta(days=offset) for offset in range(14, 0, -1)]


@pytest.fixture
def kiosk_pipeline(amazon_home: Path, sandbox, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SP_API_ENDPOINT", sandbox.url)
    monkeypatch.setenv("SP_API_LWA_TOKEN_URL", sandbox.token_url)
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", str(sandbox.config.speed))
    monkeypatch.setenv("AMAZON_ASSETS_START_DATE", (YESTERDAY - timedelta(days=40)).isoformat())
    monkeypatch.setenv("AMAZON_ASSETS_DATA_KIOSK", "1")
    settings = Settings.from_env()
    return settings, build_definitions(settings)


def _silver(settings: Settings, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql).pl()


def _child_truth(sandbox, day: date) -> dict[str, tuple[int, Decimal]]:
    """The sandbox's child ASINs of a day with traffic: units and sales."""
    facts = sandbox.marketplace.sales_and_traffic(DEFAULT_ACCOUNT, day)
    sums = facts.group_by("asin").agg(
        pl.col("sessions").sum(),
        pl.col("units_ordered").sum(),
        pl.col("ordered_product_sales_cents").sum(),
    )
    return {
        r["asin"]: (r["units_ordered"], Decimal(r["ordered_product_sales_cents"]) / 100)
        for r in sums.filter(pl.col("sessions") > 0).iter_rows(named=True)
    }


def test_history_comes_from_data_kiosk_and_the_settling_window_from_sku_reports(
    kiosk_pipeline, sandbox
) -> None:
    settings, defs = kiosk_pipeline
    # Amazon has no data yet for yesterday: its empty document must be provisional, not a zero.
    sandbox.faults.next_report_outcome("GET_SALES_AND_TRAFFIC_REPORT", "CANCELLED")
    result = run_days(defs, HISTORY[0], SETTLING[-1])
    assert result.success

    # History: one ASIN list and ceil(ASINs/30) x ceil(days/730) trends queries, no report.
    sold = set().union(*(_child_truth(sandbox, day) for day in HISTORY))
    trends_queries = math.ceil(len(sold) / 30) * math.ceil(len(HISTORY) / 730)
    assert len(sold) > 30  # more than one query's worth of ASINs
    assert sandbox.calls("createQuery") == 1 + trends_queries
    assert sandbox.calls("createReport") == len(SETTLING)
    assert sorted({day for _, _, day in sandbox.requests_by_report()}) == SETTLING

    facts = _silver(
        settings,
        "select report_date, msku, asin, units_ordered, ordered_product_sales "
        "from amazon_econ.fact_business_reports_us",
    )
    for day in HISTORY:  # child ASIN rows equal to the sandbox's truth
        rows = facts.filter(pl.col("report_date") == day)
        assert rows["msku"].null_count() == rows.height > 0
        loaded = {
            r["asin"]: (r["units_ordered"], r["ordered_product_sales"])
            for r in rows.iter_rows(named=True)
        }
        assert loaded == _child_truth(sandbox, day), day
    for day in SETTLING[:-1]:  # SKU rows from the reports
        rows = facts.filter(pl.col("report_date") == day)
        truth = sandbox.marketplace.sales_and_traffic(DEFAULT_ACCOUNT, day)
        assert rows.height > 0 and rows["msku"].null_count() == 0
        assert rows["units_ordered"].sum() == truth["units_ordered"].sum()
    assert facts.filter(pl.col("report_date") == SETTLING[-1]).is_empty()

    statuses = _silver(
        settings,
        f"select report_date, status, rows from amazon_econ.{DAY_STATUS_TABLE} order by 1",
    )
    assert statuses["report_date"].to_list() == HISTORY + SETTLING
    today = date.today()
    for day, status, rows in statuses.iter_rows():
        young = (today - day).days < BUSINESS_REPORTS.lookback_days
        assert status == ("provisional" if young else "settled"), day
        assert rows == facts.filter(pl.col("report_date") == day).height
    assert statuses.row(-1) == (SETTLING[-1], "provisional", 0)
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["keys_not_null_and_unique"]

    # A re-run minutes later (a retry, a resume) asks Amazon for nothing stored already.
    again = run_days(defs, HISTORY[0], SETTLING[-1])
    assert again.success
    assert sandbox.calls("createQuery") == 1 + trends_queries
    assert sandbox.calls("createReport") == len(SETTLING)
    assert _silver(settings, "select count(*) n from amazon_econ.fact_business_reports_us")[
        "n"
    ].item() == len(facts)


def test_a_report_resumed_from_the_ledger_spends_none_of_the_96(kiosk_pipeline, sandbox) -> None:
    """Only a createReport sent to Amazon counts against the app's budget."""
    settings, defs = kiosk_pipeline
    day = SETTLING[-1]
    # A crashed run requested the day's report: it is open in the ledger.
    SpApiResource.from_settings(settings).request_report(
        BUSINESS_REPORTS.report_type, day, day, dict(BUSINESS_REPORTS.report_options)
    )
    assert sandbox.calls("createReport") == 1
    result = run_days(defs, day, day)
    assert result.success
    assert sandbox.calls("createReport") == 1  # resumed, not requested again
    [bronze] = [
        m.metadata for m in result.asset_materializations_for_node("bronze__business_reports")
    ]
    assert bronze["sales_and_traffic_budget_used"].value == 0


def test_the_mart_prices_data_kiosk_days_by_asin(kiosk_pipeline, sandbox) -> None:
    """History days come from Data Kiosk (child ASIN rows, `msku` null): their fees come from
    the ASIN's SKUs' estimates, not zero because no SKU matched."""
    settings, defs = kiosk_pipeline
    assert run_days(defs, HISTORY[0], SETTLING[-1]).success
    skus = _silver(
        settings,
        "select distinct account, msku as sku, asin from amazon_econ.fact_business_reports_us "
        "where msku is not null",
    )
    assert skus.height > 0
    # A fee preview seen on every history day (as the daily refresh stores it): each ASIN's
    # first SKU 2.00 a unit, any other SKU of it 4.00.
    first_sku = pl.col("sku") == pl.col("sku").min().over("asin")
    estimates = skus.with_columns(
        estimated_fee_total=pl.when(first_sku).then(Decimal("2.00")).otherwise(Decimal("4.00")),
        currency=pl.lit("USD"),
    ).join(pl.DataFrame({"report_date": HISTORY}), how="cross")
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        conn.register("planted", estimates.to_arrow())
        conn.execute("CREATE TABLE amazon_econ.fact_fee_preview AS SELECT * FROM planted")
    per_unit = {
        asin: sum(fees) / len(fees)
        for asin, fees in estimates.filter(pl.col("report_date") == HISTORY[0])
        .group_by("asin")
        .agg(pl.col("estimated_fee_total"))
        .iter_rows()
    }

    warehouse = WarehouseResource(kind="duckdb", database=str(settings.warehouse_path))
    mart = build_mart_for_days(
        warehouse, settings.bigquery_dataset, HISTORY[0], HISTORY[-1] + timedelta(days=1)
    ).mart
    checked = 0
    for day in HISTORY:
        truth = _child_truth(sandbox, day)
        for row in mart.filter(pl.col("report_date") == day).iter_rows(named=True):
            units, sales = truth.get(row["asin"], (None, None))
            assert (row["units_ordered"], row["ordered_product_sales"]) == (units, sales)
            if units and row["asin"] in per_unit:
                assert row["fees"] == (units * per_unit[row["asin"]]).quantize(Decimal("0.01"))
                checked += 1
    assert checked > len(HISTORY)
