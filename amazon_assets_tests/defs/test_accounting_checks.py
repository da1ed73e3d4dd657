"""The blocking "every row accounted for" checks pass on silver + quarantine and fail on a row that
is neither: each check is fed a real parse, then the same parse with one row dropped."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from amazon_assets.defs.business_reports.checks import every_document_row_loaded
from amazon_assets.defs.seller_history.checks import EVENTS_CHECK, ROWS_CHECK, rows_accounted_for
from amazon_assets.parsers.quarantine import document_accounting
from amazon_assets.parsers.sales_and_traffic import parse_sales_and_traffic
from amazon_assets.parsers.seller_history.financial_events import (
    page_accounting,
    parse_financial_events,
)
from amazon_assets.parsers.seller_history.inventory_ledger import INVENTORY_LEDGER

DOCUMENTS = Path(__file__).resolve().parent.parent / "parsers" / "documents"
NOW = datetime(2026, 8, 1, tzinfo=UTC)
ASSET = dg.AssetKey(["silver", "fact_x"])


def test_business_report_rows_in_quarantine_count_and_a_lost_row_fails() -> None:
    document = json.loads((DOCUMENTS / "sales_and_traffic_sku_day.json").read_text())
    day = date.fromisoformat(document["reportSpecification"]["dataStartTime"][:10])
    rows = document["salesAndTrafficByAsin"]
    rows[0]["trafficByAsin"]["sessions"] = "many"  # refused into quarantine
    parsed = parse_sales_and_traffic(
        json.dumps(document).encode(),
        report_date=day,
        report_id="1",
        account="default",
        ingested_at=NOW,
    )
    counts = {("default", day): parsed.document_rows}
    quarantine = parsed.quarantine.with_columns(account=pl.lit("default"))
    assert quarantine.height == 1 and parsed.facts.height == len(rows) - 1
    assert every_document_row_loaded(ASSET, parsed.facts, quarantine, counts).passed
    lost = every_document_row_loaded(ASSET, parsed.facts.slice(1), quarantine, counts)
    assert not lost.passed
    assert lost.metadata["days_unaccounted"].value == {
        f"default {day.isoformat()}": {
            "document": len(rows),
            "loaded": len(rows) - 2,
            "refused": 1,
            "superseded": 0,
        }
    }


def test_flat_file_rows_are_accounted_per_document_and_a_lost_row_fails() -> None:
    parsed = INVENTORY_LEDGER.parse(
        (DOCUMENTS / "inventory_ledger_detail_quoted.tsv").read_bytes(),
        account="acme",
        report_id="9",
        charset=None,
        fallback_date=date(2026, 7, 1),
        ingested_at=NOW,
    )
    whole = document_accounting("9", parsed.document_rows, parsed.facts.height, parsed.quarantine)
    assert whole.row(0) == ("9", None, 6, 5, 1)
    assert rows_accounted_for(ASSET, ROWS_CHECK, whole).passed
    short = document_accounting(
        "9", parsed.document_rows, parsed.facts.height - 1, parsed.quarantine
    )
    result = rows_accounted_for(ASSET, ROWS_CHECK, short)
    assert not result.passed and result.metadata["unaccounted"].value[0]["document_id"] == "9"


def test_finance_events_are_accounted_per_page_and_a_lost_event_fails() -> None:
    answers = [
        json.loads((DOCUMENTS / name).read_text())["payload"]
        for name in (
            "finances_v0_list_financial_events.json",
            "finances_v0_list_financial_events_by_group_id.json",
        )
    ]
    answers[1]["FinancialEvents"]["NotInTheModelEventList"] = [
        {"PostedDate": "2020-02-05T00:00:00Z"}
    ]
    window = {"PostedAfter": "2020-01-01T00:00:00Z", "PostedBefore": "2026-08-01T00:00:00Z"}
    document = gzip.compress(json.dumps({**window, "pages": answers}).encode())
    parsed = parse_financial_events(document, account="acme", report_id="w1", ingested_at=NOW)
    pages = page_accounting("w1", parsed)
    assert pages.rows() == [("w1", 1, 4, 4, 0), ("w1", 2, 7, 6, 1)]
    assert rows_accounted_for(ASSET, EVENTS_CHECK, pages).passed
    # An event whose rows vanished between the parser and silver: the page no longer adds up.
    dropped = parsed.facts.filter(
        ~((pl.col("page_number") == 2) & (pl.col("event_type") == "TrialShipment"))
    )
    broken = page_accounting(
        "w1", type(parsed)(dropped, parsed.quarantine, 11, parsed.served_pages)
    )
    result = rows_accounted_for(ASSET, EVENTS_CHECK, broken)
    assert not result.passed
    assert result.metadata["unaccounted"].value == [
        {"document_id": "w1", "page_number": 2, "served": 7, "loaded": 5, "refused": 1}
    ]
