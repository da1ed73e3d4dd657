"""The sandbox's product signals: Catalog Items 2022-04-01, Product Pricing v0 and a review dataset.

Signals are derived from the synthetic marketplace so they agree with the business reports: an
own ASIN's listing price and display-group rank on a day are the ones `sales_and_traffic` reports
for it (the lowest over its SKUs), and the seller holds the buy box when its buy-box percentage
that day is at least 50. Each own ASIN has 3 to 5 competitor ASINs in its category, generated
deterministically per account, with their own price, rank, offer and rating dynamics.

Amazon's Catalog and Pricing APIs answer with the current state only. To let a backfill of past
days work, the sandbox accepts a query parameter Amazon does not have, `sandboxAsOf=YYYY-MM-DD`,
that answers with that day's state; without it the state is the marketplace's last day.

Reviews come from a dataset shaped like an Apify actor's (the Amazon product scraper's items:
`asin`, `stars`, `reviewsCount`, ...) at `GET /v2/datasets/{id}/items`.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections import OrderedDict
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from amazon_assets.sandbox.marketplace import CATEGORIES, CATEGORY_NAMES, Marketplace, _rng
from amazon_assets.sources.marketplaces import MARKETPLACES
from amazon_assets.sources.reviews import SANDBOX_DATASET_ID as REVIEWS_DATASET_ID
from amazon_assets.sources.reviews import SANDBOX_TOKEN as REVIEWS_TOKEN
from amazon_assets.sources.signals import ITEM_OFFERS_URI
from amazon_assets.sources.signals import MAX_BATCH as MAX_IDENTIFIERS
from amazon_assets.sources.signals import SANDBOX_AS_OF_PARAMETER as AS_OF_PARAMETER

if TYPE_CHECKING:
    from amazon_assets.sandbox.app import SandboxApp

CATALOG_PATH = "/catalog/2022-04-01/items"
ITEM_OFFERS_BATCH_PATH = "/batches/products/pricing/v0/itemOffers"
COMPETITORS_PER_ASIN = (3, 5)
INCLUDED_DATA = frozenset(
    {"attributes", "classifications", "dimensions", "identifiers", "images", "productTypes"}
    | {"relationships", "salesRanks", "summaries", "vendorDetails"}
)
_CACHE_DAYS = 64
_BRANDS = ("Nordvik", "Casa Prima", "Lumeo", "Brightline", "Oakhaven", "Vantor", "Kiri", "Zephra")
_NOUNS = ("Organizer", "Set", "Kit", "Bundle", "Pack", "Edition", "Essentials", "Pro")
# Browse classification (a node inside the display group) and display group per category.
_CLASSIFICATION_IDS = {name: str(1_055_398 + 7_919 * i) for i, name in enumerate(CATEGORY_NAMES)}
_DISPLAY_GROUPS = {
    name: name.split(",")[0].split("&")[0].strip().lower().replace(" ", "_") + "_display_on_website"
    for name in CATEGORY_NAMES
}


def seller_id(seed: int, account: str) -> str:
    """The merchant token of a sandbox account (offers with MyOffer=true carry it)."""
    rng = _rng(seed, account, "seller-id")
    return "A" + "".join(rng.choice(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 13))


def _own_asins(marketplace: Marketplace, account: str) -> pl.DataFrame:
    """One row per own child ASIN: category, base price, launch and take-off of its first SKU."""
    return (
        marketplace.products(account)
        .group_by("asin", maintain_order=True)
        .agg(
            pl.col("category").first(),
            pl.col("base_price_cents").min(),
            pl.col("launch_date").min(),
            pl.col("take_off_date").min(),
        )
    )


def competitors(marketplace: Marketplace, account: str) -> pl.DataFrame:
    """3 to 5 competitor ASINs per own ASIN with their fixed traits (same for every day)."""
    own = _own_asins(marketplace, account)
    rng = _rng(marketplace.seed, account, "competitors")
    low, high = COMPETITORS_PER_ASIN
    counts = rng.integers(low, high + 1, own.height)
    n = int(counts.sum())
    used = set(own["asin"].to_list())
    asins: list[str] = []
    alphabet = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    while len(asins) < n:
        asin = "B0" + "".join(rng.choice(alphabet, 8))
        if asin not in used:
            used.add(asin)
            asins.append(asin)
    index = np.repeat(np.arange(own.height), counts)
    base = own["base_price_cents"].to_numpy()[index] * rng.uniform(0.7, 1.35, n)
    return pl.DataFrame(
        {
            "asin": asins,
            "competitor_of": own["asin"].to_numpy()[index],
            "category": own["category"].to_numpy()[index],
            "base_price_cents": ((np.round(base).astype(np.int64) // 10) * 10 + 9),
            "demand": rng.lognormal(0.0, 0.9, n),
            "price_amp": rng.uniform(0.0, 0.12, n),
            "price_period": rng.uniform(15.0, 80.0, n),
            "price_phase": rng.uniform(0.0, 2 * np.pi, n),
            "other_sellers": rng.integers(0, 9, n),
            # Competitors were on the market before the product they compete with.
            "launch_ordinal": np.array([day.toordinal() for day in own["launch_date"]])[index]
            - rng.integers(30, 700, n),
        }
    )


def _static_traits(seed: int, account: str, asins: list[str], stream: str) -> dict[str, np.ndarray]:
    """Listing traits that do not change day to day: brand, content, review baselines."""
    rng = _rng(seed, account, stream)
    n = len(asins)
    return {
        "brand_index": rng.integers(len(_BRANDS), size=n),
        "noun_index": rng.integers(len(_NOUNS), size=n),
        "bullet_count": rng.integers(2, 8, n),
        "image_count": rng.integers(1, 10, n),
        "rating_base": rng.uniform(3.3, 4.9, n),
        "rating_amp": rng.uniform(0.0, 0.3, n),
        "rating_period": rng.uniform(40.0, 200.0, n),
        "rating_phase": rng.uniform(0.0, 2 * np.pi, n),
        "reviews_base": rng.lognormal(3.5, 1.2, n),
        "reviews_per_day": rng.lognormal(-1.2, 1.0, n),
        "classification_share": rng.uniform(0.01, 0.2, n),
        "own_offers": rng.integers(0, 4, n),
    }


def product_signals(marketplace: Marketplace, account: str, day: date) -> pl.DataFrame:
    """One row per own and competitor ASIN listed on `day`: the state Amazon would show that day."""
    d = day.toordinal()
    seed = marketplace.seed
    daily = marketplace.sales_and_traffic(account, day)
    own = daily.group_by("asin", maintain_order=True).agg(
        pl.col("category").first(),
        pl.col("price_cents").min(),
        pl.col("sales_rank").min(),
        pl.col("buy_box_percentage").max(),
        pl.col("units_ordered").sum(),
        pl.col("in_stock").any(),
        pl.col("rating").first(),
        pl.col("review_count").max(),
    )
    products = _own_asins(marketplace, account)
    own = own.join(products.select("asin", "launch_date", "take_off_date"), on="asin", how="left")
    rng = _rng(seed, account, "signals-day", d)
    n_own = own.height
    rng.random(n_own)  # the draw stock-outs once used: keeps the day's random stream in order
    offers_noise = rng.integers(-1, 2, n_own)
    own_traits = _static_traits(seed, account, own["asin"].to_list(), "own-listing")
    launch = np.array([x.toordinal() for x in own["launch_date"].to_list()])
    own_frame = pl.DataFrame(
        {
            "asin": own["asin"],
            "role": ["own"] * n_own,
            "competitor_of": pl.Series([None] * n_own, dtype=pl.String),
            "category": own["category"],
            "price_cents": own["price_cents"],
            "bsr": own["sales_rank"],
            # Stock, stars and reviews of own products are the marketplace's (its stock-outs,
            # take-offs and declines); competitors' follow their traits below.
            "in_stock": own["in_stock"],
            "holds_buy_box": own["buy_box_percentage"].to_numpy() >= 50,
            "other_sellers": np.maximum(own_traits["own_offers"] + offers_noise, 0),
            "age_days": d - launch,
            "review_boost": np.zeros(n_own),
        }
    )
    own_frame = own_frame.with_columns(_trait_columns(own_traits, d)).with_columns(
        own["rating"].alias("rating"),
        own["review_count"].cast(pl.Float64).alias("reviews_base"),
        pl.lit(0.0).alias("reviews_per_day"),
    )

    comp = competitors(marketplace, account).filter(pl.col("launch_ordinal") <= d)
    n = comp.height
    crng = _rng(seed, account, "competitor-day", d)
    noise = crng.lognormal(0.0, 0.15, n)
    deal = crng.random(n) < 0.04
    comp_stock = crng.random(n) >= 0.02
    t = float(d - marketplace.start_date.toordinal())
    price_factor = 1.0 + comp["price_amp"].to_numpy() * np.sin(
        2 * np.pi * t / comp["price_period"].to_numpy() + comp["price_phase"].to_numpy()
    )
    price_factor = np.where(deal, price_factor * 0.8, price_factor)
    base = comp["base_price_cents"].to_numpy()
    price = np.maximum((np.round(base * price_factor).astype(np.int64) // 10) * 10 + 9, 99)
    pool = np.array([CATEGORIES[c][2] for c in comp["category"].to_list()])
    doy = day.timetuple().tm_yday
    peak = np.array([CATEGORIES[c][1] for c in comp["category"].to_list()])
    amp = np.array([CATEGORIES[c][0] for c in comp["category"].to_list()])
    season = 1.0 + amp * np.cos(2 * np.pi * (doy - peak) / 365.25)
    units = 2.0 * comp["demand"].to_numpy() * season * (price / base) ** -1.8
    bsr = np.maximum(1, np.round(pool * 0.02 / (units + 0.05) ** 0.9 * noise)).astype(np.int64)
    comp_traits = _static_traits(seed, account, comp["asin"].to_list(), "competitor-listing")
    comp_frame = pl.DataFrame(
        {
            "asin": comp["asin"],
            "role": ["competitor"] * n,
            "competitor_of": comp["competitor_of"],
            "category": comp["category"],
            "price_cents": price,
            "bsr": bsr,
            "in_stock": comp_stock,
            "holds_buy_box": np.zeros(n, dtype=bool),
            "other_sellers": comp["other_sellers"],
            "age_days": d - comp["launch_ordinal"].to_numpy(),
            "review_boost": np.zeros(n),
        }
    ).with_columns(_trait_columns(comp_traits, d))
    frame = pl.concat([own_frame, comp_frame], how="vertical_relaxed")
    return frame.with_columns(
        pl.col("category")
        .replace_strict(_CLASSIFICATION_IDS, return_dtype=pl.String)
        .alias("classification_id"),
        pl.max_horizontal(pl.lit(1), (pl.col("bsr") * pl.col("classification_share")).round())
        .cast(pl.Int64)
        .alias("bsr_classification"),
        (
            pl.col("reviews_base")
            + pl.col("reviews_per_day") * pl.col("age_days").clip(0)
            + pl.col("reviews_per_day") * pl.col("review_boost")
        )
        .floor()
        .cast(pl.Int64)
        .alias("review_count"),
    )


def _trait_columns(traits: dict[str, np.ndarray], d: int) -> list[pl.Series]:
    rating = traits["rating_base"] + traits["rating_amp"] * np.sin(
        2 * np.pi * d / traits["rating_period"] + traits["rating_phase"]
    )
    return [
        pl.Series("brand", np.array(_BRANDS)[traits["brand_index"]]),
        pl.Series("noun", np.array(_NOUNS)[traits["noun_index"]]),
        pl.Series("bullet_count", traits["bullet_count"]),
        pl.Series("image_count", traits["image_count"]),
        pl.Series("rating", np.round(np.clip(rating, 1.0, 5.0), 1)),
        pl.Series("reviews_base", traits["reviews_base"]),
        pl.Series("reviews_per_day", traits["reviews_per_day"]),
        pl.Series("classification_share", traits["classification_share"]),
    ]


# -- Amazon's JSON shapes ------------------------------------------------------------------------


def _money(cents: int, currency: str) -> dict[str, Any]:
    return {"CurrencyCode": currency, "Amount": round(cents / 100, 2)}


def catalog_item(row: dict[str, Any], marketplace_id: str, included: set[str]) -> dict[str, Any]:
    """One item of a searchCatalogItems answer (Catalog Items 2022-04-01) with `included` data."""
    title = f"{row['brand']} {row['category'].split(',')[0]} {row['noun']} {row['asin'][-4:]}"
    item: dict[str, Any] = {"asin": row["asin"]}
    if "summaries" in included:
        item["summaries"] = [
            {
                "marketplaceId": marketplace_id,
                "brand": row["brand"],
                "browseClassification": {
                    "displayName": row["category"],
                    "classificationId": row["classification_id"],
                },
                "itemClassification": "BASE_PRODUCT",
                "itemName": title,
                "manufacturer": row["brand"],
                "websiteDisplayGroup": _DISPLAY_GROUPS[row["category"]],
                "websiteDisplayGroupName": row["category"],
            }
        ]
    if "salesRanks" in included:
        item["salesRanks"] = [
            {
                "marketplaceId": marketplace_id,
                "classificationRanks": [
                    {
                        "classificationId": row["classification_id"],
                        "title": row["category"].split(",")[0] + " Accessories",
                        "link": f"http://www.amazon.com/gp/bestsellers/{row['classification_id']}",
                        "rank": row["bsr_classification"],
                    }
                ],
                "displayGroupRanks": [
                    {
                        "websiteDisplayGroup": _DISPLAY_GROUPS[row["category"]],
                        "title": row["category"],
                        "link": "http://www.amazon.com/gp/bestsellers",
                        "rank": row["bsr"],
                    }
                ],
            }
        ]
    if "images" in included:
        item["images"] = [
            {
                "marketplaceId": marketplace_id,
                "images": [
                    {
                        "variant": "MAIN" if i == 0 else f"PT{i:02d}",
                        "link": f"https://m.media-amazon.com/images/I/{row['asin']}-{i}.jpg",
                        "height": 1500,
                        "width": 1500,
                    }
                    for i in range(row["image_count"])
                ],
            }
        ]
    if "attributes" in included:
        item["attributes"] = {
            "item_name": [
                {"value": title, "language_tag": "en_US", "marketplace_id": marketplace_id}
            ],
            "bullet_point": [
                {
                    "value": f"Feature {i + 1} of {title}",
                    "language_tag": "en_US",
                    "marketplace_id": marketplace_id,
                }
                for i in range(row["bullet_count"])
            ],
        }
    return item


def item_offers(
    row: dict[str, Any], seed: int, account: str, marketplace_id: str, currency: str
) -> dict[str, Any]:
    """The getItemOffers payload (Product Pricing v0) of one ASIN on one day."""
    rng = _rng(seed, f"{account}|{row['asin']}", "offers", row["day_ordinal"])
    price = int(row["price_cents"])
    offers: list[dict[str, Any]] = []
    if row["role"] == "own" and row["in_stock"]:
        offers.append(
            {"seller": seller_id(seed, account), "price": price, "mine": True, "fba": True}
        )
    others = int(row["other_sellers"]) + (row["role"] == "competitor" and row["in_stock"])
    for _ in range(others):
        other_price = int(price * rng.uniform(0.93, 1.2)) // 10 * 10 + 9
        offers.append(
            {
                "seller": f"A{rng.integers(10**12):013d}",
                "price": other_price,
                "mine": False,
                "fba": bool(rng.random() < 0.6),
            }  # fmt: skip
        )
    offers.sort(key=lambda offer: offer["price"])
    mine = [offer for offer in offers if offer["mine"]]
    others = [offer for offer in offers if not offer["mine"]]
    # The seller wins when its buy-box share that day says so; else the cheapest other offer;
    # with no other offer and a lost buy box, Amazon suppresses the buy box (no winner).
    winner = mine[0] if mine and row["holds_buy_box"] else (others[0] if others else None)
    shipping = 0
    payload: dict[str, Any] = {
        "MarketplaceID": marketplace_id,
        "ASIN": row["asin"],
        "ItemCondition": "New",
        "status": "Success",
        "Identifier": {
            "MarketplaceId": marketplace_id,
            "ASIN": row["asin"],
            "ItemCondition": "New",
        },
        "Summary": {
            "TotalOfferCount": len(offers),
            "NumberOfOffers": [
                {
                    "condition": "new",
                    "fulfillmentChannel": channel,
                    "OfferCount": sum(1 for o in offers if o["fba"] == (channel == "Amazon")),
                }
                for channel in ("Amazon", "Merchant")
            ],
            "LowestPrices": [
                {
                    "condition": "new",
                    "fulfillmentChannel": "Amazon",
                    "LandedPrice": _money(offers[0]["price"] + shipping, currency),
                    "ListingPrice": _money(offers[0]["price"], currency),
                    "Shipping": _money(shipping, currency),
                }
            ]
            if offers
            else [],
            "BuyBoxPrices": [
                {
                    "condition": "New",
                    "LandedPrice": _money(winner["price"] + shipping, currency),
                    "ListingPrice": _money(winner["price"], currency),
                    "Shipping": _money(shipping, currency),
                }
            ]
            if winner
            else [],
            "SalesRankings": [
                {"ProductCategoryId": _DISPLAY_GROUPS[row["category"]], "Rank": int(row["bsr"])}
            ],
        },
        "Offers": [
            {
                "MyOffer": offer["mine"],
                "SubCondition": "new",
                "SellerId": offer["seller"],
                "ListingPrice": _money(offer["price"], currency),
                "Shipping": _money(shipping, currency),
                "IsFulfilledByAmazon": offer["fba"],
                "IsBuyBoxWinner": offer is winner,
                "IsFeaturedMerchant": True,
            }
            for offer in offers
        ],
    }
    return payload


def review_item(row: dict[str, Any], currency_symbol: str = "$") -> dict[str, Any]:
    """One item of the review dataset, shaped like an Apify Amazon product scraper's output."""
    return {
        "asin": row["asin"],
        "title": f"{row['brand']} {row['category'].split(',')[0]} {row['noun']} {row['asin'][-4:]}",
        "brand": row["brand"],
        "url": f"https://www.amazon.com/dp/{row['asin']}",
        "stars": float(row["rating"]),
        "reviewsCount": int(row["review_count"]),
        "price": {"value": round(int(row["price_cents"]) / 100, 2), "currency": currency_symbol},
        "inStock": bool(row["in_stock"]),
    }


