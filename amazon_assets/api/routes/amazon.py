"""/v1/amazon/authorize and /v1/amazon/oauth-callback: connect a seller's Amazon account.

Authorize (admin) sends the browser to Amazon's consent page with a single-use `state` kept in
the state database; the callback checks that state, trades the code for the refresh token,
stores it encrypted and registers the account (whose backfill the onboarding sensor starts),
then sends the browser back to the accounts page.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from amazon_assets.api.auth import ACCOUNT_NAME, Principal
from amazon_assets.api.operations import operations
from amazon_assets.api.schemas import problems
from amazon_assets.api.security import admin_browser
from amazon_assets.api.services import operations as ops_service
from amazon_assets.api.services.oauth import (
    CALLBACK_PATH,
    ConsentError,
    complete_consent,
    consent_url,
)
from amazon_assets.sources.vault import ADS_API, SP_API, VaultError

router = APIRouter(prefix="/v1/amazon", tags=["connect Amazon accounts"])
APIS = {"sp": SP_API, "ads": ADS_API}


def redirect_uri(request: Request) -> str:
    """The callback as the browser reaches it (AMAZON_ASSETS_PUBLIC_URL behind a proxy)."""
    public = request.app.state.api.settings.oauth.public_url
    base = public or str(request.base_url).rstrip("/")
    return base + CALLBACK_PATH


@router.get(
    "/authorize",
    status_code=302,
    responses=problems(400, 401, 403, 429),
    summary="Send the seller to Amazon's consent page",
)
async def authorize(
    request: Request,
    principal: Annotated[Principal, Depends(admin_browser)],
    account: Annotated[str, Query(description="The account's name here (new or registered).")],
    api: Annotated[Literal["sp", "ads"], Query(description="SP-API or Ads API consent.")] = "sp",
) -> RedirectResponse:
    """302 to Seller Central's consent page (SP-API) or Login with Amazon's (Ads API)."""
    if not ACCOUNT_NAME.match(account):
        raise HTTPException(
            400, f"{account!r} is not an account name (letters, digits, space, _ . -)."
        )
    ops = operations(request)
    try:
        url = await run_in_threadpool(
            consent_url, ops.settings, ops.vault, account, APIS[api], redirect_uri(request)
        )
    except ConsentError as error:
        raise HTTPException(400, str(error)) from None
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get(
    "/oauth-callback",
    status_code=303,
    responses=problems(400),
    summary="Where Amazon sends the seller back",
)
async def oauth_callback(
    request: Request,
    state: Annotated[str, Query(max_length=200)],
    spapi_oauth_code: Annotated[str | None, Query(max_length=2000)] = None,
    selling_partner_id: Annotated[str | None, Query(max_length=64)] = None,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """Check the state, exchange the code, store the token, register the account; 303 to the
    accounts page. The state is proof enough: only an admin got one, and it works once."""
    ops = operations(request)
    api = SP_API if spapi_oauth_code else ADS_API
    if error or not (spapi_oauth_code or code):
        # The seller said no (or Amazon did): the state is spent all the same.
        try:
            account = await run_in_threadpool(ops.vault.take_state, state, None)
        except VaultError:
            account = None
        reason = "the seller declined" if error == "access_denied" else (error or "no code")
        raise HTTPException(
            400,
            f"Amazon did not authorize the app ({reason}); nothing was stored"
            + (f", start again from /v1/amazon/authorize?account={account}." if account else "."),
        )
    try:
        connected = await run_in_threadpool(
            complete_consent,
            ops.settings,
            ops.vault,
            state=state,
            code=spapi_oauth_code or code or "",
            api=api,
            redirect_uri=redirect_uri(request),
            partner_id=selling_partner_id,
        )
    except ConsentError as refusal:
        raise HTTPException(400, str(refusal)) from None
    await run_in_threadpool(ops_service.create_account, ops.instance(), connected.account)
    query = urlencode({"connected": connected.account, "api": "ads" if api == ADS_API else "sp"})
    return RedirectResponse(f"/accounts?{query}", status_code=303)
