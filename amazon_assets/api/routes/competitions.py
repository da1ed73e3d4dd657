"""/v1/competitions: the daily gaps of an own ASIN to its competitors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from amazon_assets.api import reads
from amazon_assets.api.answers import answer
from amazon_assets.api.auth import Principal
from amazon_assets.api.params import AccountQuery, AsinPath, FromQuery, ToQuery
from amazon_assets.api.schemas import CompetitionAnswer, problems
from amazon_assets.api.security import viewer

router = APIRouter(prefix="/v1/competitions", tags=["competitors"])


@router.get(
    "/{asin}",
    response_model=CompetitionAnswer,
    responses=problems(304, 401, 404, 409, 422, 429, 503),
    summary="Daily gaps to the competitors",
)
async def competition(
    request: Request,
    asin: AsinPath,
    principal: Annotated[Principal, Depends(viewer)],
    first: FromQuery = None,
    last: ToQuery = None,
    account: AccountQuery = None,
) -> Response:
    """Price, BSR, rating and review gaps to the competitors' medians and the estimated sales
    share, per day (default: the 90 days ending yesterday)."""
    return await answer(request, principal, reads.competition(asin, first, last, account))
