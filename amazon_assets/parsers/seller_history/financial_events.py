"""Finances API v0 listFinancialEvents pages -> fact_financial_events, one row per money amount.

A bronze document is the gzip JSON `{"PostedAfter", "PostedBefore", "pages": [payload, ...]}` of
one query window, each payload as Amazon returned it. `EVENT_LISTS` below is Amazon's published
model (selling-partner-api-models, models/finances-api-model/financesV0.json) written out: every
one of its 34 event lists, the fields that identify an event, and every money amount in it, be it
a plain amount (`transactionValue`, `BaseTax`), a component of a list (charges, fees,
promotions, direct payments, taxes withheld, charge refunds) or an amount of an item list
(shipment, adjustment, removal, debt-recovery, SAFE-T items).

Each amount becomes one row: the event type (the list's name without `EventList`), its identity
(order, seller order, SKU, order item, ASIN, marketplace, a reference id such as an invoice or
coupon id, a transaction type), the component kind and type (e.g. Fee / Commission, or Amount /
transactionValue for a plain amount), the currency and the amount as Decimal, and its
`amount_role`:
- "part": a part of the event's effect on the seller's balance (summing parts nets the event);
- "total": an amount Amazon states as the sum of the event's parts (`transactionValue` =
  `baseValue` + `taxValue`, an adjustment's `AdjustmentAmount` over its items, ...); it is a part
  when the event has no parts;
- "memo": an amount quoted for reference that moves no money (a per-unit value, the base a tax
  was withheld from, a debt's original amount, a rental's initial value, the instrument a debt was
  charged to).
An event without any amount is one row with null amount, so that it is not lost either.

Nothing is skipped: an event list the model does not define quarantines each of its events with
the list's name; a field the model does not define quarantines its event (naming the field) when
it holds money, else the event loads and a quarantine note names the field. Rows are dated by
the UTC day of the event's date (PostedDate, postedDate, TransactionPostedDate or
TransactionCreationDate); an event without one (ServiceFeeEvent has none in the model) takes the
latest day of its page (pages follow posted order), else the window's last day. Every row carries
its page and event number, so the `every_event_accounted_for` check can count each page's events
in silver and in quarantine against the events Amazon served.

Identical amounts may legitimately repeat within a window, so the natural key ends with
`occurrence`, the repeat count of the other key columns within the document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from amazon_assets.parsers.compression import CorruptGzipError, gunzipped
from amazon_assets.parsers.quarantine import (
    ACCOUNTING_SCHEMA,
    QuarantineRecord,
    as_utc,
    json_text,
    quarantine_frame,
    refused_rows,
)
from amazon_assets.parsers.seller_history.tsv import (
    MONEY,
    TIMESTAMP,
    MalformedDocumentError,
    ParsedDocument,
    occurrence,
)

SOURCE = "financial_events"
PART, TOTAL, MEMO = "part", "total", "memo"

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
        "amount_role": pl.Utf8(),
        "transaction_type": pl.Utf8(),
        "reference_id": pl.Utf8(),
        "asin": pl.Utf8(),
        "marketplace_id": pl.Utf8(),
        "page_number": pl.Int64(),
        "event_number": pl.Int64(),
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
    "reference_id",
    "transaction_type",
    "component_kind",
    "component_type",
    "amount_role",
    "occurrence",
)
# Identity columns an event or item fills; the rest of a row describes its amount.
_IDENTITY = (
    "amazon_order_id",
    "seller_order_id",
    "marketplace_name",
    "seller_sku",
    "order_item_id",
    "quantity",
    "transaction_type",
    "reference_id",
    "asin",
    "marketplace_id",
)
_ROW_COLUMNS = (
    "report_date",
    "event_type",
    "posted_date",
    *_IDENTITY,
    "component_kind",
    "component_type",
    "currency",
    "amount",
    "amount_role",
)


# -- Amazon's model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Components:
    """A list of component objects (or one object, `single`) each holding a type and an amount."""

    kind: str  # our component_kind, e.g. "Fee", "ChargeAdjustment"
    type_key: str  # e.g. "FeeType"
    amount_key: str  # e.g. "FeeAmount"
    single: bool = False
    role: str = PART
    extra: frozenset[str] = frozenset()  # other fields of the component (e.g. PromotionId)


@dataclass(frozen=True)
class Shape:
    """The fields of an event or of an item in one of its lists, as Amazon's model defines them."""

    identity: Mapping[str, str] = field(default_factory=dict)  # Amazon field -> our column
    money: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # field -> (kind, role)
    components: Mapping[str, Components] = field(default_factory=dict)
    withheld: frozenset[str] = frozenset()  # TaxWithheldComponent lists
    items: Mapping[str, Shape] = field(default_factory=dict)
    dates: tuple[str, ...] = ()  # the event's moment, first present wins
    info: frozenset[str] = frozenset()  # descriptive fields kept in bronze only

    def known(self) -> frozenset[str]:
        return frozenset(
            {*self.identity, *self.money, *self.components, *self.withheld, *self.items}
            | set(self.dates)
            | self.info
        )


