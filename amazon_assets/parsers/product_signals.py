"""A day's product-signal document -> typed rows of silver fact_product_snapshot.

The bronze document (built by `signals_document`) holds, per account, the tracked ASINs and the
answers exactly as received: Catalog Items 2022-04-01 searchCatalogItems pages (`items`), Product
Pricing v0 getItemOffersBatch pages (`responses`) and the review provider's items. Amazon's and
the provider's field names are mapped to snake_case here and nowhere else. Every tracked ASIN
gets a row; what no source said is null. A row whose values cannot be typed goes to quarantine.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from amazon_assets.parsers.compression import gunzipped
from amazon_assets.parsers.quarantine import QuarantineRecord, as_utc, json_text, quarantine_frame

QUARANTINE_SOURCE = "product_signals"
_MONEY = pl.Decimal(18, 2)
_CENT = Decimal("0.01")

PRODUCT_SNAPSHOT_SCHEMA = pl.Schema(
    {
        "account": pl.String,
        "asin": pl.String,
        "snapshot_date": pl.Date,
        "role": pl.String,  # "own" or "competitor"
        "price": _MONEY,  # the seller's own offer for own ASINs, else the buy-box listing price
        "buy_box_price": _MONEY,
        "landed_price": _MONEY,
        "offer_count": pl.Int64,
        "has_buy_box": pl.Boolean,  # the seller's own offer holds the buy box
        "bsr": pl.Int64,  # rank in the main website display group
        "bsr_classification": pl.Int64,  # rank within the browse classification
        "category": pl.String,
        "brand": pl.String,
        "title": pl.String,
        "bullet_count": pl.Int64,
        "image_count": pl.Int64,
        "rating": pl.Float64,
        "review_count": pl.Int64,
        "in_stock": pl.Boolean,
        "ingested_at": pl.Datetime("us", "UTC"),
    }
)


@dataclass(frozen=True)
class ParsedSignals:
    """Typed snapshot rows and the rows that could not be typed."""

    facts: pl.DataFrame
    quarantine: pl.DataFrame


def signals_document(
    snapshot_date: date,
    source: str,
    as_of: date | None,
    accounts: Sequence[Mapping[str, Any]],
) -> bytes:
    """The bronze document of one day, gzip JSON: each account's tracked ASINs and raw answers."""
    body = {
        "snapshot_date": snapshot_date.isoformat(),
        "source": source,
        "as_of": as_of.isoformat() if as_of else None,
        "accounts": list(accounts),
    }
    return gzip.compress(json.dumps(body, separators=(",", ":")).encode(), mtime=0)


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    amount = value.get("Amount") if isinstance(value, Mapping) else None
    if amount is None:
        return None
    try:
        money = Decimal(str(amount)).quantize(_CENT)
    except InvalidOperation:
        raise ValueError(f"amount {amount!r} is not a number") from None
    if money < 0:
        raise ValueError(f"amount {amount!r} is negative")
    return money


def _int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{name} {value!r} is not a whole number")
    return int(value)


def _first(values: Any) -> Mapping[str, Any]:
    return (
        values[0] if isinstance(values, list) and values and isinstance(values[0], Mapping) else {}
    )


def _for_marketplace(entries: Any, marketplace_id: str | None) -> Mapping[str, Any]:
    """The entry of a per-marketplace list for our marketplace (else the first)."""
    if not isinstance(entries, list):
        return {}
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("marketplaceId") == marketplace_id:
            return entry
    return _first(entries)


def _catalog_fields(item: Mapping[str, Any], marketplace_id: str | None) -> dict[str, Any]:
    summary = _for_marketplace(item.get("summaries"), marketplace_id)
    ranks = _for_marketplace(item.get("salesRanks"), marketplace_id)
    display = _first(ranks.get("displayGroupRanks"))
    classification = _first(ranks.get("classificationRanks"))
    browse = summary.get("browseClassification") or {}
    images = _for_marketplace(item.get("images"), marketplace_id)
    attributes = item.get("attributes")
    return {
        "bsr": _int(display.get("rank"), "displayGroupRanks.rank"),
        "bsr_classification": _int(classification.get("rank"), "classificationRanks.rank"),
        "category": browse.get("displayName")
        or summary.get("websiteDisplayGroupName")
        or display.get("title"),
        # 2022-04-01 says `brand`; 2020-12-01 said `brandName`.
        "brand": summary.get("brand") or summary.get("brandName"),
        "title": summary.get("itemName"),
        "bullet_count": len(attributes.get("bullet_point") or [])
        if isinstance(attributes, Mapping)
        else None,
        "image_count": len(images.get("images") or []) if "images" in item else None,
    }


