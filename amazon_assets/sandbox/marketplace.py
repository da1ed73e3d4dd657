"""A deterministic synthetic Amazon marketplace: the truth every sandbox document is built from.

Each account has a fixed catalogue (parent and child ASINs, SKUs, categories, base prices,
launch dates and a known ~5% of products that take off). Any (account, day) is computed on its
own, vectorised over the catalogue with numpy, from randomness derived from (seed, account, day):
no simulation from the first day, so 5,000 ASINs x 540 days stays cheap and any day can be
recomputed identically. Later report types (orders, ledger, fees, ads, signals) read the same
products and the same daily frame.

Besides take-offs, demand moves for the reasons real sellers see, each an episode drawn once per
ASIN when the catalogue is built (so a day still needs no history):
- stock-outs: no offer, no buy box, no orders for 2 to 20 days, then a restock whose pent-up
  demand decays over a few days (a rebound, not a take-off);
- deals: 1 to 3 days at 25 % off with deal-page traffic; short external spikes of 1 to 4 days;
- ad pushes: 10 to 30 days of tripled ad reach and some extra paid demand;
- declines: a share of products lose demand (and rating) for good from some day on;
- launches ramp up over their first month (already part of the catalogue);
- ratings drift, and reviews accrue with the units a product is expected to have sold.
`take_offs()` is the truth: which products take off and on which day their growth starts.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import polars as pl

from amazon_assets.sandbox.config import SandboxConfig

# Category -> (annual seasonality amplitude, peak day of year, best-seller-rank pool size).
CATEGORIES: dict[str, tuple[float, int, int]] = {
    "Home & Kitchen": (0.10, 340, 1_500_000),
    "Toys & Games": (0.45, 350, 900_000),
    "Sports & Outdoors": (0.25, 170, 800_000),
    "Patio, Lawn & Garden": (0.40, 140, 500_000),
    "Beauty & Personal Care": (0.08, 345, 1_200_000),
    "Pet Supplies": (0.05, 330, 600_000),
    "Health & Household": (0.12, 15, 1_000_000),
    "Office Products": (0.20, 235, 700_000),
    "Electronics": (0.30, 345, 1_300_000),
    "Clothing, Shoes & Jewelry": (0.18, 320, 2_000_000),
}
CATEGORY_NAMES = tuple(CATEGORIES)
# Sunday..Saturday demand profile (Amazon's WEEK starts on Sunday).
WEEKDAY_FACTOR = np.array([1.10, 0.96, 0.95, 0.95, 0.97, 1.00, 1.08])
HOLIDAY_BOOST = 1.45  # Black Friday to Christmas
_ALNUM = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _stable_key(*parts: object) -> int:
    """A 64-bit integer from the parts, identical across processes (unlike hash())."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _rng(seed: int, account: str, stream: str, day: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _stable_key(account, stream), day]))


@dataclass(frozen=True)
class _Catalogue:
    """One account's products as numpy arrays (one entry per SKU) plus the polars table."""

    table: pl.DataFrame
    sku: np.ndarray
    asin: np.ndarray
    parent_asin: np.ndarray
    category_index: np.ndarray
    base_price_cents: np.ndarray
    launch: np.ndarray  # ordinal day
    take_off: np.ndarray  # ordinal day, or a huge number when the product never takes off
    take_off_gain: np.ndarray
    take_off_tau: np.ndarray
    base_sessions: np.ndarray
    conversion: np.ndarray
    multi_unit: np.ndarray
    browser_share: np.ndarray
    extra_views: np.ndarray
    buy_box: np.ndarray
    b2b_share: np.ndarray
    price_amp: np.ndarray
    price_period: np.ndarray
    price_phase: np.ndarray
    trend_amp: np.ndarray
    trend_period: np.ndarray
    trend_phase: np.ndarray
    season_amp: np.ndarray
    season_peak: np.ndarray
    rank_pool: np.ndarray
    events: _Events
    rating_base: np.ndarray
    review_base: np.ndarray
    reviews_per_unit: np.ndarray