def _fee(kind: str = "Fee") -> Components:
    return Components(kind, "FeeType", "FeeAmount")


def _charge(kind: str = "Charge") -> Components:
    return Components(kind, "ChargeType", "ChargeAmount")


def _promotion(kind: str = "Promotion") -> Components:
    return Components(kind, "PromotionType", "PromotionAmount", extra=frozenset({"PromotionId"}))


_SHIPMENT_ITEM = Shape(
    identity={
        "SellerSKU": "seller_sku",
        "OrderItemId": "order_item_id",
        "OrderAdjustmentItemId": "order_item_id",
        "QuantityShipped": "quantity",
    },
    money={"CostOfPointsGranted": ("Points", PART), "CostOfPointsReturned": ("Points", PART)},
    components={
        "ItemChargeList": _charge(),
        "ItemChargeAdjustmentList": _charge("ChargeAdjustment"),
        "ItemFeeList": _fee(),
        "ItemFeeAdjustmentList": _fee("FeeAdjustment"),
        "PromotionList": _promotion(),
        "PromotionAdjustmentList": _promotion("PromotionAdjustment"),
    },
    withheld=frozenset({"ItemTaxWithheldList"}),
)
_SHIPMENT = Shape(
    identity={
        "AmazonOrderId": "amazon_order_id",
        "SellerOrderId": "seller_order_id",
        "MarketplaceName": "marketplace_name",
    },
    components={
        "OrderChargeList": _charge(),
        "OrderChargeAdjustmentList": _charge("ChargeAdjustment"),
        "ShipmentFeeList": _fee(),
        "ShipmentFeeAdjustmentList": _fee("FeeAdjustment"),
        "OrderFeeList": _fee(),
        "OrderFeeAdjustmentList": _fee("FeeAdjustment"),
        "DirectPaymentList": Components(
            "DirectPayment", "DirectPaymentType", "DirectPaymentAmount"
        ),
    },
    items={"ShipmentItemList": _SHIPMENT_ITEM, "ShipmentItemAdjustmentList": _SHIPMENT_ITEM},
    dates=("PostedDate",),
    info=frozenset({"StoreName"}),
)
_AFFORDABILITY = Shape(
    identity={
        "AmazonOrderId": "amazon_order_id",
        "MarketplaceId": "marketplace_id",
        "TransactionType": "transaction_type",
    },
    money={
        "BaseExpense": ("Amount", PART),
        "TaxTypeCGST": ("Tax", PART),
        "TaxTypeSGST": ("Tax", PART),
        "TaxTypeIGST": ("Tax", PART),
        "TotalExpense": ("Amount", TOTAL),
    },
    dates=("PostedDate",),
)


def _transaction(type_field: str = "TransactionType", id_field: str | None = None) -> Shape:
    identity = {type_field: "transaction_type"}
    if id_field:
        identity[id_field] = "reference_id"
    return Shape(
        identity=identity,
        money={"TransactionAmount": ("Amount", PART)},
        dates=("PostedDate",),
        info=frozenset({"Description"}),
    )


