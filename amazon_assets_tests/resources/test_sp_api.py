"""SpApiResource against the sandbox: python-amazon-sp-api over real HTTP, no mocks."""

from __future__ import annotations

import gzip
import json
import logging
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from amazon_assets.resources.sp_api import (
    ReportFatalError,
    ReportTimeoutError,
    SpApiError,
    SpApiResource,
    gzip_is_complete,
)
from amazon_assets.settings import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN_PREFIX,
    Settings,
)
from amazon_assets.sources.quotas import Clock
from amazon_assets.sources.refusals import CredentialRefused
from amazon_assets.sources.state import COMPLETED, FATAL, FORGOTTEN, ReportRequest, StateStore

SALES_AND_TRAFFIC = "GET_SALES_AND_TRAFFIC_REPORT"
SKU_DAILY = {"dateGranularity": "DAY", "asinGranularity": "SKU"}
OPERATIONS = ("createReport", "getReport", "getReports", "getReportDocument", "downloadDocument")


def _resource(sandbox, state_path: Path, account: str = "default", **overrides) -> SpApiResource:
    values = {
        "account": account,
        "endpoint": sandbox.url,
        "lwa_token_url": sandbox.token_url,
        "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + account,
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        "state_path": str(state_path),
        "clock_speed": sandbox.config.speed,
        "source_label": "sandbox",
    }
    values.update(overrides)
    return SpApiResource(**values)


def _day(sandbox, days_back: int = 10) -> date:
    return sandbox.config.today - timedelta(days=days_back)


def _request(resource: SpApiResource, day: date) -> ReportRequest:
    return ReportRequest(
        endpoint=resource.endpoint.rstrip("/"),
        account=resource.account,
        marketplace_id=resource.marketplace_id,
        report_type=SALES_AND_TRAFFIC,
        data_start=day.isoformat(),
        data_end=day.isoformat(),
        report_options=SKU_DAILY,
    )


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite"


@pytest.fixture
def sp_api(sandbox, state_path: Path) -> SpApiResource:
    return _resource(sandbox, state_path)


def test_full_lifecycle_returns_the_gzip_document_as_served(sandbox, sp_api, state_path):
    day = _day(sandbox)
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)

    assert result.status == "DONE"
    assert result.compression == "GZIP"
    assert result.body[:2] == b"\x1f\x8b" and gzip_is_complete(result.body)
    document = json.loads(result.content())
    assert document["reportSpecification"]["dataStartTime"] == day.isoformat()
    assert document["salesAndTrafficByAsin"], "the SKU section is empty"
    assert result.requests["createReport"] == 1
    assert result.requests["getReportDocument"] == 1
    assert result.requests["downloadDocument"] == 1
    assert result.requests["getReport"] >= 1
    assert sandbox.calls("createReport") == 1
    [created] = sandbox.reports()
    assert created["reportId"] == result.report_id
    assert created["reportDocumentId"] == result.document_id
    # The building block gives the same bytes.
    body, compression = sp_api.download_document(result.document_id)
    assert (body, compression) == (result.body, "GZIP")
    [entry] = StateStore(state_path).report_history(_request(sp_api, day))
    assert (entry.report_id, entry.status, entry.document_id) == (
        result.report_id,
        COMPLETED,
        result.document_id,
    )


def test_refetching_a_range_requests_a_fresh_report(sandbox, sp_api):
    day = _day(sandbox)
    first = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    second = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert sandbox.calls("createReport") == 2
    assert first.report_id != second.report_id


def test_throttled_create_is_retried(sandbox, sp_api):
    sandbox.faults.throttle_next("createReport", times=2)
    day = _day(sandbox)
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert result.status == "DONE"
    assert sandbox.calls("createReport") == 3
    assert result.requests["createReport"] == 3
    assert result.requests["throttled"] == 2
    assert len(sandbox.reports()) == 1


def test_server_errors_are_retried(sandbox, sp_api):
    sandbox.faults.fail_next("createReport", status=500)
    sandbox.faults.fail_next("getReport", status=503, times=2)
    sandbox.faults.fail_next("getReportDocument", status=500)
    sandbox.faults.fail_next("downloadDocument", status=503)
    day = _day(sandbox)
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert result.status == "DONE" and gzip_is_complete(result.body)
    assert sandbox.calls("createReport") == 2
    assert len(sandbox.reports()) == 1
    assert result.requests["retries"] == 5


def test_slow_answers_time_out_and_are_retried(sandbox, state_path):
    sp_api = _resource(sandbox, state_path, request_timeout_seconds=0.5)
    sandbox.faults.slow_next("getReport", seconds=2.0)
    day = _day(sandbox)
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert result.status == "DONE"
    assert result.requests["retries"] >= 1


def test_retries_are_bounded(sandbox, state_path):
    sp_api = _resource(sandbox, state_path, max_attempts=3)
    sandbox.faults.fail_next("createReport", status=503, times=3)
    day = _day(sandbox)
    with pytest.raises(SpApiError, match=r"createReport failed 3 times \(last: HTTP 503\)"):
        sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert sandbox.calls("createReport") == 3


