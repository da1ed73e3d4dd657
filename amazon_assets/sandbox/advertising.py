"""The sandbox's Amazon Ads API: profiles, Sponsored Products v3 entities and reporting v3.

Ads are derived from the synthetic marketplace so both sides of the seller's business agree:
every ASIN is advertised (about five ASINs per campaign, one ad group each, five keywords and two
product targets per ad group), and an ASIN's attributed sales on a day never exceed what the
marketplace says it sold that day. Campaign rows are the exact sums of advertised-product rows,
and targeting / search-term rows split those same totals, so every report reconciles.

Restatement: Amazon revises a day's ad metrics for weeks (late attribution, invalid clicks). Here a
day's numbers depend on its age on the day the report is generated (the sandbox's `today`) for
`RESTATEMENT_DAYS`; after that they are final and never change again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import hmac
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from amazon_assets.sandbox.marketplace import Marketplace, _rng, _stable_key

if TYPE_CHECKING:
    from amazon_assets.sandbox.app import SandboxApp

ASINS_PER_CAMPAIGN = 5
KEYWORDS_PER_AD_GROUP = 5  # the default of SandboxConfig.ads_keywords_per_ad_group
TARGETS_PER_AD_GROUP = 2
RESTATEMENT_DAYS = 14  # how long a day's metrics keep changing after the day
LOOKBACK_DAYS = 95  # "Most report types support 95 days as lookback window" (Ads API reference)
MAX_RANGE_DAYS = 31  # the longest DAILY report Amazon accepts
DUPLICATE_SECONDS = 6 * 3600.0  # an identical request this recent answers 425 (simulated seconds)
URL_SECONDS = 3600.0  # presigned report URLs live an hour
ENTITY_PERIOD_DAYS = 28  # states, budgets and bids change at most once per period
_WORDS = ("premium", "organic", "portable", "large", "mini", "eco", "pro", "classic", "smart")
_MATCH_TYPES = ("EXACT", "PHRASE", "BROAD")
STATES = ("ENABLED", "PAUSED", "ARCHIVED")

# Entity listing: path -> (operation, vendor media type, response key, entity kind).
ENTITY_ROUTES: dict[str, tuple[str, str, str, str]] = {
    "/sp/campaigns/list": (
        "adsCampaignsList",
        "application/vnd.spCampaign.v3+json",
        "campaigns",
        "campaigns",
    ),
    "/sp/adGroups/list": (
        "adsAdGroupsList",
        "application/vnd.spAdGroup.v3+json",
        "adGroups",
        "adGroups",
    ),
    "/sp/keywords/list": (
        "adsKeywordsList",
        "application/vnd.spKeyword.v3+json",
        "keywords",
        "keywords",
    ),
    "/sp/targets/list": (
        "adsTargetsList",
        "application/vnd.spTargetingClause.v3+json",
        "targetingClauses",
        "targets",
    ),
}

METRIC_COLUMNS = (
    "impressions",
    "clicks",
    "cost",
    "purchases7d",
    "purchases14d",
    "sales7d",
    "sales14d",
    "unitsSoldClicks7d",
    "unitsSoldClicks14d",
)
_CAMPAIGN_COLUMNS = (
    "campaignId",
    "campaignName",
    "campaignStatus",
    "campaignBudgetAmount",
    "campaignBudgetType",
    "campaignBudgetCurrencyCode",
)
_AD_GROUP_COLUMNS = ("campaignId", "campaignName", "adGroupId", "adGroupName")
_TARGETING_COLUMNS = (*_AD_GROUP_COLUMNS, "keywordId", "keyword", "matchType", "targeting")
# reportTypeId -> (its groupBy, the columns it can return).
REPORT_TYPES: dict[str, tuple[str, frozenset[str]]] = {
    "spCampaigns": ("campaign", frozenset(("date", *_CAMPAIGN_COLUMNS, *METRIC_COLUMNS))),
    "spAdvertisedProduct": (
        "advertiser",
        frozenset(
            (
                "date",
                *_AD_GROUP_COLUMNS,
                "adId",
                "advertisedAsin",
                "advertisedSku",
                "campaignBudgetCurrencyCode",
                *METRIC_COLUMNS,
            )
        ),
    ),
    "spTargeting": (
        "targeting",
        frozenset(("date", *_TARGETING_COLUMNS, "keywordType", *METRIC_COLUMNS)),
    ),
    "spSearchTerm": (
        "searchTerm",
        frozenset(("date", *_TARGETING_COLUMNS, "searchTerm", *METRIC_COLUMNS)),
    ),
}
# Integer metrics in the order _Metrics arrays hold them; money is in cents until the JSON.
_INT_METRICS = (
    "impressions",
    "clicks",
    "cost",
    "purchases7d",
    "purchases14d",
    "sales7d",
    "sales14d",
    "unitsSoldClicks7d",
    "unitsSoldClicks14d",
)
_MONEY = ("cost", "sales7d", "sales14d")


def profile_id(seed: int, account: str) -> int:
    """The deterministic Ads profile id of a seller account (15-16 digits, like Amazon's)."""
    return 1_000_000_000_000_000 + _stable_key(seed, account, "ads-profile") % 9_000_000_000_000_000


def _entity_id(seed: int, account: str, kind: str, index: int) -> str:
    # v3 ids are numeric strings.
    """A deterministic numeric-string entity id, as v3 entities carry them."""
    return str(100_000_000_000_000 + _stable_key(seed, account, kind, index) % 900_000_000_000_000)


@dataclass(frozen=True)
class _AdGroup:
    """One ad group with what it advertises and how it targets."""

    ad_group_id: str
    campaign_index: int
    name: str
    ads: tuple[tuple[str, str, str], ...]  # (adId, asin, sku)
    clauses: tuple[dict[str, Any], ...]  # keyword and target entities
    search_terms: tuple[tuple[str, ...], ...]  # per clause


@dataclass(frozen=True)
class _Campaign:
    """A campaign's fixed attributes; state, budget and bids vary by period."""

    campaign_id: str
    name: str
    start_date: date
    base_budget_cents: int
    base_bid_cents: int


@dataclass
class AdsAccount:
    """One seller's advertising: entities from its catalogue and daily metrics per day."""

    marketplace: Marketplace
    account: str
    campaigns: list[_Campaign] = field(default_factory=list)
    ad_groups: list[_AdGroup] = field(default_factory=list)

    def __post_init__(self) -> None:
        seed = self.marketplace.seed
        products = self.marketplace.products(self.account)
        # One ad per ASIN, for its first SKU; catalogue order is stable, so entities are too.
        first = products.unique("asin", keep="first", maintain_order=True)
        asins, skus = first["asin"].to_list(), first["sku"].to_list()
        categories, launches = first["category"].to_list(), first["launch_date"].to_list()
        rng = _rng(seed, self.account, "ads-entities")
        for index, start in enumerate(range(0, len(asins), ASINS_PER_CAMPAIGN)):
            members = range(start, min(start + ASINS_PER_CAMPAIGN, len(asins)))
            campaign_id = _entity_id(seed, self.account, "campaign", index)
            self.campaigns.append(
                _Campaign(
                    campaign_id=campaign_id,
                    name=f"SP {categories[start]} {index + 1:02d}",
                    start_date=min(launches[i] for i in members),
                    base_budget_cents=int(rng.integers(10, 80)) * 100,
                    base_bid_cents=int(rng.integers(35, 180)),
                )
            )
            ads = tuple(
                (_entity_id(seed, self.account, "ad", i), asins[i], skus[i]) for i in members
            )
            clauses: list[dict[str, Any]] = []
            terms: list[tuple[str, ...]] = []
            word = categories[start].split()[0].lower().strip(",")
            for k in range(self.marketplace.config.ads_keywords_per_ad_group):
                text = f"{_WORDS[int(rng.integers(len(_WORDS)))]} {word} {k + 1}"
                clauses.append(
                    {
                        "keywordId": _entity_id(seed, self.account, "keyword", index * 100 + k),
                        "keywordText": text,
                        "matchType": _MATCH_TYPES[k % len(_MATCH_TYPES)],
                    }
                )
                terms.append((text, f"{text} for sale", f"best {text}")[: 1 + k % 3])
            for k in range(TARGETS_PER_AD_GROUP):
                target_asin = asins[int(rng.integers(len(asins)))]
                clauses.append(
                    {
                        "targetId": _entity_id(seed, self.account, "target", index * 100 + k),
                        "expression": [{"type": "ASIN_SAME_AS", "value": target_asin}],
                    }
                )
                terms.append((target_asin.lower(),))
            self.ad_groups.append(
                _AdGroup(
                    ad_group_id=_entity_id(seed, self.account, "adGroup", index),
                    campaign_index=index,
                    name=f"{self.campaigns[-1].name} - ad group",
                    ads=ads,
                    clauses=tuple(clauses),
                    search_terms=tuple(terms),
                )
            )

    @cached_property
    def profile_id(self) -> int:
        """The account's Ads profile id."""
        return profile_id(self.marketplace.seed, self.account)

    # -- entity versions: a state, budget or bid changes at most once per period ---------------

    def _draw(self, kind: str, key: str, day: date) -> float:
        """A uniform [0, 1) draw fixed for (kind, key) within the period holding `day`."""
        period = day.toordinal() // ENTITY_PERIOD_DAYS
        return _stable_key(self.marketplace.seed, self.account, kind, key, period) / 2.0**64

    def state(self, campaign: _Campaign, day: date) -> str:
        """A campaign's state on `day`: mostly ENABLED, sometimes PAUSED for a period."""
        return "PAUSED" if self._draw("state", campaign.campaign_id, day) < 0.1 else "ENABLED"

    def budget_cents(self, campaign: _Campaign, day: date) -> int:
        """A campaign's daily budget on `day`, in cents."""
        factor = (1.0, 1.25, 0.8)[int(self._draw("budget", campaign.campaign_id, day) * 3)]
        return int(round(campaign.base_budget_cents * factor / 100) * 100)

    def bid_cents(self, key: str, base_cents: int, day: date) -> int:
        """A bid on `day` around its base, in cents."""
        return max(2, int(base_cents * (0.85 + 0.3 * self._draw("bid", key, day))))

    def entities(self, kind: str, today: date) -> list[dict[str, Any]]:
        """The v3 entity objects of `kind` as they are on `today`, ordered by id."""
        rows: list[dict[str, Any]] = []
        for group in self.ad_groups:
            campaign = self.campaigns[group.campaign_index]
            state = self.state(campaign, today)
            ids = {"campaignId": campaign.campaign_id, "adGroupId": group.ad_group_id}
            if kind == "campaigns":
                rows.append(
                    {
                        "campaignId": campaign.campaign_id,
                        "name": campaign.name,
                        "state": state,
                        "targetingType": "MANUAL",
                        "startDate": campaign.start_date.isoformat(),
                        "budget": {
                            "budgetType": "DAILY",
                            "budget": self.budget_cents(campaign, today) / 100,
                        },
                        "dynamicBidding": {"strategy": "LEGACY_FOR_SALES"},
                    }
                )
            elif kind == "adGroups":
                default_bid = self.bid_cents(group.ad_group_id, campaign.base_bid_cents, today)
                rows.append(
                    {**ids, "name": group.name, "state": state, "defaultBid": default_bid / 100}
                )
            else:
                for clause in group.clauses:
                    key = clause.get("keywordId") or clause["targetId"]
                    if ("keywordId" in clause) != (kind == "keywords"):
                        continue
                    bid = self.bid_cents(key, campaign.base_bid_cents, today) / 100
                    extra = {"expressionType": "MANUAL"} if kind == "targets" else {}
                    rows.append({**clause, **ids, "state": state, "bid": bid, **extra})
        id_key = {"campaigns": "campaignId", "adGroups": "adGroupId", "keywords": "keywordId"}
        return sorted(rows, key=lambda row: row[id_key.get(kind, "targetId")])

    # -- daily metrics --------------------------------------------------------------------------

    def advertised_metrics(self, day: date, generated_on: date) -> dict[str, np.ndarray]:
        """Per advertised ASIN (in `ads` order across ad groups): integer metrics of `day`.

        Final numbers come from the day alone; within `RESTATEMENT_DAYS` of `generated_on` they
        are provisional: fewer purchases attributed yet, a few clicks not yet filtered as invalid.
        """
        seed = self.marketplace.seed
        ads = [(g, ad) for g in self.ad_groups for ad in g.ads]
        n = len(ads)
        zero = {name: np.zeros(n, dtype=np.int64) for name in _INT_METRICS}
        if not self.marketplace.has_data(self.account, day):
            return zero
        truth = self.marketplace.sales_and_traffic(self.account, day)
        # An ASIN with two offers (SKUs) is one advertised product: its numbers are the sum.
        totals = ("sessions", "total_order_items", "units_ordered", "ordered_product_sales_cents")
        per_asin = {
            row[0]: row[1:] for row in truth.group_by("asin").agg(pl.col(totals).sum()).iter_rows()
        }
        sessions, orders, units, sales = (
            np.array([per_asin.get(ad[1], (0, 0, 0, 0))[i] for _, ad in ads], dtype=np.int64)
            for i in range(4)
        )
        # An ad push (the marketplace's truth) multiplies the product's reach for its days.
        push = dict(truth.group_by("asin").agg(pl.col("ad_reach").max()).iter_rows())
        ad_reach = np.array([push.get(ad[1], 1.0) for _, ad in ads])
        live = np.array(
            [
                ad[1] in per_asin and self.state(self.campaigns[g.campaign_index], day) == "ENABLED"
                for g, ad in ads
            ]
        )
        profile = _rng(seed, self.account, "ads-asin")  # fixed per ASIN: reach, ctr, cpc, share
        reach = profile.uniform(3.0, 10.0, n)
        ctr = profile.uniform(0.003, 0.012, n)
        cpc_cents = profile.uniform(40.0, 180.0, n)
        share = profile.uniform(0.15, 0.5, n)
        rng = _rng(seed, self.account, "ads-day", day.toordinal())
        impressions = np.where(live, rng.poisson(sessions * reach * ad_reach + 40), 0)
        clicks = rng.binomial(impressions, ctr)
        cost = np.round(clicks * cpc_cents * rng.lognormal(0.0, 0.1, n)).astype(np.int64)
        purchases7 = np.minimum(rng.binomial(orders, share), clicks)
        extra = rng.binomial(orders - purchases7, 0.08)
        purchases14 = np.minimum(purchases7 + extra, np.minimum(orders, clicks))

        age = (generated_on - day).days
        if age <= RESTATEMENT_DAYS:
            late = _rng(seed, self.account, "ads-restate", day.toordinal() * 1000 + max(age, 0))
            keep = 0.7 + 0.3 * max(age, 0) / (RESTATEMENT_DAYS + 1)
            purchases7 = late.binomial(purchases7, keep)
            purchases14 = np.maximum(late.binomial(purchases14, keep), purchases7)
            invalid = np.minimum(late.binomial(clicks, 0.04), impressions - clicks)
            cost = cost + np.round(invalid * cpc_cents).astype(np.int64)
            clicks = clicks + invalid

        def attributed(total: np.ndarray, purchases: np.ndarray) -> np.ndarray:
            # A share of the day's real total: never more than the marketplace sold.
            """A share of the day's real total: never more than the marketplace sold."""
            return np.where(orders > 0, total * purchases // np.maximum(orders, 1), 0)

        return {
            "impressions": impressions.astype(np.int64),
            "clicks": clicks.astype(np.int64),
            "cost": cost,
            "purchases7d": purchases7.astype(np.int64),
            "purchases14d": purchases14.astype(np.int64),
            "sales7d": attributed(sales, purchases7),
            "sales14d": attributed(sales, purchases14),
            "unitsSoldClicks7d": attributed(units, purchases7),
            "unitsSoldClicks14d": attributed(units, purchases14),
        }

    def report_rows(self, report_type: str, day: date, generated_on: date) -> list[dict[str, Any]]:
        """Every row of `report_type` for `day` with all its columns (money in dollars)."""
        metrics = self.advertised_metrics(day, generated_on)
        age = (generated_on - day).days
        # The split of ad-group totals over clauses is restated with the totals, then frozen.
        split_key = day.toordinal() * 1000 + (age if age <= RESTATEMENT_DAYS else 999)
        rng = _rng(self.marketplace.seed, self.account, "ads-split", split_key)
        rows: list[dict[str, Any]] = []
        offset = 0
        by_campaign: dict[int, np.ndarray] = {}
        for group in self.ad_groups:
            campaign = self.campaigns[group.campaign_index]
            size = len(group.ads)
            block = np.stack([metrics[m][offset : offset + size] for m in _INT_METRICS], axis=1)
            offset += size
            base = {"date": day.isoformat(), **self._campaign_columns(campaign, day)}
            base |= {"adGroupId": group.ad_group_id, "adGroupName": group.name}
            by_campaign[group.campaign_index] = by_campaign.get(
                group.campaign_index, 0
            ) + block.sum(axis=0)
            if report_type == "spAdvertisedProduct":
                for (ad_id, asin, sku), values in zip(group.ads, block, strict=True):
                    ad = {"adId": ad_id, "advertisedAsin": asin, "advertisedSku": sku}
                    rows.append({**base, **ad, **_metric_json(values)})
            elif report_type in ("spTargeting", "spSearchTerm"):
                clauses = _split_metrics(block.sum(axis=0), len(group.clauses), rng)
                for clause, terms, values in zip(
                    group.clauses, group.search_terms, clauses, strict=True
                ):
                    columns = {**base, **_targeting_columns(clause)}
                    if report_type == "spTargeting":
                        rows.append({**columns, **_metric_json(values)})
                        continue
                    for term, term_values in zip(
                        terms, _split_metrics(values, len(terms), rng), strict=True
                    ):
                        rows.append({**columns, "searchTerm": term, **_metric_json(term_values)})
        if report_type == "spCampaigns":
            for index, values in sorted(by_campaign.items()):
                campaign = self.campaigns[index]
                columns = {"date": day.isoformat(), **self._campaign_columns(campaign, day)}
                rows.append({**columns, **_metric_json(values)})
        # Amazon leaves out rows without a single impression.
        return [row for row in rows if row["impressions"] > 0]

    def _campaign_columns(self, campaign: _Campaign, day: date) -> dict[str, Any]:
        """The campaign columns of a report row on `day`."""
        return {
            "campaignId": campaign.campaign_id,
            "campaignName": campaign.name,
            "campaignStatus": self.state(campaign, day),
            "campaignBudgetAmount": self.budget_cents(campaign, day) / 100,
            "campaignBudgetType": "DAILY_BUDGET",
            "campaignBudgetCurrencyCode": "USD",
        }


def _targeting_columns(clause: dict[str, Any]) -> dict[str, Any]:
    """The report columns that describe a keyword or a product target."""
    if "keywordId" in clause:
        text = clause["keywordText"]
        return {
            "keywordId": clause["keywordId"],
            "keyword": text,
            "matchType": clause["matchType"],
            "targeting": text,
            "keywordType": clause["matchType"],
        }
    expression = f'asin="{clause["expression"][0]["value"]}"'
    return {
        "keywordId": clause["targetId"],
        "keyword": expression,
        "matchType": "TARGETING_EXPRESSION",
        "targeting": expression,
        "keywordType": "TARGETING_EXPRESSION",
    }


def _metric_json(values: np.ndarray) -> dict[str, Any]:
    """Integer metrics as report JSON: money from cents to dollars."""
    out: dict[str, Any] = {}
    for name, value in zip(_INT_METRICS, values, strict=True):
        out[name] = round(int(value) / 100, 2) if name in _MONEY else int(value)
    return out


def _split_metrics(totals: np.ndarray, parts: int, rng: np.random.Generator) -> np.ndarray:
    """Split integer totals over `parts` rows so each row keeps clicks <= impressions.

    Clicks are drawn from the parts' impressions and purchases from their clicks without
    replacement, so every part stays consistent and the parts add up exactly to the totals.
    """
    m = dict(zip(_INT_METRICS, (int(v) for v in totals), strict=True))
    out = {name: np.zeros(parts, dtype=np.int64) for name in _INT_METRICS}
    weights = rng.dirichlet(np.ones(parts))
    out["impressions"] = rng.multinomial(m["impressions"], weights)
    out["clicks"] = _draw_within(out["impressions"], m["clicks"], rng)
    out["cost"] = _share(m["cost"], out["clicks"], rng)
    out["purchases7d"] = _draw_within(out["clicks"], m["purchases7d"], rng)
    out["purchases14d"] = out["purchases7d"] + _draw_within(
        out["clicks"] - out["purchases7d"], m["purchases14d"] - m["purchases7d"], rng
    )
    for name, basis in (
        ("sales7d", "purchases7d"),
        ("unitsSoldClicks7d", "purchases7d"),
        ("sales14d", "purchases14d"),
        ("unitsSoldClicks14d", "purchases14d"),
    ):
        out[name] = _share(m[name], out[basis], rng)
    return np.stack([out[name] for name in _INT_METRICS], axis=1)


def _draw_within(caps: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Draw `total` units spread over parts without exceeding any part's cap."""
    if total <= 0:
        return np.zeros(len(caps), dtype=np.int64)
    return rng.multivariate_hypergeometric(caps.astype(np.int64), total)


def _share(total: int, basis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split `total` over parts in proportion to `basis`."""
    if total <= 0 or basis.sum() == 0:
        # Nothing to share, or no basis to share it by: the first part carries it.
        out = np.zeros(len(basis), dtype=np.int64)
        out[0] = max(total, 0)
        return out
    return rng.multinomial(total, basis / basis.sum())


@dataclass
class _AdsReport:
    """One reporting v3 report the sandbox holds."""

    report_id: str
    account: str
    key: str
    body: dict[str, Any]
    created: float  # simulated seconds
    created_at: datetime
    failed: bool
    document: bytes | None = None


class AdsSandbox:
    """The Ads API routes and their state, mounted into a `SandboxApp`."""

    def __init__(
        self,
        app: SandboxApp,
        read_token: Callable[[str], tuple[str, str] | None],
        sign: Callable[[str], str],
    ) -> None:
        self.app = app
        self.read_token = read_token
        self.sign = sign
        self._accounts: dict[str, AdsAccount] = {}
        self._reports: dict[str, _AdsReport] = {}
        self._lock = threading.RLock()  # _document builds an account while holding it

    def routes(self) -> list[Route]:
        """The Starlette routes of the Ads API."""
        entity_routes = [
            Route(path, self._entity_handler(path), methods=["POST"]) for path in ENTITY_ROUTES
        ]
        return [
            Route("/v2/profiles", self.profiles, methods=["GET"]),
            *entity_routes,
            Route("/reporting/reports", self.create_report, methods=["POST"]),
            Route("/reporting/reports/{report_id}", self.get_report, methods=["GET"]),
            Route("/ads-downloads/{report_id}", self.download, methods=["GET"]),
        ]

    def account(self, name: str) -> AdsAccount:
        """The advertising of a seller account (built once)."""
        with self._lock:
            if name not in self._accounts:
                self._accounts[name] = AdsAccount(self.app.marketplace, name)
            return self._accounts[name]

    @property
    def today(self) -> date:
        """The sandbox's data calendar day: reports are generated as of it."""
        return self.app.config.today

    # -- plumbing ------------------------------------------------------------------------------

    async def _guard(
        self, request: Request, operation: str, scoped: bool = True
    ) -> AdsAccount | Response:
        """The caller's advertising account when the call may proceed, else the error to send."""
        self.app._count(operation)
        faults = self.app.faults
        if delay := faults.take_slow(operation):
            await asyncio.sleep(delay)
        bearer = request.headers.get("authorization", "")
        identity = self.read_token(bearer.removeprefix("Bearer ").strip())
        denial = faults.take_denial(operation) if identity else None
        if identity is None or denial:
            return _error(
                denial or 401, "UNAUTHORIZED", "Not authorized to access this advertiser."
            )
        client_id, account = identity
        if request.headers.get("amazon-advertising-api-clientid") != client_id:
            return _error(
                400, "INVALID_ARGUMENT", "Amazon-Advertising-API-ClientId is missing or invalid."
            )
        if faults.take_throttle(operation):
            self.app._count(operation, throttled=True)
            response = _error(429, "TOO_MANY_REQUESTS", "Too Many Requests")
            response.headers["Retry-After"] = "1"
            return response
        if status := faults.take_failure(operation):
            return _error(status, "INTERNAL_ERROR", "An internal error occurred; retry later.")
        ads = self.account(account)
        scope = request.headers.get("amazon-advertising-api-scope")
        if scoped and scope != str(ads.profile_id):
            return _error(401, "UNAUTHORIZED", f"Not authorized to access scope {scope}.")
        return ads

    # -- profiles and entities -----------------------------------------------------------------

    async def profiles(self, request: Request) -> Response:
        """GET /v2/profiles: the seller profile of the token's account."""
        guard = await self._guard(request, "adsProfiles", scoped=False)
        if isinstance(guard, Response):
            return guard
        home = self.app.config.home_of(guard.account)
        profile = {
            "profileId": guard.profile_id,
            "countryCode": home.country_code,
            "currencyCode": home.currency,
            "timezone": home.time_zone,
            "accountInfo": {
                "marketplaceStringId": home.marketplace_id,
                "id": f"A{_stable_key(self.app.marketplace.seed, guard.account) % 10**12:012d}",
                "type": "seller",
                "name": guard.account,
                "validPaymentMethod": True,
            },
        }
        return JSONResponse([profile])

    def _entity_handler(self, path: str) -> Callable[[Request], Any]:
        """The POST handler of one /sp/<entity>/list path."""
        operation, media_type, key, kind = ENTITY_ROUTES[path]

        async def handler(request: Request) -> Response:
            """List one page of entities."""
            guard = await self._guard(request, operation)
            if isinstance(guard, Response):
                return guard
            if request.headers.get("content-type", "").split(";")[0] != media_type:
                return _error(415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type must be {media_type}.")
            try:
                body = json.loads(await request.body() or b"{}")
                offset = (
                    int(base64.urlsafe_b64decode(body["nextToken"])) if body.get("nextToken") else 0
                )
                size = int(body.get("maxResults") or 100)
                include = (body.get("stateFilter") or {}).get("include") or list(STATES)
            except (ValueError, TypeError, AttributeError, binascii.Error):
                return _error(400, "INVALID_ARGUMENT", "The request body is not valid.")
            if not 1 <= size <= 5000:
                return _error(400, "INVALID_ARGUMENT", "maxResults must be between 1 and 5000.")
            rows = await run_in_threadpool(guard.entities, kind, self.today)
            rows = [row for row in rows if row["state"] in include]
            page: dict[str, Any] = {key: rows[offset : offset + size], "totalResults": len(rows)}
            if offset + size < len(rows):
                page["nextToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
            return JSONResponse(page, media_type=media_type)

        return handler

    # -- reporting v3 --------------------------------------------------------------------------

    async def create_report(self, request: Request) -> Response:
        """POST /reporting/reports: a new report, or 425 naming an identical one."""
        operation = "adsCreateReport"
        guard = await self._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(400, "400", "The request body is not valid JSON.", detail=True)
        problem = self._validate(body)
        if problem:
            return _error(400, "400", problem, detail=True)
        key = json.dumps([guard.account, body], sort_keys=True)
        now = self.app.clock.now()
        with self._lock:
            for report in self._reports.values():
                if (
                    report.key == key
                    and not report.failed
                    and now - report.created < DUPLICATE_SECONDS
                ):
                    return _error(
                        425,
                        "425",
                        f"The Request is a duplicate of : {report.report_id}",
                        detail=True,
                    )
            report = _AdsReport(
                report_id=str(uuid.uuid4()),
                account=guard.account,
                key=key,
                body=body,
                created=now,
                created_at=datetime.now(UTC),
                failed=self.app.faults.take_ads_failure(),
            )
            self._reports[report.report_id] = report
        return JSONResponse(self._report_json(report))

    def _validate(self, body: Any) -> str | None:
        """Why Amazon would refuse this create body, or None."""
        if not isinstance(body, dict) or not isinstance(body.get("configuration"), dict):
            return "configuration is required."
        config = body["configuration"]
        report_type = config.get("reportTypeId")
        if report_type not in REPORT_TYPES:
            return f"Invalid reportTypeId: {report_type!r}."
        group_by, available = REPORT_TYPES[report_type]
        if config.get("adProduct") != "SPONSORED_PRODUCTS":
            return "adProduct must be SPONSORED_PRODUCTS for this reportTypeId."
        if config.get("groupBy") != [group_by]:
            return f"groupBy for {report_type} must be [{group_by!r}]."
        if config.get("timeUnit") != "DAILY" or config.get("format") != "GZIP_JSON":
            return "The sandbox supports timeUnit DAILY and format GZIP_JSON."
        columns = config.get("columns")
        if not isinstance(columns, list) or not columns:
            return "columns must be a non-empty list."
        if bad := sorted(set(columns) - available):
            return f"Invalid column(s) for {report_type}: {', '.join(map(str, bad))}."
        try:
            start = date.fromisoformat(body.get("startDate"))
            end = date.fromisoformat(body.get("endDate"))
        except (TypeError, ValueError):
            return "startDate and endDate must be dates formatted YYYY-MM-DD."
        if end < start:
            return "endDate must not be before startDate."
        if (end - start).days >= MAX_RANGE_DAYS:
            return f"The date range must not exceed {MAX_RANGE_DAYS} days."
        if start < self.today - timedelta(days=LOOKBACK_DAYS):
            return (
                f"startDate {start} is too far in the past: the maximum lookback for "
                f"{report_type} is {LOOKBACK_DAYS} days."
            )
        return None

    def _status(self, report: _AdsReport) -> str:
        """The report's status now, from its age on the simulated clock."""
        elapsed = self.app.clock.now() - report.created
        if elapsed < self.app.config.queue_seconds:
            return "PENDING"
        if elapsed < self.app.config.queue_seconds + self.app.config.processing_seconds:
            return "PROCESSING"
        return "FAILED" if report.failed else "COMPLETED"

    def _report_json(self, report: _AdsReport) -> dict[str, Any]:
        """The report object as GET /reporting/reports/{id} answers it."""
        status = self._status(report)
        body: dict[str, Any] = {
            "reportId": report.report_id,
            "name": report.body.get("name"),
            "status": status,
            "configuration": report.body["configuration"],
            "startDate": report.body["startDate"],
            "endDate": report.body["endDate"],
            "createdAt": report.created_at.isoformat().replace("+00:00", "Z"),
            "updatedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "url": None,
            "urlExpiresAt": None,
            "fileSize": None,
            "failureReason": None,
        }
        if status == "FAILED":
            body["failureReason"] = "Report generation failed due to an internal error."
        if status == "COMPLETED":
            document = self._document(report)
            config = self.app.config
            lifetime = max(URL_SECONDS, config.document_url_min_real_seconds * config.speed)
            expires = int(self.app.clock.now() + lifetime)
            signature = self.sign(f"ads:{report.report_id}:{expires}")
            body["url"] = (
                f"{self.app.base_url}/ads-downloads/{report.report_id}"
                f"?expires={expires}&signature={signature}"
            )
            real_expiry = datetime.now(UTC) + timedelta(seconds=lifetime / config.speed)
            body["urlExpiresAt"] = real_expiry.isoformat().replace("+00:00", "Z")
            body["fileSize"] = len(document)
            body["generatedAt"] = body["updatedAt"]
        return body

    def _document(self, report: _AdsReport) -> bytes:
        """The report's gzip JSON, built the first time it is asked for (then fixed)."""
        with self._lock:
            if report.document is None:
                config = report.body["configuration"]
                ads = self.account(report.account)
                start = date.fromisoformat(report.body["startDate"])
                end = date.fromisoformat(report.body["endDate"])
                rows = itertools.chain.from_iterable(
                    ads.report_rows(config["reportTypeId"], start + timedelta(days=i), self.today)
                    for i in range((end - start).days + 1)
                )
                columns = config["columns"]
                projected = [{c: row.get(c) for c in columns} for row in rows]
                report.document = gzip.compress(json.dumps(projected).encode(), mtime=0)
            return report.document

    async def get_report(self, request: Request) -> Response:
        """GET /reporting/reports/{id}."""
        guard = await self._guard(request, "adsGetReport")
        if isinstance(guard, Response):
            return guard
        report = self._reports.get(request.path_params["report_id"])
        if report is None or report.account != guard.account:
            return _error(404, "404", "Report not found.", detail=True)
        return JSONResponse(await run_in_threadpool(self._report_json, report))

    async def download(self, request: Request) -> Response:
        """The presigned S3-style download: no Ads API auth, expires, S3 errors."""
        operation = "adsDownload"
        self.app._count(operation)
        faults = self.app.faults
        if faults.take_throttle(operation, storms=False):
            self.app._count(operation, throttled=True)
            return Response("SlowDown", status_code=503)
        if status := faults.take_failure(operation, storms=False):
            return Response("InternalError", status_code=status)
        report_id = request.path_params["report_id"]
        expires = request.query_params.get("expires", "")
        signature = request.query_params.get("signature", "")
        expected = self.sign(f"ads:{report_id}:{expires}")
        if not hmac.compare_digest(signature, expected):
            return Response("SignatureDoesNotMatch", status_code=403)
        if not expires.isdigit() or self.app.clock.now() > int(expires):
            return Response("AccessDenied: Request has expired", status_code=403)
        report = self._reports.get(report_id)
        if report is None or report.document is None:
            return Response("NoSuchKey", status_code=404)
        return Response(report.document, media_type="application/octet-stream")


def _error(status: int, code: str, message: str, detail: bool = False) -> Response:
    # Reporting v3 answers {"code", "detail"}; the older APIs {"code", "details"}.
    """An Ads API error response."""
    return JSONResponse({"code": code, "detail" if detail else "details": message}, status)
