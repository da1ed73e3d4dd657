"""Sales and traffic with Data Kiosk as the history path, through the assets: real client, real
sandbox over HTTP, real lake, real DuckDB."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from amazon_assets.asset_keys import silver_key
from amazon_assets.commands import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from amazon_assets.definitions import build_definitions
from amazon_assets.defs.business_reports.assets import report_or_kiosk
from amazon_assets.defs.business_reports.checks import every_document_row_loaded
from amazon_assets.defs.business_reports.commands import BUSINESS_REPORTS_JOB
from amazon_assets.defs.business_reports.spec import (
    BUSINESS_REPORTS,
    DATA_KIOSK_TRENDS,
    DAY_STATUS_TABLE,
)
from amazon_assets.defs.mart.sources import build_mart_for_days
from amazon_assets.ingestion.bronze import (
    StoredDocument,
    kiosk_bronze_document,
    stored_documents,
)
from amazon_assets.parsers.compression import gunzipped
from amazon_assets.parsers.data_kiosk import parse_sales_and_traffic_trends
from amazon_assets.partitions import partition_key
from amazon_assets.resources.data_kiosk import KioskResult
from amazon_assets.resources.lake import LocalLake, write_document
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.resources.warehouse import WarehouseResource
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings
from amazon_assets_tests.defs.test_business_reports import YESTERDAY, run_days

SETTLING = [YESTERDAY - timedelta(days=offset) for offset in range(6, -1, -1)]
HISTORY = [SETTLING[0] - timedelta(days=offset) for offset in range(14, 0, -1)]
KIOSK_DOCUMENT = (
    Path(__file__).parents[1]
    / "parsers"
    / "documents"
    / "data_kiosk_sales_and_traffic_trends.jsonl"
)


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


def test_data_kiosk_serves_the_history_and_the_window_between_two_sku_reports(
    kiosk_pipeline, sandbox
) -> None:
    """With Data Kiosk the settling window costs two of the 96 per account (its newest day and
    the day leaving it, at SKU level); Data Kiosk serves the days between them and the history
    at child-ASIN level."""
    settings, defs = kiosk_pipeline
    # Without Data Kiosk, a morning earlier: a provisional SKU report of a day inside the window.
    refreshed = SETTLING[3]
    reports_only = build_definitions(replace(settings, data_kiosk=False))
    assert run_days(reports_only, refreshed, refreshed).success
    # Amazon has no data yet for yesterday: its empty document must be provisional, not a zero.
    sandbox.faults.next_report_outcome("GET_SALES_AND_TRAFFIC_REPORT", "CANCELLED")
    result = run_days(defs, HISTORY[0], SETTLING[-1])
    assert result.success

    # Per range, one ASIN list and ceil(ASINs/30) trends queries; two reports for the window.
    sold = set().union(*(_child_truth(sandbox, day) for day in HISTORY))
    between = SETTLING[1:-1]
    sold_between = set().union(*(_child_truth(sandbox, day) for day in between))
    trends_queries = math.ceil(len(sold) / 30) * math.ceil(len(HISTORY) / 730)
    assert len(sold) > 30  # more than one query's worth of ASINs
    queries = 1 + trends_queries + 1 + math.ceil(len(sold_between) / 30)
    assert sandbox.calls("createQuery") == queries
    assert sandbox.calls("createReport") == 1 + 2
    assert sorted({day for _, _, day in sandbox.requests_by_report()}) == sorted(
        [SETTLING[0], refreshed, SETTLING[-1]]
    )
    bronze = result.asset_materializations_for_node("bronze__business_reports")[0].metadata
    assert bronze["documents_fetched"].value == 2 + queries

    facts = _silver(
        settings,
        "select report_date, msku, asin, units_ordered, ordered_product_sales "
        "from amazon_econ.fact_business_reports_us",
    )
    # Child ASIN rows equal to the sandbox's truth: the history, and the window's days between
    # its two reports (the day refreshed by Data Kiosk after its morning's report too).
    for day in HISTORY + between:
        rows = facts.filter(pl.col("report_date") == day)
        assert rows["msku"].null_count() == rows.height > 0
        loaded = {
            r["asin"]: (r["units_ordered"], r["ordered_product_sales"])
            for r in rows.iter_rows(named=True)
        }
        assert loaded == _child_truth(sandbox, day), day
    # SKU rows from the report of the day leaving the window.
    rows = facts.filter(pl.col("report_date") == SETTLING[0])
    truth = sandbox.marketplace.sales_and_traffic(DEFAULT_ACCOUNT, SETTLING[0])
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
    assert evaluations["every_document_row_loaded"]

    # A re-run minutes later (a retry, a resume) asks Amazon for nothing stored already.
    again = run_days(defs, HISTORY[0], SETTLING[-1])
    assert again.success
    assert sandbox.calls("createQuery") == queries
    assert sandbox.calls("createReport") == 1 + 2
    assert _silver(settings, "select count(*) n from amazon_econ.fact_business_reports_us")[
        "n"
    ].item() == len(facts)


def test_a_window_without_sales_is_empty_provisional_days_not_missing_ones(
    amazon_home: Path, sandbox_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account selling since yesterday: Data Kiosk has no ASIN for the days between the
    window's two reports, so no trends query; its answer (no data) makes them empty days, each
    provisional, not days silver waits for."""
    sandbox = sandbox_factory(start_date=SETTLING[-1])
    monkeypatch.setenv("SP_API_ENDPOINT", sandbox.url)
    monkeypatch.setenv("SP_API_LWA_TOKEN_URL", sandbox.token_url)
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", str(sandbox.config.speed))
    monkeypatch.setenv("AMAZON_ASSETS_START_DATE", SETTLING[0].isoformat())
    monkeypatch.setenv("AMAZON_ASSETS_DATA_KIOSK", "1")
    settings = Settings.from_env()
    assert run_days(build_definitions(settings), SETTLING[0], SETTLING[-1]).success
    assert sandbox.calls("createReport") == 2
    assert sandbox.calls("createQuery") == 1  # the ASIN list only: no ASIN to ask trends for
    statuses = _silver(
        settings,
        f"select report_date, status, rows from amazon_econ.{DAY_STATUS_TABLE} order by 1",
    )
    assert statuses.rows()[1:-1] == [(day, "provisional", 0) for day in SETTLING[1:-1]]
    assert statuses.rows()[-1][2] > 0  # yesterday's SKU report has its first day's sales


