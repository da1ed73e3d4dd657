"""Data Kiosk 2023-11-15 through python-amazon-sp-api's `DataKiosk` client: one
`salesAndTrafficTrends` query (child ASIN by day, up to 30 ASINs, up to two years) from
createQuery to its JSONL document.

Login, pacing (Data Kiosk's usage plans in `sources/quotas.py`, shared through the state store),
retries and refusals are the SP-API resource's session (`resources/sp_api.py`): a refused
credential fails at once with one sentence, a 429 waits and is never a failure. Data Kiosk does
not count against GET_SALES_AND_TRAFFIC_REPORT's 96 requests a day.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sp_api.api import DataKiosk

from amazon_assets.parsers.compression import gunzipped
from amazon_assets.resources.sp_api import (
    DOWNLOAD_ATTEMPTS,
    POLL_INTERVALS,
    SpApiError,
    SpApiResource,
    SpApiSession,
)

DATASET = "analytics_salesAndTraffic_2024_04_24"
MAX_ASINS_PER_QUERY = 30  # MarketplaceAsinFilter.asins
MAX_DAYS_PER_QUERY = 730  # "The start date must be no more than two years ago."
TERMINAL = ("DONE", "FATAL", "CANCELLED")

# Every field of SalesAndTrafficTrends the silver table keeps (the B2B ones are null for sellers
# without Amazon Business).
_AMOUNT = "{amount currencyCode}"
_SALES = (
    f"orderedProductSales {_AMOUNT} orderedProductSalesB2B {_AMOUNT} totalOrderItems "
    "totalOrderItemsB2B unitsOrdered unitsOrderedB2B"
)
_TRAFFIC = " ".join(
    base + suffix
    for base in (
        "browserPageViews",
        "browserPageViewsPercentage",
        "browserSessionPercentage",
        "browserSessions",
        "buyBoxPercentage",
        "mobileAppPageViews",
        "mobileAppPageViewsPercentage",
        "mobileAppSessionPercentage",
        "mobileAppSessions",
        "pageViews",
        "pageViewsPercentage",
        "sessionPercentage",
        "sessions",
        "unitSessionPercentage",
    )
    for suffix in ("", "B2B")
)


class DataKioskQueryError(SpApiError):
    """Data Kiosk ended a query FATAL; the message carries Amazon's error document."""


def trends_query(marketplace_id: str, asins: Sequence[str], start: date, end: date) -> str:
    """The GraphQL of one salesAndTrafficTrends query: child ASIN by day over [start, end]."""
    if not 1 <= len(asins) <= MAX_ASINS_PER_QUERY:
        raise ValueError(f"A query takes 1 to {MAX_ASINS_PER_QUERY} ASINs; got {len(asins)}.")
    if (end - start).days + 1 > MAX_DAYS_PER_QUERY or end < start:
        raise ValueError(f"A query covers 1 to {MAX_DAYS_PER_QUERY} days; got {start}..{end}.")
    listed = ",".join(f'"{asin}"' for asin in asins)
    return (
        f"query {{{DATASET} {{salesAndTrafficTrends("
        f'startDate:"{start.isoformat()}" endDate:"{end.isoformat()}" '
        f"dateAggregation:DAY asinAggregation:CHILD "
        f'filters:[{{marketplaceId:"{marketplace_id}" asins:[{listed}]}}]'
        f"){{startDate endDate marketplaceId parentAsin childAsin asinAggregation "
        f"sales {{{_SALES}}} traffic {{{_TRAFFIC}}}}}}}}}"
    )


@dataclass(frozen=True)
class KioskResult:
    """One finished query: its document as served (gzip JSONL; empty when Amazon had no data)."""

    query_id: str
    status: str  # DONE | CANCELLED
    document_id: str | None
    body: bytes = field(repr=False)  # JSONL as downloaded
    asins: tuple[str, ...]
    data_start: date
    data_end: date
    fetched_at: datetime
    requests: dict[str, int]

    def content(self) -> bytes:
        """The JSONL decompressed."""
        return gunzipped(self.body)