# -- HTTP -----------------------------------------------------------------------------------------


class CatalogSandbox:
    """The Catalog, Pricing and review-dataset routes of one sandbox app."""

    def __init__(self, app: SandboxApp) -> None:
        self.app = app
        self._cache: OrderedDict[tuple[str, date], dict[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            Route(CATALOG_PATH, self.search_catalog_items, methods=["GET"]),
            Route(ITEM_OFFERS_BATCH_PATH, self.get_item_offers_batch, methods=["POST"]),
            Route("/v2/datasets/{dataset_id}/items", self.dataset_items, methods=["GET"]),
        ]

    def signals(self, account: str, day: date) -> dict[str, dict[str, Any]]:
        """asin -> the day's signals row for one account (own and competitor ASINs), cached."""
        key = (account, day)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        marketplace = self.app.marketplace
        rows = {}
        if marketplace.has_data(account, day):
            frame = product_signals(marketplace, account, day)
            for row in frame.iter_rows(named=True):
                rows.setdefault(row["asin"], {**row, "day_ordinal": day.toordinal()})
        with self._lock:
            self._cache[key] = rows
            while len(self._cache) > _CACHE_DAYS:
                self._cache.popitem(last=False)
        return rows

    def _as_of(self, request: Request, account: str) -> date:
        raw = request.query_params.get(AS_OF_PARAMETER)
        if not raw:
            return self.app.marketplace.last_day(account)
        return date.fromisoformat(raw)

    async def search_catalog_items(self, request: Request) -> Response:
        operation = "searchCatalogItems"
        guard = await self.app._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        account = guard[1]
        params = request.query_params
        identifiers = [part for part in (params.get("identifiers") or "").split(",") if part]
        marketplace_ids = [part for part in (params.get("marketplaceIds") or "").split(",") if part]
        included = {part for part in (params.get("includedData") or "summaries").split(",") if part}
        if len(marketplace_ids) != 1 or marketplace_ids[0] not in self.app.config.marketplaces_of(
            account
        ):
            return self.app._invalid(operation, f"Invalid marketplaceIds: {marketplace_ids!r}.")
        if params.get("keywords"):
            return self.app._invalid(operation, "The sandbox searches by identifiers only.")
        if not identifiers or params.get("identifiersType") != "ASIN":
            return self.app._invalid(
                operation, "identifiers and identifiersType=ASIN are required."
            )
        if len(identifiers) > MAX_IDENTIFIERS:
            return self.app._invalid(
                operation, f"identifiers accepts at most {MAX_IDENTIFIERS} values."
            )
        if unknown := sorted(included - INCLUDED_DATA):
            return self.app._invalid(operation, f"Invalid includedData: {', '.join(unknown)}.")
        try:
            day = self._as_of(request, account)
        except ValueError:
            return self.app._invalid(operation, f"{AS_OF_PARAMETER} must be YYYY-MM-DD.")
        rows = await run_in_threadpool(self.signals, account, day)
        marketplace_id = marketplace_ids[0]
        items = [
            catalog_item(rows[asin], marketplace_id, included)
            for asin in dict.fromkeys(identifiers)
            if asin in rows
        ]
        body = {"numberOfResults": len(items), "pagination": {}, "refinements": {}, "items": items}
        return self.app._ok(operation, body)

    async def get_item_offers_batch(self, request: Request) -> Response:
        operation = "getItemOffersBatch"
        guard = await self.app._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        account = guard[1]
        try:
            body = json.loads(await request.body() or b"{}")
            requests = body["requests"]
            if not isinstance(requests, list) or not 1 <= len(requests) <= MAX_IDENTIFIERS:
                raise ValueError
            day = self._as_of(request, account)
        except (ValueError, KeyError, TypeError):
            return self.app._invalid(
                operation,
                f"The body needs 1 to {MAX_IDENTIFIERS} requests (and {AS_OF_PARAMETER} a date).",
            )
        rows = await run_in_threadpool(self.signals, account, day)
        return self.app._ok(
            operation,
            {"responses": [self._offers_response(item, rows, account) for item in requests]},
        )

    def _offers_response(
        self, item: Any, rows: dict[str, dict[str, Any]], account: str
    ) -> dict[str, Any]:
        config = self.app.config
        uri = item.get("uri", "") if isinstance(item, dict) else ""
        prefix, suffix = ITEM_OFFERS_URI.split("{asin}")
        asin = (
            uri[len(prefix) : -len(suffix)]
            if uri.startswith(prefix) and uri.endswith(suffix)
            else ""
        )
        request = {
            "MarketplaceId": (item or {}).get("MarketplaceId"),
            "ItemCondition": (item or {}).get("ItemCondition"),
            "CustomerType": (item or {}).get("CustomerType"),
            "Asin": asin,
        }
        headers = {"x-amzn-RequestId": f"sandbox-{asin or 'invalid'}"}
        problem = None
        if not asin or item.get("method") != "GET":
            problem = (400, "InvalidInput", f"Invalid uri or method in request {uri!r}.")
        elif item.get("MarketplaceId") not in config.marketplaces_of(account):
            problem = (400, "InvalidInput", f"Invalid MarketplaceId {item.get('MarketplaceId')!r}.")
        elif asin not in rows:
            problem = (404, "NotFound", f"Item {asin} not found in marketplace.")
        if problem:
            status, code, message = problem
            return {
                "status": {"statusCode": status, "reasonPhrase": code},
                "headers": headers,
                "body": {"errors": [{"code": code, "message": message}]},
                "request": request,
            }
        marketplace_id = item["MarketplaceId"]
        currency = (
            config.home_of(account).currency
            if marketplace_id == config.marketplaces_of(account)[0]
            else MARKETPLACES[marketplace_id].currency
        )
        payload = item_offers(
            rows[asin], self.app.marketplace.seed, account, marketplace_id, currency
        )
        return {
            "status": {"statusCode": 200, "reasonPhrase": "OK"},
            "headers": headers,
            "body": {"payload": payload},
            "request": request,
        }

    async def dataset_items(self, request: Request) -> Response:
        """Apify's `GET /v2/datasets/{id}/items`: a JSON array, paged by offset and limit."""
        self.app._count("reviewDatasetItems")
        auth = request.headers.get("authorization", "").removeprefix("Bearer ")
        token = request.query_params.get("token") or auth
        if not hmac.compare_digest(token, REVIEWS_TOKEN):
            return JSONResponse(
                {
                    "error": {
                        "type": "token-not-valid",
                        "message": "Authentication token is not valid.",
                    }
                },
                status_code=401,
            )
        if request.path_params["dataset_id"] != REVIEWS_DATASET_ID:
            return JSONResponse(
                {"error": {"type": "record-not-found", "message": "Dataset was not found"}},
                status_code=404,
            )
        try:
            offset = int(request.query_params.get("offset") or 0)
            limit = int(request.query_params.get("limit") or 250_000)
            raw_day = request.query_params.get(AS_OF_PARAMETER)
            day = date.fromisoformat(raw_day) if raw_day else None
        except ValueError:
            return JSONResponse(
                {
                    "error": {
                        "type": "invalid-parameter",
                        "message": "Invalid offset, limit or date.",
                    }
                },
                status_code=400,
            )
        items = await run_in_threadpool(self._review_items, day)
        page = items[offset : offset + limit]
        response = JSONResponse(page)
        response.headers["X-Apify-Pagination-Total"] = str(len(items))
        response.headers["X-Apify-Pagination-Offset"] = str(offset)
        response.headers["X-Apify-Pagination-Limit"] = str(limit)
        response.headers["X-Apify-Pagination-Count"] = str(len(page))
        return response

    def _review_items(self, day: date | None) -> list[dict[str, Any]]:
        """Every ASIN of every account (a scraper's dataset is not per seller)."""
        items: dict[str, dict[str, Any]] = {}
        for account in self.app.marketplace.accounts:
            as_of = day or self.app.marketplace.last_day(account)
            for asin, row in self.signals(account, as_of).items():
                items.setdefault(asin, review_item(row))
        return list(items.values())