EVENT_LISTS: dict[str, Shape] = {
    "ShipmentEventList": _SHIPMENT,
    "ShipmentSettleEventList": _SHIPMENT,
    "RefundEventList": _SHIPMENT,
    "GuaranteeClaimEventList": _SHIPMENT,
    "ChargebackEventList": _SHIPMENT,
    "EBTRefundReimbursementOnlyEventList": Shape(
        identity={"OrderId": "amazon_order_id"},
        money={"Amount": ("Amount", PART)},
        dates=("PostedDate",),
    ),
    "PayWithAmazonEventList": Shape(
        identity={
            "SellerOrderId": "seller_order_id",
            "BusinessObjectType": "transaction_type",
        },
        components={
            "Charge": Components("Charge", "ChargeType", "ChargeAmount", single=True),
            "FeeList": _fee(),
        },
        dates=("TransactionPostedDate",),
        info=frozenset(
            {
                "SalesChannel",
                "PaymentAmountType",
                "AmountDescription",
                "FulfillmentChannel",
                "StoreName",
            }
        ),
    ),
    "ServiceProviderCreditEventList": Shape(
        identity={
            "ProviderTransactionType": "transaction_type",
            "SellerOrderId": "seller_order_id",
            "MarketplaceId": "marketplace_id",
            "ProviderId": "reference_id",
        },
        money={"TransactionAmount": ("Amount", PART)},
        dates=("TransactionCreationDate",),
        info=frozenset(
            {"MarketplaceCountryCode", "SellerId", "SellerStoreName", "ProviderStoreName"}
        ),
    ),
    "RetrochargeEventList": Shape(
        identity={
            "RetrochargeEventType": "transaction_type",
            "AmazonOrderId": "amazon_order_id",
            "MarketplaceName": "marketplace_name",
        },
        money={"BaseTax": ("Tax", PART), "ShippingTax": ("Tax", PART)},
        withheld=frozenset({"RetrochargeTaxWithheldList"}),
        dates=("PostedDate",),
    ),
    "RentalTransactionEventList": Shape(
        identity={
            "AmazonOrderId": "amazon_order_id",
            "RentalEventType": "transaction_type",
            "MarketplaceName": "marketplace_name",
        },
        money={
            "RentalInitialValue": ("Amount", MEMO),
            "RentalReimbursement": ("Amount", PART),
        },
        components={"RentalChargeList": _charge(), "RentalFeeList": _fee()},
        withheld=frozenset({"RentalTaxWithheldList"}),
        dates=("PostedDate",),
        info=frozenset({"ExtensionLength"}),
    ),
    "ProductAdsPaymentEventList": Shape(
        identity={"transactionType": "transaction_type", "invoiceId": "reference_id"},
        money={
            "baseValue": ("Amount", PART),
            "taxValue": ("Tax", PART),
            "transactionValue": ("Amount", TOTAL),
        },
        dates=("postedDate",),
    ),
    "ServiceFeeEventList": Shape(
        identity={
            "AmazonOrderId": "amazon_order_id",
            "FeeReason": "transaction_type",
            "SellerSKU": "seller_sku",
            "ASIN": "asin",
        },
        components={"FeeList": _fee()},
        info=frozenset({"FnSKU", "FeeDescription", "StoreName"}),
    ),
    "SellerDealPaymentEventList": Shape(
        identity={"dealId": "reference_id", "eventType": "transaction_type"},
        money={
            "feeAmount": ("Fee", PART),
            "taxAmount": ("Tax", PART),
            "totalAmount": ("Amount", TOTAL),
        },
        dates=("postedDate",),
        info=frozenset({"dealDescription", "feeType"}),
    ),
    "DebtRecoveryEventList": Shape(
        identity={"DebtRecoveryType": "transaction_type"},
        money={"RecoveryAmount": ("Amount", TOTAL), "OverPaymentCredit": ("Amount", PART)},
        items={
            "DebtRecoveryItemList": Shape(
                money={"RecoveryAmount": ("Amount", PART), "OriginalAmount": ("Amount", MEMO)},
                info=frozenset({"GroupBeginDate", "GroupEndDate"}),
            ),
            "ChargeInstrumentList": Shape(
                money={"Amount": ("ChargeInstrument", MEMO)},
                info=frozenset({"Description", "Tail"}),
            ),
        },
    ),
    "LoanServicingEventList": Shape(
        identity={"SourceBusinessEventType": "transaction_type"},
        money={"LoanAmount": ("Amount", PART)},
    ),
    "AdjustmentEventList": Shape(
        identity={"AdjustmentType": "transaction_type"},
        money={"AdjustmentAmount": ("Adjustment", TOTAL)},
        items={
            "AdjustmentItemList": Shape(
                identity={
                    "Quantity": "quantity",
                    "SellerSKU": "seller_sku",
                    "ASIN": "asin",
                    "TransactionNumber": "reference_id",
                },
                money={"PerUnitAmount": ("Adjustment", MEMO), "TotalAmount": ("Adjustment", PART)},
                info=frozenset({"FnSKU", "ProductDescription"}),
            )
        },
        dates=("PostedDate",),
        info=frozenset({"StoreName"}),
    ),
    "SAFETReimbursementEventList": Shape(
        identity={"SAFETClaimId": "reference_id", "ReasonCode": "transaction_type"},
        money={"ReimbursedAmount": ("Amount", TOTAL)},
        items={
            "SAFETReimbursementItemList": Shape(
                identity={"quantity": "quantity"},
                components={"itemChargeList": _charge()},
                info=frozenset({"productDescription"}),
            )
        },
        dates=("PostedDate",),
    ),
    "SellerReviewEnrollmentPaymentEventList": Shape(
        identity={"EnrollmentId": "reference_id", "ParentASIN": "asin"},
        money={"TotalAmount": ("Amount", TOTAL)},
        components={
            "FeeComponent": Components("Fee", "FeeType", "FeeAmount", single=True),
            "ChargeComponent": Components("Charge", "ChargeType", "ChargeAmount", single=True),
        },
        dates=("PostedDate",),
    ),
    "FBALiquidationEventList": Shape(
        identity={"OriginalRemovalOrderId": "reference_id"},
        money={
            "LiquidationProceedsAmount": ("Amount", PART),
            "LiquidationFeeAmount": ("Fee", PART),
        },
        dates=("PostedDate",),
    ),
    "CouponPaymentEventList": Shape(
        identity={
            "CouponId": "reference_id",
            "ClipOrRedemptionCount": "quantity",
        },
        money={"TotalAmount": ("Amount", TOTAL)},
        components={
            "FeeComponent": Components("Fee", "FeeType", "FeeAmount", single=True),
            "ChargeComponent": Components("Charge", "ChargeType", "ChargeAmount", single=True),
        },
        dates=("PostedDate",),
        info=frozenset({"SellerCouponDescription", "PaymentEventId"}),
    ),
    "ImagingServicesFeeEventList": Shape(
        identity={"ImagingRequestBillingItemID": "reference_id", "ASIN": "asin"},
        components={"FeeList": _fee()},
        dates=("PostedDate",),
    ),
    "NetworkComminglingTransactionEventList": Shape(
        identity={
            "TransactionType": "transaction_type",
            "NetCoTransactionID": "reference_id",
            "ASIN": "asin",
            "MarketplaceId": "marketplace_id",
        },
        money={"TaxExclusiveAmount": ("Amount", PART), "TaxAmount": ("Tax", PART)},
        dates=("PostedDate",),
        info=frozenset({"SwapReason"}),
    ),
    "AffordabilityExpenseEventList": _AFFORDABILITY,
    "AffordabilityExpenseReversalEventList": _AFFORDABILITY,
    "RemovalShipmentEventList": Shape(
        identity={
            "MerchantOrderId": "seller_order_id",
            "OrderId": "reference_id",
            "TransactionType": "transaction_type",
        },
        items={
            "RemovalShipmentItemList": Shape(
                identity={"RemovalShipmentItemId": "order_item_id", "Quantity": "quantity"},
                money={
                    "Revenue": ("Amount", PART),
                    "FeeAmount": ("Fee", PART),
                    "TaxAmount": ("Tax", PART),
                    "TaxWithheld": ("TaxWithheld", PART),
                },
                info=frozenset({"TaxCollectionModel", "FulfillmentNetworkSKU"}),
            )
        },
        dates=("PostedDate",),
        info=frozenset({"StoreName"}),
    ),
    "RemovalShipmentAdjustmentEventList": Shape(
        identity={
            "AdjustmentEventId": "reference_id",
            "MerchantOrderId": "seller_order_id",
            "OrderId": "amazon_order_id",
            "TransactionType": "transaction_type",
        },
        items={
            "RemovalShipmentItemAdjustmentList": Shape(
                identity={"RemovalShipmentItemId": "order_item_id", "AdjustedQuantity": "quantity"},
                money={
                    "RevenueAdjustment": ("Amount", PART),
                    "TaxAmountAdjustment": ("Tax", PART),
                    "TaxWithheldAdjustment": ("TaxWithheld", PART),
                },
                info=frozenset({"TaxCollectionModel", "FulfillmentNetworkSKU"}),
            )
        },
        dates=("PostedDate",),
    ),
    "TrialShipmentEventList": Shape(
        identity={
            "AmazonOrderId": "amazon_order_id",
            "FinancialEventGroupId": "reference_id",
            "SKU": "seller_sku",
        },
        components={"FeeList": _fee()},
        dates=("PostedDate",),
    ),
    "TDSReimbursementEventList": Shape(
        identity={"TDSOrderId": "amazon_order_id"},
        money={"ReimbursedAmount": ("Amount", PART)},
        dates=("PostedDate",),
    ),
    "AdhocDisbursementEventList": _transaction(id_field="TransactionId"),
    "TaxWithholdingEventList": Shape(
        money={"BaseAmount": ("Amount", MEMO), "WithheldAmount": ("TaxWithheld", PART)},
        dates=("PostedDate",),
        info=frozenset({"TaxWithholdingPeriod"}),
    ),
    "ChargeRefundEventList": Shape(
        identity={"ReasonCode": "transaction_type"},
        components={"ChargeRefundTransactions": _charge("ChargeRefund")},
        dates=("PostedDate",),
        info=frozenset({"ReasonCodeDescription"}),
    ),
    "FailedAdhocDisbursementEventList": Shape(
        identity={"FundsTransfersType": "transaction_type", "TransferId": "reference_id"},
        money={"TransferAmount": ("Amount", PART)},
        dates=("PostedDate",),
        info=frozenset({"DisbursementId", "PaymentDisbursementType", "Status"}),
    ),
    "ValueAddedServiceChargeEventList": _transaction(),
    "CapacityReservationBillingEventList": _transaction(),
}
_WITHHELD_FIELDS = frozenset({"TaxCollectionModel", "TaxesWithheld"})