@dataclass(frozen=True)
class _Events:
    """Episodes per SKU (those of its ASIN): (n, k) arrays of first day and day after the last,
    ordinal days, padded with _NEVER; decline start (or _NEVER) and its floor per SKU."""

    stock_out_start: np.ndarray
    stock_out_end: np.ndarray
    deal_start: np.ndarray
    deal_end: np.ndarray
    spike_start: np.ndarray
    spike_end: np.ndarray
    spike_size: np.ndarray
    push_start: np.ndarray
    push_end: np.ndarray
    decline: np.ndarray
    decline_floor: np.ndarray

    def active(self, kind: str, d: int) -> np.ndarray:
        """Per SKU: whether an episode of `kind` covers day d."""
        start, end = getattr(self, f"{kind}_start"), getattr(self, f"{kind}_end")
        return ((start <= d) & (d < end)).any(axis=1)

    def days_since_restock(self, d: int) -> np.ndarray:
        """Per SKU: days since its latest stock-out ended (restock day = 0), or _NEVER."""
        ended = self.stock_out_end <= d
        return np.where(ended, d - self.stock_out_end, _NEVER).min(axis=1)

    def spike_factor(self, d: int) -> np.ndarray:
        on = (self.spike_start <= d) & (d < self.spike_end)
        return np.where(on, self.spike_size, 1.0).max(axis=1)


_NEVER = 10**9
# Episode rates (per ASIN and day) and lengths in days; see the module docstring.
STOCK_OUT_RATE, STOCK_OUT_DAYS = 1 / 120, (2, 21)
DEAL_RATE, DEAL_DAYS, DEAL_PRICE, DEAL_TRAFFIC = 1 / 60, (1, 4), 0.75, 2.0
SPIKE_RATE, SPIKE_DAYS, SPIKE_SIZE = 1 / 60, (1, 5), (2.0, 4.0)
PUSH_RATE, PUSH_DAYS, PUSH_REACH, PUSH_DEMAND = 1 / 120, (10, 31), 3.0, 1.35
DECLINE_SHARE, DECLINE_TAU_DAYS, DECLINE_SPAN_DAYS = 0.15, 30.0, 3 * 365
EPISODE_SPAN_DAYS = 5 * 365
# Restocked products sell the demand that waited: +REBOUND on the restock day, decaying.
REBOUND, REBOUND_TAU_DAYS = 1.2, 4.0
# Sessions that still reach an out-of-stock listing (no offer: nothing can be ordered).
STOCK_OUT_SESSIONS = 0.5
REVIEWS_PER_UNIT = (0.01, 0.05)


