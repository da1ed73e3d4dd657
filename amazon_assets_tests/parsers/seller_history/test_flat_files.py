"""The flat-file parsers on hand-written documents in Amazon's formats (Airbyte's test resources)."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest

from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA, refused_rows
from amazon_assets.parsers.seller_history.customer_returns import CUSTOMER_RETURNS
from amazon_assets.parsers.seller_history.fee_preview import FEE_PREVIEW_SCHEMA, fee_preview
from amazon_assets.parsers.seller_history.inventory_ledger import INVENTORY_LEDGER
from amazon_assets.parsers.seller_history.orders import ORDERS
from amazon_assets.parsers.seller_history.reimbursements import REIMBURSEMENTS
from amazon_assets.parsers.seller_history.settlements import parse_settlement
from amazon_assets.parsers.seller_history.tsv import MalformedDocumentError, charset_of

NOW = datetime(2026, 1, 10, 12, tzinfo=UTC)
DAY = date(2026, 1, 5)

ORDERS_HEADER = (
    "amazon-order-id\tmerchant-order-id\tpurchase-date\tlast-updated-date\torder-status\t"
    "fulfillment-channel\tsales-channel\torder-channel\turl\tship-service-level\tproduct-name\t"
    "sku\tasin\titem-status\tquantity\tcurrency\titem-price\titem-tax\tshipping-price\t"
    "shipping-tax\tgift-wrap-price\tgift-wrap-tax\titem-promotion-discount\t"
    "ship-promotion-discount\tship-city\tship-state\tship-postal-code\tship-country\t"
    "promotion-ids\tis-business-order\tpurchase-order-number\tprice-designation"
)


def order_line(order_id: str, purchase: str, sku: str, quantity: str, price: str) -> str:
    cells = [order_id, "", purchase, purchase, "Shipped", "Amazon", "Amazon.com", "", "",
             "Expedited", "Café Crème Mug™", sku, "B0ABCDEF12", "Shipped", quantity, "USD",
             price, "1.10", "0.00", "0.00", "", "", "-0.50", "0.00", "SEATTLE", "WA", "98109",
             "US", "", "false", "", ""]  # fmt: skip
    return "\t".join(cells)


def parse(spec, text: str, charset: str | None = "utf-8"):
    return spec.parse(
        text.encode(charset or "utf-8"),
        account="acme",
        report_id="50000000001",
        charset=charset,
        fallback_date=DAY,
        ingested_at=NOW,
    )


def test_orders_are_typed_dated_in_utc_and_repeated_lines_both_load() -> None:
    text = "\n".join(
        [
            ORDERS_HEADER,
            order_line("111-1", "2026-01-05T23:30:00-08:00", "SKU-1", "2", "19.98"),
            order_line("111-2", "2026-01-05T14:03:11+00:00", "SKU-2", "1", "5.00"),
            order_line("111-2", "2026-01-05T14:03:11+00:00", "SKU-2", "1", "5.00"),
        ]
    )
    parsed = parse(ORDERS, text)
    facts = parsed.facts
    assert facts.schema == ORDERS.schema
    assert parsed.quarantine.height == 0 and parsed.document_rows == 3
    first = facts.row(0, named=True)
    assert first["report_date"] == date(2026, 1, 6)  # 23:30 in Seattle is the next UTC day
    assert first["item_price"] == Decimal("19.98") and first["quantity"] == 2
    assert first["product_name"] == "Café Crème Mug™"
    assert first["gift_wrap_price"] is None  # an empty cell is null
    assert first["is_business_order"] is False
    assert facts["occurrence"].to_list() == [0, 0, 1]
    assert facts.select(ORDERS.key).unique().height == 3


def test_a_bad_line_is_refused_and_a_bad_optional_cell_is_nulled_with_a_note() -> None:
    good = order_line("111-1", "2026-01-05T10:00:00+00:00", "SKU-1", "1", "9.99")
    short = "\t".join(good.split("\t")[:-1])
    not_a_number = order_line("111-2", "2026-01-05T10:00:00+00:00", "SKU-2", "12,5x", "9.99")
    bad_date = order_line("111-3", "31/31/2026 25:61", "SKU-3", "1", "9.99")
    parsed = parse(ORDERS, "\n".join([ORDERS_HEADER, good, short, not_a_number, bad_date]))
    # quantity is not a key: the line loads with it null; purchase-date dates the row: refused.
    assert parsed.facts["amazon_order_id"].to_list() == ["111-1", "111-2"]
    assert parsed.facts["quantity"].to_list() == [1, None]
    assert parsed.document_rows == 4
    quarantine = parsed.quarantine
    assert quarantine.schema == QUARANTINE_SCHEMA
    assert quarantine["line_number"].to_list() == [3, 5, 4]
    assert quarantine["row_loaded"].to_list() == [False, False, True]
    reasons = quarantine["reason"].to_list()
    assert reasons[0] == "the line has 31 fields but the header has 32"
    assert reasons[1] == "purchase-date: '31/31/2026 25:61' is not a date and time"
    assert reasons[2] == (
        "quantity: '12,5x' is not a whole number; the line is loaded with it null"
    )
    assert quarantine["raw_row"][2] == not_a_number
    assert quarantine["report_date"][2] == date(2026, 1, 5)
    assert set(quarantine["source"]) == {"orders"} and set(quarantine["document_id"]) == {
        "50000000001"
    }
    # Accounted for: every data line is in silver or refused.
    assert parsed.facts.height + refused_rows(quarantine).height == parsed.document_rows


def test_ledger_dates_are_month_day_year_and_gzip_shift_jis_decodes() -> None:
    header = (
        "Date\tFNSKU\tASIN\tMSKU\tTitle\tEvent Type\tReference ID\tQuantity\tFulfillment Center\t"
        "Disposition\tReason\tCountry\tReconciled Quantity\tUnreconciled Quantity\tDate and Time"
    )
    line = (
        "01/05/2026\tX00ABC\tB0ABCDEF12\tSKU-1\tステンレス水筒\tShipments\tD123\t-2\tNRT1\t"
        "SELLABLE\t\tJP\t\t\t2026-01-05T08:36:12+00:00"
    )
    document = gzip.compress(f"{header}\n{line}\n".encode("cp932"))
    parsed = INVENTORY_LEDGER.parse(
        document,
        account="jp",
        report_id="1",
        charset=charset_of("text/plain; charset=Shift_JIS"),
        fallback_date=DAY,
        ingested_at=NOW,
    )
    row = parsed.facts.row(0, named=True)
    assert row["report_date"] == DAY and row["quantity"] == -2 and row["title"] == "ステンレス水筒"
    assert row["event_time"] == datetime(2026, 1, 5, 8, 36, 12, tzinfo=UTC)


def test_latin_1_without_charset_falls_back_to_windows_1252() -> None:
    header = (
        "return-date\torder-id\tsku\tasin\tfnsku\tproduct-name\tquantity\tfulfillment-center-id\t"
        "detailed-disposition\treason\tstatus\tlicense-plate-number\tcustomer-comments"
    )
    line = (
        "2026-01-05T10:00:00+00:00\t111-1\tSKU-1\tB0A\tX0A\tKüchenfreund Résumé\t1\tPHX7\t"
        "SELLABLE\tUNWANTED_ITEM\tUnit returned to inventory\tLPN1\t"
    )
    document = f"{header}\n{line}\n".encode("cp1252")
    parsed = CUSTOMER_RETURNS.parse(
        document, account="eu", report_id="1", charset=None, fallback_date=DAY, ingested_at=NOW
    )
    assert parsed.facts["product_name"][0] == "Küchenfreund Résumé"


def test_reimbursements_and_fee_preview() -> None:
    header = (
        "approval-date\treimbursement-id\tcase-id\tamazon-order-id\treason\tsku\tfnsku\tasin\t"
        "product-name\tcondition\tcurrency-unit\tamount-per-unit\tamount-total\t"
        "quantity-reimbursed-cash\tquantity-reimbursed-inventory\tquantity-reimbursed-total\t"
        "original-reimbursement-id\toriginal-reimbursement-type"
    )
    line = (
        "2026-01-05T07:00:00+00:00\t9876543210\t\t\tLost_Warehouse\tSKU-1\tX0A\tB0A\tMug\t"
        "NewItem\tUSD\t12.50\t25.00\t2\t0\t2\t\t"
    )
    parsed = parse(REIMBURSEMENTS, f"{header}\n{line}")
    assert parsed.facts["amount_total"].to_list() == [Decimal("25.00")]

    fee_header = (
        "sku\tfnsku\tasin\tamazon-store\tproduct-name\tproduct-group\tbrand\tfulfilled-by\t"
        "your-price\tsales-price\tlongest-side\tmedian-side\tshortest-side\tlength-and-girth\t"
        "unit-of-dimension\titem-package-weight\tunit-of-weight\tproduct-size-tier\tcurrency\t"
        "estimated-fee-total\testimated-referral-fee-per-unit\testimated-variable-closing-fee\t"
        "estimated-order-handling-fee-per-order\testimated-pick-pack-fee-per-unit\t"
        "estimated-weight-handling-fee-per-unit\texpected-fulfillment-fee-per-unit"
    )
    fee_line = (
        "SKU-1\tX0A\tB0A\tUS\tMug\tKitchen\tAcme\tAmazon\t20.00\t18.00\t10.2\t5.1\t3.0\t26.4\t"
        "inches\t1.05\tpounds\tLarge Standard\tUSD\t7.12\t2.70\t0.00\t0.00\t4.42\t0.00\t4.42"
    )
    second = fee_line.replace("SKU-1", "SKU-2")
    fees = parse(fee_preview(DAY), f"{fee_header}\n{fee_line}\n{second}").facts
    assert fees.schema == FEE_PREVIEW_SCHEMA
    assert fees["report_date"].to_list() == [DAY, DAY]  # the file carries no date
    assert fees["longest_side"][0] == Decimal("10.2000")


SETTLEMENT_HEADER = (
    "settlement-id\tsettlement-start-date\tsettlement-end-date\tdeposit-date\ttotal-amount\t"
    "currency\ttransaction-type\torder-id\tmerchant-order-id\tadjustment-id\tshipment-id\t"
    "marketplace-name\tamount-type\tamount-description\tamount\tfulfillment-id\tposted-date\t"
    "posted-date-time\torder-item-code\tmerchant-order-item-id\tmerchant-adjustment-item-id\t"
    "sku\tquantity-purchased\tpromotion-id"
)


def settlement_line(amount: str, description: str, posted: str) -> str:
    return (
        f"\t\t\t\t\t\tOrder\t111-1\t\t\tD1\tAmazon.com\tItemPrice\t{description}\t{amount}\tAFN\t"
        f"{posted[:10]}\t{posted}\t5001\t\t\tSKU-1\t1\t"
    )


def test_settlement_summary_row_and_lines() -> None:
    summary = (
        "12345678901\t2026-01-01 00:00:00 UTC\t2026-01-15 00:00:00 UTC\t2026-01-17 00:00:00 UTC\t"
        "17.49\tUSD" + "\t" * 18
    )
    text = "\n".join(
        [
            SETTLEMENT_HEADER,
            summary,
            settlement_line("19.99", "Principal", "2026-01-05 10:00:00 UTC"),
            settlement_line("-2.50", "Commission", "2026-01-14 23:59:59 UTC"),
        ]
    )
    parsed = parse_settlement(
        text.encode(),
        account="acme",
        report_id="1",
        charset=None,
        fallback_date=DAY,
        ingested_at=NOW,
    )
    head = parsed.summary.row(0, named=True)
    assert head["settlement_id"] == "12345678901" and head["total_amount"] == Decimal("17.49")
    assert head["report_date"] == date(2026, 1, 14) and head["line_count"] == 2
    lines = parsed.lines
    assert lines["report_date"].to_list() == [date(2026, 1, 5), date(2026, 1, 14)]
    assert set(lines["settlement_id"]) == {"12345678901"} and set(lines["currency"]) == {"USD"}
    assert lines["amount"].sum() == head["total_amount"]


def test_a_document_without_its_header_columns_is_refused() -> None:
    with pytest.raises(MalformedDocumentError, match="lacks the column"):
        parse(ORDERS, "foo\tbar\n1\t2\n")
    assert pl.DataFrame(schema=ORDERS.schema).height == 0
