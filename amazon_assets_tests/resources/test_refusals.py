"""Refused credentials end at once with one sentence; throttling and 5xx are still retried.

Against the sandbox over real HTTP, at Amazon's own clock speed (1), where a retried refusal or a
spent sales-and-traffic quota token would cost real minutes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from amazon_assets.resources.ads_api import AdsApiResource
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.settings import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN_PREFIX,
)
from amazon_assets.sources.quotas import REPORT_TYPE_QUOTAS, Clock, client_quota
from amazon_assets.sources.refusals import CredentialRefused, login_refusal
from amazon_assets.sources.state import StateStore

SALES_AND_TRAFFIC = "GET_SALES_AND_TRAFFIC_REPORT"
SKU_DAILY = {"dateGranularity": "DAY", "asinGranularity": "SKU"}


def _credentials(sandbox, **overrides) -> dict:
    return {
        "endpoint": sandbox.url,
        "lwa_token_url": sandbox.token_url,
        "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + "default",
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        "clock_speed": 1.0,  # Amazon's clock: every retry or quota wait would be real time
        "source_label": "amazon",
        **overrides,
    }


def _sp_api(sandbox, tmp_path: Path, **overrides) -> SpApiResource:
    return SpApiResource(
        state_path=str(tmp_path / "state.sqlite"), **_credentials(sandbox, **overrides)
    )


def _sales_and_traffic_tokens(sandbox, tmp_path: Path) -> float:
    clock = Clock(1.0)
    key = f"127.0.0.1:{sandbox.port}|{SANDBOX_CLIENT_ID}|createReport:{SALES_AND_TRAFFIC}"
    quota = client_quota(REPORT_TYPE_QUOTAS[SALES_AND_TRAFFIC], clock.speed)
    return StateStore(tmp_path / "state.sqlite").tokens(key, quota, clock)


@pytest.mark.parametrize(
    ("error", "variable"),
    [
        ("invalid_grant", "SP_API_REFRESH_TOKEN"),
        ("unauthorized_client", "SP_API_CLIENT_ID"),
        ("invalid_client", "SP_API_CLIENT_SECRET"),
    ],
)
def test_a_refused_login_is_final_names_the_variable_and_spends_no_quota(
    sandbox, tmp_path: Path, error: str, variable: str
) -> None:
    sandbox.faults.refuse_login(error, times=5)
    sp_api = _sp_api(sandbox, tmp_path)
    day = sandbox.config.today - timedelta(days=3)
    with pytest.raises(CredentialRefused) as refused:
        sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    message = str(refused.value)
    assert variable in message and error in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert sandbox.calls("token") == 1  # never asked twice
    assert sandbox.calls("createReport") == 0
    # The sales-and-traffic token (one per 15 minutes per app) is still there for the next run.
    assert _sales_and_traffic_tokens(sandbox, tmp_path) == pytest.approx(1.0, abs=0.01)


def test_a_second_account_names_its_own_refresh_token_variable() -> None:
    refusal = login_refusal("SP_API", "eu shop", 400, "invalid_grant", "bad token")
    assert refusal is not None and refusal.variables == ("SP_API_REFRESH_TOKEN_EU_SHOP",)
    assert "account 'eu shop'" in str(refusal)
    # A throttled or failing token endpoint is not a refusal: it is retried.
    assert login_refusal("SP_API", "default", 429, "rate_limited", "slow down") is None
    assert login_refusal("SP_API", "default", 503, "server_error", "down") is None


@pytest.mark.parametrize("status", [403, 401])
def test_access_denied_twice_is_final_after_one_fresh_login(
    sandbox, tmp_path: Path, status: int
) -> None:
    sandbox.faults.deny_next("createReport", status=status, times=2)
    sp_api = _sp_api(sandbox, tmp_path)
    day = sandbox.config.today - timedelta(days=3)
    with pytest.raises(CredentialRefused) as refused:
        sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    message = str(refused.value)
    assert f"{status} Unauthorized" in message and "SP_API_REFRESH_TOKEN" in message
    assert "the default account" in message
    assert sandbox.calls("createReport") == 2 and sandbox.calls("token") == 2


def test_access_denied_once_is_cured_by_a_fresh_login(sandbox, tmp_path: Path) -> None:
    sandbox.faults.deny_next("getReport", status=403, times=1)
    sp_api = _sp_api(sandbox, tmp_path, clock_speed=sandbox.config.speed)
    day = sandbox.config.today - timedelta(days=3)
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert result.status == "DONE" and sandbox.calls("token") == 2


def test_a_throttled_or_failing_login_is_retried(sandbox, tmp_path: Path) -> None:
    sandbox.faults.throttle_next("token")
    sandbox.faults.fail_next("token", status=503)
    sp_api = _sp_api(sandbox, tmp_path, clock_speed=sandbox.config.speed)
    day = sandbox.config.today - timedelta(days=3)
    assert sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY).status == "DONE"
    assert sandbox.calls("token") == 3


def test_an_unset_account_token_variable_is_a_refusal_naming_it(
    sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SP_API_REFRESH_TOKEN_EU", raising=False)
    sp_api = _sp_api(sandbox, tmp_path, refresh_token=dg.EnvVar("SP_API_REFRESH_TOKEN"))
    with pytest.raises(CredentialRefused, match="SP_API_REFRESH_TOKEN_EU is not set"):
        sp_api.for_account("eu").check_login()


def test_ads_api_refusals_are_final_and_name_the_ads_variables(sandbox, tmp_path: Path) -> None:
    sandbox.faults.refuse_login("invalid_grant")
    ads_api = AdsApiResource(
        state_path=str(tmp_path / "ads.sqlite"),
        **_credentials(sandbox, clock_speed=sandbox.config.speed),
    )
    with pytest.raises(CredentialRefused, match="ADS_API_REFRESH_TOKEN") as refused:
        ads_api.profiles()
    assert "invalid_grant" in str(refused.value) and sandbox.calls("token") == 1

    sandbox.faults.deny_next("adsProfiles", status=403, times=2)
    with pytest.raises(CredentialRefused, match="The Ads API refused adsProfiles"):
        ads_api.profiles()
    assert sandbox.calls("adsProfiles") == 2
