"""The client core's one retry loop (`ClientSession.call_paced`) as both clients run it: the real
python-amazon-sp-api and python-amazon-ad-api against the sandbox over HTTP, the same faults
injected, the same counts and the same sentences."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from amazon_assets.resources.ads_api import AdsApiError
from amazon_assets.resources.sp_api import SpApiError
from amazon_assets.sources.refusals import CredentialRefused
from amazon_assets_tests.resources.test_ads_api import _resource as ads_resource
from amazon_assets_tests.resources.test_sp_api import SALES_AND_TRAFFIC, SKU_DAILY
from amazon_assets_tests.resources.test_sp_api import _resource as sp_resource

APIS = ("sp", "ads")
CREATE = {"sp": "createReport", "ads": "adsCreateReport"}
# The first call of a report's life, the one that logs in (Ads: the profile lookup).
FIRST_CALL = {"sp": "createReport", "ads": "adsProfiles"}
NAME = {"sp": "SP-API", "ads": "Ads API"}


def _fetch_report(api: str, sandbox, state_path: Path, **overrides) -> dict[str, int]:
    """One report's life through the client of `api`; what it cost (`requests`)."""
    day = sandbox.config.today - timedelta(days=10)
    if api == "sp":
        sp_api = sp_resource(sandbox, state_path, **overrides)
        return sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY).requests
    ads_api = ads_resource(sandbox, state_path, **overrides)
    return ads_api.fetch_report("spCampaigns", day, day).requests


@pytest.mark.parametrize("api", APIS)
def test_throttles_and_server_errors_are_counted_alike(sandbox, tmp_path, api):
    sandbox.faults.throttle_next(CREATE[api], times=2)
    sandbox.faults.fail_next(CREATE[api], status=503)
    requests = _fetch_report(api, sandbox, tmp_path / "state.sqlite")
    assert sandbox.calls(CREATE[api]) == requests[CREATE[api]] == 4
    assert (requests["throttled"], requests["retries"]) == (2, 3)


@pytest.mark.parametrize("api", APIS)
def test_a_throttled_and_a_failing_login_are_retried_alike(sandbox, tmp_path, api):
    sandbox.faults.throttle_next("token")
    sandbox.faults.fail_next("token", status=503)
    requests = _fetch_report(api, sandbox, tmp_path / "state.sqlite")
    assert sandbox.calls("token") == 3
    assert requests["retries"] == 2 and requests.get("throttled", 0) == 0
    assert requests[FIRST_CALL[api]] == 1  # a failed login sends nothing


@pytest.mark.parametrize("api", APIS)
def test_one_denial_is_cured_by_a_fresh_login_without_a_retry(sandbox, tmp_path, api):
    sandbox.faults.deny_next(CREATE[api], status=403)
    requests = _fetch_report(api, sandbox, tmp_path / "state.sqlite")
    assert sandbox.calls("token") == 2 and requests[CREATE[api]] == 2
    # The access token had expired: logging in again is the cure, not waiting.
    assert requests.get("retries", 0) == 0


@pytest.mark.parametrize("api", APIS)
def test_a_second_denial_is_final_in_one_sentence(sandbox, tmp_path, api):
    sandbox.faults.deny_next(CREATE[api], status=401, times=2)
    with pytest.raises(CredentialRefused) as refused:
        _fetch_report(api, sandbox, tmp_path / "state.sqlite")
    message = str(refused.value)
    assert message.startswith(f"The {NAME[api]} refused {CREATE[api]} for the default account")
    assert "after a fresh login" in message and f"{api.upper()}_API_REFRESH_TOKEN" in message
    assert message.count(". ") == 0 and message.endswith(".")
    assert sandbox.calls(CREATE[api]) == 2 and sandbox.calls("token") == 2


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("call", "HTTP 503"), ("token", "login answered 503")],
)
def test_spent_attempts_end_in_the_same_sentence_for_both_apis(sandbox, tmp_path, fault, reason):
    messages = {}
    for api in APIS:
        failing = CREATE[api] if fault == "call" else "token"
        sandbox.faults.fail_next(failing, status=503, times=3)
        with pytest.raises((SpApiError, AdsApiError)) as failed:
            _fetch_report(api, sandbox, tmp_path / f"{api}.sqlite", max_attempts=3)
        assert isinstance(failed.value, SpApiError if api == "sp" else AdsApiError)
        operation = CREATE[api] if fault == "call" else FIRST_CALL[api]
        messages[api] = str(failed.value).replace(operation, "<operation>")
    assert (
        messages["sp"]
        == messages["ads"]
        == (
            f"<operation> failed 3 times (last: {reason}) for account 'default' at {sandbox.url}; "
            "Amazon may be overloaded or down, retry later."
        )
    )