def test_fatal_once_is_requested_again_after_a_cooldown(sandbox, sp_api, state_path):
    sandbox.faults.next_report_outcome(SALES_AND_TRAFFIC, "FATAL")
    day = _day(sandbox)
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert result.status == "DONE"
    assert sandbox.calls("createReport") == 2
    first, second = sandbox.reports()[0], sandbox.reports()[1]
    assert {first["processingStatus"], second["processingStatus"]} == {"FATAL", "DONE"}
    history = StateStore(state_path).report_history(_request(sp_api, day))
    assert [entry.status for entry in history] == [FATAL, COMPLETED]


def test_fatal_twice_raises_a_clear_error(sandbox, sp_api):
    sandbox.faults.next_report_outcome(SALES_AND_TRAFFIC, "FATAL", times=2)
    day = _day(sandbox)
    with pytest.raises(ReportFatalError) as raised:
        sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    message = str(raised.value)
    ids = [report["reportId"] for report in sandbox.reports()]
    assert len(ids) == 2 and raised.value.report_ids == tuple(ids)
    assert SALES_AND_TRAFFIC in message and day.isoformat() in message
    assert all(report_id in message for report_id in ids)
    assert "Amazon gives no reason; retry later or narrow the range." in message
    assert sandbox.calls("createReport") == 2


def test_cancelled_report_is_an_empty_result(sandbox, sp_api, state_path):
    sandbox.faults.next_report_outcome(SALES_AND_TRAFFIC, "CANCELLED")
    day = _day(sandbox)
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert (result.status, result.body, result.document_id) == ("CANCELLED", b"", None)
    assert result.content() == b""
    assert sandbox.calls("getReportDocument") == 0
    [entry] = StateStore(state_path).report_history(_request(sp_api, day))
    assert entry.status == COMPLETED


def test_range_older_than_two_years_is_cancelled(sandbox, sp_api):
    day = sandbox.config.today - timedelta(days=800)
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert result.status == "CANCELLED" and result.body == b""


def test_truncated_gzip_is_downloaded_again(sandbox, sp_api):
    sandbox.faults.truncate_next_document()
    day = _day(sandbox)
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert gzip_is_complete(result.body)
    json.loads(gzip.decompress(result.body))
    # A fresh document url each time.
    assert sandbox.calls("getReportDocument") == 2
    assert sandbox.calls("downloadDocument") == 2


def test_always_truncated_gzip_gives_up_clearly(sandbox, sp_api, state_path):
    sandbox.faults.truncate_next_document(times=10)
    day = _day(sandbox)
    with pytest.raises(SpApiError, match="could not be downloaded whole in 3 attempts"):
        sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    # The report stays open in the ledger: the next run resumes it instead of creating another.
    assert StateStore(state_path).open_report(_request(sp_api, day)) is not None


def test_crash_between_create_and_download_resumes_the_same_report(sandbox, state_path):
    day = _day(sandbox)
    report_id = _resource(sandbox, state_path).request_report(
        SALES_AND_TRAFFIC, day, day, SKU_DAILY
    )
    # A new resource (another process after the crash) reading the same state file.
    result = _resource(sandbox, state_path).fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert sandbox.calls("createReport") == 1
    assert result.report_id == report_id and result.status == "DONE"
    assert "createReport" not in result.requests


def test_report_unknown_to_the_server_is_requested_again(sandbox, sp_api, state_path):
    day = _day(sandbox)
    store = StateStore(state_path)
    request = _request(sp_api, day)
    store.record_report(request, "999999", Clock(sandbox.config.speed))
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert result.report_id != "999999" and result.status == "DONE"
    assert sandbox.calls("createReport") == 1
    assert [e.status for e in store.report_history(request)] == [FORGOTTEN, COMPLETED]


def test_polling_gives_up_after_the_timeout_and_a_later_run_resumes(sandbox_factory, state_path):
    # A slow clock: the report takes 1.5 real seconds, the 20 simulated seconds of patience
    # run out after a third of one, so a loaded machine cannot let the report finish first.
    sandbox = sandbox_factory(speed=60.0)
    day = _day(sandbox)
    impatient = _resource(
        sandbox, state_path, report_timeout_seconds=20.0, min_real_report_wait_seconds=0.0
    )
    with pytest.raises(ReportTimeoutError, match="the next run resumes polling it"):
        impatient.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    result = _resource(sandbox, state_path).fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert result.status == "DONE"
    assert sandbox.calls("createReport") == 1


def test_report_past_amazons_retention_is_requested_again(sandbox, sp_api, state_path):
    day = _day(sandbox)
    old_id = sp_api.request_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    with sqlite3.connect(state_path) as connection:  # the entry was written 91 days ago
        connection.execute("UPDATE report_ledger SET created_at = created_at - 91 * 86400")
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert result.report_id != old_id
    assert sandbox.calls("createReport") == 2
    assert sandbox.calls("getReport") == result.requests["getReport"]  # old id never polled


