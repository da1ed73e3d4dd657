"""Data Kiosk through python-amazon-sp-api's DataKiosk client against the sandbox, over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from sp_api.api import DataKiosk

from amazon_assets.parsers.data_kiosk import PROVISIONAL, SETTLED, parse_sales_and_traffic_trends
from amazon_assets.parsers.sales_and_traffic import parse_sales_and_traffic
from amazon_assets.resources.data_kiosk import (
    DataKioskQueryError,
    fetch_trends,
    trends_query,
)
from amazon_assets.resources.sp_api import SpApiError, SpApiSession
from amazon_assets.sandbox.sales_and_traffic import build_sales_and_traffic
from amazon_assets.sources.refusals import CredentialRefused
from amazon_assets_tests.resources.test_sp_api import _resource

KIOSK_OPERATIONS = ("createQuery", "getQuery", "getQueries", "cancelQuery", "getDocument")


def _asins(sandbox, n: int) -> list[str]:
    products = sandbox.app.marketplace.products("default")
    return sorted(set(products["asin"].to_list()))[:n]


def _throttled(sandbox) -> int:
    return sum(sandbox.app.throttled(operation) for operation in KIOSK_OPERATIONS)


def test_trends_agree_with_the_child_report_of_each_day(sandbox, tmp_path):
    """A 14-day query for 30 ASINs holds, per day, exactly the CHILD report's rows of them."""
    resource = _resource(sandbox, tmp_path / "state.sqlite")
    asins = _asins(sandbox, 30)
    last = sandbox.config.today - timedelta(days=20)
    first = last - timedelta(days=13)
    result = fetch_trends(resource, asins, first, last)
    assert result.status == "DONE" and result.body.startswith(b'{"startDate"')
    parsed = parse_sales_and_traffic_trends(
        result.body,
        query_id=result.query_id,
        account="default",
        data_start=first,
        data_end=last,
        asins=tuple(asins),
        fetched_at=result.fetched_at,
        settle_days=7,
        ingested_at=result.fetched_at,
    )
    assert parsed.quarantine.is_empty()
    assert parsed.facts["msku"].null_count() == parsed.facts.height  # child ASIN level
    assert parsed.days["status"].to_list() == [SETTLED] * 14
    marketplace = sandbox.app.marketplace
    for offset in (0, 7, 13):
        day = first + timedelta(days=offset)
        report = parse_sales_and_traffic(
            build_sales_and_traffic(marketplace, "default", day, day, {"asinGranularity": "CHILD"}),
            report_date=day,
            report_id="r",
            account="default",
            ingested_at=result.fetched_at,
        ).facts.filter(pl.col("asin").is_in(asins))
        kiosk = parsed.facts.filter(parsed.facts["report_date"] == day)
        columns = [c for c in report.columns if c not in ("report_id", "ingested_at")]
        assert kiosk.height > 0
        assert kiosk.select(columns).sort("asin").equals(report.select(columns).sort("asin"))


def test_quotas_hold_with_zero_429s_and_queries_are_listed_and_cancelled(sandbox_factory, tmp_path):
    """18 queries in a row outrun createQuery's burst of 15: the client paces, Amazon never
    answers 429; getQueries pages through them and cancelQuery stops one in the queue."""
    sandbox = sandbox_factory(queue_seconds=1e12)  # every query stays IN_QUEUE
    resource = _resource(sandbox, tmp_path / "state.sqlite")
    asins = _asins(sandbox, 5)
    last = sandbox.config.today - timedelta(days=30)
    with SpApiSession(resource) as session:
        client = session.sp_client(DataKiosk)
        ids = [
            session.call(
                "createQuery",
                client.create_query,
                query=trends_query("ATVPDKIKX0DER", asins, last, last),
                require="queryId",
            ).payload["queryId"]
            for _ in range(18)
        ]
        session.call("cancelQuery", client.cancel_query, ids[-1])
        listed, token = [], None
        while True:
            options = {"pageSize": 10, **({"paginationToken": token} if token else {})}
            page = session.call("getQueries", client.get_queries, **options)
            listed += page.payload["queries"]
            token = page.next_token
            if not token:
                break
    assert sandbox.app.calls("createQuery") == 18
    assert _throttled(sandbox) == 0
    assert {q["queryId"] for q in listed} == set(ids)
    status = {q["queryId"]: q["processingStatus"] for q in listed}
    assert status[ids[-1]] == "CANCELLED"
    assert {status[i] for i in ids[:-1]} == {"IN_QUEUE"}


