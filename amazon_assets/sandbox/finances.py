"""Finances API v0 `GET /finances/v0/financialEvents` served from the seller-history truth.

Pages hold up to MaxResultsPerPage events (1..100) in Amazon's model (every event list present:
shipments, refunds, service fees, adjustments, and a few a month of product-ads payments, coupon
payments, seller deals, chargebacks, removal shipments and retrocharges) and a NextToken that resumes at
(day, offset), so a page is built from one or two days of events, never the whole range.
PostedAfter/PostedBefore more than 180 days apart, or a page larger than
`finances_heavy_page_limit` on a heavy day (holiday season), answer 400 InvalidInput.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from amazon_assets.parsers.seller_history.financial_events import EVENT_LISTS as MODEL_EVENT_LISTS
from amazon_assets.sandbox.seller_history import SellerHistory, is_heavy_day

if TYPE_CHECKING:
    from amazon_assets.sandbox.app import SandboxApp

OPERATION = "listFinancialEvents"
PATH = "/finances/v0/financialEvents"
MAX_RANGE = timedelta(days=180)
# Every event list of Amazon's model, as Amazon answers them: all present, most empty.
EVENT_LISTS = tuple(MODEL_EVENT_LISTS)


class BadRequest(ValueError):
    """A request Amazon answers with 400 InvalidInput."""


class FinancesApi:
    """The Finances v0 route of one sandbox app (shares its guard, quotas and faults)."""

    def __init__(self, app: SandboxApp) -> None:
        self.app = app
        self._cache: OrderedDict[tuple[str, int], tuple[pl.DataFrame, np.ndarray, np.ndarray]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    @property
    def history(self) -> SellerHistory:
        return SellerHistory.of(self.app.marketplace)

    async def list_financial_events(self, request: Request) -> Response:
        """GET /finances/v0/financialEvents."""
        guard = await self.app._guard(request, OPERATION)
        if isinstance(guard, Response):
            return guard
        account = guard[1]
        try:
            body = await run_in_threadpool(self.page, account, dict(request.query_params))
        except BadRequest as error:
            return self.app._invalid(OPERATION, str(error))
        return self.app._ok(OPERATION, body)

    # -- paging -----------------------------------------------------------------------------

    def page(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        """One page of financial events as Amazon's ListFinancialEventsResponse."""
        size_param = params.get("MaxResultsPerPage")
        if params.get("NextToken"):
            query = _read_token(params["NextToken"], account)
        else:
            query = self._query(account, params)
        if size_param:
            query["size"] = _size(size_param)
        after = datetime.fromisoformat(query["after"])
        before = datetime.fromisoformat(query["before"])
        size = query["size"]
        limit = self.app.config.finances_heavy_page_limit
        picked: list[tuple[str, dict[str, Any]]] = []
        cursor: tuple[int, int] | None = None
        for day, frame, starts, first, last in self._days(account, after, before, query):
            if size > limit and is_heavy_day(day):
                raise BadRequest("Invalid Input")
            stop = min(last, first + size - len(picked))
            page = frame.slice(int(starts[first]), int(starts[stop] - starts[first]))
            picked.extend(_events(page))
            cursor = (day.toordinal(), stop)
            if len(picked) >= size:
                break
        lists: dict[str, list[dict[str, Any]]] = {name: [] for name in EVENT_LISTS}
        for kind, event in picked:
            lists[kind].append(event)
        payload: dict[str, Any] = {"FinancialEvents": lists}
        if cursor is not None:
            more = {**query, "day": cursor[0], "offset": cursor[1]}
            if next(self._days(account, after, before, more), None) is not None:
                token = {**more, "account": account}
                payload["NextToken"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
        return {"payload": payload}

    def _query(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        now = datetime.combine(self.app.marketplace.today, datetime.min.time(), UTC)
        after = _moment(params.get("PostedAfter"), "PostedAfter")
        if after is None:
            raise BadRequest("PostedAfter is required when NextToken is not given.")
        before = _moment(params.get("PostedBefore"), "PostedBefore") or now - timedelta(minutes=2)
        if before <= after:
            raise BadRequest("PostedBefore must be later than PostedAfter.")
        if before - after > MAX_RANGE:
            raise BadRequest(
                "The date range between PostedAfter and PostedBefore must be no more than 180 days."
            )
        size = _size(params.get("MaxResultsPerPage") or "100")
        return {
            "after": after.isoformat(),
            "before": before.isoformat(),
            "size": size,
            "day": after.date().toordinal(),
            "offset": 0,
        }

    def _days(
        self, account: str, after: datetime, before: datetime, query: dict[str, Any]
    ) -> Iterator[tuple[date, pl.DataFrame, np.ndarray, int, int]]:
        """(day, events frame, event row starts, first, last event index) with events left."""
        market = self.app.marketplace
        first_day = max(date.fromordinal(query["day"]), market.first_day(account))
        last_day = min((before - timedelta(microseconds=1)).date(), market.last_day(account))
        low, high = _micros(after), _micros(before)
        day = first_day
        while day <= last_day:
            frame, starts, posted = self._day_events(account, day)
            first = int(np.searchsorted(posted, low, "left"))
            last = int(np.searchsorted(posted, high, "left"))
            if day.toordinal() == query["day"]:
                first = max(first, query["offset"])
            if first < last:
                yield day, frame, starts, first, last
            day += timedelta(days=1)

    def _day_events(self, account: str, day: date) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
        """The day's components (one event's rows contiguous), event row starts, event times."""
        key = (account, day.toordinal())
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        frame = self.history.financial_events(account, day).select(
            pl.exclude("amount", "posted_date", "account"),
            pl.col("posted_date").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("posted_text"),
            pl.col("posted_date"),
        )
        new = (frame["event_id"] != frame["event_id"].shift(1)).fill_null(True).to_numpy()
        starts = np.append(np.flatnonzero(new), frame.height)
        posted = frame["posted_date"].dt.epoch("us").to_numpy()[starts[:-1]]
        entry = (frame.drop("posted_date"), starts, posted)
        with self._lock:
            self._cache[key] = entry
            while len(self._cache) > 8:
                self._cache.popitem(last=False)
        return entry


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


# -- Amazon's model -------------------------------------------------------------------------


def _money(cents: int, currency: str) -> dict[str, Any]:
    return {"CurrencyCode": currency, "CurrencyAmount": cents / 100}


def _events(frame: pl.DataFrame) -> list[tuple[str, dict[str, Any]]]:
    """(list name, event) per event of `frame`, whose rows are grouped by event."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in frame.iter_rows(named=True):
        rows.setdefault(row["event_id"], []).append(row)
    return [_event(components) for components in rows.values()]


def _event(components: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    first = components[0]
    kind = first["event_type"]
    currency = first["currency"]
    if kind in _OTHER_EVENTS:
        amounts = {c["component_type"]: _money(c["amount_cents"], currency) for c in components}
        total = _money(sum(c["amount_cents"] for c in components), currency)
        return f"{kind}EventList", _OTHER_EVENTS[kind](first, amounts, total)
    if kind == "ServiceFee":
        fees = [
            {"FeeType": c["component_type"], "FeeAmount": _money(c["amount_cents"], currency)}
            for c in components
        ]
        return "ServiceFeeEventList", {
            "FeeReason": "Subscription",
            "FeeList": fees,
            "FeeDescription": "Subscription Fee",
        }
    if kind == "Adjustment":
        total = sum(c["amount_cents"] for c in components)
        items = [
            {
                "Quantity": str(c["quantity"]),
                "PerUnitAmount": _money(c["per_unit_cents"] or 0, currency),
                "TotalAmount": _money(c["amount_cents"], currency),
                "SellerSKU": c["sku"],
                "FnSKU": c["fnsku"],
                "ProductDescription": c["product_name"],
                "ASIN": c["asin"],
            }
            for c in components
        ]
        return "AdjustmentEventList", {
            "AdjustmentType": first["component_type"],
            "PostedDate": first["posted_text"],
            "AdjustmentAmount": _money(total, currency),
            "AdjustmentItemList": items,
        }
    items: dict[str, dict[str, Any]] = {}
    refund = kind == "Refund"
    for c in components:
        item = items.get(c["order_item_id"])
        if item is None:
            item = items[c["order_item_id"]] = {
                "SellerSKU": c["sku"],
                "OrderAdjustmentItemId" if refund else "OrderItemId": (
                    c["adjustment_id"] if refund else c["order_item_id"]
                ),
                "QuantityShipped": c["quantity"],
            }
            if refund:
                item |= {"ItemChargeAdjustmentList": [], "ItemFeeAdjustmentList": []}
            else:
                item |= {"ItemChargeList": [], "ItemFeeList": [], "PromotionList": []}
        money = _money(c["amount_cents"], currency)
        if c["component"] in ("Charge", "ChargeAdjustment"):
            key = "ItemChargeAdjustmentList" if refund else "ItemChargeList"
            item[key].append({"ChargeType": c["component_type"], "ChargeAmount": money})
        elif c["component"] in ("Fee", "FeeAdjustment"):
            key = "ItemFeeAdjustmentList" if refund else "ItemFeeList"
            item[key].append({"FeeType": c["component_type"], "FeeAmount": money})
        else:
            item["PromotionList"].append(
                {
                    "PromotionType": c["component_type"],
                    "PromotionId": c["promotion_id"],
                    "PromotionAmount": money,
                }
            )
    event = {
        "AmazonOrderId": first["amazon_order_id"],
        "SellerOrderId": first["amazon_order_id"],
        "MarketplaceName": first["marketplace_name"],
        "PostedDate": first["posted_text"],
        "ShipmentItemAdjustmentList" if refund else "ShipmentItemList": list(items.values()),
    }
    return ("RefundEventList" if refund else "ShipmentEventList"), event


def _product_ads(first: dict[str, Any], amounts: dict[str, Any], total: Any) -> dict[str, Any]:
    return {
        "postedDate": first["posted_text"],
        "transactionType": "Charge",
        "invoiceId": first["event_id"],
        **amounts,
        "transactionValue": total,
    }


def _coupon(first: dict[str, Any], amounts: dict[str, Any], total: Any) -> dict[str, Any]:
    [(fee_type, fee)] = amounts.items()
    return {
        "PostedDate": first["posted_text"],
        "CouponId": f"COUPON-{first['event_id']}",
        "SellerCouponDescription": "10% off",
        "ClipOrRedemptionCount": 1,
        "PaymentEventId": first["event_id"],
        "FeeComponent": {"FeeType": fee_type, "FeeAmount": fee},
        "TotalAmount": total,
    }


def _deal(first: dict[str, Any], amounts: dict[str, Any], total: Any) -> dict[str, Any]:
    return {
        "postedDate": first["posted_text"],
        "dealId": first["event_id"],
        "dealDescription": "Lightning Deal",
        "eventType": "SellerDealComplete",
        "feeType": "RunLightningDealFee",
        **amounts,
        "totalAmount": total,
    }


def _chargeback(first: dict[str, Any], amounts: dict[str, Any], total: Any) -> dict[str, Any]:
    return {
        "AmazonOrderId": first["amazon_order_id"],
        "MarketplaceName": first["marketplace_name"],
        "PostedDate": first["posted_text"],
        "ShipmentItemAdjustmentList": [
            {
                "OrderAdjustmentItemId": first["event_id"],
                "QuantityShipped": 1,
                "ItemChargeAdjustmentList": [
                    {"ChargeType": name, "ChargeAmount": money} for name, money in amounts.items()
                ],
            }
        ],
    }


def _removal(first: dict[str, Any], amounts: dict[str, Any], total: Any) -> dict[str, Any]:
    return {
        "PostedDate": first["posted_text"],
        "MerchantOrderId": first["event_id"],
        "OrderId": first["event_id"],
        "TransactionType": "WHOLESALE_LIQUIDATION",
        "RemovalShipmentItemList": [
            {"RemovalShipmentItemId": first["event_id"], "TaxCollectionModel": "Standard",
             "Quantity": 1, **amounts}
        ],
    }  # fmt: skip


def _retrocharge(first: dict[str, Any], amounts: dict[str, Any], total: Any) -> dict[str, Any]:
    return {
        "RetrochargeEventType": "Retrocharge",
        "AmazonOrderId": first["amazon_order_id"],
        "PostedDate": first["posted_text"],
        "MarketplaceName": first["marketplace_name"],
        **amounts,
    }


# Event types beyond shipments, refunds, service fees and adjustments (seller_history's
# `_other_events`), each written as Amazon's model writes it.
_OTHER_EVENTS = {
    "ProductAdsPayment": _product_ads,
    "CouponPayment": _coupon,
    "SellerDealPayment": _deal,
    "Chargeback": _chargeback,
    "RemovalShipment": _removal,
    "Retrocharge": _retrocharge,
}


# -- parameters -----------------------------------------------------------------------------


def _size(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        raise BadRequest(f"MaxResultsPerPage must be an integer; got {value!r}.") from None
    if not 1 <= size <= 100:
        raise BadRequest("MaxResultsPerPage must be between 1 and 100.")
    return size


def _moment(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} is not an ISO 8601 date-time: {value!r}.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_token(token: str, account: str) -> dict[str, Any]:
    try:
        query = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise BadRequest("Invalid NextToken.") from None
    if not isinstance(query, dict) or query.pop("account", None) != account:
        raise BadRequest("Invalid NextToken.")
    return query
