"""The sandbox over real HTTP: login, the Reports lifecycle, quotas, faults, and the real client."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from amazon_assets.sandbox import SandboxServer
from amazon_assets.settings import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN_PREFIX,
    US_MARKETPLACE_ID,
)

S_AND_T = "GET_SALES_AND_TRAFFIC_REPORT"
REPORTS = "/reports/2021-06-30"
QUOTA_EXCEEDED = {
    "errors": [
        {
            "code": "QuotaExceeded",
            "message": "You exceeded your quota for the requested resource.",
            "details": "",
        }
    ]
}


def login(sandbox: SandboxServer, account: str = "default", **form: str) -> httpx.Response:
    data = {
        "grant_type": "refresh_token",
        "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + account,
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        **form,
    }
    return httpx.post(sandbox.token_url, data=data)


@dataclass
class Api:
    """A bare SP-API caller: raw status codes and bodies, nothing hidden."""

    sandbox: SandboxServer
    token: str

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"x-amz-access-token": self.token}
        return httpx.request(method, self.sandbox.url + path, headers=headers, timeout=10, **kwargs)

    def create(self, start: date, end: date | None = None, **options: str) -> httpx.Response:
        body = {
            "reportType": S_AND_T,
            "marketplaceIds": [US_MARKETPLACE_ID],
            "dataStartTime": start.isoformat(),
            "dataEndTime": (end or start).isoformat(),
            "reportOptions": options or {"asinGranularity": "SKU"},
        }
        return self.call("POST", f"{REPORTS}/reports", json=body)

    def report(self, report_id: str) -> dict:
        response = self.call("GET", f"{REPORTS}/reports/{report_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, report_id: str) -> dict:
        deadline = time.monotonic() + 10
        while (report := self.report(report_id))["processingStatus"] in ("IN_QUEUE", "IN_PROGRESS"):
            assert time.monotonic() < deadline, report
            time.sleep(0.01)
        return report

    def document_url(self, document_id: str) -> str:
        response = self.call("GET", f"{REPORTS}/documents/{document_id}")
        assert response.status_code == 200, response.text
        assert response.json()["compressionAlgorithm"] == "GZIP"
        return response.json()["url"]


def api(sandbox: SandboxServer, account: str = "default") -> Api:
    response = login(sandbox, account)
    assert response.status_code == 200, response.text
    return Api(sandbox, response.json()["access_token"])


def yesterday(sandbox: SandboxServer) -> date:
    return sandbox.config.today - timedelta(days=1)


def fetch(client: Api, start: date, end: date | None = None, **options: str) -> tuple[dict, bytes]:
    created = client.create(start, end, **options)
    assert created.status_code == 202, created.text
    report = client.wait(created.json()["reportId"])
    assert report["processingStatus"] == "DONE", report
    return report, httpx.get(client.document_url(report["reportDocumentId"])).content


# -- login with Amazon --------------------------------------------------------------------


def test_token_endpoint_issues_a_bearer_token(sandbox):
    response = login(sandbox)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["refresh_token"] == SANDBOX_REFRESH_TOKEN_PREFIX + "default"
    assert body["access_token"].startswith("Atza|")


def test_unknown_client_is_refused_in_amazons_shape(sandbox):
    response = login(sandbox, client_id="amzn1.application-oa2-client.nobody")
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed",
    }
    assert login(sandbox, client_secret="wrong").status_code == 401


def test_bad_refresh_token_is_invalid_grant(sandbox):
    response = login(sandbox, account="nobody")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_a_sandbox_admitting_any_account_serves_one_named_after_it_started(sandbox_factory):
    """The sandbox `amazon-assets ui` starts: an account registered later logs in and gets its
    own documents, and is listed with the others from then on."""
    sandbox = sandbox_factory(quotas=False, admit_any_account=True)
    assert "acme" not in sandbox.marketplace.accounts
    acme, default = api(sandbox, "acme"), api(sandbox)
    day = yesterday(sandbox)

    def skus(client: Api) -> set[str]:
        _, body = fetch(client, day, asinGranularity="SKU")
        return {row["sku"] for row in json.loads(gzip.decompress(body))["salesAndTrafficByAsin"]}

    acme_skus = skus(acme)
    assert acme_skus and acme_skus.isdisjoint(skus(default))
    assert sandbox.marketplace.accounts == ("default", "acme")
    assert login(sandbox, account="").status_code == 400


def test_extra_applications_can_log_in(sandbox_factory):
    sandbox = sandbox_factory(extra_clients=(("amzn1.application-oa2-client.other", "s3cret"),))
    response = login(
        sandbox, client_id="amzn1.application-oa2-client.other", client_secret="s3cret"
    )
    assert response.status_code == 200


def test_calls_without_a_valid_token_are_forbidden(sandbox):
    for token in ("", "Atza|forged.token"):
        response = Api(sandbox, token).create(yesterday(sandbox))
        assert response.status_code == 403
        assert response.json() == {
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": "",
                }
            ]
        }
    assert sandbox.reports() == []


# -- the report lifecycle ------------------------------------------------------------------


def test_report_walks_in_queue_in_progress_done_and_downloads_gzip(sandbox_factory):
    # 30 simulated seconds of queue and 60 of processing take 0.5 and 1 real seconds at speed 60.
    sandbox = sandbox_factory(speed=60.0)
    client = api(sandbox)
    day = yesterday(sandbox)
    created = client.create(day)
    assert created.status_code == 202
    assert created.headers["x-amzn-RateLimit-Limit"] == "0.0167"
    assert created.headers["x-amzn-RequestId"]
    report_id = created.json()["reportId"]
    seen = []
    while (report := client.report(report_id))["processingStatus"] != "DONE":
        if not seen or seen[-1] != report["processingStatus"]:
            seen.append(report["processingStatus"])
        time.sleep(0.05)
    assert seen == ["IN_QUEUE", "IN_PROGRESS"]
    assert report["reportType"] == S_AND_T and report["marketplaceIds"] == [US_MARKETPLACE_ID]
    assert report["dataStartTime"].startswith(day.isoformat())
    created_at = datetime.fromisoformat(report["createdTime"])
    started = datetime.fromisoformat(report["processingStartTime"])
    ended = datetime.fromisoformat(report["processingEndTime"])
    assert created_at < started < ended
    body = httpx.get(client.document_url(report["reportDocumentId"]))
    assert body.status_code == 200
    document = json.loads(gzip.decompress(body.content))
    assert document["reportSpecification"]["dataStartTime"] == day.isoformat()
    truth = sandbox.marketplace.sales_and_traffic("default", day)
    assert (
        document["salesAndTrafficByDate"][0]["salesByDate"]["unitsOrdered"]
        == truth["units_ordered"].sum()
    )


def test_document_url_expires_after_five_simulated_minutes(sandbox_factory):
    # Five simulated minutes are half a real second at speed 600: room for a loaded machine.
    sandbox = sandbox_factory(speed=600.0, quotas=False, document_url_min_real_seconds=0.0)
    client = api(sandbox)
    report, _ = fetch(client, yesterday(sandbox))
    url = client.document_url(report["reportDocumentId"])
    assert httpx.get(url).status_code == 200
    time.sleep(1.0)  # 600 simulated seconds
    expired = httpx.get(url)
    assert expired.status_code == 403 and b"<Code>AccessDenied</Code>" in expired.content
    forged = httpx.get(url.replace("signature=", "signature=0"))
    assert forged.status_code == 403 and b"SignatureDoesNotMatch" in forged.content


def test_start_more_than_two_years_back_is_cancelled(sandbox):
    client = api(sandbox)
    old = sandbox.config.today - timedelta(days=800)
    report = client.wait(client.create(old).json()["reportId"])
    assert report["processingStatus"] == "CANCELLED"
    assert "reportDocumentId" not in report


def test_range_without_data_is_cancelled(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = api(sandbox)
    future = sandbox.config.today + timedelta(days=2)
    report = client.wait(client.create(future).json()["reportId"])
    assert report["processingStatus"] == "CANCELLED"


def test_invalid_requests_are_400(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = api(sandbox)
    day = yesterday(sandbox)
    unknown_type = client.call(
        "POST",
        f"{REPORTS}/reports",
        json={"reportType": "NOPE", "marketplaceIds": [US_MARKETPLACE_ID]},
    )
    assert (
        unknown_type.status_code == 400
        and unknown_type.json()["errors"][0]["code"] == "InvalidInput"
    )
    assert client.create(day, dateGranularity="YEAR").status_code == 400
    assert client.create(day, day - timedelta(days=1)).status_code == 400
    assert client.call("GET", f"{REPORTS}/reports").status_code == 400  # no reportTypes
    assert client.call("GET", f"{REPORTS}/reports/123").status_code == 404


def test_reports_belong_to_their_seller(sandbox_factory):
    sandbox = sandbox_factory(accounts=("default", "second"), quotas=False)
    first, second = api(sandbox), api(sandbox, "second")
    report_id = first.create(yesterday(sandbox)).json()["reportId"]
    assert second.call("GET", f"{REPORTS}/reports/{report_id}").status_code == 404
    assert first.call("GET", f"{REPORTS}/reports/{report_id}").status_code == 200


def test_get_reports_filters_and_pages(sandbox_factory):
    sandbox = sandbox_factory(quotas=False, queue_seconds=36000.0)  # stays IN_QUEUE ~10 s
    client = api(sandbox)
    days = [yesterday(sandbox) - timedelta(days=i) for i in range(7)]
    ids = [client.create(day).json()["reportId"] for day in days]
    assert client.call("DELETE", f"{REPORTS}/reports/{ids[0]}").status_code == 200

    def listed(**params) -> list[dict]:
        reports, token = [], None
        for _ in range(20):
            query = {"nextToken": token} if token else params
            response = client.call("GET", f"{REPORTS}/reports", params=query)
            assert response.status_code == 200, response.text
            assert response.headers["x-amzn-RateLimit-Limit"] == "0.0222"
            reports += response.json()["reports"]
            token = response.json().get("nextToken")
            if not token:
                return reports
        raise AssertionError("nextToken never ended")

    every = listed(reportTypes=S_AND_T, pageSize=3)
    assert sorted(r["reportId"] for r in every) == sorted(ids)
    assert [r["reportId"] for r in listed(reportTypes=S_AND_T, processingStatuses="CANCELLED")] == [
        ids[0]
    ]
    queued = listed(reportTypes=S_AND_T, processingStatuses="IN_QUEUE,IN_PROGRESS")
    assert sorted(r["reportId"] for r in queued) == sorted(ids[1:])
    assert listed(reportTypes="GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL") == []
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    assert listed(reportTypes=S_AND_T, createdSince=future) == []
    assert listed(reportTypes=S_AND_T, marketplaceIds="A1F83G8C2ARO7P") == []


def test_cancel_only_in_queue(sandbox_factory):
    sandbox = sandbox_factory(quotas=False, queue_seconds=36000.0)
    client = api(sandbox)
    queued = client.create(yesterday(sandbox)).json()["reportId"]
    assert client.call("DELETE", f"{REPORTS}/reports/{queued}").status_code == 200
    report = client.report(queued)
    assert report["processingStatus"] == "CANCELLED" and "processingEndTime" in report

    fast = sandbox_factory(quotas=False)
    client = api(fast)
    done = client.wait(client.create(yesterday(fast)).json()["reportId"])
    refused = client.call("DELETE", f"{REPORTS}/reports/{done['reportId']}")
    assert refused.status_code == 400 and "only IN_QUEUE" in refused.json()["errors"][0]["message"]
    assert client.report(done["reportId"])["processingStatus"] == "DONE"


# -- quotas ---------------------------------------------------------------------------------


def test_sales_and_traffic_quota_gives_429_with_amazons_body(sandbox_factory):
    # One GET_SALES_AND_TRAFFIC_REPORT per 15 simulated minutes per application: at speed 60
    # the second create within a few real seconds is over quota.
    sandbox = sandbox_factory(speed=60.0)
    client = api(sandbox)
    assert client.create(yesterday(sandbox)).status_code == 202
    throttled = client.create(yesterday(sandbox))
    assert throttled.status_code == 429
    assert throttled.json() == QUOTA_EXCEEDED
    assert "x-amzn-RateLimit-Limit" not in throttled.headers
    assert throttled.headers["x-amzn-RequestId"]
    assert sandbox.throttled("createReport") == 1 and sandbox.calls("createReport") == 2
    assert len(sandbox.reports()) == 1


def test_operation_burst_is_enforced_per_seller(sandbox_factory):
    sandbox = sandbox_factory(speed=1.0, accounts=("default", "second"))
    client = api(sandbox)
    # getReports: burst 10, then 0.0222 per second.
    codes = [
        client.call("GET", f"{REPORTS}/reports", params={"reportTypes": S_AND_T}).status_code
        for _ in range(11)
    ]
    assert codes == [200] * 10 + [429]
    # Another seller of the same application has its own bucket.
    other = api(sandbox, "second")
    assert (
        other.call("GET", f"{REPORTS}/reports", params={"reportTypes": S_AND_T}).status_code == 200
    )


def test_quotas_off_lets_everything_through(sandbox_factory):
    sandbox = sandbox_factory(speed=1.0, quotas=False)
    client = api(sandbox)
    codes = {client.create(yesterday(sandbox) - timedelta(days=i)).status_code for i in range(5)}
    codes |= {
        client.call("GET", f"{REPORTS}/reports", params={"reportTypes": S_AND_T}).status_code
        for _ in range(12)
    }
    assert codes == {200, 202}
    assert sandbox.throttled("createReport") == sandbox.throttled("getReports") == 0


# -- faults --------------------------------------------------------------------------------


def test_throttle_next(sandbox):
    client = api(sandbox)
    sandbox.faults.throttle_next("getReports", times=2)
    codes = [
        client.call("GET", f"{REPORTS}/reports", params={"reportTypes": S_AND_T}) for _ in range(3)
    ]
    assert [c.status_code for c in codes] == [429, 429, 200]
    assert codes[0].json() == QUOTA_EXCEEDED
    assert sandbox.calls("getReports") == 3 and sandbox.throttled("getReports") == 2


def test_fail_next(sandbox):
    client = api(sandbox)
    sandbox.faults.fail_next("createReport", status=503)
    sandbox.faults.fail_next("createReport", status=500)
    first, second, third = (client.create(yesterday(sandbox)) for _ in range(3))
    assert first.status_code == 503 and first.json()["errors"][0]["code"] == "ServiceUnavailable"
    assert second.status_code == 500 and second.json()["errors"][0]["code"] == "InternalFailure"
    assert third.status_code == 202
    assert len(sandbox.reports()) == 1


def test_slow_next_delays_the_answer(sandbox):
    client = api(sandbox)
    report_id = client.create(yesterday(sandbox)).json()["reportId"]
    sandbox.faults.slow_next("getReport", seconds=2.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(
            f"{sandbox.url}{REPORTS}/reports/{report_id}",
            headers={"x-amz-access-token": client.token},
            timeout=0.3,
        )
    assert client.report(report_id)["reportId"] == report_id  # the next call is quick again


@pytest.mark.parametrize("outcome", ["FATAL", "CANCELLED"])
def test_next_report_outcome(sandbox_factory, outcome):
    sandbox = sandbox_factory(quotas=False)
    client = api(sandbox)
    sandbox.faults.next_report_outcome(S_AND_T, outcome)
    forced = client.wait(client.create(yesterday(sandbox)).json()["reportId"])
    assert forced["processingStatus"] == outcome and "reportDocumentId" not in forced
    normal = client.wait(client.create(yesterday(sandbox)).json()["reportId"])
    assert normal["processingStatus"] == "DONE"


def test_truncated_document_once(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = api(sandbox)
    report, whole = fetch(client, yesterday(sandbox))
    sandbox.faults.truncate_next_document()
    cut = httpx.get(client.document_url(report["reportDocumentId"])).content
    assert cut == whole[: len(cut)] and len(cut) < len(whole)
    with pytest.raises((EOFError, zlib.error)):
        gzip.decompress(cut)
    again = httpx.get(client.document_url(report["reportDocumentId"])).content
    assert again == whole and json.loads(gzip.decompress(again))


def test_malformed_document(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = api(sandbox)
    sandbox.faults.malform_next_document()
    _, broken = fetch(client, yesterday(sandbox))
    rows = json.loads(gzip.decompress(broken))["salesAndTrafficByAsin"]
    assert isinstance(rows[0]["trafficByAsin"]["sessions"], str)
    assert "orderedProductSales" not in rows[1]["salesByAsin"]
    _, fine = fetch(client, yesterday(sandbox))
    rows = json.loads(gzip.decompress(fine))["salesAndTrafficByAsin"]
    assert all(isinstance(r["trafficByAsin"]["sessions"], int) for r in rows)


def test_download_faults(sandbox_factory):
    sandbox = sandbox_factory(quotas=False)
    client = api(sandbox)
    report, _ = fetch(client, yesterday(sandbox))
    url = client.document_url(report["reportDocumentId"])
    sandbox.faults.fail_next("downloadDocument", status=500)
    sandbox.faults.throttle_next("downloadDocument")
    slow_down = httpx.get(url)  # throttling is checked before failures
    assert slow_down.status_code == 503 and b"<Code>SlowDown</Code>" in slow_down.content
    assert httpx.get(url).status_code == 500
    assert httpx.get(url).status_code == 200
    assert sandbox.throttled("downloadDocument") == 1


def test_random_storms(sandbox_factory):
    sandbox = sandbox_factory(quotas=False, throttle_probability=0.3, error_probability=0.3)
    client = api(sandbox)
    codes = [
        client.call("GET", f"{REPORTS}/reports", params={"reportTypes": S_AND_T}).status_code
        for _ in range(40)
    ]
    assert {429, 200} <= set(codes) and set(codes) & {500, 503}
    assert sandbox.throttled("getReports") == codes.count(429)


def test_admin_endpoint_injects_faults_and_reports_stats(sandbox):
    client = api(sandbox)
    response = httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        json=[
            {"fault": "throttle_next", "operation": "getReports", "times": 1},
            {"fault": "fail_next", "operation": "getReports", "status": 503},
        ],
    )
    assert response.status_code == 200
    codes = [
        client.call("GET", f"{REPORTS}/reports", params={"reportTypes": S_AND_T}).status_code
        for _ in range(3)
    ]
    assert codes == [429, 503, 200]
    bad = httpx.post(f"{sandbox.url}/_sandbox/faults", json={"fault": "explode"})
    assert bad.status_code == 400 and "Unknown fault" in bad.json()["error"]
    stats = httpx.get(f"{sandbox.url}/_sandbox/stats").json()
    assert stats["calls"]["getReports"] == 3 and stats["throttled"]["getReports"] == 1
    assert stats["calls"]["token"] == 1


# -- the real client ------------------------------------------------------------------------


def test_python_amazon_sp_api_drives_the_whole_lifecycle(sandbox_factory, monkeypatch):
    from sp_api.api import Reports
    from sp_api.auth import AccessTokenClient
    from sp_api.base import ReportType, SellingApiRequestThrottledException

    monkeypatch.delenv("SP_API_DEFAULT_MARKETPLACE", raising=False)
    # A slower clock: the per-application limit (15 simulated minutes) must still hold when the
    # second request comes, even on a loaded machine (15 real seconds here).
    sandbox = sandbox_factory(speed=60.0)
    host = sandbox.url.removeprefix("http://")

    class SandboxLogin(AccessTokenClient):
        scheme = "http://"

    SandboxLogin.host = host

    @dataclass
    class Where:
        endpoint: str
        marketplace_id: str = US_MARKETPLACE_ID
        region: str = "us-east-1"

    credentials = {
        "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + "default",
        "lwa_app_id": SANDBOX_CLIENT_ID,
        "lwa_client_secret": SANDBOX_CLIENT_SECRET,
    }
    client = Reports(
        Where(sandbox.url), credentials=credentials, auth_token_client_class=SandboxLogin
    )
    day = yesterday(sandbox)
    created = client.create_report(
        reportType=ReportType.GET_SALES_AND_TRAFFIC_REPORT,
        dataStartTime=day.isoformat(),
        dataEndTime=day.isoformat(),
        reportOptions={"dateGranularity": "DAY", "asinGranularity": "SKU"},
    )
    report_id = created.payload["reportId"]
    assert created.rate_limit == "0.0167"
    deadline = time.monotonic() + 10  # 90 simulated seconds of processing take 1.5 s
    while (report := client.get_report(report_id).payload)["processingStatus"] != "DONE":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    document = client.get_report_document(report["reportDocumentId"], download=True)
    parsed = json.loads(document.payload["document"])
    assert parsed["reportSpecification"]["reportOptions"]["asinGranularity"] == "SKU"
    truth = sandbox.marketplace.sales_and_traffic("default", day)
    assert (
        sum(r["salesByAsin"]["unitsOrdered"] for r in parsed["salesAndTrafficByAsin"])
        == truth["units_ordered"].sum()
    )
    listed = client.get_reports(reportTypes=[S_AND_T], processingStatuses=["DONE"])
    assert [r["reportId"] for r in listed.payload["reports"]] == [report_id]
    # The per-application quota on this report type answers the second request with a 429.
    with pytest.raises(SellingApiRequestThrottledException):
        client.create_report(
            reportType=S_AND_T, dataStartTime=day.isoformat(), dataEndTime=day.isoformat()
        )
