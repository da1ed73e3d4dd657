"""Finances API v0 listFinancialEvents pages -> fact_financial_events, one row per component.

A bronze document is the gzip JSON `{"PostedAfter", "PostedBefore", "pages": [payload, ...]}` of
one query window, each payload as Amazon returned it (`FinancialEvents` with `ShipmentEventList`,
`RefundEventList`, `ServiceFeeEventList`, `AdjustmentEventList`, ...; selling-partner-api-models,
models/finances-api-model/financesV0.json). Each money component of each event item becomes one
row: its event type, the item (order, SKU, order item), the component kind (Charge, Fee,
Promotion, their *Adjustment variants on refunds, TaxWithheld, Adjustment) and type (e.g. Principal, FBAPerUnitFulfillmentFee), currency
and amount. Rows are dated by the UTC day of PostedDate; an event without one (Amazon's model has
none on ServiceFeeEvent) takes the latest posted day of its page (pages follow posted order),
else the window's last day.

Identical components may legitimately repeat within a window, so the natural key ends with
`occurrence`, the repeat count of the other key columns within the document.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from amazon_assets.parsers.quarantine import QuarantineRecord, as_utc, json_text, quarantine_frame
from amazon_assets.parsers.seller_history.tsv import (
    MONEY,
    TIMESTAMP,
    MalformedDocumentError,
    ParsedDocument,
    occurrence,
)

SOURCE = "financial_events"

FINANCIAL_EVENTS_SCHEMA = pl.Schema(
    {
        "report_date": pl.Date(),
        "account": pl.Utf8(),
        "event_type": pl.Utf8(),
        "posted_date": TIMESTAMP,
        "amazon_order_id": pl.Utf8(),
        "seller_order_id": pl.Utf8(),
        "marketplace_name": pl.Utf8(),
        "seller_sku": pl.Utf8(),
        "order_item_id": pl.Utf8(),
        "quantity": pl.Int64(),
        "component_kind": pl.Utf8(),
        "component_type": pl.Utf8(),
        "currency": pl.Utf8(),
        "amount": MONEY,
        "occurrence": pl.Int64(),
        "report_id": pl.Utf8(),
        "ingested_at": TIMESTAMP,
    }
)
# report_date keeps undated events (ServiceFee) of different windows apart: their other key
# columns repeat every month, and `occurrence` only counts repeats within one document.
NATURAL_KEY = (
    "account",
    "report_date",
    "event_type",
    "posted_date",
    "amazon_order_id",
    "seller_sku",
    "order_item_id",
    "component_kind",
    "component_type",
    "occurrence",
)
_ITEM_COLUMNS = FINANCIAL_EVENTS_SCHEMA.names()[2:14]

# Per item list: (component list key, kind, type key, amount key); refunds use the *Adjustment*
# names of the same lists.
_ITEM_COMPONENTS = (
    ("ItemChargeList", "Charge", "ChargeType", "ChargeAmount"),
    ("ItemChargeAdjustmentList", "ChargeAdjustment", "ChargeType", "ChargeAmount"),
    ("ItemFeeList", "Fee", "FeeType", "FeeAmount"),
    ("ItemFeeAdjustmentList", "FeeAdjustment", "FeeType", "FeeAmount"),
    ("PromotionList", "Promotion", "PromotionType", "PromotionAmount"),
    ("PromotionAdjustmentList", "PromotionAdjustment", "PromotionType", "PromotionAmount"),
)
_EVENT_COMPONENTS = (
    ("OrderChargeList", "Charge", "ChargeType", "ChargeAmount"),
    ("OrderChargeAdjustmentList", "ChargeAdjustment", "ChargeType", "ChargeAmount"),
    ("ShipmentFeeList", "Fee", "FeeType", "FeeAmount"),
    ("ShipmentFeeAdjustmentList", "FeeAdjustment", "FeeType", "FeeAmount"),
    ("OrderFeeList", "Fee", "FeeType", "FeeAmount"),
    ("OrderFeeAdjustmentList", "FeeAdjustment", "FeeType", "FeeAmount"),
    ("FeeList", "Fee", "FeeType", "FeeAmount"),
)


class _EventError(Exception):
    """An event that cannot be typed; the message is the quarantine reason."""


def load_financial_events(document: bytes, document_id: str) -> dict[str, Any]:
    """The stored query window: PostedAfter, PostedBefore and the pages (amounts as Decimal)."""
    data = bytes(document)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as error:
            raise MalformedDocumentError(
                f"document {document_id} does not gunzip ({error})."
            ) from None
    try:
        stored = json.loads(data, parse_float=Decimal)
    except ValueError as error:
        raise MalformedDocumentError(f"document {document_id} is not JSON ({error}).") from None
    if not isinstance(stored, dict) or not isinstance(stored.get("pages"), list):
        raise MalformedDocumentError(f"document {document_id} has no list of pages.")
    return stored


def parse_financial_events(
    document: bytes, *, account: str, report_id: str, ingested_at: datetime
) -> ParsedDocument:
    """One row per money component of every event in a stored query window."""
    ingested_at = as_utc(ingested_at)
    stored = load_financial_events(document, report_id)
    fallback = _window_last_day(stored)
    rows: list[tuple[Any, ...]] = []
    refused: list[QuarantineRecord] = []
    events = 0
    for list_name, event, page_day in _events(stored["pages"], fallback):
        events += 1
        try:
            rows.extend(_event_rows(list_name, event, page_day))
        except _EventError as error:
            day = _posted_day(event) or fallback
            refused.append(
                QuarantineRecord(
                    source=SOURCE,
                    report_date=day,
                    document_id=report_id,
                    line_number=events,
                    reason=str(error),
                    raw_row=json_text(event),
                    quarantined_at=ingested_at,
                )
            )
    facts = pl.DataFrame(
        rows,
        schema={name: FINANCIAL_EVENTS_SCHEMA[name] for name in ["report_date", *_ITEM_COLUMNS]},
        orient="row",
    )
    facts = facts.with_columns(
        account=pl.lit(account),
        occurrence=occurrence([c for c in NATURAL_KEY if c not in ("account", "occurrence")]),
        report_id=pl.lit(report_id),
        ingested_at=pl.lit(ingested_at, dtype=TIMESTAMP),
    )
    return ParsedDocument(
        facts=facts.select(FINANCIAL_EVENTS_SCHEMA.names()).cast(dict(FINANCIAL_EVENTS_SCHEMA)),
        quarantine=quarantine_frame(refused),
        document_rows=events,
    )


def _window_last_day(stored: Mapping[str, Any]) -> date:
    before = _moment(stored.get("PostedBefore"))
    if before is None:
        raise MalformedDocumentError("the stored window has no PostedBefore.")
    return (before - timedelta(microseconds=1)).date()


def _events(pages: list[Any], fallback: date) -> Iterator[tuple[str, Any, date]]:
    """(list name, event, the day an undated event of its page gets) of every event."""
    for page in pages:
        lists = (page or {}).get("FinancialEvents") or {}
        events = [(name, event) for name, items in sorted(lists.items()) for event in items or []]
        days = [day for _, event in events if (day := _posted_day(event))]
        page_day = max(days, default=fallback)
        for name, event in events:
            yield name, event, page_day


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _posted_day(event: Any) -> date | None:
    moment = _moment(event.get("PostedDate")) if isinstance(event, dict) else None
    return moment.date() if moment else None


def _money(value: Any, path: str) -> tuple[str | None, Decimal]:
    if not isinstance(value, dict):
        raise _EventError(f"{path} is not a money object: {json_text(value)}")
    amount = value.get("CurrencyAmount")
    try:
        number = (
            Decimal(str(amount)) if not isinstance(amount, bool) and amount is not None else None
        )
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise _EventError(f"{path}.CurrencyAmount {json_text(amount)} is not a number")
    return value.get("CurrencyCode"), number


def _event_rows(list_name: str, event: Any, fallback: date) -> list[tuple[Any, ...]]:
    if not isinstance(event, dict):
        raise _EventError(f"an entry of {list_name} is not an object")
    event_type = list_name.removesuffix("EventList")
    posted = event.get("PostedDate")
    moment = _moment(posted)
    if posted is not None and moment is None:
        raise _EventError(
            f"{list_name}.PostedDate {json_text(posted)} is not an ISO 8601 timestamp"
        )
    day = moment.date() if moment else fallback
    head = (
        event_type,
        moment,
        event.get("AmazonOrderId"),
        event.get("SellerOrderId"),
        event.get("MarketplaceName"),
    )
    rows: list[tuple[Any, ...]] = []

    def add(
        item: Mapping[str, Any], quantity: Any, kind: str, type_: Any, money: Any, path: str
    ) -> None:
        currency, amount = _money(money, path)
        sku = item.get("SellerSKU") or event.get("SellerSKU")
        item_id = item.get("OrderItemId") or item.get("OrderAdjustmentItemId")
        rows.append(
            (day, *head, sku, item_id, _quantity(quantity, path), kind, type_, currency, amount)
        )

    for items_key in ("ShipmentItemList", "ShipmentItemAdjustmentList"):
        for item in event.get(items_key) or []:
            quantity = item.get("QuantityShipped")
            for key, kind, type_key, amount_key in _ITEM_COMPONENTS:
                for component in item.get(key) or []:
                    add(
                        item,
                        quantity,
                        kind,
                        component.get(type_key),
                        component.get(amount_key),
                        f"{list_name}.{items_key}.{key}",
                    )
            for withheld in item.get("ItemTaxWithheldList") or []:
                for tax in withheld.get("TaxesWithheld") or []:
                    add(
                        item,
                        quantity,
                        "TaxWithheld",
                        tax.get("ChargeType"),
                        tax.get("ChargeAmount"),
                        f"{list_name}.ItemTaxWithheldList",
                    )
    for key, kind, type_key, amount_key in _EVENT_COMPONENTS:
        for component in event.get(key) or []:
            add(
                event,
                None,
                kind,
                component.get(type_key),
                component.get(amount_key),
                f"{list_name}.{key}",
            )
    for item in event.get("AdjustmentItemList") or []:
        add(
            item,
            item.get("Quantity"),
            "Adjustment",
            event.get("AdjustmentType"),
            item.get("TotalAmount"),
            f"{list_name}.AdjustmentItemList.TotalAmount",
        )
    if not event.get("AdjustmentItemList") and isinstance(event.get("AdjustmentAmount"), dict):
        add(
            event,
            None,
            "Adjustment",
            event.get("AdjustmentType"),
            event.get("AdjustmentAmount"),
            f"{list_name}.AdjustmentAmount",
        )
    return rows


def _quantity(value: Any, path: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _EventError(f"{path}: quantity {json_text(value)} is not a whole number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _EventError(f"{path}: quantity {json_text(value)} is not a whole number") from None
    if number != number.to_integral_value():
        raise _EventError(f"{path}: quantity {json_text(value)} is not a whole number")
    return int(number)