# -- parsing -------------------------------------------------------------------------------------


class _EventError(Exception):
    """An event that cannot be typed; the message is the quarantine reason."""


@dataclass
class _Event:
    """The rows and notes of one event while it is read."""

    list_name: str
    day: date
    posted: datetime | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PageCount:
    """One page of a stored window: how many events Amazon served in it."""

    page_number: int
    first_event: int  # event_number of its first event
    events: int


def load_financial_events(document: bytes, document_id: str) -> dict[str, Any]:
    """The stored query window: PostedAfter, PostedBefore and the pages (amounts as Decimal)."""
    try:
        data = gunzipped(document)
    except CorruptGzipError as error:
        raise MalformedDocumentError(f"document {document_id}: {error}.") from None
    try:
        stored = json.loads(data, parse_float=Decimal)
    except ValueError as error:
        raise MalformedDocumentError(f"document {document_id} is not JSON ({error}).") from None
    if not isinstance(stored, dict) or not isinstance(stored.get("pages"), list):
        raise MalformedDocumentError(f"document {document_id} has no list of pages.")
    return stored


def served_events(page: Any) -> int:
    """How many events a page holds, counted straight from Amazon's JSON (every list entry;
    a list that is not a list counts as one unreadable entry)."""
    lists = (page or {}).get("FinancialEvents") if isinstance(page, dict) else None
    if not isinstance(lists, dict):
        return 0
    return sum(len(items) if isinstance(items, list) else 1 for items in lists.values())


