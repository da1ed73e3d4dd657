"""/v1/products: current state, daily series, batch series, year over year, competitors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from amazon_assets.api import reads
from amazon_assets.api.answers import answer
from amazon_assets.api.auth import Principal
from amazon_assets.api.params import (
    AccountQuery,
    Align,
    AsinPath,
    FieldsQuery,
    FromQuery,
    ToQuery,
    split,
)
from amazon_assets.api.schemas import (
    BatchAnswer,
    BatchRequest,
    CompetitorsAnswer,
    ProductAnswer,
    SeriesAnswer,
    YoyAnswer,
    problems,
)
from amazon_assets.api.security import analyst, viewer

router = APIRouter(prefix="/v1/products", tags=["products"])
Viewer = Annotated[Principal, Depends(viewer)]
Analyst = Annotated[Principal, Depends(analyst)]


@router.post(
    "/metrics:batch",
    response_model=BatchAnswer,
    responses=problems(400, 401, 403, 404, 422, 429, 503),
    summary="Daily series of up to 100 ASINs",
)
async def batch_metrics(request: Request, body: BatchRequest, principal: Analyst) -> Response:
    """One range and field list for up to 100 ASINs; `not_found` lists those none of your
    accounts has (an ASIN in several of your accounts has one entry per account)."""
    return await answer(
        request,
        principal,
        reads.batch(body.asins, body.from_, body.to, body.fields, body.account),
    )


@router.get(
    "/{asin}",
    response_model=ProductAnswer,
    responses=problems(304, 401, 404, 409, 429, 503),
    summary="Current state of a product",
)
async def product(
    request: Request, asin: AsinPath, principal: Viewer, account: AccountQuery = None
) -> Response:
    """Price, buy box, BSR and category, rating, reviews, stock, explosive score and rank, and
    the latest prediction; each value with the day it was observed."""
    return await answer(request, principal, reads.product(asin, account))


@router.get(
    "/{asin}/metrics",
    response_model=SeriesAnswer,
    responses=problems(304, 401, 404, 409, 422, 429, 503),
    summary="Daily series of a product",
)
async def product_metrics(
    request: Request,
    asin: AsinPath,
    principal: Viewer,
    first: FromQuery = None,
    last: ToQuery = None,
    fields: FieldsQuery = None,
    account: AccountQuery = None,
) -> Response:
    """The mart's daily rows for the ASIN (default: the 90 days ending yesterday)."""
    return await answer(
        request, principal, reads.metrics(asin, first, last, split(fields), account)
    )


@router.get(
    "/{asin}/yoy",
    response_model=YoyAnswer,
    responses=problems(304, 401, 404, 409, 422, 429, 503),
    summary="The same days a year back",
)
async def product_yoy(
    request: Request,
    asin: AsinPath,
    principal: Viewer,
    first: FromQuery = None,
    last: ToQuery = None,
    align: Annotated[Align, Query(description="weekday: 364 days back; date: same date.")] = (
        "weekday"
    ),
    fields: FieldsQuery = None,
    account: AccountQuery = None,
) -> Response:
    """Each settled day of the range next to its day a year back, aligned by weekday (364 days
    back) or by calendar date (29 February -> 28 February); provisional days are left out."""
    return await answer(
        request, principal, reads.yoy(asin, first, last, align, split(fields), account)
    )


@router.get(
    "/{asin}/competitors",
    response_model=CompetitorsAnswer,
    responses=problems(304, 401, 404, 409, 429, 503),
    summary="A product's competitors now",
)
async def product_competitors(
    request: Request, asin: AsinPath, principal: Viewer, account: AccountQuery = None
) -> Response:
    """The own ASIN and its 3 to 5 tracked competitors: newest price, buy box, BSR, rating,
    reviews and stock, and the newest daily gaps."""
    return await answer(request, principal, reads.product_competitors(asin, account))