def _stored(fetched_at: datetime, asins: tuple[str, ...] = ()) -> StoredDocument:
    return StoredDocument(
        f"sidecar-{fetched_at.isoformat()}-{len(asins)}",
        {"fetched_at": fetched_at.isoformat(), "metadata": {"asins": list(asins)}},
    )


def test_a_provisional_report_gives_way_to_a_newer_data_kiosk_document_a_settled_one_never() -> (
    None
):
    day = date(2026, 3, 10)
    first_morning = datetime(2026, 3, 11, 7, tzinfo=UTC)
    later = datetime(2026, 3, 13, 7, tzinfo=UTC)
    provisional, settled = _stored(first_morning), _stored(datetime(2026, 3, 17, 7, tzinfo=UTC))
    kiosk = _stored(later, ("B0CHILD001",))
    older_kiosk = _stored(datetime(2026, 3, 11, 6, tzinfo=UTC), ("B0CHILD001",))

    assert report_or_kiosk({day: provisional}, {kiosk: [day]}) == ({}, {kiosk: [day]})
    assert report_or_kiosk({day: provisional}, {older_kiosk: [day]}) == ({day: provisional}, {})
    newest_kiosk = _stored(datetime(2026, 3, 18, 7, tzinfo=UTC), ("B0CHILD001",))
    assert report_or_kiosk({day: settled}, {newest_kiosk: [day]}) == ({day: settled}, {})
    # A day without a report takes its Data Kiosk documents.
    other = day - timedelta(days=1)
    assert report_or_kiosk({day: settled}, {kiosk: [other, day]}) == (
        {day: settled},
        {kiosk: [other]},
    )


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


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def test_a_data_kiosk_line_in_neither_silver_nor_quarantine_fails_the_row_check() -> None:
    """The document-rows check counts a Data Kiosk document's lines per day like a report's
    SKU rows (the parser's own document: 8 lines, 3 typed, 5 refused)."""
    parsed = parse_sales_and_traffic_trends(
        KIOSK_DOCUMENT.read_bytes(),
        query_id="q-1",
        account="acme",
        data_start=date(2025, 3, 1),
        data_end=date(2025, 3, 2),
        asins=("B0CHILD001", "B0CHILD002"),
        fetched_at=datetime(2025, 3, 20, tzinfo=UTC),
        settle_days=7,
        ingested_at=datetime(2025, 3, 20, tzinfo=UTC),
    )
    lines = {("acme", day): n for day, n in parsed.lines_by_day.items()}
    assert sum(lines.values()) == parsed.document_rows == 8
    quarantine = parsed.quarantine.with_columns(account=pl.lit("acme"))
    key = BUSINESS_REPORTS.silver_key
    assert every_document_row_loaded(key, parsed.facts, quarantine, lines).passed
    lost = every_document_row_loaded(key, parsed.facts.slice(1), quarantine, lines)
    assert not lost.passed
    day = lines[("acme", date(2025, 3, 1))]
    assert lost.metadata["days_unaccounted"].value == {
        "acme 2025-03-01": {"document": day, "loaded": 1, "refused": day - 2, "superseded": 0}
    }


