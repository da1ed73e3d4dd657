"""/health and /v1/me."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from amazon_assets.api.answers import JSON, dumps
from amazon_assets.api.auth import Principal
from amazon_assets.api.mart import MartUnavailable
from amazon_assets.api.schemas import Caller, Health, problems
from amazon_assets.api.security import viewer

router = APIRouter(tags=["system"])
_HEALTH_TIMEOUT_SECONDS = 3.0


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request) -> Response:
    """200 when the mart answers; the cache and the newest mart change the worker has seen."""
    state = request.app.state.api
    mart = {"store": state.reader.kind, "newest_change": state.changes.newest}
    try:
        await asyncio.wait_for(asyncio.to_thread(state.reader.ping), _HEALTH_TIMEOUT_SECONDS)
        mart["reachable"] = True
    except (MartUnavailable, TimeoutError):
        mart["reachable"] = False
    cache = {"backend": "redis" if state.settings.serving.redis_url else "memory"}
    try:
        await asyncio.wait_for(state.cache.backend.ping(), _HEALTH_TIMEOUT_SECONDS)
        cache["reachable"] = True
    except Exception:
        cache["reachable"] = False
    ok = mart["reachable"]
    body = {"status": "ok" if ok else "unavailable", "mart": mart, "cache": cache}
    return Response(
        dumps(body), 200 if ok else 503, media_type=JSON, headers={"Cache-Control": "no-store"}
    )


@router.get("/v1/me", response_model=Caller, responses=problems(401, 429))
async def me(principal: Annotated[Principal, Depends(viewer)]) -> Response:
    """Who the token says you are: subject, role and the accounts you may read."""
    body = {
        "subject": principal.subject,
        "role": principal.role.value,
        "accounts": None if principal.accounts is None else sorted(principal.accounts),
    }
    return Response(dumps(body), media_type=JSON, headers={"Cache-Control": "no-store"})