def page_counts(stored: Mapping[str, Any]) -> list[PageCount]:
    """Events served per page of a stored window, with the event numbers each page spans."""
    counts, first = [], 1
    for number, page in enumerate(stored["pages"], start=1):
        events = served_events(page)
        counts.append(PageCount(number, first, events))
        first += events
    return counts


def parse_financial_events(
    document: bytes, *, account: str, report_id: str, ingested_at: datetime
) -> ParsedDocument:
    """One row per money amount of every event in a stored query window."""
    ingested_at = as_utc(ingested_at)
    stored = load_financial_events(document, report_id)
    fallback = _window_last_day(stored)
    rows: list[dict[str, Any]] = []
    records: list[QuarantineRecord] = []
    events = 0

    def record(reason: str, entry: Any, day: date, loaded: bool) -> None:
        records.append(
            QuarantineRecord(
                source=SOURCE,
                report_date=day,
                document_id=report_id,
                line_number=events,
                reason=reason,
                raw_row=json_text(entry),
                quarantined_at=ingested_at,
                row_loaded=loaded,
            )
        )

    for page_number, list_name, entry, page_day in _entries(stored["pages"], fallback):
        events += 1
        day = _posted_day(entry) or page_day
        try:
            event = _read_event(list_name, entry, page_day)
        except _EventError as error:
            record(str(error), entry, day, loaded=False)
            continue
        for row in event.rows:
            row.update(page_number=page_number, event_number=events)
        rows.extend(event.rows)
        for note in event.notes:
            record(note, entry, event.day, loaded=True)
    columns = [*_ROW_COLUMNS, "page_number", "event_number"]
    facts = pl.DataFrame(
        [[row.get(name) for name in columns] for row in rows],
        schema={name: FINANCIAL_EVENTS_SCHEMA[name] for name in columns},
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
        quarantine=quarantine_frame(records),
        document_rows=events,
        served_pages=tuple(count.events for count in page_counts(stored)),
    )


