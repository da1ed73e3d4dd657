"""Finances API pages (Amazon's v0 model) -> one row per money component."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl

from amazon_assets.parsers.seller_history.financial_events import (
    FINANCIAL_EVENTS_SCHEMA,
    NATURAL_KEY,
    parse_financial_events,
)

NOW = datetime(2026, 1, 10, tzinfo=UTC)


def money(amount: float) -> dict:
    return {"CurrencyCode": "USD", "CurrencyAmount": amount}


SHIPMENT = {
    "AmazonOrderId": "111-1",
    "SellerOrderId": "111-1",
    "MarketplaceName": "Amazon.com",
    "PostedDate": "2026-01-05T14:03:11Z",
    "ShipmentItemList": [
        {
            "SellerSKU": "SKU-1",
            "OrderItemId": "5001",
            "QuantityShipped": 2,
            "ItemChargeList": [
                {"ChargeType": "Principal", "ChargeAmount": money(39.98)},
                {"ChargeType": "Tax", "ChargeAmount": money(3.2)},
            ],
            "ItemFeeList": [{"FeeType": "Commission", "FeeAmount": money(-6.0)}],
            "PromotionList": [],
        }
    ],
}
REFUND = {
    "AmazonOrderId": "111-1",
    "PostedDate": "2026-01-08T09:00:00Z",
    "ShipmentItemAdjustmentList": [
        {
            "SellerSKU": "SKU-1",
            "OrderAdjustmentItemId": "amzn1.adj.1",
            "QuantityShipped": 1,
            "ItemChargeAdjustmentList": [
                {"ChargeType": "Principal", "ChargeAmount": money(-19.99)}
            ],
            "ItemFeeAdjustmentList": [{"FeeType": "Commission", "FeeAmount": money(3.0)}],
        }
    ],
}
SERVICE_FEE = {
    "FeeReason": "Subscription",
    "FeeList": [{"FeeType": "Subscription", "FeeAmount": money(-39.99)}],
}
ADJUSTMENT = {
    "AdjustmentType": "FBAInventoryReimbursement",
    "PostedDate": "2026-01-06T07:00:00Z",
    "AdjustmentAmount": money(25.0),
    "AdjustmentItemList": [{"Quantity": "2", "TotalAmount": money(25.0), "SellerSKU": "SKU-1"}],
}


def document(*pages: dict) -> bytes:
    stored = {
        "PostedAfter": "2026-01-01T00:00:00+00:00",
        "PostedBefore": "2026-01-10T00:00:00+00:00",
        "pages": list(pages),
    }
    return gzip.compress(json.dumps(stored).encode())


def page(**lists: list) -> dict:
    return {"FinancialEvents": lists}


def test_every_component_is_a_row_with_its_event_type_and_day() -> None:
    parsed = parse_financial_events(
        document(
            page(ShipmentEventList=[SHIPMENT], ServiceFeeEventList=[SERVICE_FEE]),
            page(RefundEventList=[REFUND], AdjustmentEventList=[ADJUSTMENT]),
        ),
        account="acme",
        report_id="fe-1",
        ingested_at=NOW,
    )
    facts = parsed.facts
    assert facts.schema == FINANCIAL_EVENTS_SCHEMA
    assert parsed.quarantine.height == 0 and parsed.document_rows == 4
    # 3 + 1 + 2 parts, the adjustment item (a part) and its event's AdjustmentAmount (a total).
    assert facts.height == 3 + 1 + 2 + 1 + 1
    parts = facts.filter(pl.col("amount_role") == "part")
    assert (
        parts["amount"].sum()
        == Decimal("39.98") + Decimal("3.20") - 6 - Decimal("39.99") - Decimal("19.99") + 3 + 25
    )
    adjustment = facts.filter(pl.col("event_type") == "Adjustment").sort("amount_role")
    assert adjustment["amount_role"].to_list() == ["part", "total"]
    assert set(adjustment["transaction_type"]) == {"FBAInventoryReimbursement"}
    assert adjustment["quantity"].to_list() == [2, None]
    kinds = dict(zip(facts["component_type"], facts["component_kind"], strict=False))
    assert kinds["Subscription"] == "Fee" and kinds["TotalAmount"] == "Adjustment"
    refund = facts.filter(facts["event_type"] == "Refund")
    assert set(refund["component_kind"]) == {"ChargeAdjustment", "FeeAdjustment"}
    assert refund["report_date"].to_list() == [date(2026, 1, 8)] * 2
    # ServiceFeeEvent has no PostedDate in Amazon's model: dated by its page's latest day.
    fee = facts.filter(facts["event_type"] == "ServiceFee").row(0, named=True)
    assert fee["posted_date"] is None and fee["report_date"] == date(2026, 1, 5)
    assert facts.select(NATURAL_KEY).unique().height == facts.height


def test_an_event_with_a_bad_amount_is_quarantined_and_the_rest_load() -> None:
    broken = {**SHIPMENT, "ShipmentItemList": [{**SHIPMENT["ShipmentItemList"][0], "ItemFeeList": [
        {"FeeType": "Commission", "FeeAmount": {"CurrencyCode": "USD", "CurrencyAmount": "abc"}}
    ]}]}  # fmt: skip
    parsed = parse_financial_events(
        document(page(ShipmentEventList=[broken, SHIPMENT])),
        account="acme",
        report_id="fe-1",
        ingested_at=NOW,
    )
    assert parsed.facts.height == 3
    [record] = parsed.quarantine.rows(named=True)
    assert record["line_number"] == 1 and "is not a number" in record["reason"]
    assert record["report_date"] == date(2026, 1, 5)
