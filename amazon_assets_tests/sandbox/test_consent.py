"""The sandbox's consent pages and Login with Amazon's authorization-code grant, over HTTP."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from amazon_assets.sandbox.consent import ADS_SCOPE, selling_partner_id
from amazon_assets.settings import SANDBOX_APPLICATION_ID, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

REDIRECT = "https://app.example/v1/amazon/oauth-callback"


def consent(sandbox, decision: str, seller: str = "acme", state: str = "s1") -> dict[str, str]:
    """Open the SP-API consent page, answer it, and return the redirect's query."""
    query = urlencode(
        {
            "application_id": SANDBOX_APPLICATION_ID,
            "state": state,
            "version": "beta",
            "redirect_uri": REDIRECT,
        }
    )
    url = f"{sandbox.url}/apps/authorize/consent?{query}"
    page = httpx.get(url)
    assert page.status_code == 200
    assert 'value="allow"' in page.text and 'value="deny"' in page.text
    answer = httpx.post(url, data={"decision": decision, "seller": seller})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def exchange(sandbox, code: str, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        **extra,
    }
    return httpx.post(f"{sandbox.url}/auth/o2/token", data=form)


def refresh(sandbox, refresh_token: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
    }
    return httpx.post(f"{sandbox.url}/auth/o2/token", data=form)


def test_allowed_consent_gives_a_code_that_works_once(sandbox_factory) -> None:
    sandbox = sandbox_factory(accounts=("default", "acme"))
    answer = consent(sandbox, "allow")
    assert answer["state"] == "s1"
    assert answer["selling_partner_id"] == selling_partner_id("acme")
    first = exchange(sandbox, answer["spapi_oauth_code"])
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert tokens["refresh_token"].startswith("Atzr|") and tokens["access_token"].startswith(
        "Atza|"
    )
    # The access token reads acme's reports; the refresh token logs in again.
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200
    replayed = exchange(sandbox, answer["spapi_oauth_code"])
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"


def test_denied_consent_redirects_with_access_denied(sandbox) -> None:
    answer = consent(sandbox, "deny")
    assert answer == {
        "error": "access_denied",
        "error_description": "The user denied consent.",
        "state": "s1",
    }


def test_expired_or_foreign_codes_are_invalid_grants(sandbox_factory) -> None:
    sandbox = sandbox_factory(accounts=("default", "acme"), authorization_code_seconds=0.2)
    expired = consent(sandbox, "allow")["spapi_oauth_code"]
    time.sleep(0.5)
    assert exchange(sandbox, expired).json()["error"] == "invalid_grant"
    assert exchange(sandbox, "RHxzforged").json()["error"] == "invalid_grant"


def test_revoked_authorization_stops_refreshing(sandbox_factory) -> None:
    sandbox = sandbox_factory(accounts=("default", "acme"))
    code = consent(sandbox, "allow")["spapi_oauth_code"]
    refresh_token = exchange(sandbox, code).json()["refresh_token"]
    httpx.post(f"{sandbox.url}/_sandbox/revoke", json={"account": "acme"}).raise_for_status()
    refused = refresh(sandbox, refresh_token)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_ads_consent_uses_login_with_amazon_scope(sandbox_factory) -> None:
    sandbox = sandbox_factory(accounts=("default", "acme"))
    query = urlencode(
        {
            "client_id": SANDBOX_CLIENT_ID,
            "scope": ADS_SCOPE,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "state": "s2",
        }
    )
    url = f"{sandbox.url}/ap/oa?{query}"
    answer = httpx.post(url, data={"decision": "allow", "seller": "acme"})
    params = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
    assert params["scope"] == ADS_SCOPE and params["state"] == "s2"
    tokens = exchange(sandbox, params["code"]).json()
    profiles = httpx.get(
        f"{sandbox.url}/v2/profiles",
        headers={
            "Authorization": f"Bearer {tokens['access_token']}",
            "Amazon-Advertising-API-ClientId": SANDBOX_CLIENT_ID,
        },
    )
    assert profiles.status_code == 200 and profiles.json()
    wrong_scope = httpx.get(url.replace("campaign_management", "other"))
    assert wrong_scope.status_code == 400
