"""The Data Kiosk trends parser on a document in Amazon's published schema."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from amazon_assets.parsers.data_kiosk import (
    PROVISIONAL,
    SETTLED,
    day_status,
    parse_sales_and_traffic_trends,
)
from amazon_assets.parsers.sales_and_traffic import SALES_AND_TRAFFIC_SCHEMA

DOCUMENT = Path(__file__).parent / "documents" / "data_kiosk_sales_and_traffic_trends.jsonl"
AT = datetime(2025, 3, 20, 6, tzinfo=UTC)


def _parse(fetched_at: datetime = AT):
    return parse_sales_and_traffic_trends(
        DOCUMENT.read_bytes(),
        query_id="q-1",
        account="acme",
        data_start=date(2025, 3, 1),
        data_end=date(2025, 3, 2),
        asins=("B0CHILD001", "B0CHILD002"),
        fetched_at=fetched_at,
        settle_days=7,
        ingested_at=AT,
    )


def test_every_line_ends_in_silver_or_quarantine_with_a_reason():
    parsed = _parse()
    assert parsed.document_rows == 8
    assert parsed.facts.height + parsed.quarantine.height == 8
    assert parsed.facts.schema == SALES_AND_TRAFFIC_SCHEMA
    reasons = dict(zip(parsed.quarantine["line_number"], parsed.quarantine["reason"], strict=True))
    assert set(reasons) == {4, 5, 6, 7, 8}
    assert "traffic" in reasons[4] or "sessions" in reasons[4]
    assert "one day" in reasons[5]
    assert "appears again" in reasons[6]
    assert "not asked for" in reasons[7]
    assert "not JSON" in reasons[8]


def test_rows_are_child_asin_by_day_with_sku_fields_null():
    facts = _parse().facts.sort("report_date", "asin")
    assert facts["report_date"].to_list() == [date(2025, 3, 1)] * 2 + [date(2025, 3, 2)]
    assert facts["asin"].to_list() == ["B0CHILD001", "B0CHILD002", "B0CHILD001"]
    assert facts["msku"].null_count() == 3
    first = facts.row(0, named=True)
    assert first["ordered_product_sales"] == Decimal("239.34")
    assert (first["sessions"], first["page_views"], first["units_ordered"]) == (61, 80, 6)
    assert first["buy_box_percentage"] == 94.74
    assert first["units_ordered_b2b"] is None  # an absent B2B field is null, not zero
    assert facts.row(1, named=True)["units_ordered_b2b"] == 0
    assert set(facts["report_id"]) == {"q-1"}


def test_days_are_provisional_inside_the_settling_window_and_settled_after():
    assert _parse().days["status"].to_list() == [SETTLED, SETTLED]
    recent = _parse(fetched_at=datetime(2025, 3, 5, tzinfo=UTC)).days
    assert recent["status"].to_list() == [PROVISIONAL, PROVISIONAL]
    assert day_status(date(2025, 3, 1), date(2025, 3, 8), 7) == SETTLED
    assert day_status(date(2025, 3, 2), date(2025, 3, 8), 7) == PROVISIONAL
