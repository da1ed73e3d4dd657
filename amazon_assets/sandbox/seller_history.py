"""Seller history truth and Amazon-format TSV documents, derived per account-day from the marketplace.

Every frame is a pure function of (seed, account, day): orders split the marketplace's
`total_order_items` / `units_ordered` into order items; the ledger, customer returns,
reimbursements and financial events follow from those items; settlements group 14 days of
financial events. Money is computed in integer cents and exposed as Decimal(18, 2). Documents
use Amazon's column names and date formats and are encoded in the account's charset.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from amazon_assets.sandbox.marketplace import Marketplace as SyntheticMarketplace
from amazon_assets.sandbox.marketplace import _is_holiday_season, _rng, _stable_key
from amazon_assets.sources.marketplaces import MARKETPLACES, Marketplace

if TYPE_CHECKING:
    from amazon_assets.sandbox.reports import ReportStore

ORDERS = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
LEDGER = "GET_LEDGER_DETAIL_VIEW_DATA"
FEE_PREVIEW = "GET_FBA_ESTIMATED_FBA_FEES_TXT_DATA"
REIMBURSEMENTS = "GET_FBA_REIMBURSEMENTS_DATA"
CUSTOMER_RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
SETTLEMENTS = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"

ORDERS_MAX_DAYS = 31
LEDGER_HISTORY_MONTHS = 18
FEE_REFRESH_DAYS = 3  # a snapshot every 72 hours, on days whose ordinal is a multiple of 3
RETURN_LAG_DAYS = 7  # customers return items ordered this many days earlier
SUBSCRIPTION_CENTS = 3999
# Per-(kind, account, day) frames kept (LRU). Seven sources may read different months at once,
# and 18 months of ledger/finances is ~550 days x 6 kinds (~3,300 frames) per account, so the
# bound is generous. Measured mean Polars `estimated_size()` per frame (orders, ledger, finances,
# sales, returned, reimbursements): ~5 KB at 8 SKUs per account (finances ~20 KB), so 4,096 frames
# are ~20 MB; ~650 KB at 1,000 SKUs (finances ~2.4 MB, orders ~780 KB), where 4,096 frames would
# be ~2.6 GB, hence the byte budget as well: whichever bound is hit first evicts.
CACHE_ENTRIES = 4096
CACHE_BYTES = 512 * 1024 * 1024
REFERRAL_RATE = 0.15

ORDERS_COLUMNS = [
    "amazon-order-id", "merchant-order-id", "purchase-date", "last-updated-date", "order-status",
    "fulfillment-channel", "sales-channel", "order-channel", "url", "ship-service-level",
    "product-name", "sku", "asin", "item-status", "quantity", "currency", "item-price", "item-tax",
    "shipping-price", "shipping-tax", "gift-wrap-price", "gift-wrap-tax",
    "item-promotion-discount", "ship-promotion-discount", "ship-city", "ship-state",
    "ship-postal-code", "ship-country", "promotion-ids", "is-business-order",
    "purchase-order-number", "price-designation",
]  # fmt: skip
LEDGER_COLUMNS = [
    "Date", "FNSKU", "ASIN", "MSKU", "Title", "Event Type", "Reference ID", "Quantity",
    "Fulfillment Center", "Disposition", "Reason", "Country", "Reconciled Quantity",
    "Unreconciled Quantity", "Date and Time", "Store",
]  # fmt: skip
FEE_PREVIEW_COLUMNS = [
    "sku", "fnsku", "asin", "amazon-store", "product-name", "product-group", "brand",
    "fulfilled-by", "your-price", "sales-price", "longest-side", "median-side", "shortest-side",
    "length-and-girth", "unit-of-dimension", "item-package-weight", "unit-of-weight",
    "product-size-tier", "currency", "estimated-fee-total", "estimated-referral-fee-per-unit",
    "estimated-variable-closing-fee", "estimated-order-handling-fee-per-order",
    "estimated-pick-pack-fee-per-unit", "estimated-weight-handling-fee-per-unit",
    "expected-fulfillment-fee-per-unit",
]  # fmt: skip
REIMBURSEMENTS_COLUMNS = [
    "approval-date", "reimbursement-id", "case-id", "amazon-order-id", "reason", "sku", "fnsku",
    "asin", "product-name", "condition", "currency-unit", "amount-per-unit", "amount-total",
    "quantity-reimbursed-cash", "quantity-reimbursed-inventory", "quantity-reimbursed-total",
    "original-reimbursement-id", "original-reimbursement-type",
]  # fmt: skip
RETURNS_COLUMNS = [
    "return-date", "order-id", "sku", "asin", "fnsku", "product-name", "quantity",
    "fulfillment-center-id", "detailed-disposition", "reason", "status", "license-plate-number",
    "customer-comments",
]  # fmt: skip
SETTLEMENT_COLUMNS = [
    "settlement-id", "settlement-start-date", "settlement-end-date", "deposit-date",
    "total-amount", "currency", "transaction-type", "order-id", "merchant-order-id",
    "adjustment-id", "shipment-id", "marketplace-name", "amount-type", "amount-description",
    "amount", "fulfillment-id", "posted-date", "posted-date-time", "order-item-code",
    "merchant-order-item-id", "merchant-adjustment-item-id", "sku", "quantity-purchased",
    "promotion-id",
]  # fmt: skip
# Columns the malformed-row fault breaks: (a number column, a date column) per report type.
MALFORM_TARGETS: dict[str, tuple[str, str]] = {
    ORDERS: ("quantity", "purchase-date"),
    LEDGER: ("Quantity", "Date"),
    FEE_PREVIEW: ("estimated-fee-total", "your-price"),
    REIMBURSEMENTS: ("amount-total", "approval-date"),
    CUSTOMER_RETURNS: ("quantity", "return-date"),
    SETTLEMENTS: ("amount", "posted-date-time"),
}

FULFILLMENT_CENTERS = np.array(["PHX7", "ONT8", "BFI4", "MDW2", "CVG3", "TPA1", "SDF8", "LGB8"])
# (city, state, postal code, tax rate)
SHIP_TO = [
    ("SEATTLE", "WA", "98109", 0.1025), ("PORTLAND", "OR", "97205", 0.0),
    ("AUSTIN", "TX", "78701", 0.0825), ("BROOKLYN", "NY", "11201", 0.08875),
    ("CHICAGO", "IL", "60614", 0.1025), ("DENVER", "CO", "80202", 0.0881),
    ("MIAMI", "FL", "33101", 0.07), ("SAN JOSE", "CA", "95112", 0.09375),
    ("BOSTON", "MA", "02116", 0.0625), ("ATLANTA", "GA", "30303", 0.089),
    ("PHOENIX", "AZ", "85004", 0.086), ("COLUMBUS", "OH", "43215", 0.075),
]  # fmt: skip
RETURN_REASONS = np.array(
    ["UNWANTED_ITEM", "NOT_AS_DESCRIBED", "DEFECTIVE", "ORDERED_WRONG_ITEM", "NO_REASON_GIVEN",
     "DAMAGED_BY_CARRIER", "FOUND_BETTER_PRICE", "QUALITY_UNACCEPTABLE"]
)  # fmt: skip
RETURN_DISPOSITIONS = np.array(["SELLABLE", "CUSTOMER_DAMAGED", "DEFECTIVE", "CARRIER_DAMAGED"])
REIMBURSEMENT_REASONS = np.array(
    [
        "Lost_Warehouse",
        "Damaged_Warehouse",
        "CustomerReturn",
        "CustomerServiceIssue",
        "Lost_Inbound",
    ]
)
_LATIN_BRANDS = ["Küchenfreund", "Café Royal", "Nordlys", "Bäckerhaus", "Élan", "Søndergaard",
                 "Müller & Söhne", "Crème Atelier", "Året Runt", "Señor Verde"]  # fmt: skip
_LATIN_NOUNS = ["Water Bottle", "Yoga Mat", "Garlic Press", "Desk Lamp", "Dog Leash",
                "Phone Stand", "Travel Mug", "Plant Pot", "Bath Towel", "Puzzle Box",
                "Cutting Board", "Résumé Folder", "Piñata Set", "Fiancée Frame"]  # fmt: skip
_LATIN_ADJECTIVES = ["Deluxe", "Compact", "Premium", "Naïve Art", "Classic", "Jalapeño Red",
                     "Über Light", "Everyday"]  # fmt: skip
_JP_BRANDS = ["さくら工房", "富士ライフ", "青空堂", "山田製作所", "東京キッチン", "北海道ファーム"]
_JP_NOUNS = ["ステンレス水筒", "ヨガマット", "卓上ライト", "犬用リード", "スマホスタンド",
             "保温マグ", "植木鉢", "バスタオル", "パズル", "まな板"]  # fmt: skip
_JP_ADJECTIVES = ["軽量", "高級", "大容量", "コンパクト", "日本製", "限定版"]


def add_months(day: date, months: int) -> date:
    """The same day-of-month `months` later (negative: earlier), clamped to the month's end."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    for last in (31, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def ledger_history_start(today: date) -> date:
    """First day the inventory ledger still serves: 18 months before `today`."""
    return add_months(today, -LEDGER_HISTORY_MONTHS)


