"""Connecting accounts over real HTTP: `amazon-assets api` against the sandbox's consent pages
and Login with Amazon, the vault in the state database, refusals in one sentence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sp_api.auth.access_token_client import cache as access_token_cache

from amazon_assets.defs.business_reports.assets import app_budget
from amazon_assets.defs.seller_history.assets import SOURCE_NAMES
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.sandbox import SandboxConfig, SandboxServer
from amazon_assets.sandbox.consent import selling_partner_id
from amazon_assets.settings import SANDBOX_APPLICATION_ID, Settings
from amazon_assets.sources.quotas import Clock
from amazon_assets.sources.refusals import CredentialRefused
from amazon_assets.sources.sales_and_traffic_budget import (
    DAILY_REQUESTS,
    SETTLING,
    BudgetedRequest,
    amazon_day,
)
from amazon_assets.sources.vault import ADS_API, SP_API, CredentialVault
from amazon_assets_tests.api.onboarding import (
    HISTORY_DAYS,
    Platform,
    consent,
    platform_environment,
    query_of,
)
from amazon_assets_tests.api.server import ApiServer, free_port

SELLERS = ("default", "acme", "brand", "globex", "initech", "umbrella")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("onboarding")
    config = SandboxConfig(seed=7, accounts=SELLERS, skus_per_account=8, speed=3600.0)
    with SandboxServer(config, port=0) as sandbox:
        env = platform_environment(root, sandbox, free_port())
        platform = Platform(root, sandbox, env)
        with ApiServer(env, root / "api.log") as api:
            platform.api = api
            platform.logs.append(api.log_path)
            yield platform


def vault(platform: Platform) -> CredentialVault:
    return CredentialVault.at(platform.state_path, (platform.secret_key,))


def accounts(platform: Platform) -> dict[str, dict]:
    answer = httpx.get(f"{platform.api.url}/v1/accounts", headers=platform.headers())
    assert answer.status_code == 200, answer.text
    return {a["name"]: a for a in answer.json()["accounts"]}


def test_consent_stores_the_token_encrypted_and_registers_the_account(platform: Platform) -> None:
    callback = consent(platform, "acme")
    params = query_of(callback)
    assert params["selling_partner_id"] == selling_partner_id("acme")
    done = httpx.get(callback)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/accounts?connected=acme&api=sp"

    (entry,) = [e for e in vault(platform).entries("acme")]
    assert (entry.api, entry.status, entry.partner_id) == (
        SP_API,
        "active",
        params["selling_partner_id"],
    )
    token, _ = vault(platform).refresh_token("acme", SP_API)
    assert token.startswith("Atzr|")
    raw = b"".join(p.read_bytes() for p in Path(platform.state_path).parent.glob("state.sqlite*"))
    assert token.encode() not in raw

    listed = accounts(platform)["acme"]
    assert listed["status"] == "enabled"
    assert [(a["api"], a["status"]) for a in listed["authorizations"]] == [(SP_API, "active")]
    assert (
        token not in httpx.get(f"{platform.api.url}/v1/accounts", headers=platform.headers()).text
    )

    replayed = httpx.get(callback)
    assert replayed.status_code == 400
    assert "already completed" in replayed.json()["detail"]


def test_consent_url_names_the_app_and_a_fresh_state(platform: Platform) -> None:
    first, second = (
        httpx.get(
            f"{platform.api.url}/v1/amazon/authorize",
            params={"account": "acme"},
            headers=platform.headers(),
        ).headers["location"]
        for _ in range(2)
    )
    assert first.startswith(f"{platform.sandbox.url}/apps/authorize/consent?")
    assert query_of(first)["application_id"] == SANDBOX_APPLICATION_ID
    assert query_of(first)["redirect_uri"] == f"{platform.api.url}/v1/amazon/oauth-callback"
    assert query_of(first)["state"] != query_of(second)["state"]


def test_forged_state_is_refused(platform: Platform) -> None:
    callback = consent(platform, "globex")
    params = query_of(callback)
    params["state"] = "forged-" + params["state"][7:]
    refused = httpx.get(f"{platform.api.url}/v1/amazon/oauth-callback", params=params)
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "the state parameter was not issued by this server; start again from /v1/amazon/authorize."
    )
    assert vault(platform).entries("globex") == []


def test_only_admins_connect_and_operate(platform: Platform) -> None:
    url = platform.api.url
    for role in ("viewer", "analyst"):
        headers = platform.headers(role, "acme")
        authorize = httpx.get(f"{url}/v1/amazon/authorize?account=acme", headers=headers)
        assert authorize.status_code == 403
        assert authorize.json()["detail"] == f"this needs the admin role; the token is {role}."
        assert httpx.get(f"{url}/v1/accounts", headers=headers).status_code == 403
        launch = httpx.post(f"{url}/v1/accounts/acme/backfill", headers=headers, json={})
        assert launch.status_code == 403
        progress = httpx.get(f"{url}/v1/accounts/acme/progress", headers=headers)
        assert progress.status_code == 403
    assert httpx.get(f"{url}/v1/amazon/authorize?account=acme").status_code == 401
    page = httpx.get(f"{url}/accounts")
    assert page.status_code == 401 and "Admin token" in page.text


def test_declined_consent_stores_nothing(platform: Platform) -> None:
    callback = consent(platform, "initech", decision="deny")
    refused = httpx.get(callback)
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "Amazon did not authorize the app (the seller declined); nothing was stored, start "
        "again from /v1/amazon/authorize?account=initech."
    )
    assert vault(platform).entries("initech") == []


def test_a_used_code_is_refused_in_one_sentence(platform: Platform) -> None:
    first = consent(platform, "umbrella")
    assert httpx.get(first).status_code == 303
    second = query_of(consent(platform, "umbrella"))
    second["spapi_oauth_code"] = query_of(first)["spapi_oauth_code"]
    refused = httpx.get(f"{platform.api.url}/v1/amazon/oauth-callback", params=second)
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert detail.startswith("Login with Amazon refused the authorization code (invalid_grant: ")
    assert detail.endswith(
        "the code was used already or is older than five minutes, so start again from "
        "/v1/amazon/authorize?account=umbrella."
    )
    assert second["spapi_oauth_code"] not in detail


def test_ads_consent_stores_the_advertiser_and_its_profiles(platform: Platform) -> None:
    callback = consent(platform, "acme", api="ads")
    assert query_of(callback)["scope"] == "advertising::campaign_management"
    assert httpx.get(callback).status_code == 303
    entries = {e.api: e for e in vault(platform).entries("acme")}
    assert entries[ADS_API].status == "active"
    assert entries[ADS_API].partner_id  # the profile ids the Ads API listed


def test_revoked_authorization_is_one_sentence_and_shown(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert httpx.get(consent(platform, "brand")).status_code == 303
    for name, value in platform.env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(platform.env)
    resource = SpApiResource.from_settings(settings, "brand")
    resource.check_login()  # the stored token logs in
    httpx.post(f"{platform.sandbox.url}/_sandbox/revoke", json={"account": "brand"})
    # An hour later: the access token the client library cached has expired.
    access_token_cache.clear()
    with pytest.raises(CredentialRefused) as refused:
        SpApiResource.from_settings(settings, "brand").check_login()
    message = str(refused.value)
    assert message.startswith(
        "Login with Amazon refused the stored SP-API authorization of account 'brand' (invalid_grant"
    )
    assert message.endswith(
        "the seller revoked it or it expired, so connect the account again at "
        "/v1/amazon/authorize?account=brand."
    )
    assert message.count(". ") == 0
    shown = accounts(platform)["brand"]["authorizations"][0]
    assert shown["status"] == "revoked" and shown["warning"] == message
    # Later runs fail at once with the same sentence, without asking Amazon again.
    calls = platform.sandbox.app.calls("token")
    with pytest.raises(CredentialRefused, match="refused the stored SP-API authorization"):
        SpApiResource.from_settings(settings, "brand").check_login()
    assert platform.sandbox.app.calls("token") == calls


def test_disabled_account_is_refused_until_enabled(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, headers = platform.api.url, platform.headers()
    created = httpx.post(f"{url}/v1/accounts", headers=headers, json={"name": "globex"})
    assert created.status_code in (200, 201), created.text
    assert (
        httpx.post(f"{url}/v1/accounts", headers=headers, json={"name": "a|b"}).status_code == 422
    )
    disabled = httpx.post(f"{url}/v1/accounts/globex/disable", headers=headers)
    assert disabled.json()["status"] == "disabled"
    for name, value in platform.env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(platform.env)
    with pytest.raises(CredentialRefused, match="account 'globex' is disabled; enable it with"):
        SpApiResource.from_settings(settings, "globex").check_login()
    refused = httpx.post(f"{url}/v1/accounts/globex/backfill", headers=headers, json={})
    assert refused.status_code == 400 and "disabled" in refused.json()["detail"]
    assert httpx.post(f"{url}/v1/accounts/globex/enable", headers=headers).json()["status"] == (
        "enabled"
    )
    SpApiResource.from_settings(settings, "globex").check_login()
    assert httpx.get(f"{url}/v1/accounts/nobody", headers=headers).status_code == 404


def test_no_token_reaches_a_log_or_the_database_in_clear(platform: Platform) -> None:
    stored = vault(platform)
    tokens = [stored.refresh_token(entry.account, entry.api)[0] for entry in stored.entries()]
    assert tokens
    home = Path(platform.env["AMAZON_ASSETS_HOME"])
    files = [*platform.logs, *(p for p in home.rglob("*") if p.is_file())]
    for path in files:
        content = path.read_bytes()
        for token in tokens:
            assert token.encode() not in content, path


def test_sync_requests_are_checked_before_anything_is_launched(platform: Platform) -> None:
    url, headers = platform.api.url, platform.headers()
    httpx.post(f"{url}/v1/accounts", headers=headers, json={"name": "acme"})
    unknown = httpx.post(
        f"{url}/v1/accounts/acme/backfill", headers=headers, json={"sources": ["x"]}
    )
    assert unknown.status_code == 400
    assert unknown.json()["detail"].startswith("unknown source 'x'; sources are orders, ")
    backwards = httpx.post(
        f"{url}/v1/accounts/acme/backfill",
        headers=headers,
        json={"first": "2026-01-05", "last": "2026-01-01"},
    )
    assert backwards.json()["detail"] == "first (2026-01-05) is after last (2026-01-01)."
    # No webserver listens at DAGSTER_WEBSERVER_URL here: one sentence naming it.
    down = httpx.post(f"{url}/v1/accounts/acme/refresh", headers=headers, timeout=60)
    assert down.status_code == 400
    assert down.json()["detail"].startswith(
        f"the Dagster webserver at {platform.env['DAGSTER_WEBSERVER_URL']} "
        "(DAGSTER_WEBSERVER_URL) did not answer"
    )
    assert httpx.get(f"{url}/v1/jobs", headers=headers).json() == {"jobs": []}


def test_progress_before_any_run_is_queued_for_every_source(platform: Platform) -> None:
    answer = httpx.get(f"{platform.api.url}/v1/accounts/acme/progress", headers=platform.headers())
    assert answer.status_code == 200, answer.text
    progress = answer.json()
    assert (progress["status"], progress["percentage"], progress["current"]) == ("queued", 0.0, 0)
    # What a backfill would cover: every source of the account (the sandbox serves it the Ads
    # API), each its bronze and silver of its days (product signals the newest of the 3 days).
    totals = {s["source"]: s["total"] for s in progress["sources"]}
    assert totals == {
        **dict.fromkeys(SOURCE_NAMES, 2 * HISTORY_DAYS),
        "business_reports": 2 * HISTORY_DAYS,
        "product_signals": 2,
        "ads": 8 * HISTORY_DAYS,  # four report types, bronze and silver
    }
    assert all(s["status"] == "queued" for s in progress["sources"])
    assert "spSearchTerm" in progress["sources"][-1]["report_type"]
    missing = httpx.get(
        f"{platform.api.url}/v1/accounts/nobody/progress", headers=platform.headers()
    )
    assert missing.status_code == 404


def test_progress_socket_needs_an_admin(platform: Platform) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = platform.api.url.replace("http://", "ws://") + "/v1/accounts/acme/progress/ws"
    for headers in (platform.headers("viewer", "acme"), {}):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers=headers, open_timeout=30)
        assert refused.value.response.status_code == 403  # the handshake is refused
    with connect(url, additional_headers=platform.headers(), open_timeout=30) as socket:
        first = json.loads(socket.recv(timeout=60))
        assert first["event"] == "progress" and first["data"]["account"] == "acme"


def test_business_reports_wait_when_the_apps_requests_of_the_day_are_spent(
    platform: Platform,
) -> None:
    """The one sentence the asset's step would stop with, before anything is launched; other
    sources do not wait."""
    url, headers = platform.api.url, platform.headers()
    httpx.post(f"{url}/v1/accounts", headers=headers, json={"name": "acme"})
    resource = SpApiResource.from_settings(Settings.from_env(platform.env), "acme")
    budget, clock = app_budget(resource), Clock(resource.clock_speed)
    assert budget is not None
    newest = datetime.now(UTC).date() - timedelta(days=1)
    # The sandbox's Amazon day lasts 24 real seconds: again if one ended in between.
    for _ in range(5):
        day = amazon_day(clock)
        while budget.used(day) < DAILY_REQUESTS:
            budget.spend(day, BudgetedRequest("other", newest, SETTLING))
        refused = httpx.post(
            f"{url}/v1/accounts/acme/refresh",
            headers=headers,
            json={"sources": ["business_reports", "orders"]},
            timeout=60,
        )
        if amazon_day(clock) == day:
            break
    assert refused.status_code == 429, refused.text
    assert refused.json()["detail"] == (
        f"The app's 96 GET_SALES_AND_TRAFFIC_REPORT requests for {day} are spent; acme's "
        f"{newest} (settling) waits for {day + timedelta(days=1)}."
    )
    orders = httpx.post(
        f"{url}/v1/accounts/acme/refresh", headers=headers, json={"sources": ["orders"]}, timeout=60
    )
    assert orders.status_code == 400  # on its way to the Dagster webserver, not listening here
    assert "(DAGSTER_WEBSERVER_URL) did not answer" in orders.json()["detail"]
