"""/v1/alerts and /v1/predictions/top."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from amazon_assets.api import reads
from amazon_assets.api.answers import answer
from amazon_assets.api.auth import Principal
from amazon_assets.api.params import (
    ASIN_PATTERN,
    CATEGORY_PATTERN,
    FIRST_DAY,
    KINDS_PATTERN,
    LAST_DAY,
    split,
)
from amazon_assets.api.schemas import AlertsAnswer, PredictionsAnswer, problems
from amazon_assets.api.security import analyst, viewer
from amazon_assets.api.services import alerts, predictions

router = APIRouter(prefix="/v1", tags=["alerts and predictions"])


@router.get(
    "/alerts",
    response_model=AlertsAnswer,
    responses=problems(304, 401, 422, 429, 503),
    summary="Alerts of your ASINs",
)
async def list_alerts(
    request: Request,
    principal: Annotated[Principal, Depends(viewer)],
    since: Annotated[
        date | None, Query(ge=FIRST_DAY, le=LAST_DAY, description="Default: 7 days back.")
    ] = None,
    kind: Annotated[
        str | None, Query(pattern=KINDS_PATTERN, description="Comma-separated kinds.")
    ] = None,
    asin: Annotated[str | None, Query(pattern=ASIN_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=alerts.MAX_ALERTS)] = 100,
) -> Response:
    """Price, BSR, buy box, stock and rating alerts on or after `since`, newest first."""
    code = asin.upper() if asin else None
    return await answer(request, principal, reads.alert_list(since, split(kind), code, limit))


@router.get(
    "/predictions/top",
    response_model=PredictionsAnswer,
    responses=problems(304, 401, 403, 404, 422, 429, 503),
    summary="Top predicted take-offs per category",
)
async def top_predictions(
    request: Request,
    principal: Annotated[Principal, Depends(analyst)],
    day: Annotated[
        date | None,
        Query(alias="date", ge=FIRST_DAY, le=LAST_DAY, description="Default: the newest."),
    ] = None,
    category: Annotated[str | None, Query(pattern=CATEGORY_PATTERN)] = None,
    k: Annotated[int, Query(ge=1, le=predictions.MAX_K)] = 20,
) -> Response:
    """The k best-scored ASINs of each category (or of `category`) on `date`, ranked among your
    accounts' ASINs."""
    return await answer(request, principal, reads.top_predictions(day, category, k))
