"""parse_sales_and_traffic on documents written in Amazon's published report structure."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA
from amazon_assets.parsers.sales_and_traffic import (
    SALES_AND_TRAFFIC_SCHEMA,
    MalformedDocumentError,
    ParsedReport,
    parse_sales_and_traffic,
)

DOCUMENTS = Path(__file__).parent / "documents"
DAY = date(2026, 1, 5)
INGESTED_AT = datetime(2026, 1, 7, 9, 30, 0, 123456, tzinfo=UTC)


def sku_row(
    sku: str, child: str, parent: str = "B0PARENT01", *, units: Any = 1, sales: Any = "19.99"
) -> dict[str, Any]:
    """One salesAndTrafficByAsin object at SKU granularity (Amazon's required fields only)."""
    row = {
        "parentAsin": parent,
        "childAsin": child,
        "sku": sku,
        "salesByAsin": {
            "unitsOrdered": units,
            "orderedProductSales": {"amount": Decimal(sales), "currencyCode": "USD"},
            "totalOrderItems": 1,
        },
        "trafficByAsin": {
            "browserSessions": 3,
            "mobileAppSessions": 2,
            "sessions": 5,
            "browserSessionPercentage": Decimal("1.5"),
            "mobileAppSessionPercentage": Decimal("2.25"),
            "sessionPercentage": Decimal("1.75"),
            "browserPageViews": 4,
            "mobileAppPageViews": 3,
            "pageViews": 7,
            "browserPageViewsPercentage": Decimal("1.1"),
            "mobileAppPageViewsPercentage": Decimal("0.9"),
            "pageViewsPercentage": Decimal("1.0"),
            "buyBoxPercentage": Decimal("100.00"),
            "unitSessionPercentage": Decimal("20.0"),
        },
    }
    return row


def report(rows: list[Any], granularity: str = "SKU", by_date: list[Any] | None = None) -> dict:
    """A whole GET_SALES_AND_TRAFFIC_REPORT document for DAY."""
    return {
        "reportSpecification": {
            "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
            "reportOptions": {"dateGranularity": "DAY", "asinGranularity": granularity},
            "dataStartTime": DAY.isoformat(),
            "dataEndTime": DAY.isoformat(),
            "marketplaceIds": ["ATVPDKIKX0DER"],
        },
        "salesAndTrafficByDate": by_date or [],
        "salesAndTrafficByAsin": rows,
    }


def encode(document: dict) -> bytes:
    """JSON bytes as Amazon writes them: Decimals as bare numbers, never quoted or rounded."""
    return _unmark(json.dumps(_with_markers(document))).encode()


def _with_markers(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"@@{value}@@"
    if isinstance(value, dict):
        return {k: _with_markers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_markers(v) for v in value]
    return value


def _unmark(text: str) -> str:
    return text.replace('"@@', "").replace('@@"', "")


def parse(document: bytes | dict, **overrides: Any) -> ParsedReport:
    body = encode(document) if isinstance(document, dict) else document
    arguments = {
        "report_date": DAY,
        "report_id": "REPORT-123",
        "account": "default",
        "ingested_at": INGESTED_AT,
    } | overrides
    return parse_sales_and_traffic(body, **arguments)


def test_static_sku_document_maps_every_field_to_snake_case() -> None:
    parsed = parse((DOCUMENTS / "sales_and_traffic_sku_day.json").read_bytes())

    assert parsed.asin_granularity == "SKU"
    assert parsed.quarantine.is_empty()
    assert parsed.facts.schema == SALES_AND_TRAFFIC_SCHEMA
    blue = parsed.facts.row(0, named=True)
    assert blue == {
        "report_date": DAY,
        "account": "default",
        "marketplace_id": "ATVPDKIKX0DER",
        "msku": "MUG-BLUE-12OZ",
        "asin": "B0CHILD001",
        "parent_asin": "B0PARENT01",
        "sessions": 50,
        "page_views": 75,
        "buy_box_percentage": 98.67,
        "unit_session_percentage": 10.0,
        "units_ordered": 5,
        "ordered_product_sales": Decimal("99.95"),
        "currency_code": "USD",
        "total_order_items": 4,
        "browser_sessions": 30,
        "mobile_app_sessions": 20,
        "session_percentage": 70.42,
        "browser_session_percentage": 75.0,
        "mobile_app_session_percentage": 64.52,
        "browser_page_views": 45,  # Amazon's published misspelling "browerPageViews"
        "mobile_app_page_views": 30,
        "page_views_percentage": 71.43,
        "browser_page_views_percentage": 73.77,
        "mobile_app_page_views_percentage": 68.18,
        "units_ordered_b2b": 2,
        "ordered_product_sales_b2b": Decimal("39.98"),
        "total_order_items_b2b": 1,
        "sessions_b2b": 5,
        "browser_sessions_b2b": 4,
        "mobile_app_sessions_b2b": 1,
        "session_percentage_b2b": 83.33,
        "browser_session_percentage_b2b": 80.0,
        "mobile_app_session_percentage_b2b": 100.0,
        "page_views_b2b": 7,
        "browser_page_views_b2b": 6,
        "mobile_app_page_views_b2b": 1,
        "page_views_percentage_b2b": 87.5,
        "browser_page_views_percentage_b2b": 85.71,
        "mobile_app_page_views_percentage_b2b": 100.0,
        "buy_box_percentage_b2b": 100.0,
        "unit_session_percentage_b2b": 40.0,
        "report_id": "REPORT-123",
        "ingested_at": INGESTED_AT,
    }
    red = parsed.facts.row(1, named=True)
    assert (red["msku"], red["browser_page_views"], red["units_ordered"]) == ("MUG-RED-12OZ", 16, 2)
    # A seller without B2B business: Amazon omits the B2B fields, which are null, not zero.
    assert red["units_ordered_b2b"] is None and red["ordered_product_sales_b2b"] is None


def test_schema_is_the_silver_table_schema() -> None:
    parsed = parse(report([sku_row("A-1", "B0000000A1")]))

    assert parsed.facts.schema == SALES_AND_TRAFFIC_SCHEMA
    assert parsed.quarantine.schema == QUARANTINE_SCHEMA
    assert SALES_AND_TRAFFIC_SCHEMA.names()[:13] == [
        "report_date",
        "account",
        "marketplace_id",
        "msku",
        "asin",
        "parent_asin",
        "sessions",
        "page_views",
        "buy_box_percentage",
        "unit_session_percentage",
        "units_ordered",
        "ordered_product_sales",
        "currency_code",
    ]
    assert SALES_AND_TRAFFIC_SCHEMA.names()[-2:] == ["report_id", "ingested_at"]
    assert SALES_AND_TRAFFIC_SCHEMA["ordered_product_sales"] == pl.Decimal(18, 2)
    assert SALES_AND_TRAFFIC_SCHEMA["ingested_at"] == pl.Datetime("us", "UTC")
    assert all(name == name.lower() for name in SALES_AND_TRAFFIC_SCHEMA.names())


def test_child_granularity_leaves_msku_null() -> None:
    rows = [sku_row("ignored", "B0CHILD001"), sku_row("ignored", "B0CHILD002")]
    for row in rows:
        del row["sku"]  # Amazon sends no sku at CHILD granularity
    parsed = parse(report(rows, granularity="CHILD"))

    assert parsed.asin_granularity == "CHILD"
    assert parsed.quarantine.is_empty()
    assert parsed.facts["msku"].to_list() == [None, None]
    assert parsed.facts["asin"].to_list() == ["B0CHILD001", "B0CHILD002"]
    assert parsed.facts["parent_asin"].to_list() == ["B0PARENT01", "B0PARENT01"]


def test_parent_granularity_leaves_msku_and_asin_null() -> None:
    rows = [sku_row("x", "x", parent="B0PARENT01"), sku_row("x", "x", parent="B0PARENT02")]
    for row in rows:
        del row["sku"], row["childAsin"]  # Amazon sends only parentAsin at PARENT granularity
    parsed = parse(report(rows, granularity="PARENT"))

    assert parsed.asin_granularity == "PARENT"
    assert parsed.quarantine.is_empty()
    assert parsed.facts.select("msku", "asin", "parent_asin").rows() == [
        (None, None, "B0PARENT01"),
        (None, None, "B0PARENT02"),
    ]
    assert parsed.facts["sessions"].to_list() == [5, 5]


def test_missing_asin_granularity_means_amazons_default_parent() -> None:
    document = report([{k: v for k, v in sku_row("x", "x").items() if k != "sku"}])
    del document["reportSpecification"]["reportOptions"]

    parsed = parse(document)

    assert parsed.asin_granularity == "PARENT"
    assert parsed.facts.select("msku", "asin", "parent_asin").row(0) == (None, None, "B0PARENT01")


def test_unit_session_percentage_above_100_is_valid() -> None:
    row = sku_row("MULTI-PACK", "B0000000MP", units=5)
    row["trafficByAsin"]["sessions"] = 2
    row["trafficByAsin"]["unitSessionPercentage"] = Decimal("250.0")

    parsed = parse(report([row]))

    assert parsed.quarantine.is_empty()
    assert parsed.facts["unit_session_percentage"].to_list() == [250.0]


def test_money_is_exact_decimal_over_many_rows() -> None:
    rows = [sku_row(f"SKU-{i:04d}", f"B{i:09d}", sales="19.99") for i in range(1000)]
    rows.append(sku_row("BIG", "B0000000BG", sales="1234567890123456.78"))

    facts = parse(report(rows)).facts

    assert facts["ordered_product_sales"].dtype == pl.Decimal(18, 2)
    assert facts["ordered_product_sales"].head(1000).sum() == Decimal("19990.00")
    # 16 integer digits survive exactly: a float would have rounded this to ...456.75.
    assert facts["ordered_product_sales"][-1] == Decimal("1234567890123456.78")
    assert sum(facts["ordered_product_sales"].to_list()) == Decimal("1234567890143446.78")


def test_more_than_two_decimals_is_quarantined_not_rounded() -> None:
    parsed = parse(report([sku_row("A", "B0000000AA", sales="10.005"), sku_row("B", "B0000000BB")]))

    assert parsed.facts["msku"].to_list() == ["B"]
    (reason,) = parsed.quarantine["reason"].to_list()
    assert "salesByAsin.orderedProductSales.amount" in reason and "10.005" in reason


def test_gzip_document_parses_like_the_plain_one() -> None:
    plain = (DOCUMENTS / "sales_and_traffic_sku_day.json").read_bytes()

    zipped = parse(gzip.compress(plain))

    assert zipped.facts.equals(parse(plain).facts)
    assert zipped.facts.height == 2


def test_cut_gzip_stream_raises_malformed_document() -> None:
    zipped = gzip.compress((DOCUMENTS / "sales_and_traffic_sku_day.json").read_bytes())

    with pytest.raises(MalformedDocumentError, match=r"^Report REPORT-9: .*gzip"):
        parse(zipped[: len(zipped) // 2], report_id="REPORT-9")


def test_bad_rows_are_quarantined_and_the_rest_load() -> None:
    string_count = sku_row("STRING-COUNT", "B0000000SC")
    string_count["trafficByAsin"]["sessions"] = "12"
    missing_sku = sku_row("dropped", "B0000000MS")
    del missing_sku["sku"]
    negative_units = sku_row("NEGATIVE", "B0000000NG", units=-3)
    text_amount = sku_row("TEXT-AMOUNT", "B0000000TA")
    text_amount["salesByAsin"]["orderedProductSales"]["amount"] = "n/a"
    fractional = sku_row("FRACTION", "B0000000FR", units=Decimal("1.5"))
    rows = [
        sku_row("GOOD-1", "B0000000G1"),
        string_count,
        missing_sku,
        "not an object",
        negative_units,
        text_amount,
        fractional,
        sku_row("GOOD-2", "B0000000G2"),
    ]

    parsed = parse(report(rows))

    assert parsed.facts["msku"].to_list() == ["GOOD-1", "GOOD-2"]
    assert parsed.document_rows == 8
    quarantine = parsed.quarantine
    assert quarantine.schema == QUARANTINE_SCHEMA
    assert quarantine["line_number"].to_list() == [2, 3, 4, 5, 6, 7]
    reasons = quarantine["reason"].to_list()
    assert "trafficByAsin.sessions" in reasons[0] and '"12"' in reasons[0]
    assert "sku is missing" in reasons[1]
    assert "not an object" in reasons[2] and "string" in reasons[2]
    assert "salesByAsin.unitsOrdered" in reasons[3] and "-3" in reasons[3]
    assert "orderedProductSales.amount" in reasons[4] and '"n/a"' in reasons[4]
    assert "salesByAsin.unitsOrdered" in reasons[5] and "1.5" in reasons[5]
    assert set(quarantine["source"]) == {"business_reports"}
    assert set(quarantine["document_id"]) == {"REPORT-123"}
    assert set(quarantine["report_date"]) == {DAY}
    assert set(quarantine["quarantined_at"]) == {INGESTED_AT}
    # raw_row is the row's JSON with its numbers exactly as Amazon wrote them.
    assert json.loads(quarantine["raw_row"][0], parse_float=Decimal) == string_count
    assert json.loads(quarantine["raw_row"][2]) == "not an object"


def test_missing_b2b_metrics_are_null_not_errors() -> None:
    parsed = parse(report([sku_row("NO-B2B", "B0000000NB")]))

    assert parsed.quarantine.is_empty()
    facts = parsed.facts.row(0, named=True)
    b2b = [name for name in SALES_AND_TRAFFIC_SCHEMA.names() if name.endswith("_b2b")]
    assert len(b2b) == 17
    assert all(facts[name] is None for name in b2b)
    assert facts["sessions"] == 5 and facts["ordered_product_sales"] == Decimal("19.99")


@pytest.mark.parametrize(
    ("section", "key", "reason"),
    [
        ("salesByAsin", "orderedProductSales", "salesByAsin.orderedProductSales is missing"),
        ("trafficByAsin", "pageViews", "trafficByAsin.pageViews is missing"),
        ("trafficByAsin", "unitSessionPercentage", "unitSessionPercentage is missing"),
        (None, "parentAsin", "parentAsin is missing"),
        (None, "trafficByAsin", "trafficByAsin is missing"),
    ],
)
def test_missing_required_fields_quarantine_the_row(
    section: str | None, key: str, reason: str
) -> None:
    broken = sku_row("BROKEN", "B0000000BR")
    del (broken[section] if section else broken)[key]

    parsed = parse(report([broken, sku_row("GOOD", "B0000000GD")]))

    assert parsed.facts["msku"].to_list() == ["GOOD"]
    assert reason in parsed.quarantine["reason"][0]
    assert parsed.document_rows == 2


def test_amount_without_currency_is_quarantined() -> None:
    broken = sku_row("NO-CURRENCY", "B0000000NC")
    del broken["salesByAsin"]["orderedProductSales"]["currencyCode"]

    parsed = parse(report([broken]))

    assert parsed.facts.is_empty()
    assert "orderedProductSales.currencyCode is missing" in parsed.quarantine["reason"][0]


def test_whole_number_written_with_a_point_is_a_count() -> None:
    parsed = parse(report([sku_row("POINT", "B0000000PT", units=Decimal("3.0"))]))

    assert parsed.quarantine.is_empty()
    assert parsed.facts["units_ordered"].to_list() == [3]


def test_buy_box_percentage_over_100_is_quarantined() -> None:
    row = sku_row("OVER", "B0000000OV")
    row["trafficByAsin"]["buyBoxPercentage"] = Decimal("100.5")

    parsed = parse(report([row]))

    assert parsed.facts.is_empty()
    assert "trafficByAsin.buyBoxPercentage is 100.5" in parsed.quarantine["reason"][0]


def test_second_row_with_the_same_key_is_quarantined() -> None:
    parsed = parse(report([sku_row("DUP", "B0000000DP"), sku_row("DUP", "B0000000DP")]))

    assert parsed.facts.height == 1
    assert parsed.quarantine["line_number"].to_list() == [2]
    assert "first at row 1" in parsed.quarantine["reason"][0]


def test_not_json_raises_malformed_document_naming_the_report() -> None:
    with pytest.raises(MalformedDocumentError, match=r"^Report REPORT-77: .*not JSON") as caught:
        parse(b"<html>Service Unavailable</html>", report_id="REPORT-77")

    assert caught.value.report_id == "REPORT-77"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b"", "empty"),
        (b"[1, 2]", "is a JSON array, not a report object"),
        (b'{"salesAndTrafficByAsin": []}', "no reportSpecification"),
        (
            json.dumps(report([]) | {"salesAndTrafficByAsin": {"sku": "x"}}).encode(),
            "salesAndTrafficByAsin is a JSON object",
        ),
    ],
)
def test_document_level_problems_raise_one_sentence(document: bytes, problem: str) -> None:
    with pytest.raises(MalformedDocumentError, match=problem) as caught:
        parse(document, report_id="REPORT-5")

    assert str(caught.value).startswith("Report REPORT-5: ")
    assert "\n" not in str(caught.value)


def test_a_document_for_another_range_is_refused() -> None:
    document = report([sku_row("A", "B0000000AA")])
    document["reportSpecification"]["dataEndTime"] = (DAY + timedelta(days=6)).isoformat()

    with pytest.raises(MalformedDocumentError, match="2026-01-05 to 2026-01-11"):
        parse(document)


@pytest.mark.parametrize("granularity", ["WEEK", "MONTH"])
def test_a_week_or_month_report_is_refused(granularity: str) -> None:
    document = report([sku_row("A", "B0000000AA")])
    document["reportSpecification"]["reportOptions"]["dateGranularity"] = granularity

    with pytest.raises(MalformedDocumentError, match=f'dateGranularity is "{granularity}"'):
        parse(document)


def test_marketplace_comes_from_the_document_unless_given() -> None:
    document = report([sku_row("A", "B0000000AA")])

    assert parse(document).facts["marketplace_id"].to_list() == ["ATVPDKIKX0DER"]
    given = parse(document, marketplace_id="A2EUQ1WTGCTBG2")
    assert given.facts["marketplace_id"].to_list() == ["A2EUQ1WTGCTBG2"]


def test_by_date_totals_for_the_report_day() -> None:
    parsed = parse((DOCUMENTS / "sales_and_traffic_sku_day.json").read_bytes())

    assert parsed.by_date_totals == {
        "sessions": 71,
        "page_views": 105,
        "units_ordered": 7,
        "total_order_items": 6,
        "ordered_product_sales": Decimal("154.93"),
    }
    assert isinstance(parsed.by_date_totals["ordered_product_sales"], Decimal)
    # The document's totals agree with its rows, which is what the silver checks rely on.
    facts = parsed.facts
    assert facts["sessions"].sum() == parsed.by_date_totals["sessions"]
    assert facts["ordered_product_sales"].sum() == parsed.by_date_totals["ordered_product_sales"]


def test_by_date_totals_are_empty_when_the_day_is_absent() -> None:
    document = json.loads((DOCUMENTS / "sales_and_traffic_sku_day.json").read_bytes())
    document["salesAndTrafficByDate"] = []

    assert parse(json.dumps(document).encode()).by_date_totals == {}


def test_broken_by_date_total_is_quarantined_without_a_line_number() -> None:
    document = json.loads((DOCUMENTS / "sales_and_traffic_sku_day.json").read_bytes())
    document["salesAndTrafficByDate"][0]["trafficByDate"]["sessions"] = "many"

    parsed = parse(json.dumps(document).encode())

    assert "sessions" not in parsed.by_date_totals
    assert parsed.by_date_totals["units_ordered"] == 7
    assert parsed.quarantine["line_number"].to_list() == [None]
    assert "trafficByDate.sessions" in parsed.quarantine["reason"][0]
    assert parsed.facts.height == 2
    assert parsed.document_rows == 2  # the by-date entry is no by-ASIN row


def test_empty_by_asin_section_gives_an_empty_typed_frame() -> None:
    parsed = parse(report([]))

    assert parsed.facts.is_empty()
    assert parsed.facts.schema == SALES_AND_TRAFFIC_SCHEMA
    assert parsed.quarantine.is_empty()
    assert parsed.quarantine.schema == QUARANTINE_SCHEMA


def test_ingested_at_is_stored_in_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    parsed = parse(
        report([sku_row("A", "B0000000AA")]),
        ingested_at=datetime(2026, 1, 7, 4, 30, tzinfo=eastern),
    )

    assert parsed.facts["ingested_at"].to_list() == [datetime(2026, 1, 7, 9, 30, tzinfo=UTC)]


def test_naive_ingested_at_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        parse(report([]), ingested_at=datetime(2026, 1, 7, 9, 30))
