"""The `caller(role)` dependency: a valid bearer token of at least `role`, within its rate limit.

401 without a valid token, 403 when its role is too low, 429 with Retry-After past its limit.
Errors say what is wrong in one sentence and never repeat the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from amazon_assets.api.auth import AuthError, Principal, Role, decode_token

# The accounts page keeps the admin's token in this cookie (HttpOnly, SameSite=Lax).
SESSION_COOKIE = "amazon_assets_session"
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A JWT from `amazon-assets token` (role and accounts it may read).",
)


async def authorize(request: Request, token: str | None, role: Role) -> Principal:
    """The principal of `token`, checked against `role` and its rate limit (401/403/429)."""
    state = request.app.state.api
    challenge = {"WWW-Authenticate": 'Bearer realm="amazon-assets"'}
    if token is None:
        raise HTTPException(401, "an Authorization: Bearer token is required.", challenge)
    try:
        principal = decode_token(state.signing_key, state.settings.serving.jwt_issuer, token)
    except AuthError as error:
        challenge["WWW-Authenticate"] += ', error="invalid_token"'
        raise HTTPException(401, str(error), challenge) from None
    request.state.subject = principal.subject
    if not principal.may(role):
        raise HTTPException(
            403, f"this needs the {role.value} role; the token is {principal.role.value}."
        )
    decision = await state.limiter.hit(principal.token_id)
    if not decision.allowed:
        state.metrics.rate_limited.inc()
        raise HTTPException(
            429,
            f"rate limit {decision.limit} reached for this token; retry in "
            f"{decision.retry_after} s.",
            {"Retry-After": str(decision.retry_after)},
        )
    return principal


def caller(
    role: Role = Role.viewer, *, cookie: bool = False
) -> Callable[..., Awaitable[Principal]]:
    """A dependency resolving the request's principal, checked against `role` and rate limits.

    With `cookie`, a token kept in the session cookie of the accounts page counts too: only for
    GET routes a browser opens (pages, consent redirects, progress streams), so a page of another
    site can never make a browser change anything with it.
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        token = credentials.credentials if credentials is not None else None
        if token is None and cookie:
            token = request.cookies.get(SESSION_COOKIE)
        return await authorize(request, token, role)

    return dependency


viewer = caller(Role.viewer)
analyst = caller(Role.analyst)
admin = caller(Role.admin)
admin_browser = caller(Role.admin, cookie=True)