def by_asin_query(marketplace_id: str, start: date, end: date) -> str:
    """The GraphQL of one salesAndTrafficByAsin query: every child ASIN with traffic over
    [start, end], summed (which ASINs the account sells)."""
    if (end - start).days + 1 > MAX_DAYS_PER_QUERY or end < start:
        raise ValueError(f"A query covers 1 to {MAX_DAYS_PER_QUERY} days; got {start}..{end}.")
    return (
        f"query {{{DATASET} {{salesAndTrafficByAsin("
        f'startDate:"{start.isoformat()}" endDate:"{end.isoformat()}" aggregateBy:CHILD '
        f'marketplaceIds:["{marketplace_id}"]'
        f"){{startDate endDate marketplaceId parentAsin childAsin}}}}}}"
    )


def fetch_trends(
    resource: SpApiResource, asins: Sequence[str], data_start: date, data_end: date
) -> KioskResult:
    """Create a salesAndTrafficTrends query for the resource's account, wait for it and download
    its document."""
    text = trends_query(resource.marketplace_id, asins, data_start, data_end)
    return _run_query(resource, text, tuple(asins), data_start, data_end)


def fetch_child_asins(resource: SpApiResource, data_start: date, data_end: date) -> KioskResult:
    """The salesAndTrafficByAsin document of the account over [data_start, data_end]: one line
    per child ASIN with traffic in the range (`child_asins` reads it)."""
    text = by_asin_query(resource.marketplace_id, data_start, data_end)
    return _run_query(resource, text, (), data_start, data_end)


def child_asins(document: bytes) -> list[str]:
    """The child ASINs of a salesAndTrafficByAsin document (JSONL, gzipped or not), sorted."""
    lines = gunzipped(document).decode("utf-8").splitlines()
    return sorted({json.loads(line)["childAsin"] for line in lines if line.strip()})


def _run_query(
    resource: SpApiResource, text: str, asins: tuple[str, ...], data_start: date, data_end: date
) -> KioskResult:
    """createQuery, getQuery until final (the client core's polling), then the document."""
    with SpApiSession(resource) as session:
        client = session.sp_client(DataKiosk)
        created = session.call("createQuery", client.create_query, query=text, require="queryId")
        assert created is not None
        query_id = created.payload["queryId"]

        def get() -> dict | None:
            answer = session.call("getQuery", client.get_query, query_id)
            assert answer is not None
            return dict(answer.payload)

        def still_running(query: dict) -> Exception:
            return SpApiError(
                f"Data Kiosk query {query_id} for account {resource.account!r} is still "
                f"{query.get('processingStatus')} after {resource.report_timeout_seconds:.0f} s; "
                "run again to wait for a new one."
            )

        payload = session.poll(get, TERMINAL, "processingStatus", POLL_INTERVALS, still_running)
        assert payload is not None  # get never answers None
        status = payload["processingStatus"]
        if status == "FATAL":
            error = gunzipped(_download(session, client, payload.get("errorDocumentId")))
            raise DataKioskQueryError(
                f"Data Kiosk ended query {query_id} ({data_start}..{data_end}, {len(asins)} "
                f"ASINs) FATAL for account {resource.account!r}: "
                f"{error.decode('utf-8', 'replace')}"
            )
        document_id = payload.get("dataDocumentId")
        body = _download(session, client, document_id) if document_id else b""
        return KioskResult(
            query_id=query_id,
            status=status,
            document_id=document_id,
            body=body,
            asins=asins,
            data_start=data_start,
            data_end=data_end,
            fetched_at=datetime.now(UTC),
            requests=dict(session.requests),
        )


def _download(session: SpApiSession, client: DataKiosk, document_id: str | None) -> bytes:
    """The document's bytes (HTTP clients undo the gzip Amazon names in Content-Encoding); a
    fresh presigned URL for each attempt, since one lives five minutes."""
    if not document_id:
        return b""
    for _ in range(DOWNLOAD_ATTEMPTS):
        answer = session.call(
            "getDocument", client.get_document, document_id, require="documentUrl"
        )
        assert answer is not None
        body = session.get_presigned_body(answer.payload["documentUrl"])
        if body is not None:
            return body
    raise SpApiError(
        f"Data Kiosk document {document_id} could not be downloaded in {DOWNLOAD_ATTEMPTS} "
        "attempts (the download link had expired each time); retry later."
    )