def test_more_than_30_asins_are_refused_by_the_sandbox(sandbox, tmp_path):
    resource = _resource(sandbox, tmp_path / "state.sqlite")
    asins = _asins(sandbox, 31)
    day = sandbox.config.today - timedelta(days=3)
    text = trends_query("ATVPDKIKX0DER", asins[:30], day, day).replace(
        f'"{asins[0]}"', f'"{asins[0]}","{asins[30]}"'
    )
    with SpApiSession(resource) as session, pytest.raises(SpApiError, match="1 to 30 child ASINs"):
        client = session.sp_client(DataKiosk)
        session.call("createQuery", client.create_query, query=text)
    with pytest.raises(ValueError, match="1 to 30 ASINs"):
        trends_query("ATVPDKIKX0DER", asins, day, day)


def test_a_start_more_than_two_years_back_ends_fatal_with_amazons_reason(sandbox, tmp_path):
    resource = _resource(sandbox, tmp_path / "state.sqlite")
    start = sandbox.config.today - timedelta(days=800)
    with pytest.raises(DataKioskQueryError, match="no more than two years ago"):
        fetch_trends(resource, _asins(sandbox, 3), start, start + timedelta(days=10))


def test_no_data_is_done_without_a_document_and_recent_days_stay_provisional(sandbox, tmp_path):
    """Days after the marketplace's last day: DONE, no dataDocumentId; parsed, every day is
    provisional with no rows, never a settled zero."""
    resource = _resource(sandbox, tmp_path / "state.sqlite")
    first = sandbox.config.today
    last = first + timedelta(days=2)
    result = fetch_trends(resource, _asins(sandbox, 3), first, last)
    assert (result.status, result.document_id, result.body) == ("DONE", None, b"")
    assert sandbox.app.calls("getDocument") == 0
    parsed = parse_sales_and_traffic_trends(
        result.body,
        query_id=result.query_id,
        account="default",
        data_start=first,
        data_end=last,
        asins=result.asins,
        fetched_at=datetime.combine(first, datetime.min.time(), UTC),
        settle_days=7,
        ingested_at=result.fetched_at,
    )
    assert parsed.facts.is_empty()
    assert parsed.days["status"].to_list() == [PROVISIONAL] * 3
    assert parsed.days["rows"].to_list() == [0, 0, 0]


def test_a_refused_credential_fails_at_once_without_a_query(sandbox, tmp_path):
    resource = _resource(sandbox, tmp_path / "state.sqlite", account="nobody")
    day = sandbox.config.today - timedelta(days=3)
    with pytest.raises(CredentialRefused) as refused:
        fetch_trends(resource, ["B000000001"], day, day)
    assert sandbox.app.calls("token") == 1  # one login, never retried
    assert sandbox.app.calls("createQuery") == 0
    assert str(refused.value).count(". ") <= 1 and "nobody" in str(refused.value)


def test_the_document_is_jsonl_of_amazons_trends_objects(sandbox, tmp_path):
    resource = _resource(sandbox, tmp_path / "state.sqlite")
    day = sandbox.config.today - timedelta(days=40)
    result = fetch_trends(resource, _asins(sandbox, 4), day, day)
    lines = result.content().decode().splitlines()
    assert lines and all(line.startswith("{") for line in lines)
    first = json.loads(lines[0])
    assert set(first) == {
        "startDate",
        "endDate",
        "marketplaceId",
        "parentAsin",
        "childAsin",
        "asinAggregation",
        "sales",
        "traffic",
    }
    assert first["startDate"] == first["endDate"] == day.isoformat()
    assert set(first["sales"]) >= {"orderedProductSales", "unitsOrdered", "totalOrderItems"}


def test_the_sandbox_enforces_createquerys_burst_of_15(sandbox_factory, tmp_path):
    """A client that does not pace itself gets its 16th createQuery answered 429 QuotaExceeded
    (Amazon's clock: the next token comes a minute later)."""
    sandbox = sandbox_factory(speed=1.0, queue_seconds=1e12)
    resource = _resource(sandbox, tmp_path / "state.sqlite").model_copy(
        update={"pace_requests": False, "max_attempts": 1}
    )
    day = sandbox.config.today - timedelta(days=3)
    text = trends_query("ATVPDKIKX0DER", _asins(sandbox, 2), day, day)
    with SpApiSession(resource) as session:
        client = session.sp_client(DataKiosk)
        for _ in range(15):
            session.call("createQuery", client.create_query, query=text, require="queryId")
        with pytest.raises(SpApiError, match="429 QuotaExceeded"):
            session.call("createQuery", client.create_query, query=text)
    assert sandbox.app.calls("createQuery") == 16
    assert sandbox.app.throttled("createQuery") == 1