def page_accounting(document_id: str, parsed: ParsedDocument) -> pl.DataFrame:
    """ACCOUNTING_SCHEMA rows, one per page: the events Amazon served on it (counted from its
    JSON), the events with rows in silver, the events refused into quarantine."""
    first_events = [1]
    for events in parsed.served_pages:
        first_events.append(first_events[-1] + events)
    loaded = dict(
        parsed.facts.group_by("page_number").agg(pl.col("event_number").n_unique()).rows()
    )
    refused_numbers = refused_rows(parsed.quarantine)["line_number"].unique().to_list()
    rows = []
    for page, served in enumerate(parsed.served_pages, start=1):
        low, high = first_events[page - 1], first_events[page]
        refused = sum(
            1 for number in refused_numbers if number is not None and low <= number < high
        )
        rows.append((document_id, page, served, loaded.get(page, 0), refused))
    return pl.DataFrame(rows, schema=ACCOUNTING_SCHEMA, orient="row")


def _window_last_day(stored: Mapping[str, Any]) -> date:
    before = _moment(stored.get("PostedBefore"))
    if before is None:
        raise MalformedDocumentError("the stored window has no PostedBefore.")
    return (before - timedelta(microseconds=1)).date()


def _entries(pages: list[Any], fallback: date) -> Iterator[tuple[int, str, Any, date]]:
    """(page number, list name, entry, the day an undated event of its page gets) of every
    entry Amazon served, in the order `served_events` counts them."""
    for number, page in enumerate(pages, start=1):
        lists = (page or {}).get("FinancialEvents") if isinstance(page, dict) else None
        if not isinstance(lists, dict):
            continue
        entries = [
            (name, entry)
            for name, items in lists.items()
            for entry in (items if isinstance(items, list) else [items])
        ]
        days = [day for _, entry in entries if (day := _posted_day(entry))]
        page_day = max(days, default=fallback)
        for name, entry in entries:
            yield number, name, entry, page_day


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _posted_day(entry: Any) -> date | None:
    if not isinstance(entry, dict):
        return None
    for key in ("PostedDate", "postedDate", "TransactionPostedDate", "TransactionCreationDate"):
        if (moment := _moment(entry.get(key))) is not None:
            return moment.date()
    return None


def _read_event(list_name: str, entry: Any, page_day: date) -> _Event:
    shape = EVENT_LISTS.get(list_name)
    if shape is None:
        raise _EventError(
            f"{list_name} is an event list Amazon's Finances v0 model does not define; "
            "its events are kept here until the parser knows it"
        )
    if not isinstance(entry, dict):
        raise _EventError(f"an entry of {list_name} is not an object")
    posted = None
    for key in shape.dates:
        value = entry.get(key)
        if value is None:
            continue
        posted = _moment(value)
        if posted is None:
            raise _EventError(f"{list_name}.{key} {json_text(value)} is not an ISO 8601 timestamp")
        break
    event = _Event(list_name, posted.date() if posted else page_day, posted)
    identity = _read(event, shape, entry, dict.fromkeys(_IDENTITY), list_name)
    if not event.rows:
        event.rows.append(_row(event, identity, None, None, None, None, None))
    has_parts = any(row["amount_role"] == PART for row in event.rows)
    for row in event.rows:
        if row["amount_role"] == TOTAL and not has_parts:
            row["amount_role"] = PART  # the event's only statement of its amount
    return event


