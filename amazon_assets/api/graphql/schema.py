"""The GraphQL schema (Strawberry) over the same services as REST.

Per-product fields load through DataLoaders, so a page of N products costs the same few mart
queries as one REST batch: `products` finds them in one query, every `series` of the request
is one `batch_metrics` call (per range), every `competitors` list one query.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, NewType

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from amazon_assets.api.auth import Principal
from amazon_assets.api.mart import MartReader
from amazon_assets.api.services import alerts as alert_service
from amazon_assets.api.services import competitors as competitor_service
from amazon_assets.api.services import products as product_service
from amazon_assets.api.services.common import MART, Scope, present

SeriesKey = tuple[str, str, date | None, date | None]  # account, asin, from, to


@dataclass
class Context:
    """What resolvers of one request share: the caller, the mart, the request's loaders."""

    principal: Principal
    scope: Scope
    reader: MartReader
    series: DataLoader[SeriesKey, DailySeries]
    competitors: DataLoader[tuple[str, str], list[str]]


def _series_scalar(name: str, items: str) -> Any:
    """A whole daily column as one leaf: a list of `items` (null where the mart has none).

    One leaf per column instead of one per day: a 50-product page of 30 days is 700 values for
    GraphQL to complete, not 21,000 (the cost that would otherwise dominate the answer).
    """
    return strawberry.scalar(
        NewType(name, list),
        name=name,
        description=f"One value a day, in the order of reportDate: {items} or null.",
        serialize=lambda values: values,
        parse_value=lambda values: values,
    )


DateSeries = _series_scalar("DateSeries", "days (YYYY-MM-DD)")
MoneySeries = _series_scalar("MoneySeries", "exact amounts as decimal strings")
IntSeries = _series_scalar("IntSeries", "whole numbers")
FloatSeries = _series_scalar("FloatSeries", "numbers")
BooleanSeries = _series_scalar("BooleanSeries", "true/false")


@strawberry.type(description="A product's daily mart values over a range, one list per field.")
class DailySeries:
    report_date: DateSeries
    price: MoneySeries
    buy_box_price: MoneySeries
    bsr: IntSeries
    rating: FloatSeries
    review_count: IntSeries
    units_ordered: IntSeries
    ordered_product_sales: MoneySeries
    sessions: IntSeries
    conversion: FloatSeries
    buy_box_percentage: FloatSeries
    ad_spend: MoneySeries
    tacos: FloatSeries
    in_stock: BooleanSeries


SERIES_FIELDS = tuple(name for name in DailySeries.__annotations__ if name != "report_date")


def columns_of(rows: list[dict[str, Any]]) -> DailySeries:
    """Daily rows as one list per field."""
    return DailySeries(
        report_date=[row["report_date"] for row in rows],
        **{name: [row.get(name) for row in rows] for name in SERIES_FIELDS},
    )


@strawberry.type(description="One of your products; its fields are loaded for all at once.")
class Product:
    account: str
    asin: str

    @strawberry.field(description="Daily values over [from, to] (default: 90 days to yesterday).")
    async def series(
        self,
        info: Info[Context, None],
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
    ) -> DailySeries:
        return await info.context.series.load((self.account, self.asin, from_, to))

    @strawberry.field(description="The ASINs tracked as its competitors.")
    async def competitors(self, info: Info[Context, None]) -> list[str]:
        return await info.context.competitors.load((self.account, self.asin))


@strawberry.type(description="A product now: each signal's newest value.")
class ProductState:
    account: str
    asin: str
    category: str | None = None
    price: Decimal | None = None
    buy_box_price: Decimal | None = None
    has_buy_box: bool | None = None
    bsr: int | None = None
    rating: float | None = None
    review_count: int | None = None
    in_stock: bool | None = None
    units_ordered: int | None = None
    sessions: int | None = None
    conversion: float | None = None
    currency_code: str | None = None


@strawberry.type
class Alert:
    alert_id: str
    account: str
    asin: str
    report_date: date
    kind: str
    before: Decimal | None = None
    after: Decimal | None = None
    change: float | None = None
    baseline: str | None = None
    episode_start: date | None = None
    episode_days: int | None = None


@strawberry.type
class Caller:
    subject: str
    role: str
    accounts: list[str] | None


def _known(cls: type, row: dict[str, Any]) -> dict[str, Any]:
    names = cls.__annotations__
    return {name: value for name, value in row.items() if name in names}


@strawberry.type
class Query:
    @strawberry.field(description="Who the token says you are.")
    def me(self, info: Info[Context, None]) -> Caller:
        principal = info.context.principal
        accounts = None if principal.accounts is None else sorted(principal.accounts)
        return Caller(subject=principal.subject, role=principal.role.value, accounts=accounts)

    @strawberry.field(description="Those of `asins` your accounts hold (one query for all).")
    async def products(
        self, info: Info[Context, None], asins: list[str], account: str | None = None
    ) -> list[Product]:
        context = info.context
        if len(asins) > product_service.MAX_BATCH:
            raise ValueError(f"at most {product_service.MAX_BATCH} ASINs; got {len(asins)}.")
        wanted = [asin.upper() for asin in dict.fromkeys(asins)]
        found = await asyncio.to_thread(
            product_service.find_products, context.reader, context.scope, wanted, account
        )
        return [Product(account=acc, asin=asin) for acc, asin in found]

    @strawberry.field(description="One product now (the REST /v1/products/{asin} answer).")
    async def product(
        self, info: Info[Context, None], asin: str, account: str | None = None
    ) -> ProductState:
        context = info.context
        answer = await asyncio.to_thread(
            product_service.product_state, context.reader, context.scope, asin.upper(), account
        )
        return ProductState(**_known(ProductState, answer["data"]))

    @strawberry.field(description="Alerts of your ASINs on or after `since`, newest first.")
    async def alerts(
        self,
        info: Info[Context, None],
        since: date | None = None,
        kinds: list[str] | None = None,
        asin: str | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        context = info.context
        answer = await asyncio.to_thread(
            alert_service.list_alerts,
            context.reader,
            context.scope,
            since,
            kinds,
            asin.upper() if asin else None,
            limit,
        )
        return [Alert(**_known(Alert, row)) for row in answer["data"]]


schema = strawberry.Schema(query=Query)


def loaders(reader: MartReader, scope: Scope) -> dict[str, DataLoader]:
    """The request's DataLoaders: each collects the keys its fields ask for, then loads them
    in one call."""

    async def load_series(keys: list[SeriesKey]) -> list[DailySeries]:
        by_range: dict[tuple[date | None, date | None], set[str]] = defaultdict(set)
        for _, asin, first, last in keys:
            by_range[(first, last)].add(asin)
        loaded: dict[SeriesKey, DailySeries] = {}
        for (first, last), asins in by_range.items():
            fields = present(reader, MART, SERIES_FIELDS)
            answer = await asyncio.to_thread(
                product_service.batch_metrics, reader, scope, sorted(asins), first, last, fields
            )
            for entry in answer["data"]:
                loaded[(entry["account"], entry["asin"], first, last)] = columns_of(entry["series"])
        return [loaded.get(key) or columns_of([]) for key in keys]

    async def load_competitors(keys: list[tuple[str, str]]) -> list[list[str]]:
        rivals = await asyncio.to_thread(competitor_service.competitors_of, reader, keys)
        return [rivals[key] for key in keys]

    return {
        "series": DataLoader(load_fn=load_series),
        "competitors": DataLoader(load_fn=load_competitors),
    }