class Marketplace:
    """The synthetic marketplace of one sandbox configuration."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.seed = config.seed
        self.today = config.today
        self.start_date = config.start_date or (config.today - timedelta(days=3 * 365))
        self._catalogues: dict[str, _Catalogue] = {}
        self._lock = threading.Lock()
        self._admitted: list[str] = []  # accounts served beyond config.accounts
        self._admitted_lock = threading.Lock()

    @property
    def accounts(self) -> tuple[str, ...]:
        """The configured accounts, then those admitted since, in order."""
        with self._admitted_lock:
            return (*self.config.accounts, *self._admitted)

    def admit(self, account: str) -> bool:
        """Whether the marketplace serves `account`; with `admit_any_account` every non-empty
        name is served (and listed from then on)."""
        if account in self.config.accounts:
            return True
        if not (self.config.admit_any_account and account):
            return False
        with self._admitted_lock:
            if account not in self._admitted:
                self._admitted.append(account)
        return True

    def first_day(self, account: str) -> date:
        """First day the account has data (the first account starts on `start_date`)."""
        self._check(account)
        if account == self.accounts[0]:
            return self.start_date
        return self.start_date + timedelta(days=_stable_key(self.seed, account, "start") % 181)

    def last_day(self, account: str) -> date:
        """Last day with data: the day before the marketplace's `today`."""
        self._check(account)
        return self.today - timedelta(days=1)

    def has_data(self, account: str, day: date) -> bool:
        return self.first_day(account) <= day <= self.last_day(account)

    def products(self, account: str) -> pl.DataFrame:
        """The account's catalogue: one row per SKU (sku, asin, parent_asin, category, prices, dates)."""
        return self._catalogue(account).table

    def take_offs(self, account: str) -> list[tuple[str, date]]:
        """Child ASINs that take off and the day their growth starts, earliest first."""
        table = self.products(account).filter(pl.col("take_off_date").is_not_null())
        pairs = {(asin, day) for asin, day in table.select("asin", "take_off_date").iter_rows()}
        return sorted(pairs, key=lambda pair: (pair[1], pair[0]))

    def sales_and_traffic(self, account: str, day: date) -> pl.DataFrame:
        """One row per SKU listed on `day` (zero-traffic SKUs included): the day's truth."""
        cat = self._catalogue(account)
        d = day.toordinal()
        n = len(cat.sku)
        rng = _rng(self.seed, account, "day", d)
        # Every draw covers the whole catalogue in a fixed order, so a SKU's numbers never depend
        # on which other SKUs happen to be listed that day.
        noise = rng.lognormal(0.0, 0.25, n)
        deal_draw = rng.random(n)
        buy_box_noise = rng.normal(0.0, 3.0, n)
        rank_noise = rng.lognormal(0.0, 0.12, n)
        t = float(d - self.start_date.toordinal())

        listed = cat.launch <= d
        events = cat.events
        in_stock = ~events.active("stock_out", d)
        deal = events.active("deal", d)
        pushed = events.active("push", d)
        since_restock = events.days_since_restock(d)
        rebound = 1.0 + REBOUND * np.exp(-np.minimum(since_restock, 10_000) / REBOUND_TAU_DAYS)
        decline = _decline_factor(events, d)
        doy = day.timetuple().tm_yday
        season = 1.0 + cat.season_amp * np.cos(2 * np.pi * (doy - cat.season_peak) / 365.25)
        weekday = WEEKDAY_FACTOR[(day.weekday() + 1) % 7]
        holiday = HOLIDAY_BOOST if _is_holiday_season(day) else 1.0
        trend = 1.0 + cat.trend_amp * np.sin(2 * np.pi * t / cat.trend_period + cat.trend_phase)
        age = np.clip((d - cat.launch + 1) / 30.0, 0.05, 1.0) ** 0.7
        since = d - cat.take_off
        taking_off = since >= 0
        take_off = np.where(
            taking_off,
            1.0
            + (cat.take_off_gain - 1.0) * (1.0 - np.exp(-np.maximum(since, 0) / cat.take_off_tau)),
            1.0,
        )

        price_factor = 1.0 + cat.price_amp * np.sin(
            2 * np.pi * t / cat.price_period + cat.price_phase
        )
        del deal_draw  # drawn to keep the day's random stream in its order
        price_factor = np.where(deal, price_factor * DEAL_PRICE, price_factor)
        price_cents = np.maximum(
            (np.round(cat.base_price_cents * price_factor).astype(np.int64) // 10) * 10 + 9, 99
        )
        elasticity = (price_cents / cat.base_price_cents) ** -1.8

        demand = cat.base_sessions * season * weekday * holiday * trend * age * take_off * noise
        episodes = (
            np.where(deal, DEAL_TRAFFIC, 1.0)
            * events.spike_factor(d)
            * np.where(pushed, PUSH_DEMAND, 1.0)
            * rebound
            * decline
        )
        demand = demand * elasticity * episodes * np.where(in_stock, 1.0, STOCK_OUT_SESSIONS)
        sessions = np.where(listed, rng.poisson(demand), 0).astype(np.int64)
        browser_sessions = rng.binomial(sessions, cat.browser_share)
        mobile_sessions = sessions - browser_sessions
        browser_views = browser_sessions + rng.poisson(browser_sessions * cat.extra_views)
        mobile_views = mobile_sessions + rng.poisson(mobile_sessions * cat.extra_views)

        # Out of stock, the seller has no offer: no buy box, so nothing is ordered.
        buy_box = np.where(
            in_stock, np.round(np.clip(cat.buy_box + buy_box_noise, 0.0, 100.0), 2), 0.0
        )
        conversion = np.clip(
            cat.conversion * (buy_box / 100.0) * np.where(taking_off, 1.3, 1.0) * elasticity**0.3,
            0.0,
            0.9,
        )
        order_items = rng.binomial(sessions, conversion)
        # One order item holds 1..3 units: units <= 3 * order items <= 3 * sessions.
        second = rng.binomial(order_items, cat.multi_unit)
        third = rng.binomial(second, 0.5)
        units = order_items + second + third
        refunded = rng.binomial(units, 0.015)
        shipped = rng.binomial(units, 0.97)
        orders_shipped = np.minimum(rng.binomial(order_items, 0.97), shipped)
        claims = rng.binomial(order_items, 0.002)
        feedback = rng.binomial(order_items, 0.04)
        negative = rng.binomial(feedback, 0.08)

        b2b = cat.b2b_share
        browser_sessions_b2b = rng.binomial(browser_sessions, b2b)
        mobile_sessions_b2b = rng.binomial(mobile_sessions, b2b)
        browser_views_b2b = browser_sessions_b2b + rng.binomial(
            browser_views - browser_sessions, b2b
        )
        mobile_views_b2b = mobile_sessions_b2b + rng.binomial(mobile_views - mobile_sessions, b2b)
        order_items_b2b = rng.binomial(order_items, b2b)
        units_b2b = order_items_b2b + rng.binomial(units - order_items, b2b)
        units_b2b = np.minimum(units_b2b, units)

        # Amazon's rank follows recent sales, not one day's luck: it sees demand without the
        # day's noise (and a stock-out's zero sales), plus a small wobble of its own.
        expected_units = demand / noise * conversion * 1.1
        rank = np.maximum(
            1, np.round(cat.rank_pool * 0.02 / (expected_units + 0.05) ** 0.9 * rank_noise)
        ).astype(np.int64)

        frame = pl.DataFrame(
            {
                "sku": cat.sku,
                "asin": cat.asin,
                "parent_asin": cat.parent_asin,
                "category": np.array(CATEGORY_NAMES)[cat.category_index],
                "price_cents": price_cents,
                "browser_sessions": browser_sessions,
                "mobile_app_sessions": mobile_sessions,
                "sessions": sessions,
                "browser_page_views": browser_views,
                "mobile_app_page_views": mobile_views,
                "page_views": browser_views + mobile_views,
                "buy_box_percentage": buy_box,
                "total_order_items": order_items,
                "units_ordered": units,
                "ordered_product_sales_cents": units * price_cents,
                "units_refunded": refunded,
                "units_shipped": shipped,
                "orders_shipped": orders_shipped,
                "shipped_product_sales_cents": shipped * price_cents,
                "claims_granted": claims,
                "claims_amount_cents": claims * price_cents,
                "feedback_received": feedback,
                "negative_feedback_received": negative,
                "browser_sessions_b2b": browser_sessions_b2b,
                "mobile_app_sessions_b2b": mobile_sessions_b2b,
                "sessions_b2b": browser_sessions_b2b + mobile_sessions_b2b,
                "browser_page_views_b2b": browser_views_b2b,
                "mobile_app_page_views_b2b": mobile_views_b2b,
                "page_views_b2b": browser_views_b2b + mobile_views_b2b,
                "total_order_items_b2b": order_items_b2b,
                "units_ordered_b2b": units_b2b,
                "ordered_product_sales_b2b_cents": units_b2b * price_cents,
                "sales_rank": rank,
                "taking_off": taking_off,
                "in_stock": in_stock,
                "deal": deal,
                "ad_reach": np.where(pushed, PUSH_REACH, 1.0),
                "rating": _rating(cat, d),
                "review_count": _review_count(cat, d),
                "listed": listed,
            }
        )
        return (
            frame.filter(pl.col("listed"))
            .drop("listed")
            .select(
                pl.lit(day).alias("date"),
                pl.lit(account).alias("account"),
                pl.all(),
                (pl.col("price_cents").cast(pl.Decimal(18, 2)) / 100).alias("price"),
                (pl.col("ordered_product_sales_cents").cast(pl.Decimal(18, 2)) / 100).alias(
                    "ordered_product_sales"
                ),
            )
        )

    # -- catalogue -------------------------------------------------------------------------

    def _check(self, account: str) -> None:
        if not self.admit(account):
            raise KeyError(
                f"Unknown sandbox account {account!r}; known: {', '.join(self.accounts)}."
            )

    def _catalogue(self, account: str) -> _Catalogue:
        with self._lock:
            if account not in self._catalogues:
                self._catalogues[account] = self._build_catalogue(account)
            return self._catalogues[account]

    def _build_catalogue(self, account: str) -> _Catalogue:
        self._check(account)
        rng = _rng(self.seed, account, "catalogue")
        n = self.config.skus_per_account
        n_asins = max(1, round(n / 1.1))
        used: set[str] = set()
        child_asins = _identifiers(rng, n_asins, used, _asin)

        # Variation families: a third of the ASINs stand alone (parent = child), the rest share
        # a non-buyable parent with 1..4 siblings.
        parent_of = np.empty(n_asins, dtype=object)
        category_of_asin = np.empty(n_asins, dtype=np.int64)
        i = 0
        while i < n_asins:
            size = int(rng.choice([1, 1, 1, 2, 3, 4, 5]))
            size = min(size, n_asins - i)
            parent = child_asins[i] if size == 1 else _identifiers(rng, 1, used, _asin)[0]
            parent_of[i : i + size] = parent
            category_of_asin[i : i + size] = rng.integers(len(CATEGORY_NAMES))
            i += size

        # Every ASIN has one SKU; some have a second offer (another SKU on the same ASIN).
        extra = rng.choice(n_asins, n - n_asins, replace=True) if n > n_asins else np.array([], int)
        sku_asin_index = np.concatenate([np.arange(n_asins), np.sort(extra)]).astype(np.int64)
        skus = _identifiers(rng, n, used, _sku)

        start = self.first_day(account).toordinal()
        end = self.last_day(account).toordinal()
        asin_price = np.maximum(np.round(np.exp(rng.normal(3.1, 0.6, n_asins))), 5) * 100 - 1
        sku_price = asin_price[sku_asin_index] * np.where(
            np.arange(n) >= n_asins, rng.uniform(0.95, 1.05, n), 1.0
        )
        sku_price = (np.round(sku_price).astype(np.int64) // 10) * 10 + 9

        late = rng.random(n_asins) < 0.25
        launch_asin = np.where(
            late,
            rng.integers(start, max(start + 1, end - 30), n_asins),
            start - rng.integers(0, 720, n_asins),
        )

        n_take_off = max(1, round(self.config.take_off_share * n_asins)) if n_asins >= 10 else 0
        n_take_off = min(n_take_off, int(self.config.take_off_share > 0) * n_asins)
        take_off_asin = np.full(n_asins, _NEVER, dtype=np.int64)
        gain_asin = np.ones(n_asins)
        tau_asin = np.ones(n_asins)
        if n_take_off:
            chosen = rng.choice(n_asins, n_take_off, replace=False)
            low = max(start + 60, end - 540)
            high = max(low + 1, end - 20)
            take_off_asin[chosen] = rng.integers(low, high, n_take_off)
            launch_asin[chosen] = np.minimum(launch_asin[chosen], take_off_asin[chosen] - 30)
            gain_asin[chosen] = rng.uniform(4.0, 12.0, n_take_off)
            tau_asin[chosen] = rng.uniform(5.0, 15.0, n_take_off)

        bulk = rng.random(n) < 0.03
        season = np.array([CATEGORIES[c][0] for c in CATEGORY_NAMES])
        peak = np.array([CATEGORIES[c][1] for c in CATEGORY_NAMES])
        pool = np.array([CATEGORIES[c][2] for c in CATEGORY_NAMES])
        category_index = category_of_asin[sku_asin_index]
        high_buy_box = rng.random(n) < 0.7
        rng_traits = _rng(self.seed, account, "listing-traits")
        cat = _Catalogue(
            table=pl.DataFrame(),
            sku=np.array(skus),
            asin=np.array(child_asins)[sku_asin_index],
            parent_asin=parent_of[sku_asin_index].astype(str),
            category_index=category_index,
            base_price_cents=sku_price,
            launch=launch_asin[sku_asin_index],
            take_off=take_off_asin[sku_asin_index],
            take_off_gain=gain_asin[sku_asin_index],
            take_off_tau=tau_asin[sku_asin_index],
            base_sessions=rng.lognormal(2.3, 1.0, n),
            conversion=rng.beta(2.0, 18.0, n),
            multi_unit=np.where(bulk, 0.6, rng.uniform(0.02, 0.10, n)),
            browser_share=rng.uniform(0.35, 0.65, n),
            extra_views=rng.uniform(0.1, 0.6, n),
            buy_box=np.where(high_buy_box, rng.uniform(92, 100, n), rng.uniform(45, 92, n)),
            b2b_share=rng.uniform(0.0, 0.12, n),
            price_amp=rng.uniform(0.0, 0.08, n),
            price_period=rng.uniform(20.0, 90.0, n),
            price_phase=rng.uniform(0.0, 2 * np.pi, n),
            trend_amp=rng.uniform(0.0, 0.3, n),
            trend_period=rng.uniform(60.0, 365.0, n),
            trend_phase=rng.uniform(0.0, 2 * np.pi, n),
            season_amp=season[category_index],
            season_peak=peak[category_index],
            rank_pool=pool[category_index],
            # Episodes are drawn over a span fixed by the first day, never by `today`: a sandbox
            # started later serves the same history for the days both know.
            events=_draw_events(
                _rng(self.seed, account, "episodes"),
                sku_asin_index,
                n_asins,
                start,
                start + EPISODE_SPAN_DAYS,
                self.config.stock_outs,
            ),
            rating_base=rng_traits.uniform(3.4, 4.8, n_asins)[sku_asin_index],
            review_base=rng_traits.lognormal(3.0, 1.2, n_asins)[sku_asin_index],
            reviews_per_unit=rng_traits.uniform(*REVIEWS_PER_UNIT, n_asins)[sku_asin_index],
        )
        take_off_dates = [
            date.fromordinal(int(x)) if x != _NEVER else None for x in cat.take_off.tolist()
        ]
        table = pl.DataFrame(
            {
                "account": [account] * n,
                "sku": cat.sku,
                "asin": cat.asin,
                "parent_asin": cat.parent_asin,
                "category": np.array(CATEGORY_NAMES)[category_index],
                "base_price_cents": cat.base_price_cents,
                "launch_date": [date.fromordinal(int(x)) for x in cat.launch.tolist()],
                "take_off_date": pl.Series(take_off_dates, dtype=pl.Date),
            }
        ).with_columns(
            (pl.col("base_price_cents").cast(pl.Decimal(18, 2)) / 100).alias("base_price")
        )
        return replace(cat, table=table)


def _episodes(
    rng: np.random.Generator, n: int, first: int, last: int, rate: float, days: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) first days and days after the last of Poisson(rate per day) episodes per ASIN."""
    counts = rng.poisson(rate * max(last - first, 1), n)
    k = max(1, int(counts.max()) if n else 1)
    starts = rng.integers(first, max(first + 1, last), (n, k))
    ends = starts + rng.integers(days[0], days[1], (n, k))
    unused = np.arange(k)[None, :] >= counts[:, None]
    return np.where(unused, _NEVER, starts), np.where(unused, _NEVER, ends)


def _draw_events(
    rng: np.random.Generator,
    sku_asin_index: np.ndarray,
    n_asins: int,
    first: int,
    last: int,
    stock_outs: bool,
) -> _Events:
    """Every ASIN's episodes over [first, last], spread to its SKUs; declines start within the
    first DECLINE_SPAN_DAYS (about as long as a default sandbox history)."""
    stock_out = _episodes(rng, n_asins, first, last, STOCK_OUT_RATE, STOCK_OUT_DAYS)
    if not stock_outs:
        stock_out = tuple(np.full((n_asins, 1), _NEVER) for _ in range(2))
    deal = _episodes(rng, n_asins, first, last, DEAL_RATE, DEAL_DAYS)
    spike = _episodes(rng, n_asins, first, last, SPIKE_RATE, SPIKE_DAYS)
    spike_size = rng.uniform(*SPIKE_SIZE, spike[0].shape)
    push = _episodes(rng, n_asins, first, last, PUSH_RATE, PUSH_DAYS)
    declining = rng.random(n_asins) < DECLINE_SHARE
    decline = np.where(declining, rng.integers(first, first + DECLINE_SPAN_DAYS, n_asins), _NEVER)
    floor = rng.uniform(0.25, 0.5, n_asins)
    i = sku_asin_index
    return _Events(
        stock_out_start=stock_out[0][i],
        stock_out_end=stock_out[1][i],
        deal_start=deal[0][i],
        deal_end=deal[1][i],
        spike_start=spike[0][i],
        spike_end=spike[1][i],
        spike_size=spike_size[i],
        push_start=push[0][i],
        push_end=push[1][i],
        decline=decline[i],
        decline_floor=floor[i],
    )


def _decline_factor(events: _Events, d: int) -> np.ndarray:
    since = np.maximum(d - events.decline, 0)
    fade = np.exp(-since / DECLINE_TAU_DAYS)
    return np.where(
        d >= events.decline, events.decline_floor + (1 - events.decline_floor) * fade, 1.0
    )


def _expected_units_to_date(cat: _Catalogue, d: int) -> np.ndarray:
    """Roughly the units a SKU has sold from launch through day d: base daily units times its age,
    plus what a take-off added (the integral of its growth curve), less what a decline took."""
    daily = cat.base_sessions * cat.conversion * (cat.buy_box / 100.0)
    age = np.maximum(d - cat.launch, 0).astype(float)
    s = np.maximum(d - cat.take_off, 0).astype(float)
    grown = (cat.take_off_gain - 1.0) * (
        s - cat.take_off_tau * (1.0 - np.exp(-s / cat.take_off_tau))
    )
    lost_days = np.maximum(d - cat.events.decline, 0).astype(float)
    floor = cat.events.decline_floor
    lost = (1 - floor) * (
        lost_days - DECLINE_TAU_DAYS * (1 - np.exp(-lost_days / DECLINE_TAU_DAYS))
    )
    return daily * np.maximum(age + grown - lost, 0.0)


def _review_count(cat: _Catalogue, d: int) -> np.ndarray:
    """Reviews on day d: a pre-launch base plus a share of the units sold so far."""
    reviews = cat.review_base + cat.reviews_per_unit * _expected_units_to_date(cat, d)
    return np.where(cat.launch <= d, np.floor(reviews), 0).astype(np.int64)


def _rating(cat: _Catalogue, d: int) -> np.ndarray:
    """Stars on day d: a product's own level, up to +0.2 after a take-off (happy buyers) and down
    to -0.5 through a decline (the cause of many declines), in tenths like Amazon shows."""
    lift = 0.2 * (1 - np.exp(-np.maximum(d - cat.take_off, 0) / 30.0))
    drop = 0.5 * (1 - np.exp(-np.maximum(d - cat.events.decline, 0) / 30.0))
    return np.round(np.clip(cat.rating_base + lift - drop, 1.0, 5.0), 1)


def _is_holiday_season(day: date) -> bool:
    return (day.month == 11 and day.day >= 24) or (day.month == 12 and day.day <= 24)


def _asin(rng: np.random.Generator) -> str:
    return "B0" + "".join(rng.choice(_ALNUM, 8))


def _sku(rng: np.random.Generator) -> str:
    return (
        "".join(rng.choice(_LETTERS, 2))
        + "-"
        + "".join(rng.choice(_ALNUM, 4))
        + "-"
        + "".join(rng.choice(_LETTERS, 4))
    )


def _identifiers(rng: np.random.Generator, count: int, used: set[str], make) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        value = make(rng)
        if value not in used:
            used.add(value)
            out.append(value)
    return out