def _pricing_fields(payload: Mapping[str, Any], role: str) -> dict[str, Any]:
    summary = payload.get("Summary") or {}
    buy_box = _first(summary.get("BuyBoxPrices"))
    lowest = _first(summary.get("LowestPrices"))
    offers = [offer for offer in payload.get("Offers") or [] if isinstance(offer, Mapping)]
    mine = [offer for offer in offers if offer.get("MyOffer")]
    offer_count = _int(summary.get("TotalOfferCount"), "TotalOfferCount")
    own_price = _money(mine[0].get("ListingPrice")) if mine else None
    buy_box_price = _money(buy_box.get("ListingPrice"))
    return {
        "price": own_price or buy_box_price or _money(lowest.get("ListingPrice")),
        "buy_box_price": buy_box_price,
        "landed_price": _money(buy_box.get("LandedPrice")),
        "offer_count": offer_count,
        "has_buy_box": any(offer.get("IsBuyBoxWinner") for offer in mine),
        # An own ASIN is in stock when the seller's offer is listed; a competitor's when anyone's is.
        "in_stock": bool(mine) if role == "own" else (offer_count or len(offers)) > 0,
    }


def _review_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    rating = item.get("stars", item.get("rating"))
    if rating is not None:
        if isinstance(rating, bool) or not isinstance(rating, int | float):
            raise ValueError(f"stars {rating!r} is not a number")
        rating = float(rating)
    return {
        "rating": rating,
        "review_count": _int(item.get("reviewsCount", item.get("reviews")), "reviewsCount"),
    }


def parse_product_signals(
    document: bytes,
    snapshot_date: date,
    ingested_at: datetime,
    document_id: str = "",
    account: str | None = None,
) -> ParsedSignals:
    """One row per (account, tracked ASIN) of a day's signal document (gzip or plain JSON);
    with `account`, of that account's section only (a document an earlier version stored holds
    every account's)."""
    body = json.loads(gunzipped(document))
    ingested_at = as_utc(ingested_at)
    rows: list[dict[str, Any]] = []
    refused: list[QuarantineRecord] = []
    for section in body.get("accounts") or []:
        owner = section["account"]
        if account is not None and owner != account:
            continue
        marketplace_id = section.get("marketplace_id")
        catalog = {
            item["asin"]: item
            for page in section.get("catalog") or []
            for item in page.get("items") or []
            if isinstance(item, Mapping) and item.get("asin")
        }
        pricing = {}
        for page in section.get("pricing") or []:
            for answer in page.get("responses") or []:
                asin = (answer.get("request") or {}).get("Asin")
                status = (answer.get("status") or {}).get("statusCode")
                payload = (answer.get("body") or {}).get("payload")
                if asin and status == 200 and isinstance(payload, Mapping):
                    pricing[asin] = payload
        reviews = {
            item["asin"]: item
            for item in section.get("reviews") or []
            if isinstance(item, Mapping) and item.get("asin")
        }
        roles: dict[str, str] = {}
        for entry in section.get("tracked") or []:
            # An ASIN tracked both as own and as a competitor is the seller's own.
            if roles.get(entry["asin"]) != "own":
                roles[entry["asin"]] = entry["role"]
        for line_number, (asin, role) in enumerate(sorted(roles.items()), start=1):
            row: dict[str, Any] = {name: None for name in PRODUCT_SNAPSHOT_SCHEMA.names()} | {
                "account": owner,
                "asin": asin,
                "snapshot_date": snapshot_date,
                "role": role,
                "ingested_at": ingested_at,
            }
            try:
                if asin in catalog:
                    row |= _catalog_fields(catalog[asin], marketplace_id)
                if asin in pricing:
                    row |= _pricing_fields(pricing[asin], role)
                if asin in reviews:
                    row |= _review_fields(reviews[asin])
                if row["rating"] is not None and not 1.0 <= row["rating"] <= 5.0:
                    raise ValueError(f"stars {row['rating']} is outside 1..5")
            except (ValueError, TypeError, AttributeError) as error:
                raw = {
                    "account": owner,
                    "asin": asin,
                    "catalog": catalog.get(asin),
                    "pricing": pricing.get(asin),
                    "reviews": reviews.get(asin),
                }
                refused.append(
                    QuarantineRecord(
                        source=QUARANTINE_SOURCE,
                        report_date=snapshot_date,
                        document_id=document_id,
                        line_number=line_number,
                        reason=f"{owner} {asin}: {error}.",
                        raw_row=json_text(raw),
                        quarantined_at=ingested_at,
                    )
                )
                continue
            rows.append(row)
    facts = pl.DataFrame(rows, schema=PRODUCT_SNAPSHOT_SCHEMA) if rows else None
    return ParsedSignals(
        facts=facts if facts is not None else pl.DataFrame(schema=PRODUCT_SNAPSHOT_SCHEMA),
        quarantine=quarantine_frame(refused),
    )