def test_invalid_request_fails_with_amazons_reason(sandbox, sp_api):
    day = _day(sandbox)
    with pytest.raises(SpApiError, match="refused createReport .* HTTP 400 InvalidInput"):
        sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, {"asinGranularity": "EVERYTHING"})
    assert sandbox.calls("createReport") == 1


def test_a_week_of_daily_reports_never_earns_a_429(sandbox, sp_api):
    days = [_day(sandbox, back) for back in range(7, 0, -1)]
    results = [sp_api.fetch_report(SALES_AND_TRAFFIC, d, d, SKU_DAILY) for d in days]
    assert [r.status for r in results] == ["DONE"] * 7
    assert sandbox.calls("createReport") == 7
    for operation in (*OPERATIONS, "token"):
        assert sandbox.throttled(operation) == 0, operation
    assert all(r.requests.get("throttled", 0) == 0 for r in results)


@pytest.mark.slow
def test_list_reports_pages_through_get_reports(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(quotas=False)
    sp_api = _resource(sandbox, tmp_path / "state.sqlite", pace_requests=False)
    days = [_day(sandbox, back) for back in range(1, 106)]
    ids = {sp_api.request_report(SALES_AND_TRAFFIC, d, d, SKU_DAILY) for d in days}
    listed = sp_api.list_reports(
        [SALES_AND_TRAFFIC],
        created_since=datetime.now(UTC) - timedelta(days=1),
        processing_statuses=("IN_QUEUE", "IN_PROGRESS", "DONE"),
    )
    assert {report["reportId"] for report in listed} == ids
    assert sandbox.calls("getReports") >= 2


def test_two_token_servers_do_not_share_tokens(sandbox_factory, tmp_path):
    first, second = sandbox_factory(), sandbox_factory()
    for number, sandbox in enumerate((first, second)):
        sp_api = _resource(sandbox, tmp_path / f"state{number}.sqlite")
        day = _day(sandbox)
        result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
        assert result.status == "DONE"
        # Same refresh token, other token server: each logs in with its own server.
        assert sandbox.calls("token") == 1


def test_secrets_never_reach_logs_errors_or_reprs(sandbox_factory, tmp_path, caplog, capfd):
    client_id, secret = "amzn1.application-oa2-client.leakcheck", "LEAKCHECK-client-secret-7f3e9"
    sandbox = sandbox_factory(extra_clients=((client_id, secret),))
    refresh_token = SANDBOX_REFRESH_TOKEN_PREFIX + "default"
    caplog.set_level(logging.DEBUG)
    sp_api = _resource(sandbox, tmp_path / "s.sqlite", client_id=client_id, client_secret=secret)
    sandbox.faults.throttle_next("createReport")
    sandbox.faults.fail_next("getReport", status=500)
    day = _day(sandbox)
    result = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    texts = [repr(sp_api), str(sp_api), repr(result), json.dumps(result.requests)]
    # A refused login: the error names the problem but not the credentials.
    wrong = _resource(
        sandbox, tmp_path / "s.sqlite", client_id=client_id, client_secret=secret + "x"
    )
    with pytest.raises(CredentialRefused) as refused:
        wrong.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    assert "refused the app credentials" in str(refused.value)
    texts.append(str(refused.value))
    captured = capfd.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert caplog.records, "nothing was logged at all"
    for text in texts:
        assert refresh_token not in text
        assert secret not in text
        assert "Atza|" not in text


def test_from_settings_keeps_real_credentials_in_environment_variables(amazon_home):
    env = {
        "AMAZON_ASSETS_HOME": str(amazon_home),
        "SP_API_REFRESH_TOKEN": "Atzr|real-token",
        "SP_API_CLIENT_ID": "amzn1.application-oa2-client.real",
        "SP_API_CLIENT_SECRET": "real-secret",
    }
    resource = SpApiResource.from_settings(Settings.from_env(env), account="brand-b")
    assert isinstance(resource.refresh_token, dg.EnvVar)
    assert resource.refresh_token.env_var_name == "SP_API_REFRESH_TOKEN_BRAND_B"
    assert resource.client_secret.env_var_name == "SP_API_CLIENT_SECRET"
    assert resource.endpoint == "https://sellingpartnerapi-na.amazon.com"
    assert resource.source_label == "amazon" and resource.clock_speed == 1.0
    assert "real-secret" not in repr(resource)


def test_from_settings_in_sandbox_mode_uses_the_account_token(amazon_home):
    settings = Settings.from_env({"AMAZON_ASSETS_HOME": str(amazon_home)})
    resource = SpApiResource.from_settings(settings, account="brand-b")
    assert resource.refresh_token == SANDBOX_REFRESH_TOKEN_PREFIX + "brand-b"
    assert resource.endpoint == settings.sandbox_url
    assert resource.state_path == str(settings.state_path)
    assert resource.clock_speed == settings.sandbox_speed
    assert resource.source_label == "sandbox"