def fee_snapshot_date(day: date) -> date:
    """The fee preview snapshot in force on `day`: the last 72-hour refresh on or before it."""
    return date.fromordinal(day.toordinal() - day.toordinal() % FEE_REFRESH_DAYS)


def _money(cents: pl.Expr) -> pl.Expr:
    return cents.cast(pl.Decimal(18, 2)) / 100


def _money_text(cents: pl.Expr) -> pl.Expr:
    return _money(cents).cast(pl.String)


def _iso(ts: pl.Expr) -> pl.Expr:
    return ts.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _pick(values: list[str]) -> pl.Expr:
    """The value of each row's marketplace (its `market` index)."""
    return pl.lit(pl.Series(values, dtype=pl.String)).gather(pl.col("market"))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _timestamps(day: date, seconds: np.ndarray) -> pl.Series:
    base = int(_midnight(day).timestamp()) * 1_000_000
    micros = base + seconds.astype(np.int64) * 1_000_000
    return pl.Series(micros).cast(pl.Datetime("us", "UTC"))


def _alnum(rng: np.random.Generator, count: int, width: int) -> np.ndarray:
    letters = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    if count == 0:
        return np.array([], dtype=str)
    picks = np.ascontiguousarray(letters[rng.integers(0, len(letters), (count, width))])
    return picks.view(f"<U{width}").reshape(count)