def test_every_data_kiosk_line_lands_in_silver_quarantine_or_a_newer_document(
    kiosk_pipeline, sandbox
) -> None:
    """A newer document of one child ASIN (its batch changed) supersedes that ASIN's lines of
    the older batch; its line dated outside its query's range is refused onto the range's first
    day, not lost; the row check covers the Data Kiosk days and passes."""
    settings, defs = kiosk_pipeline
    assert run_days(defs, HISTORY[0], HISTORY[-1]).success
    before = _silver(
        settings,
        "select report_date, asin, units_ordered from amazon_econ.fact_business_reports_us "
        "order by 1, 2",
    )
    store = LocalLake(settings.lake_root)
    prefix = DATA_KIOSK_TRENDS.lake_prefix(DEFAULT_ACCOUNT)
    stored = [d for d in stored_documents(store, prefix) if d.asins]
    older = stored[0]
    lines = gunzipped(older.read(store).body).decode().splitlines()
    asin = json.loads(lines[0])["childAsin"]
    own = [line for line in lines if json.loads(line)["childAsin"] == asin]
    outside = json.loads(own[0]) | {"startDate": "2001-01-01", "endDate": "2001-01-01"}
    newer = KioskResult(
        query_id="q-newer",
        status="DONE",
        document_id="d-newer",
        body="\n".join([*own, json.dumps(outside)]).encode(),
        asins=(asin,),
        data_start=older.data_start,
        data_end=older.data_end,
        fetched_at=datetime.now(UTC),
        requests={},
    )
    document = kiosk_bronze_document(DATA_KIOSK_TRENDS, newer, "sandbox", DEFAULT_ACCOUNT)
    write_document(store, prefix, document, DATA_KIOSK_TRENDS.file_name(False))

    silver = defs.resolve_job_def(BUSINESS_REPORTS_JOB)
    with dg.DagsterInstance.get() as instance:
        result = silver.execute_in_process(
            instance=instance,
            asset_selection=[
                silver_key(table)
                for table in (
                    BUSINESS_REPORTS.silver_table,
                    BUSINESS_REPORTS.quarantine_table,
                    DAY_STATUS_TABLE,
                )
            ],
            tags={
                ASSET_PARTITION_RANGE_START_TAG: partition_key(DEFAULT_ACCOUNT, HISTORY[0]),
                ASSET_PARTITION_RANGE_END_TAG: partition_key(DEFAULT_ACCOUNT, HISTORY[-1]),
            },
        )
    assert result.success
    after = _silver(
        settings,
        "select report_date, asin, units_ordered from amazon_econ.fact_business_reports_us "
        "order by 1, 2",
    )
    assert after.equals(before)  # the same rows, now from the newer document for that ASIN
    refused = _silver(
        settings,
        "select report_date, document_id, reason from amazon_econ.quarantine_business_reports_us "
        "where document_id = 'q-newer'",
    )
    assert refused.rows() == [
        (
            older.data_start,
            "q-newer",
            f"startDate 2001-01-01 is outside the query's {older.data_start}..{older.data_end}.",
        )
    ]
    check = _check(result, "every_document_row_loaded")
    assert check.passed
    history_lines = (
        sum(len(gunzipped(d.read(store).body).splitlines()) for d in stored) + len(own) + 1
    )
    assert check.metadata["document_rows"].value == history_lines
    assert (
        check.metadata["superseded_rows"].value
        == len(
            [line for line in own if date.fromisoformat(json.loads(line)["startDate"]) in HISTORY]
        )
        > 0
    )