def _read(
    event: _Event, shape: Shape, entry: Mapping[str, Any], inherited: dict[str, Any], path: str
) -> dict[str, Any]:
    """Rows of one event (or item) into `event.rows`; its identity (for an event without any
    amount). Unknown fields are checked first."""
    _unknown(event, entry, shape.known(), path)
    identity = dict(inherited)
    for key, column in shape.identity.items():
        value = entry.get(key)
        if value is None or value == "":
            continue
        if column != "quantity":
            identity[column] = str(value)
            continue
        try:
            identity[column] = _quantity(value, f"{path}.{key}")
        except _EventError as error:
            event.notes.append(f"{error}; the event is loaded with it null")
    for key, (kind, role) in shape.money.items():
        if key in entry and entry[key] is not None:
            currency, amount = _money(entry[key], f"{path}.{key}")
            event.rows.append(_row(event, identity, kind, key, currency, amount, role))
    for key, spec in shape.components.items():
        value = entry.get(key)
        if value is None:
            continue
        components = [value] if spec.single else _list(value, f"{path}.{key}")
        for component in components:
            _component(event, identity, spec, component, f"{path}.{key}")
    for key in shape.withheld:
        for withheld in _list(entry.get(key), f"{path}.{key}"):
            if not isinstance(withheld, dict):
                raise _EventError(f"an entry of {path}.{key} is not an object")
            _unknown(event, withheld, _WITHHELD_FIELDS, f"{path}.{key}")
            for tax in _list(withheld.get("TaxesWithheld"), f"{path}.{key}.TaxesWithheld"):
                _component(
                    event, identity, _charge("TaxWithheld"), tax, f"{path}.{key}.TaxesWithheld"
                )
    for key, item_shape in shape.items.items():
        for item in _list(entry.get(key), f"{path}.{key}"):
            if not isinstance(item, dict):
                raise _EventError(f"an entry of {path}.{key} is not an object")
            _read(event, item_shape, item, identity, f"{path}.{key}")
    return identity


def _component(
    event: _Event, identity: dict[str, Any], spec: Components, component: Any, path: str
) -> None:
    if not isinstance(component, dict):
        raise _EventError(f"an entry of {path} is not an object: {json_text(component)}")
    _unknown(event, component, {spec.type_key, spec.amount_key, *spec.extra}, path)
    currency, amount = _money(component.get(spec.amount_key), f"{path}.{spec.amount_key}")
    kind_type = component.get(spec.type_key)
    event.rows.append(
        _row(
            event,
            identity,
            spec.kind,
            None if kind_type is None else str(kind_type),
            currency,
            amount,
            spec.role,
        )
    )


def _unknown(
    event: _Event, entry: Mapping[str, Any], known: set[str] | frozenset[str], path: str
) -> None:
    for key in entry.keys() - set(known):
        if _holds_money(entry[key]):
            raise _EventError(
                f"{path}.{key} is a field Amazon's Finances v0 model does not define and it "
                f"holds an amount ({json_text(entry[key])[:200]})"
            )
        event.notes.append(
            f"{path}.{key} is a field Amazon's Finances v0 model does not define; the event is "
            f"loaded without it ({json_text(entry[key])[:200]})"
        )


def _row(
    event: _Event,
    identity: Mapping[str, Any],
    kind: str | None,
    type_: str | None,
    currency: str | None,
    amount: Decimal | None,
    role: str | None,
) -> dict[str, Any]:
    return {
        "report_date": event.day,
        "event_type": event.list_name.removesuffix("EventList"),
        "posted_date": event.posted,
        **identity,
        "component_kind": kind,
        "component_type": type_,
        "currency": currency,
        "amount": amount,
        "amount_role": role,
    }


def _holds_money(value: Any) -> bool:
    if isinstance(value, dict):
        return "CurrencyAmount" in value or any(_holds_money(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_money(v) for v in value)
    return False


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _EventError(f"{path} is not a list: {json_text(value)[:200]}")
    return value


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
    if number != number.quantize(Decimal("0.01")):
        raise _EventError(f"{path}.CurrencyAmount {json_text(amount)} has more than two decimals")
    currency = value.get("CurrencyCode")
    return (None if currency is None else str(currency)), number


def _quantity(value: Any, path: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _EventError(f"{path} {json_text(value)} is not a whole number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _EventError(f"{path} {json_text(value)} is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise _EventError(f"{path} {json_text(value)} is not a whole number")
    return int(number)
