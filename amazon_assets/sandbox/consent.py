"""The sandbox's side of Amazon's consent flows and the authorization-code grant.

- SP-API website authorization: Seller Central's `/apps/authorize/consent?application_id=...
  &state=...&version=beta` shows an Allow / Deny page; Allow redirects to the app's redirect URI
  with `spapi_oauth_code`, `state` and `selling_partner_id`.
- Ads API: Login with Amazon's `/ap/oa?client_id=...&scope=advertising::campaign_management
  &response_type=code&redirect_uri=...&state=...`; Allow redirects with `code`, `scope`, `state`.
- Deny redirects with `error=access_denied` (Login with Amazon's answer for a refused consent).
- `grant_type=authorization_code` at the token endpoint trades a code for a refresh token: a code
  works once, for the client it was issued to and within its life (five minutes, as Amazon's);
  anything else is `invalid_grant`.
- Issued refresh tokens are signed (they survive a sandbox restart); `/_sandbox/revoke` plays a
  seller removing the app's authorization, after which refreshing answers `invalid_grant`.

Which sandbox seller is "logged in" is chosen on the consent page itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlparse

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from amazon_assets.sandbox.app import SandboxApp

SP_API_CONSENT_PATH = "/apps/authorize/consent"
ADS_CONSENT_PATH = "/ap/oa"
ADS_SCOPE = "advertising::campaign_management"
_ISSUED_PREFIX = "Atzr|IwEB"


@dataclass(frozen=True)
class _Grant:
    client_id: str
    account: str
    redirect_uri: str
    issued_at: float  # real seconds: a code's life is the browser's round trip, not Amazon time


def selling_partner_id(account: str) -> str:
    """The sandbox seller's merchant id (Amazon's look: 'A' and 13 upper-case characters)."""
    return "A" + hashlib.sha256(account.encode()).hexdigest()[:13].upper()


class ConsentSandbox:
    """Consent pages, authorization codes and the refresh tokens issued for them."""

    def __init__(self, app: SandboxApp, sign: Callable[[str], str]) -> None:
        self.app = app
        self.sign = sign
        self._codes: dict[str, _Grant] = {}
        self._revoked: set[str] = set()  # accounts whose issued tokens no longer refresh
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            Route(SP_API_CONSENT_PATH, self.sp_api_consent, methods=["GET", "POST"]),
            Route(ADS_CONSENT_PATH, self.ads_consent, methods=["GET", "POST"]),
            Route("/_sandbox/revoke", self.revoke, methods=["POST"]),
        ]

    # -- consent pages -------------------------------------------------------------------------

    async def sp_api_consent(self, request: Request) -> Response:
        params = request.query_params
        application_id = params.get("application_id", "")
        client_id = self.app.config.applications.get(application_id)
        if client_id is None:
            return _page(400, "Unknown application", f"No application {application_id!r}.")
        return await self._consent(request, client_id, "SP-API", ads=False)

    async def ads_consent(self, request: Request) -> Response:
        params = request.query_params
        client_id = params.get("client_id", "")
        if client_id not in self.app.config.clients:
            return _page(400, "Unknown client", f"No client {client_id!r}.")
        if params.get("response_type") != "code" or params.get("scope") != ADS_SCOPE:
            return _page(400, "Bad request", f"response_type=code and scope={ADS_SCOPE} needed.")
        return await self._consent(request, client_id, "Amazon Ads", ads=True)

    async def _consent(self, request: Request, client_id: str, api: str, *, ads: bool) -> Response:
        params = request.query_params
        redirect_uri, state = params.get("redirect_uri", ""), params.get("state", "")
        if urlparse(redirect_uri).scheme not in ("http", "https") or not state:
            return _page(400, "Bad request", "redirect_uri (http or https) and state are needed.")
        if request.method == "GET":
            return _consent_page(api, self.app.config.accounts, str(request.url))
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("decision") != "allow":
            answer = {"error": "access_denied", "error_description": "The user denied consent."}
            return _redirect(redirect_uri, {**answer, "state": state})
        account = str(form.get("seller") or "")
        if account not in self.app.config.accounts:
            return _page(400, "Bad request", f"No sandbox seller {account!r}.")
        code = ("ANDS" if ads else "RHxz") + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(client_id, account, redirect_uri, time.time())
        if ads:
            return _redirect(redirect_uri, {"code": code, "scope": ADS_SCOPE, "state": state})
        return _redirect(
            redirect_uri,
            {
                "state": state,
                "selling_partner_id": selling_partner_id(account),
                "spapi_oauth_code": code,
            },
        )

    # -- tokens --------------------------------------------------------------------------------

    def redeem(self, code: str, client_id: str, redirect_uri: str | None) -> str | None:
        """The account a code was issued for, once: None if unknown, used, expired or not this
        client's (the caller answers invalid_grant)."""
        with self._lock:
            grant = self._codes.pop(code, None)
        if grant is None or grant.client_id != client_id:
            return None
        if redirect_uri and redirect_uri != grant.redirect_uri:
            return None
        if time.time() - grant.issued_at > self.app.config.authorization_code_seconds:
            return None
        return grant.account

    def issue_refresh_token(self, client_id: str, account: str) -> str:
        payload = base64.urlsafe_b64encode(
            json.dumps({"c": client_id, "a": account, "n": secrets.token_hex(8)}).encode()
        ).decode()
        return f"{_ISSUED_PREFIX}{payload}.{self.sign(payload)}"

    def issued_account(self, refresh_token: str, client_id: str) -> str | None:
        """The account of a refresh token this sandbox issued to `client_id` and nobody revoked."""
        if not refresh_token.startswith(_ISSUED_PREFIX) or "." not in refresh_token:
            return None
        payload, signature = refresh_token.removeprefix(_ISSUED_PREFIX).rsplit(".", 1)
        if not secrets.compare_digest(signature, self.sign(payload)):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
        except (ValueError, binascii.Error):
            return None
        with self._lock:
            revoked = claims.get("a") in self._revoked
        return None if revoked or claims.get("c") != client_id else claims.get("a")

    async def revoke(self, request: Request) -> Response:
        """POST {"account": NAME}: the seller removed the app; its issued tokens stop working."""
        account = str((await request.json()).get("account") or "")
        with self._lock:
            self._revoked.add(account)
        return JSONResponse({"revoked": account})


def _redirect(uri: str, params: dict[str, str]) -> Response:
    separator = "&" if urlparse(uri).query else "?"
    return RedirectResponse(f"{uri}{separator}{urlencode(params)}", status_code=302)


def _page(status: int, title: str, text: str) -> Response:
    body = f"<!doctype html><title>{html.escape(title)}</title><p>{html.escape(text)}</p>"
    return HTMLResponse(body, status_code=status)


def _consent_page(api: str, accounts: tuple[str, ...], action: str) -> Response:
    options = "".join(
        f'<option value="{html.escape(a)}">{html.escape(a)}</option>' for a in accounts
    )
    body = f"""<!doctype html>
<title>Authorize application (sandbox)</title>
<h1>Authorize this application to access your {html.escape(api)} data</h1>
<form method="post" action="{html.escape(action)}">
  <label>Signed in as seller <select name="seller">{options}</select></label>
  <button type="submit" name="decision" value="allow">Allow</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>"""
    return HTMLResponse(body)