class SellerHistory:
    """The seller-history truth of one marketplace; `SellerHistory.of(marketplace)` shares one."""

    _instances: weakref.WeakKeyDictionary[SyntheticMarketplace, SellerHistory] = (
        weakref.WeakKeyDictionary()
    )
    _instances_lock = threading.Lock()

    def __init__(self, marketplace: SyntheticMarketplace) -> None:
        self.marketplace = marketplace
        self.config = marketplace.config
        self.seed = marketplace.seed
        self._products: dict[str, pl.DataFrame] = {}
        self._cache: OrderedDict[tuple[str, str, int], tuple[pl.DataFrame, int]] = OrderedDict()
        self._cache_bytes = 0  # sum of the cached frames' estimated sizes
        self._lock = threading.RLock()

    @classmethod
    def of(cls, marketplace: SyntheticMarketplace) -> SellerHistory:
        """The one SellerHistory of a marketplace (created on first use)."""
        with cls._instances_lock:
            history = cls._instances.get(marketplace)
            if history is None:
                history = cls._instances[marketplace] = cls(marketplace)
            return history

    # -- account facts ----------------------------------------------------------------------

    def encoding(self, account: str) -> str:
        """The charset the account's documents are served in (utf-8 unless configured)."""
        return self.config.encoding_of(account)

    def home(self, account: str) -> Marketplace:
        """The account's home marketplace: its currency, name, country and formats."""
        return self.config.home_of(account)

    def markets(self, account: str) -> list[Marketplace]:
        """Every marketplace the account sells in, its home first."""
        home = self.home(account)
        return [home] + [MARKETPLACES[m] for m in self.config.marketplaces_of(account)[1:]]

    def products(self, account: str) -> pl.DataFrame:
        """Catalogue plus seller-history attributes: fnsku, title, brand, dimensions, fees."""
        with self._lock:
            table = self._products.get(account)
            if table is None:
                table = self._products[account] = self._build_products(account)
            return table

    def _build_products(self, account: str) -> pl.DataFrame:
        base = self.marketplace.products(account)
        n = base.height
        rng = _rng(self.seed, account, "seller-products")
        encoding = self.encoding(account).lower().replace("_", "-")
        if encoding in ("shift-jis", "sjis", "cp932", "windows-31j", "shift-jis-2004"):
            brands, nouns, adjectives, mark = _JP_BRANDS, _JP_NOUNS, _JP_ADJECTIVES, ""
            sep = " "
        else:
            brands, nouns, adjectives = _LATIN_BRANDS, _LATIN_NOUNS, _LATIN_ADJECTIVES
            mark = "®" if encoding in ("latin-1", "latin1", "iso-8859-1", "iso8859-1") else "™"
            sep = " "
        brand = np.array(brands)[rng.integers(0, len(brands), n)]
        noun = np.array(nouns)[rng.integers(0, len(nouns), n)]
        adjective = np.array(adjectives)[rng.integers(0, len(adjectives), n)]
        size = rng.integers(1, 40, n)
        titles = [
            f"{b}{mark}{sep}{a}{sep}{w}{sep}{s}"
            for b, a, w, s in zip(brand, adjective, noun, size, strict=False)
        ]
        fnsku = ["X00" + code for code in _alnum(rng, n, 7)]
        longest = np.round(rng.uniform(4.0, 30.0, n), 2)
        median = np.round(longest * rng.uniform(0.3, 0.9, n), 2)
        shortest = np.round(median * rng.uniform(0.2, 0.9, n), 2)
        weight = np.round(rng.lognormal(0.3, 0.8, n), 2)
        bulky = (longest > 18) | (weight > 20)
        small = (longest <= 15) & (median <= 12) & (shortest <= 0.75) & (weight <= 1)
        tier = np.where(
            bulky, "Large bulky", np.where(small, "Small standard-size", "Large standard-size")
        )
        pick_pack = np.where(bulky, 973, np.where(small, 306, 365)).astype(np.int64)
        weight_handling = np.where(
            small, 0, np.round(np.maximum(weight - 1.0, 0.0) * 40).astype(np.int64)
        ).astype(np.int64)
        fulfillment = pick_pack + weight_handling
        return base.select("account", "sku", "asin", "category", "base_price_cents").with_columns(
            pl.Series("fnsku", fnsku),
            pl.Series("title", titles),
            pl.Series("brand", brand),
            pl.Series("longest_side", longest),
            pl.Series("median_side", median),
            pl.Series("shortest_side", shortest),
            pl.Series("length_and_girth", np.round(longest + 2 * (median + shortest), 2)),
            pl.Series("weight", weight),
            pl.Series("size_tier", tier),
            pl.Series("pick_pack_cents", pick_pack),
            pl.Series("weight_handling_cents", weight_handling),
            pl.Series("fulfillment_cents", fulfillment),
            pl.Series("fc", FULFILLMENT_CENTERS[rng.integers(0, len(FULFILLMENT_CENTERS), n)]),
            pl.Series("receipt_phase", rng.integers(0, 14, n)),
        )

    # -- caching ----------------------------------------------------------------------------

    def _cached(
        self, kind: str, account: str, day: date, build: Callable[[], pl.DataFrame]
    ) -> pl.DataFrame:
        key = (kind, account, day.toordinal())
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._cache.move_to_end(key)
                return entry[0]
        frame = build()  # outside the lock; frames are deterministic, so a race only wastes work
        size = frame.estimated_size()
        with self._lock:
            previous = self._cache.pop(key, None)
            if previous is not None:
                self._cache_bytes -= previous[1]
            self._cache[key] = (frame, size)
            self._cache_bytes += size
            while len(self._cache) > 1 and (
                len(self._cache) > CACHE_ENTRIES or self._cache_bytes > CACHE_BYTES
            ):
                _, (_, evicted) = self._cache.popitem(last=False)
                self._cache_bytes -= evicted
        return frame

    def _sales(self, account: str, day: date) -> pl.DataFrame:
        """The marketplace's sales and traffic of the day, cached (several sources read it)."""
        return self._cached(
            "sales", account, day, lambda: self.marketplace.sales_and_traffic(account, day)
        )

    # -- orders -----------------------------------------------------------------------------

    def orders(self, account: str, day: date) -> pl.DataFrame:
        """One row per order item placed on `day` (cancelled items included), Amazon's fields."""
        return self._cached("orders", account, day, lambda: self._orders(account, day))

    def _orders(self, account: str, day: date) -> pl.DataFrame:
        if not self.marketplace.has_data(account, day):
            return self._orders_frame_empty()
        products = self.products(account)
        st = self._sales(account, day).join(
            products.select("sku", "fnsku", "title", "fulfillment_cents"), on="sku", how="left"
        )
        rng = _rng(self.seed, account, "orders", day.toordinal())
        items = st["total_order_items"].to_numpy().astype(np.int64)
        units = st["units_ordered"].to_numpy().astype(np.int64)
        b2b_items = st["total_order_items_b2b"].to_numpy().astype(np.int64)
        cancelled_per_sku = rng.binomial(items, 0.02)
        n_live = int(items.sum())
        # Split each SKU's units over its order items: every item 1..3 units, the sum exact.
        sku_live = np.repeat(np.arange(st.height), items)
        within = np.arange(n_live) - np.repeat(np.cumsum(items) - items, items)
        per = np.maximum(np.repeat(items, items), 1)
        extra = np.repeat(units - items, items)
        quantity = 1 + extra // per + (within < extra % per)
        business = within < np.repeat(b2b_items, items)
        sku_cancel = np.repeat(np.arange(st.height), cancelled_per_sku)
        sku_index = np.concatenate([sku_live, sku_cancel])
        cancelled = np.concatenate([np.zeros(n_live, bool), np.ones(len(sku_cancel), bool)])
        quantity = np.concatenate([quantity, np.ones(len(sku_cancel), np.int64)])
        business = np.concatenate([business, np.zeros(len(sku_cancel), bool)])
        total = len(sku_index)
        if total == 0:
            return self._orders_frame_empty()
        order = rng.permutation(total)
        sku_index, cancelled = sku_index[order], cancelled[order]
        quantity, business = quantity[order], business[order]
        seconds = np.sort(rng.integers(0, 86_400 - 7_200, total))
        # About 8% of items join the previous item's order (same buyer, same moment).
        joins = rng.random(total) < 0.08
        joins[0] = False
        joins &= ~cancelled & ~np.roll(cancelled, 1) & (business == np.roll(business, 1))
        order_index = np.cumsum(~joins) - 1
        first_of_order = np.flatnonzero(~joins)
        seconds = seconds[first_of_order][order_index]
        n_orders = len(first_of_order)
        ordinal = day.toordinal()
        prefix = 111 + rng.integers(0, 4, n_orders)
        middle = rng.integers(0, 10_000_000, n_orders)
        tail = (ordinal % 1000) * 10_000 + np.arange(n_orders)
        item_suffix = rng.integers(0, 1000, total)
        ship_to = rng.integers(0, len(SHIP_TO), n_orders)[order_index]
        tax_rate = np.array([s[3] for s in SHIP_TO])[ship_to]
        price = st["price_cents"].to_numpy()[sku_index]
        item_price = price * quantity
        item_tax = np.round(item_price * tax_rate).astype(np.int64)
        promo = (rng.random(total) < 0.04) & ~cancelled
        discount = np.where(promo, -np.round(item_price * 0.1).astype(np.int64), 0)
        updated = seconds + rng.integers(3_600, 3 * 86_400, total)
        shipped_after = rng.integers(
            600, 7_200, total
        )  # same day: purchases end 2 h before midnight
        expedited = rng.random(total) < 0.8
        fc = rng.integers(0, len(FULFILLMENT_CENTERS), total)
        orders = pl.DataFrame({"prefix": prefix, "middle": middle, "tail": tail}).select(
            pl.format(
                "{}-{}-{}",
                pl.col("prefix"),
                pl.col("middle").cast(pl.String).str.zfill(7),
                pl.col("tail").cast(pl.String).str.zfill(7),
            ).alias("amazon_order_id"),
            ("PO-" + (pl.col("middle") % 100_000).cast(pl.String)).alias("po"),
        )[order_index]
        places = pl.DataFrame(
            {
                "ship_city": [s[0] for s in SHIP_TO],
                "ship_state": [s[1] for s in SHIP_TO],
                "ship_postal_code": [s[2] for s in SHIP_TO],
            }
        )[ship_to]
        catalogue = st.select("sku", "asin", "fnsku", "title", "fulfillment_cents")[sku_index]
        # An account selling in several marketplaces gets each order from one of them in turn.
        markets = self.markets(account)
        market = order_index % len(markets)
        promotion = f"PLM-{_stable_key(account, 'promo') % 10**6}"
        frame = pl.concat(
            [
                orders,
                places,
                catalogue,
                pl.DataFrame(
                    {
                        "row": np.arange(total),
                        "item_suffix": item_suffix,
                        "purchase_seconds": seconds,
                        "updated_seconds": np.where(cancelled, seconds + 900, updated),
                        "ship_seconds": seconds + shipped_after,
                        "cancelled": cancelled,
                        "expedited": expedited,
                        "quantity": quantity,
                        "price_cents": price,
                        "item_price_cents": np.where(cancelled, 0, item_price),
                        "item_tax_cents": np.where(cancelled, 0, item_tax),
                        "item_promotion_discount_cents": discount,
                        "promo": promo,
                        "is_business_order": business,
                        "fc": fc,
                        "market": market,
                    }
                ),
            ],
            how="horizontal",
        )
        base = int(_midnight(day).timestamp())

        def at(column: str) -> pl.Expr:
            return ((pl.lit(base) + pl.col(column)) * 1_000_000).cast(pl.Datetime("us", "UTC"))

        status = pl.when(pl.col("cancelled")).then(pl.lit("Cancelled")).otherwise(pl.lit("Shipped"))
        cents_or_null = {
            name: pl.when(pl.col("cancelled")).then(None).otherwise(_money(pl.col(f"{name}_cents")))
            for name in ("item_price", "item_tax", "item_promotion_discount")
        }
        return frame.select(
            pl.lit(account).alias("account"),
            pl.lit(day).alias("order_date"),
            "amazon_order_id",
            pl.format(
                "{}{}{}",
                pl.lit(f"{ordinal % 100_000:05d}"),
                pl.col("row").cast(pl.String).str.zfill(6),
                pl.col("item_suffix").cast(pl.String).str.zfill(3),
            ).alias("order_item_id"),
            pl.lit(None, pl.String).alias("merchant_order_id"),
            at("purchase_seconds").alias("purchase_date"),
            at("updated_seconds").alias("last_updated_date"),
            at("ship_seconds").alias("ship_date"),
            status.alias("order_status"),
            pl.lit("Amazon").alias("fulfillment_channel"),
            _pick([m.name for m in markets]).alias("sales_channel"),
            pl.when(pl.col("expedited"))
            .then(pl.lit("Expedited"))
            .otherwise(pl.lit("Standard"))
            .alias("ship_service_level"),
            pl.col("title").alias("product_name"),
            "sku",
            "asin",
            "fnsku",
            status.alias("item_status"),
            "quantity",
            _pick([m.currency for m in markets]).alias("currency"),
            "price_cents",
            "item_price_cents",
            "item_tax_cents",
            "item_promotion_discount_cents",
            (pl.col("fulfillment_cents") * pl.col("quantity")).alias("fulfillment_fee_cents"),
            pl.lit(pl.Series(FULFILLMENT_CENTERS.tolist()))
            .gather(pl.col("fc"))
            .alias("fulfillment_center"),
            "ship_city",
            "ship_state",
            "ship_postal_code",
            _pick([m.country_code for m in markets]).alias("ship_country"),
            pl.when(pl.col("promo")).then(pl.lit(promotion)).alias("promotion_ids"),
            "is_business_order",
            pl.when(pl.col("is_business_order")).then(pl.col("po")).alias("purchase_order_number"),
            "cancelled",
            pl.when(pl.col("is_business_order"))
            .then(pl.lit("BusinessPrice"))
            .alias("price_designation"),
            cents_or_null["item_price"].alias("item_price"),
            cents_or_null["item_tax"].alias("item_tax"),
            cents_or_null["item_promotion_discount"].alias("item_promotion_discount"),
        )

    def _orders_frame_empty(self) -> pl.DataFrame:
        return pl.DataFrame(
            schema={
                "account": pl.String, "order_date": pl.Date, "amazon_order_id": pl.String,
                "order_item_id": pl.String, "merchant_order_id": pl.String,
                "purchase_date": pl.Datetime("us", "UTC"),
                "last_updated_date": pl.Datetime("us", "UTC"),
                "ship_date": pl.Datetime("us", "UTC"), "order_status": pl.String,
                "fulfillment_channel": pl.String, "sales_channel": pl.String,
                "ship_service_level": pl.String, "product_name": pl.String, "sku": pl.String,
                "asin": pl.String, "fnsku": pl.String, "item_status": pl.String,
                "quantity": pl.Int64, "currency": pl.String, "price_cents": pl.Int64,
                "item_price_cents": pl.Int64, "item_tax_cents": pl.Int64,
                "item_promotion_discount_cents": pl.Int64, "fulfillment_fee_cents": pl.Int64,
                "fulfillment_center": pl.String, "ship_city": pl.String, "ship_state": pl.String,
                "ship_postal_code": pl.String, "ship_country": pl.String,
                "promotion_ids": pl.String, "is_business_order": pl.Boolean,
                "purchase_order_number": pl.String, "cancelled": pl.Boolean,
                "price_designation": pl.String, "item_price": pl.Decimal(18, 2),
                "item_tax": pl.Decimal(18, 2), "item_promotion_discount": pl.Decimal(18, 2),
            }
        )  # fmt: skip

    def _live_items(self, account: str, day: date) -> pl.DataFrame:
        return self.orders(account, day).filter(~pl.col("cancelled"))

    # -- customer returns -------------------------------------------------------------------

    def _returned_items(self, account: str, day: date) -> pl.DataFrame:
        """Order items of RETURN_LAG_DAYS earlier that come back on `day`, with their money."""

        def build() -> pl.DataFrame:
            source = self._live_items(account, day - timedelta(days=RETURN_LAG_DAYS))
            if not self.marketplace.has_data(account, day):
                source = source.clear()
            rng = _rng(self.seed, account, "returns", day.toordinal())
            n = source.height
            chosen = rng.random(n) < 0.03
            seconds = rng.integers(0, 86_400, n)
            disposition = RETURN_DISPOSITIONS[rng.choice(4, n, p=[0.6, 0.2, 0.1, 0.1])]
            reason = RETURN_REASONS[rng.integers(0, len(RETURN_REASONS), n)]
            lpn = np.char.add("LPN", _alnum(rng, n, 9).astype(str)) if n else np.array([], str)
            comments = np.where(rng.random(n) < 0.1, "Did not fit as expected", None).tolist()
            frame = source.with_columns(
                pl.Series("return_date", _timestamps(day, seconds)),
                pl.Series("detailed_disposition", disposition, dtype=pl.String),
                pl.Series("reason", reason, dtype=pl.String),
                pl.Series("license_plate_number", lpn, dtype=pl.String),
                pl.Series("customer_comments", comments, dtype=pl.String),
                pl.Series("chosen", chosen, dtype=pl.Boolean),
            )
            return (
                frame.filter(pl.col("chosen"))
                .drop("chosen")
                .with_columns(
                    pl.when(pl.col("detailed_disposition") == "SELLABLE")
                    .then(pl.lit("Unit returned to inventory"))
                    .otherwise(pl.lit("Reimbursed"))
                    .alias("status")
                )
                .sort("return_date", "order_item_id")
            )

        return self._cached("returned", account, day, build)

    def returns(self, account: str, day: date) -> pl.DataFrame:
        """One row per customer return received on `day` (GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA)."""
        return self._returned_items(account, day).select(
            pl.lit(account).alias("account"),
            "return_date",
            pl.col("amazon_order_id").alias("order_id"),
            "sku",
            "asin",
            "fnsku",
            "product_name",
            "quantity",
            pl.col("fulfillment_center").alias("fulfillment_center_id"),
            "detailed_disposition",
            "reason",
            "status",
            "license_plate_number",
            "customer_comments",
        )

    # -- reimbursements ---------------------------------------------------------------------

    def reimbursements(self, account: str, day: date) -> pl.DataFrame:
        """One row per reimbursement approved on `day` (GET_FBA_REIMBURSEMENTS_DATA)."""
        return self._cached("reimb", account, day, lambda: self._reimbursements(account, day))

    def _reimbursements(self, account: str, day: date) -> pl.DataFrame:
        products = self.products(account)
        listed = (
            self._sales(account, day).select("sku")
            if self.marketplace.has_data(account, day)
            else products.select("sku").clear()
        )
        table = products.join(listed, on="sku", how="semi")
        rng = _rng(self.seed, account, "reimbursements", day.toordinal())
        n = table.height
        chosen = rng.random(n) < 0.004
        quantity = rng.integers(1, 4, n)
        cash = rng.random(n) < 0.85
        reason = REIMBURSEMENT_REASONS[rng.integers(0, len(REIMBURSEMENT_REASONS), n)]
        seconds = rng.integers(0, 86_400, n)
        case = rng.integers(10**9, 10**10, n)
        order_middle = rng.integers(0, 10**7, n)
        order_tail = rng.integers(0, 10**7, n)
        per_unit = np.round(table["base_price_cents"].to_numpy() * 0.8).astype(np.int64)
        ordinal = day.toordinal()
        ids = np.array([f"{ordinal % 100_000:05d}{i:05d}" for i in range(n)], dtype=object)
        needs_order = np.isin(reason, ["CustomerReturn", "CustomerServiceIssue"])
        frame = table.select(
            pl.lit(account).alias("account"),
            pl.Series("approval_date", _timestamps(day, seconds)),
            pl.Series("reimbursement_id", ids.tolist(), dtype=pl.String),
            pl.Series(
                "case_id", np.where(needs_order, None, case.astype(str)).tolist(), dtype=pl.String
            ),
            pl.Series(
                "amazon_order_id",
                np.where(
                    needs_order,
                    [
                        f"112-{m:07d}-{t:07d}"
                        for m, t in zip(order_middle, order_tail, strict=False)
                    ],
                    None,
                ).tolist(),
                dtype=pl.String,
            ),
            pl.Series("reason", reason, dtype=pl.String),
            "sku",
            "fnsku",
            "asin",
            pl.col("title").alias("product_name"),
            pl.lit("New").alias("condition"),
            pl.lit(self.home(account).currency).alias("currency_unit"),
            pl.Series("amount_per_unit_cents", per_unit),
            pl.Series("amount_total_cents", np.where(cash, per_unit * quantity, 0)),
            pl.Series("quantity_reimbursed_cash", np.where(cash, quantity, 0)),
            pl.Series("quantity_reimbursed_inventory", np.where(cash, 0, quantity)),
            pl.Series("quantity_reimbursed_total", quantity),
            pl.lit(None, pl.String).alias("original_reimbursement_id"),
            pl.lit(None, pl.String).alias("original_reimbursement_type"),
            pl.Series("chosen", chosen),
        )
        return (
            frame.filter(pl.col("chosen"))
            .drop("chosen")
            .with_columns(
                _money(pl.col("amount_per_unit_cents")).alias("amount_per_unit"),
                _money(pl.col("amount_total_cents")).alias("amount_total"),
            )
            .sort("approval_date", "reimbursement_id")
        )

    # -- inventory ledger -------------------------------------------------------------------

    def ledger(self, account: str, day: date) -> pl.DataFrame:
        """One row per inventory event on `day` (GET_LEDGER_DETAIL_VIEW_DATA); shipments negative."""
        return self._cached("ledger", account, day, lambda: self._ledger(account, day))

    def _ledger(self, account: str, day: date) -> pl.DataFrame:
        country = self.home(account).country_code
        shipments = self._live_items(account, day).select(
            pl.col("ship_date").alias("date_and_time"),
            "fnsku",
            "asin",
            "sku",
            pl.col("product_name").alias("title"),
            pl.lit("Shipments").alias("event_type"),
            ("D" + pl.col("order_item_id").str.slice(2, 10)).alias("reference_id"),
            (-pl.col("quantity")).alias("quantity"),
            "fulfillment_center",
            pl.lit("SELLABLE").alias("disposition"),
            pl.lit(None, pl.String).alias("reason"),
            pl.lit(None, pl.Int64).alias("reconciled_quantity"),
            pl.lit(None, pl.Int64).alias("unreconciled_quantity"),
        )
        returns = self._returned_items(account, day).select(
            pl.col("return_date").alias("date_and_time"),
            "fnsku",
            "asin",
            "sku",
            pl.col("product_name").alias("title"),
            pl.lit("CustomerReturns").alias("event_type"),
            pl.col("amazon_order_id").alias("reference_id"),
            "quantity",
            "fulfillment_center",
            pl.col("detailed_disposition").alias("disposition"),
            pl.lit(None, pl.String).alias("reason"),
            pl.lit(None, pl.Int64).alias("reconciled_quantity"),
            pl.lit(None, pl.Int64).alias("unreconciled_quantity"),
        )
        frames = [shipments, returns]
        if self.marketplace.has_data(account, day):
            frames.append(self._ledger_other(account, day))
        return (
            pl.concat(frames, how="vertical_relaxed")
            .with_columns(
                pl.lit(account).alias("account"),
                pl.col("date_and_time").dt.date().alias("date"),
                pl.lit(country).alias("country"),
            )
            .select(
                "account",
                "date",
                "fnsku",
                "asin",
                "sku",
                "title",
                "event_type",
                "reference_id",
                "quantity",
                "fulfillment_center",
                "disposition",
                "reason",
                "country",
                "reconciled_quantity",
                "unreconciled_quantity",
                "date_and_time",
            )  # fmt: skip
            .sort("date_and_time", "event_type", "reference_id", "sku")
        )

    def _ledger_other(self, account: str, day: date) -> pl.DataFrame:
        """Receipts, adjustments, warehouse transfers and vendor returns of `day`."""
        products = self.products(account)
        listed = self._sales(account, day).select("sku", "units_ordered")
        table = products.join(listed, on="sku", how="inner")
        rng = _rng(self.seed, account, "ledger", day.toordinal())
        n = table.height
        ordinal = day.toordinal()
        units = table["units_ordered"].to_numpy()
        receipt = (ordinal + table["receipt_phase"].to_numpy()) % 14 == 0
        receipt_qty = rng.poisson(14 * np.maximum(units, 1) + 5)
        adjust = rng.random(n) < 0.01
        adjust_reason = np.array(["E", "M", "F"])[rng.integers(0, 3, n)]
        adjust_qty = rng.integers(1, 3, n) * np.where(adjust_reason == "F", 1, -1)
        transfer = rng.random(n) < 0.01
        transfer_qty = rng.integers(1, 20, n)
        vendor = rng.random(n) < 0.002
        vendor_qty = rng.integers(1, 5, n)
        seconds = rng.integers(0, 86_400, (4, n))
        fc = table["fc"].to_numpy()
        other_fc = FULFILLMENT_CENTERS[rng.integers(0, len(FULFILLMENT_CENTERS), n)]
        refs = _alnum(rng, 4 * n, 9).reshape(4, n) if n else np.empty((4, 0), dtype=str)

        def rows(mask, event, qty, fcs, secs, ref, disposition, reason, reconciled):
            picked = table.filter(pl.Series(mask))
            count = picked.height
            return picked.select(
                pl.Series("date_and_time", _timestamps(day, secs[mask])),
                "fnsku",
                "asin",
                "sku",
                pl.col("title"),
                pl.lit(event).alias("event_type"),
                pl.Series("reference_id", ref[mask], dtype=pl.String),
                pl.Series("quantity", qty[mask].astype(np.int64)),
                pl.Series("fulfillment_center", fcs[mask], dtype=pl.String),
                pl.lit(disposition).alias("disposition"),
                pl.Series("reason", reason[mask] if reason is not None else [None] * count,
                          dtype=pl.String),
                pl.Series("reconciled_quantity", reconciled[mask] if reconciled is not None
                          else [None] * count, dtype=pl.Int64),
                pl.Series("unreconciled_quantity", np.zeros(count, np.int64)
                          if reconciled is not None else [None] * count, dtype=pl.Int64),
            )  # fmt: skip

        prefixed = [np.char.add(p, refs[i]) for i, p in enumerate(["FBA", "ADJ", "TRF", "RMV"])]
        return pl.concat(
            [
                rows(receipt, "Receipts", receipt_qty, fc, seconds[0], prefixed[0],
                     "SELLABLE", None, None),
                rows(adjust, "Adjustments", adjust_qty, fc, seconds[1], prefixed[1],
                     "SELLABLE", adjust_reason, np.abs(adjust_qty)),
                rows(transfer, "WhseTransfers", -transfer_qty, fc, seconds[2], prefixed[2],
                     "SELLABLE", None, None),
                rows(transfer, "WhseTransfers", transfer_qty, other_fc, seconds[2] + 1,
                     prefixed[2], "SELLABLE", None, None),
                rows(vendor, "VendorReturns", -vendor_qty, fc, seconds[3], prefixed[3],
                     "SELLABLE", None, None),
            ],
            how="vertical_relaxed",
        )  # fmt: skip

    # -- fee preview ------------------------------------------------------------------------

    def fee_preview(self, account: str, snapshot_date: date) -> pl.DataFrame:
        """One row per listed SKU of the snapshot (GET_FBA_ESTIMATED_FBA_FEES_TXT_DATA)."""
        snapshot = fee_snapshot_date(snapshot_date)
        products = self.products(account)
        if self.marketplace.has_data(account, snapshot):
            prices = self._sales(account, snapshot).select("sku", "price_cents")
        else:
            prices = pl.DataFrame(schema={"sku": pl.String, "price_cents": pl.Int64})
        table = products.join(prices, on="sku", how="inner")
        referral = (pl.col("price_cents") * REFERRAL_RATE).round().cast(pl.Int64)
        return (
            table.with_columns(referral.clip(30).alias("referral_cents"))
            .with_columns(
                (pl.col("referral_cents") + pl.col("fulfillment_cents")).alias("fee_total_cents")
            )
            .select(
                pl.lit(account).alias("account"),
                pl.lit(snapshot).alias("snapshot_date"),
                "sku",
                "fnsku",
                "asin",
                pl.lit(self.home(account).country_code).alias("amazon_store"),
                pl.col("title").alias("product_name"),
                pl.col("category").alias("product_group"),
                "brand",
                pl.lit("Amazon").alias("fulfilled_by"),
                _money(pl.col("base_price_cents")).alias("your_price"),
                _money(pl.col("price_cents")).alias("sales_price"),
                "longest_side",
                "median_side",
                "shortest_side",
                "length_and_girth",
                pl.lit("inches").alias("unit_of_dimension"),
                pl.col("weight").alias("item_package_weight"),
                pl.lit("pounds").alias("unit_of_weight"),
                pl.col("size_tier").alias("product_size_tier"),
                pl.lit(self.home(account).currency).alias("currency"),
                _money(pl.col("fee_total_cents")).alias("estimated_fee_total"),
                _money(pl.col("referral_cents")).alias("estimated_referral_fee_per_unit"),
                _money(pl.lit(0)).alias("estimated_variable_closing_fee"),
                _money(pl.lit(0)).alias("estimated_order_handling_fee_per_order"),
                _money(pl.col("pick_pack_cents")).alias("estimated_pick_pack_fee_per_unit"),
                _money(pl.col("weight_handling_cents")).alias(
                    "estimated_weight_handling_fee_per_unit"
                ),
                _money(pl.col("fulfillment_cents")).alias("expected_fulfillment_fee_per_unit"),
            )
            .sort("sku")
        )

    # -- financial events -------------------------------------------------------------------

    def financial_events(self, account: str, day: date) -> pl.DataFrame:
        """One row per event item component posted on `day` (Finances API v0 financial events)."""
        return self._cached("finances", account, day, lambda: self._financial_events(account, day))

    def _financial_events(self, account: str, day: date) -> pl.DataFrame:
        items = self._live_items(account, day)
        rng = _rng(self.seed, account, "finances", day.toordinal())
        # A shipment event is posted once per order, a few minutes to hours after the purchase.
        orders = items.group_by("amazon_order_id", maintain_order=True).agg(
            pl.col("purchase_date").first()
        )
        delay = rng.integers(60, 7_200, orders.height)
        orders = orders.with_columns(
            (pl.col("purchase_date") + pl.Series(delay * 1_000_000).cast(pl.Duration("us"))).alias(
                "posted_date"
            )
        ).drop("purchase_date")
        shipped = items.join(orders, on="amazon_order_id", how="left")
        commission = (pl.col("item_price_cents") * REFERRAL_RATE).round().cast(pl.Int64)
        shipment_base = shipped.with_columns(
            pl.lit("Shipment").alias("event_type"),
            pl.col("amazon_order_id").alias("event_id"),
            commission.alias("commission_cents"),
            pl.lit(None, pl.String).alias("adjustment_id"),
            ("D" + pl.col("order_item_id").str.slice(2, 10)).alias("shipment_id"),
        )
        components = [
            ("Charge", "Principal", pl.col("item_price_cents"), None),
            ("Charge", "Tax", pl.col("item_tax_cents"), None),
            ("Fee", "Commission", -pl.col("commission_cents"), None),
            ("Fee", "FBAPerUnitFulfillmentFee", -pl.col("fulfillment_fee_cents"), None),
            (
                "Promotion",
                "PromotionMetaDataDefinitionValue",
                pl.col("item_promotion_discount_cents"),
                pl.col("item_promotion_discount_cents") != 0,
            ),
        ]
        frames = [_components(shipment_base, components)]

        returned = self._returned_items(account, day)
        refund_base = returned.with_columns(
            pl.lit("Refund").alias("event_type"),
            (pl.col("amazon_order_id") + "/" + pl.col("order_item_id")).alias("event_id"),
            pl.col("return_date").alias("posted_date"),
            commission.alias("commission_cents"),
            ("amzn1.adj." + pl.col("order_item_id")).alias("adjustment_id"),
            pl.lit(None, pl.String).alias("shipment_id"),
        )
        refund_components = [
            ("ChargeAdjustment", "Principal", -pl.col("item_price_cents"), None),
            ("ChargeAdjustment", "Tax", -pl.col("item_tax_cents"), None),
            ("FeeAdjustment", "Commission", pl.col("commission_cents"), None),
            (
                "FeeAdjustment",
                "RefundCommission",
                -(pl.col("commission_cents") * 0.2).round().cast(pl.Int64),
                None,
            ),
        ]
        frames.append(_components(refund_base, refund_components))

        reimbursed = self.reimbursements(account, day).filter(pl.col("amount_total_cents") > 0)
        adjustment_base = reimbursed.select(
            pl.lit("Adjustment").alias("event_type"),
            ("REIMB-" + pl.col("reimbursement_id")).alias("event_id"),
            pl.col("approval_date").alias("posted_date"),
            pl.col("amazon_order_id"),
            pl.lit(None, pl.String).alias("order_item_id"),
            pl.col("reimbursement_id").alias("adjustment_id"),
            pl.lit(None, pl.String).alias("shipment_id"),
            "sku",
            "fnsku",
            "asin",
            "product_name",
            pl.col("quantity_reimbursed_cash").alias("quantity"),
            "amount_per_unit_cents",
            "amount_total_cents",
            pl.lit(None, pl.String).alias("promotion_ids"),
        )
        frames.append(
            _components(
                adjustment_base,
                [("Adjustment", "FBAInventoryReimbursement", pl.col("amount_total_cents"), None)],
            )
        )
        if day.day == 1 and self.marketplace.has_data(account, day):
            fee = pl.DataFrame(
                {
                    "event_type": ["ServiceFee"],
                    "event_id": [f"FEE-{account}-{day.isoformat()}"],
                    "posted_date": _timestamps(day, np.array([3_600])),
                }
            )
            frames.append(
                _components(fee, [("Fee", "Subscription", pl.lit(-SUBSCRIPTION_CENTS), None)])
            )
        frames.extend(self._other_events(account, day))
        events = pl.concat(frames, how="diagonal_relaxed")
        return (
            events.with_columns(
                pl.lit(account).alias("account"),
                # An order's events are in its marketplace; the account's own in its home.
                pl.coalesce("sales_channel", pl.lit(self.home(account).name)).alias(
                    "marketplace_name"
                ),
                pl.coalesce("currency", pl.lit(self.home(account).currency)).alias("currency"),
                _money(pl.col("amount_cents")).alias("amount"),
            )
            .select(
                "account",
                "posted_date",
                "event_type",
                "event_id",
                "amazon_order_id",
                "order_item_id",
                "adjustment_id",
                "shipment_id",
                "marketplace_name",
                "sku",
                "fnsku",
                "asin",
                "product_name",
                "quantity",
                "component",
                "component_type",
                "promotion_id",
                "amount_cents",
                "amount",
                "currency",
                "per_unit_cents",
            )  # fmt: skip
            .sort("posted_date", "event_id", "order_item_id", "component", "component_type")
        )

    def _other_events(self, account: str, day: date) -> list[pl.DataFrame]:
        """Amazon's other event types, a few a month, so that every history holds them:
        (event type, its amounts as (component, component type, cents)) on fixed days."""
        if not self.marketplace.has_data(account, day):
            return []
        key = _stable_key(self.seed, account, "other-events", day.toordinal())
        cents = 500 + key % 20_000
        order_id = f"114-{key % 10**7:07d}-{day.toordinal() % 10**7:07d}"
        plan: list[tuple[str, list[tuple[str, str, int]], str | None]] = []
        if day.day == 2:  # the month's Sponsored Products invoice
            plan.append(
                (
                    "ProductAdsPayment",
                    [("Amount", "baseValue", -cents), ("Tax", "taxValue", -(cents // 10))],
                    None,
                )
            )
        if day.weekday() == 0:  # the week's coupon redemptions
            plan.append(
                ("CouponPayment", [("Fee", "CouponRedemptionFee", -60 * (1 + key % 5))], None)
            )
        if day.day == 10:
            plan.append(
                (
                    "SellerDealPayment",
                    [("Fee", "feeAmount", -cents), ("Tax", "taxAmount", -(cents // 5))],
                    None,
                )
            )
        if day.day == 17:
            plan.append(("Chargeback", [("ChargeAdjustment", "Principal", -cents)], order_id))
        if day.day == 20:
            plan.append(
                (
                    "RemovalShipment",
                    [("Amount", "Revenue", cents // 3), ("Fee", "FeeAmount", -(50 + key % 300))],
                    None,
                )
            )
        if day.day == 25:
            plan.append(
                (
                    "Retrocharge",
                    [("Tax", "BaseTax", -(cents // 20)), ("Tax", "ShippingTax", -(cents // 50))],
                    order_id,
                )
            )
        frames = []
        for number, (event_type, amounts, order) in enumerate(plan):
            base = pl.DataFrame(
                {
                    "event_type": [event_type],
                    "event_id": [f"{event_type}-{account}-{day.isoformat()}"],
                    "posted_date": _timestamps(day, np.array([18_000 + 60 * number])),
                    "amazon_order_id": [order],
                },
                schema_overrides={"amazon_order_id": pl.String},
            )
            frames.append(
                _components(
                    base, [(kind, name, pl.lit(amount), None) for kind, name, amount in amounts]
                )
            )
        return frames  # fmt: skip

    # -- settlements ------------------------------------------------------------------------

    def settlement_periods(self, account: str) -> list[tuple[str, date, date]]:
        """(settlement_id, first day, last day) of every closed 14-day settlement, oldest first."""
        days = self.config.settlement_days
        first = self.marketplace.first_day(account)
        last = self.marketplace.last_day(account)
        start = first + timedelta(days=_stable_key(self.seed, account, "settlement") % days)
        periods = []
        index = 0
        while start + timedelta(days=days - 1) <= last:
            end = start + timedelta(days=days - 1)
            settlement_id = str(
                10**10 + _stable_key(self.seed, account, "settlement-id", index) % (9 * 10**10)
            )
            periods.append((settlement_id, start, end))
            start = end + timedelta(days=1)
            index += 1
        return periods

    def settlement_rows(self, account: str, start: date, end: date) -> pl.DataFrame:
        """The transaction rows of the settlement covering [start, end] (financial events)."""
        frames = [
            self.financial_events(account, start + timedelta(days=offset))
            for offset in range((end - start).days + 1)
        ]
        return pl.concat(frames, how="vertical_relaxed")

    def settlements(self, account: str) -> list[tuple[str, date, date, pl.DataFrame]]:
        """Every closed settlement of the account with its rows (financial events of the period)."""
        return [
            (settlement_id, start, end, self.settlement_rows(account, start, end))
            for settlement_id, start, end in self.settlement_periods(account)
        ]

    def settlement_for(self, account: str, start: date, end: date) -> str | None:
        """The settlement id of the period [start, end], if it is one."""
        for settlement_id, first, last in self.settlement_periods(account):
            if (first, last) == (start, end):
                return settlement_id
        return None

    # -- documents --------------------------------------------------------------------------

    def _days(self, account: str, start: date, end: date) -> list[date]:
        first = max(start, self.marketplace.first_day(account))
        last = min(end, self.marketplace.last_day(account))
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def _encode(self, account: str, frame: pl.DataFrame, quoted: bool = False) -> bytes:
        text = frame.write_csv(
            separator="\t", quote_style="always" if quoted else "never", null_value=""
        )
        return text.encode(self.encoding(account))

    def orders_document(self, account: str, start: date, end: date) -> bytes | None:
        """GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL for [start, end], or None."""
        days = self._days(account, start, end)
        if not days:
            return None
        orders = pl.concat([self.orders(account, day) for day in days], how="vertical_relaxed")
        empty = pl.lit(None, pl.String)
        zero = pl.when(pl.col("cancelled")).then(None).otherwise(pl.lit("0.00"))
        document = orders.select(
            pl.col("amazon_order_id").alias("amazon-order-id"),
            pl.col("merchant_order_id").alias("merchant-order-id"),
            _iso(pl.col("purchase_date")).alias("purchase-date"),
            _iso(pl.col("last_updated_date")).alias("last-updated-date"),
            pl.col("order_status").alias("order-status"),
            pl.col("fulfillment_channel").alias("fulfillment-channel"),
            pl.col("sales_channel").alias("sales-channel"),
            empty.alias("order-channel"),
            empty.alias("url"),
            pl.col("ship_service_level").alias("ship-service-level"),
            pl.col("product_name").alias("product-name"),
            "sku",
            "asin",
            pl.col("item_status").alias("item-status"),
            pl.col("quantity").cast(pl.String),
            "currency",
            pl.col("item_price").cast(pl.String).alias("item-price"),
            pl.col("item_tax").cast(pl.String).alias("item-tax"),
            zero.alias("shipping-price"),
            zero.alias("shipping-tax"),
            zero.alias("gift-wrap-price"),
            zero.alias("gift-wrap-tax"),
            pl.col("item_promotion_discount").cast(pl.String).alias("item-promotion-discount"),
            zero.alias("ship-promotion-discount"),
            pl.col("ship_city").alias("ship-city"),
            pl.col("ship_state").alias("ship-state"),
            pl.col("ship_postal_code").alias("ship-postal-code"),
            pl.col("ship_country").alias("ship-country"),
            pl.col("promotion_ids").alias("promotion-ids"),
            pl.when(pl.col("is_business_order"))
            .then(pl.lit("true"))
            .otherwise(pl.lit("false"))
            .alias("is-business-order"),
            pl.col("purchase_order_number").alias("purchase-order-number"),
            pl.col("price_designation").alias("price-designation"),
        )
        return self._encode(account, document)

    def ledger_document(self, account: str, start: date, end: date) -> bytes | None:
        """GET_LEDGER_DETAIL_VIEW_DATA for [start, end] (18 months of history), or None."""
        first = ledger_history_start(self.marketplace.today)
        if end < first:
            return None
        days = self._days(account, max(start, first), end)
        if not days:
            return None
        ledger = pl.concat([self.ledger(account, day) for day in days], how="vertical_relaxed")
        document = ledger.select(
            pl.col("date").dt.strftime("%m/%d/%Y").alias("Date"),
            pl.col("fnsku").alias("FNSKU"),
            pl.col("asin").alias("ASIN"),
            pl.col("sku").alias("MSKU"),
            pl.col("title").alias("Title"),
            pl.col("event_type").alias("Event Type"),
            pl.col("reference_id").alias("Reference ID"),
            pl.col("quantity").alias("Quantity"),
            pl.col("fulfillment_center").alias("Fulfillment Center"),
            pl.col("disposition").alias("Disposition"),
            pl.col("reason").alias("Reason"),
            pl.col("country").alias("Country"),
            pl.col("reconciled_quantity").alias("Reconciled Quantity"),
            pl.col("unreconciled_quantity").alias("Unreconciled Quantity"),
            # Local time with its offset, as Amazon writes it (2026-07-06T00:00:00-0700).
            pl.col("date_and_time")
            .dt.convert_time_zone(self.home(account).time_zone)
            .dt.strftime("%Y-%m-%dT%H:%M:%S%z")
            .alias("Date and Time"),
            pl.lit(f"{account} store").alias("Store"),
        )
        # The ledger is the one report whose every field Amazon double-quotes.
        return self._encode(account, document, quoted=True)

    def fee_preview_document(self, account: str, start: date, end: date) -> bytes | None:
        """GET_FBA_ESTIMATED_FBA_FEES_TXT_DATA: the snapshot in force on min(end, last day)."""
        day = min(end, self.marketplace.last_day(account))
        if day < self.marketplace.first_day(account):
            return None
        fees = self.fee_preview(account, day)
        if fees.is_empty():
            return None
        document = fees.drop("account", "snapshot_date").with_columns(
            pl.col(pl.Decimal).cast(pl.String)
        )
        document.columns = FEE_PREVIEW_COLUMNS
        return self._encode(account, document)

    def reimbursements_document(self, account: str, start: date, end: date) -> bytes | None:
        """GET_FBA_REIMBURSEMENTS_DATA for [start, end], or None."""
        days = self._days(account, start, end)
        if not days:
            return None
        rows = pl.concat([self.reimbursements(account, d) for d in days], how="vertical_relaxed")
        document = rows.select(
            _iso(pl.col("approval_date")).alias("approval-date"),
            pl.col("reimbursement_id").alias("reimbursement-id"),
            pl.col("case_id").alias("case-id"),
            pl.col("amazon_order_id").alias("amazon-order-id"),
            "reason",
            "sku",
            "fnsku",
            "asin",
            pl.col("product_name").alias("product-name"),
            "condition",
            pl.col("currency_unit").alias("currency-unit"),
            pl.col("amount_per_unit").cast(pl.String).alias("amount-per-unit"),
            pl.col("amount_total").cast(pl.String).alias("amount-total"),
            pl.col("quantity_reimbursed_cash").alias("quantity-reimbursed-cash"),
            pl.col("quantity_reimbursed_inventory").alias("quantity-reimbursed-inventory"),
            pl.col("quantity_reimbursed_total").alias("quantity-reimbursed-total"),
            pl.col("original_reimbursement_id").alias("original-reimbursement-id"),
            pl.col("original_reimbursement_type").alias("original-reimbursement-type"),
        )
        return self._encode(account, document)

    def returns_document(self, account: str, start: date, end: date) -> bytes | None:
        """GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA for [start, end], or None."""
        days = self._days(account, start, end)
        if not days:
            return None
        rows = pl.concat([self.returns(account, d) for d in days], how="vertical_relaxed")
        document = rows.select(
            _iso(pl.col("return_date")).alias("return-date"),
            pl.col("order_id").alias("order-id"),
            "sku",
            "asin",
            "fnsku",
            pl.col("product_name").alias("product-name"),
            "quantity",
            pl.col("fulfillment_center_id").alias("fulfillment-center-id"),
            pl.col("detailed_disposition").alias("detailed-disposition"),
            "reason",
            "status",
            pl.col("license_plate_number").alias("license-plate-number"),
            pl.col("customer_comments").alias("customer-comments"),
        )
        return self._encode(account, document)

    def settlement_document(self, account: str, start: date, end: date) -> bytes | None:
        """GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2 of the settlement [start, end], or None."""
        settlement_id = self.settlement_for(account, start, end)
        if settlement_id is None:
            return None
        rows = self.settlement_rows(account, start, end)
        total = int(rows["amount_cents"].sum() or 0)
        period_end = _midnight(end + timedelta(days=1))
        deposit = period_end + timedelta(days=2)
        home = self.home(account)
        # Amazon's V2 file: posted-date MM/DD/YY; in EU marketplaces DD.MM.YYYY dates and
        # decimal commas (with dots grouping thousands in totals).
        comma = home.decimal_comma
        moment_format = "%d.%m.%Y %H:%M:%S UTC" if comma else "%Y-%m-%d %H:%M:%S UTC"
        day_format = "%d.%m.%Y" if comma else "%m/%d/%y"

        def when(moment: datetime) -> str:
            return moment.strftime(moment_format)

        grouped = f"{abs(total) / 100:.2f}"
        if comma:
            grouped = (
                f"{abs(total) / 100:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
            )

        summary = {column: None for column in SETTLEMENT_COLUMNS} | {
            "settlement-id": settlement_id,
            "settlement-start-date": when(_midnight(start)),
            "settlement-end-date": when(period_end),
            "deposit-date": when(deposit),
            "total-amount": grouped if total >= 0 else f"-{grouped}",
            "currency": home.currency,
        }
        transaction_type = (
            pl.when(pl.col("event_type") == "Shipment")
            .then(pl.lit("Order"))
            .when(pl.col("event_type") == "Refund")
            .then(pl.lit("Refund"))
            .when(pl.col("event_type") == "ServiceFee")
            .then(pl.lit("ServiceFee"))
            .otherwise(pl.lit("other-transaction"))
        )
        amount_type = (
            pl.when(pl.col("component").is_in(["Charge", "ChargeAdjustment"]))
            .then(pl.lit("ItemPrice"))
            .when(pl.col("component").is_in(["Fee", "FeeAdjustment"]) & (
                pl.col("event_type") != "ServiceFee"))
            .then(pl.lit("ItemFees"))
            .when(pl.col("component") == "Promotion")
            .then(pl.lit("Promotion"))
            .when(pl.col("event_type") == "Adjustment")
            .then(pl.lit("FBA Inventory Reimbursement"))
            .otherwise(pl.lit("other-transaction"))
        )  # fmt: skip
        description = (
            pl.when(pl.col("component") == "Promotion")
            .then(pl.lit("Principal"))
            .when(pl.col("event_type") == "ServiceFee")
            .then(pl.lit("Subscription Fee"))
            .when(pl.col("event_type") == "Adjustment")
            .then(pl.lit("REVERSAL_REIMBURSEMENT"))
            .otherwise(pl.col("component_type"))
        )
        body = rows.select(
            pl.lit(settlement_id).alias("settlement-id"),
            *[pl.lit(None, pl.String).alias(c) for c in SETTLEMENT_COLUMNS[1:6]],
            transaction_type.alias("transaction-type"),
            pl.col("amazon_order_id").alias("order-id"),
            pl.lit(None, pl.String).alias("merchant-order-id"),
            pl.col("adjustment_id").alias("adjustment-id"),
            pl.col("shipment_id").alias("shipment-id"),
            pl.col("marketplace_name").alias("marketplace-name"),
            amount_type.alias("amount-type"),
            description.alias("amount-description"),
            pl.col("amount")
            .cast(pl.String)
            .str.replace(".", "," if comma else ".", literal=True)
            .alias("amount"),
            pl.when(pl.col("sku").is_not_null())
            .then(pl.lit("AFN"))
            .otherwise(None)
            .alias("fulfillment-id"),
            pl.col("posted_date").dt.strftime(day_format).alias("posted-date"),
            pl.col("posted_date").dt.strftime(moment_format).alias("posted-date-time"),
            pl.col("order_item_id").alias("order-item-code"),
            pl.lit(None, pl.String).alias("merchant-order-item-id"),
            pl.lit(None, pl.String).alias("merchant-adjustment-item-id"),
            "sku",
            pl.col("quantity").cast(pl.String).alias("quantity-purchased"),
            pl.col("promotion_id").alias("promotion-id"),
        )
        head = pl.DataFrame([summary], schema=dict.fromkeys(SETTLEMENT_COLUMNS, pl.String))
        document = pl.concat([head, body.cast(pl.String)], how="vertical")
        return self._encode(account, document)


def _components(
    base: pl.DataFrame, components: list[tuple[str, str, pl.Expr, pl.Expr | None]]
) -> pl.DataFrame:
    """Explode event items into one row per (component, component type) with amount_cents."""
    frames = []
    for component, component_type, amount, keep in components:
        frame = base.with_columns(
            pl.lit(component).alias("component"),
            pl.lit(component_type).alias("component_type"),
            amount.cast(pl.Int64).alias("amount_cents"),
        )
        if component == "Promotion" and "promotion_ids" in base.columns:
            frame = frame.with_columns(pl.col("promotion_ids").alias("promotion_id"))
        if component == "Adjustment" and "amount_per_unit_cents" in base.columns:
            frame = frame.with_columns(pl.col("amount_per_unit_cents").alias("per_unit_cents"))
        if keep is not None:
            frame = frame.filter(keep)
        frames.append(frame)
    wanted = [
        "event_type", "event_id", "posted_date", "amazon_order_id", "order_item_id",
        "adjustment_id", "shipment_id", "sku", "fnsku", "asin", "product_name", "quantity",
        "component", "component_type", "promotion_id", "amount_cents", "per_unit_cents",
        "sales_channel", "currency",
    ]  # fmt: skip
    out = pl.concat(frames, how="diagonal_relaxed")
    types = {
        "amazon_order_id": pl.String, "order_item_id": pl.String, "adjustment_id": pl.String,
        "shipment_id": pl.String, "sku": pl.String, "fnsku": pl.String, "asin": pl.String,
        "product_name": pl.String, "quantity": pl.Int64, "promotion_id": pl.String,
        "per_unit_cents": pl.Int64, "sales_channel": pl.String, "currency": pl.String,
    }  # fmt: skip
    return out.with_columns(
        [
            pl.lit(None, dtype).alias(name)
            for name, dtype in types.items()
            if name not in out.columns
        ]
    ).select(wanted)


def is_heavy_day(day: date) -> bool:
    """Black Friday to Christmas: finance pages of those days are too large at 100 results."""
    return _is_holiday_season(day)


# -- malformed rows --------------------------------------------------------------------------


def malform_tsv(document: bytes, number_column: str, date_column: str) -> bytes:
    """Break three data rows: one loses a column, one has a non-number, one an unparseable date."""
    lines = document.split(b"\n")
    header = lines[0].split(b"\t")
    names = [name.decode("ascii", "replace").strip('"') for name in header]
    data = [i for i in range(1, len(lines)) if lines[i].strip()]
    # Skip a settlement's summary row: it has no number or date in the targeted columns.
    if names and names[0] == "settlement-id" and data:
        data = data[1:]
    if data:
        cells = lines[data[0]].split(b"\t")
        lines[data[0]] = b"\t".join(cells[:-1])
    if len(data) > 1 and number_column in names:
        cells = lines[data[1]].split(b"\t")
        cells[names.index(number_column)] = b"12,5x"
        lines[data[1]] = b"\t".join(cells)
    if len(data) > 2 and date_column in names:
        cells = lines[data[2]].split(b"\t")
        cells[names.index(date_column)] = b"31/31/2026 25:61"
        lines[data[2]] = b"\t".join(cells)
    return b"\n".join(lines)


# -- settlements as Amazon publishes them --------------------------------------------------------

_published: weakref.WeakKeyDictionary[ReportStore, set[str]] = weakref.WeakKeyDictionary()
_published_lock = threading.Lock()


def publish_settlements(
    store: ReportStore, marketplace: SyntheticMarketplace, account: str
) -> None:
    """Put the account's settlements of the last 90 days into the report store (once per account).

    Each settlement report is created on the day after its period ends; the data calendar's
    `today` maps to the moment of the first listing, so the 90-day retention applies as on Amazon
    and, on the accelerated clock, older settlements drop out of getReports as time passes.
    """
    from amazon_assets.sandbox.reports import RETENTION, ReportRequest

    with _published_lock:
        done = _published.setdefault(store, set())
        if account in done:
            return
        done.add(account)
    history = SellerHistory.of(marketplace)
    today = marketplace.today
    epoch = store.clock.now()  # the data calendar's `today` is "now" when first listed
    for _, start, end in history.settlement_periods(account):
        created_day = end + timedelta(days=1)
        age = (today - created_day).days * 86_400
        if age > RETENTION.total_seconds() or age < 0:
            continue
        request = ReportRequest(
            account, SETTLEMENTS, start, end, {}, marketplace.config.marketplaces_of(account)
        )
        store.add_generated(request, created=epoch - age)
