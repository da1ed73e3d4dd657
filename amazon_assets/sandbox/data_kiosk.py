"""Data Kiosk 2023-11-15 (createQuery, getQuery, getQueries, cancelQuery, getDocument) serving
`analytics_salesAndTraffic_2024_04_24.salesAndTrafficTrends` (child ASIN by day, for up to 30
ASINs) and `salesAndTrafficByAsin` (every child ASIN with traffic over the range, summed: how a
client learns which ASINs an account sells) from the marketplace's truth.

Amazon's model: selling-partner-api-models, models/data-kiosk-api-model/dataKiosk_2023-11-15.json
(operations, quotas, the Query object) and schemas/data-kiosk/
analytics_salesAndTraffic_2024_04_24.graphql (the dataset). A query walks IN_QUEUE -> IN_PROGRESS
-> DONE on the sandbox clock like a report; DONE carries a `dataDocumentId` when there are rows and
none when there are none (Amazon: "no data for the given date range"); a start more than two years
back ends FATAL with an `errorDocumentId` whose JSON says why. The data document is JSONL, one
`SalesAndTrafficTrends` object per line (child ASIN and day), gzip-served from a presigned URL.

The numbers are those of GET_SALES_AND_TRAFFIC_REPORT at CHILD granularity for one day (the same
`asin_metrics` on the same truth), so the two paths agree. The sandbox reads the query's
arguments, not its selection set: every line carries every field of the type.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from amazon_assets.sandbox.sales_and_traffic import (
    asin_metrics,
    asin_sums,
    asin_totals,
    two_years_before,
)

if TYPE_CHECKING:
    from amazon_assets.sandbox.app import SandboxApp

DATA_KIOSK = "/dataKiosk/2023-11-15"
DATASET = "analytics_salesAndTraffic_2024_04_24"
MAX_ASINS_PER_FILTER = 30  # MarketplaceAsinFilter.asins: "Maximum size of the list is 30."
MAX_QUERY_CHARACTERS = 8000  # CreateQuerySpecification.query, after whitespace is removed
STATUSES = ("IN_QUEUE", "IN_PROGRESS", "DONE", "CANCELLED", "FATAL")
RETENTION = timedelta(days=30)  # @resultRetention(duration: "P30D") on every field
_CACHED_RANGES = 4  # an account's ASIN batches ask for the same days one after another

TRENDS, BY_ASIN = "salesAndTrafficTrends", "salesAndTrafficByAsin"
_QUERY = re.compile(
    rf"{DATASET}\s*\{{\s*(?P<operation>{TRENDS}|{BY_ASIN})\s*\((?P<arguments>[^)]*)\)", re.S
)
_MARKETPLACE_IDS = re.compile(r"marketplaceIds\s*:\s*\[([^\]]*)\]")
_STRING = re.compile(r'(\w+)\s*:\s*"([^"]*)"')
_ENUM = re.compile(r"(\w+)\s*:\s*([A-Z_]+)\b")
_FILTER = re.compile(r"\{([^{}]*)\}")


class QueryError(ValueError):
    """A createQuery body Amazon would refuse with 400 InvalidInput; the message says why."""


@dataclass(frozen=True)
class TrendsQuery:
    """The arguments of one salesAndTrafficTrends query."""

    start: date
    end: date
    date_aggregation: str
    asin_aggregation: str
    marketplace_id: str
    asins: tuple[str, ...]  # empty for salesAndTrafficByAsin (every ASIN)
    operation: str = TRENDS


def parse_trends_query(text: str) -> TrendsQuery:
    """The arguments of a salesAndTrafficTrends or salesAndTrafficByAsin query, or QueryError
    naming the problem."""
    if len(re.sub(r"\s+", "", text)) > MAX_QUERY_CHARACTERS:
        raise QueryError(f"The query is longer than {MAX_QUERY_CHARACTERS} characters.")
    match = _QUERY.search(text)
    if match is None:
        raise QueryError(
            f"The sandbox's Data Kiosk serves {DATASET} {TRENDS} and {BY_ASIN} queries only."
        )
    arguments = match["arguments"]
    filters = _FILTER.findall(arguments)
    outside = _FILTER.sub("", arguments)
    strings = dict(_STRING.findall(outside))
    enums = dict(_ENUM.findall(outside))
    try:
        start = date.fromisoformat(strings["startDate"])
        end = date.fromisoformat(strings["endDate"])
    except (KeyError, ValueError):
        raise QueryError("startDate and endDate must be dates (YYYY-MM-DD).") from None
    if end < start:
        raise QueryError("endDate must not be before startDate.")
    if match["operation"] == BY_ASIN:
        return _by_asin_query(start, end, enums, arguments)
    date_aggregation = enums.get("dateAggregation")
    asin_aggregation = enums.get("asinAggregation")
    if date_aggregation != "DAY":
        raise QueryError(f"dateAggregation {date_aggregation!r}: the sandbox serves DAY.")
    if asin_aggregation != "CHILD":
        raise QueryError(f"asinAggregation {asin_aggregation!r}: only CHILD is supported.")
    if len(filters) != 1:
        raise QueryError("filters must hold exactly one marketplace (the sandbox serves one).")
    marketplace = dict(_STRING.findall(filters[0])).get("marketplaceId")
    asins_text = re.search(r"asins\s*:\s*\[([^\]]*)\]", filters[0])
    if not marketplace or asins_text is None:
        raise QueryError("A filter needs marketplaceId and asins.")
    asins = tuple(re.findall(r'"([^"]+)"', asins_text[1]))
    if not 1 <= len(asins) <= MAX_ASINS_PER_FILTER:
        raise QueryError(
            f"A filter holds 1 to {MAX_ASINS_PER_FILTER} child ASINs; got {len(asins)}."
        )
    return TrendsQuery(start, end, date_aggregation, asin_aggregation, marketplace, asins)


def _by_asin_query(start: date, end: date, enums: dict[str, str], arguments: str) -> TrendsQuery:
    if enums.get("aggregateBy") != "CHILD":
        raise QueryError(f"aggregateBy {enums.get('aggregateBy')!r}: the sandbox serves CHILD.")
    listed = _MARKETPLACE_IDS.search(arguments)
    marketplaces = re.findall(r'"([^"]+)"', listed[1]) if listed else []
    if len(marketplaces) != 1:
        raise QueryError(
            "marketplaceIds must hold exactly one marketplace (the sandbox serves one)."
        )
    return TrendsQuery(start, end, "", "CHILD", marketplaces[0], (), BY_ASIN)


def by_asin_rows(
    facts: pl.DataFrame, start: date, end: date, marketplace_id: str, currency: str, b2b: bool
) -> list[dict[str, Any]]:
    """One SalesAndTrafficByAsin object per child ASIN with traffic over the range, summed over
    it (shares divide by the range's totals)."""
    sums = asin_sums(facts, ["parent_asin", "asin"]).filter(pl.col("sessions") > 0)
    totals = asin_totals(facts.with_columns(range=pl.lit(1)), ["range"]).row(0, named=True)
    totals = {name[6:]: value for name, value in totals.items() if name.startswith("total_")}
    rows = []
    for r in sums.sort("asin").iter_rows(named=True):
        sales, traffic = asin_metrics(r, totals, currency, b2b)
        rows.append(
            {
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
                "marketplaceId": marketplace_id,
                "parentAsin": r["parent_asin"],
                "childAsin": r["asin"],
                "sales": sales,
                "traffic": traffic,
            }
        )
    return rows


def trends_rows(
    facts: pl.DataFrame, asins: tuple[str, ...], marketplace_id: str, currency: str, b2b: bool
) -> list[dict[str, Any]]:
    """One SalesAndTrafficTrends object per (day, child ASIN) of `asins` with traffic.

    `facts` are the marketplace's SKU facts of every day of the range: shares divide by each
    day's totals over all products, as a one-day CHILD report's do.
    """
    keys = ["date", "parent_asin", "asin"]
    sums = asin_sums(facts.filter(pl.col("asin").is_in(list(asins))), keys)
    sums = sums.filter(pl.col("sessions") > 0).join(asin_totals(facts, ["date"]), on="date")
    rows = []
    for r in sums.sort(["date", "asin"]).iter_rows(named=True):
        totals = {name[6:]: value for name, value in r.items() if name.startswith("total_")}
        sales, traffic = asin_metrics(r, totals, currency, b2b)
        day = r["date"].isoformat()
        rows.append(
            {
                "startDate": day,
                "endDate": day,
                "marketplaceId": marketplace_id,
                "parentAsin": r["parent_asin"],
                "childAsin": r["asin"],
                "asinAggregation": "CHILD",
                "sales": sales,
                "traffic": traffic,
            }
        )
    return rows


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    """Amazon's data document: one JSON object per line."""
    return b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows)


@dataclass
class KioskQuery:
    query_id: str
    account: str
    text: str
    spec: TrendsQuery
    created: float  # simulated seconds
    status: str = "IN_QUEUE"
    data_document_id: str | None = None
    error_document_id: str | None = None
    cancelled: bool = False
    built: threading.Event = field(default_factory=threading.Event)


class DataKioskSandbox:
    """Data Kiosk's side of the sandbox: queries, their documents and the routes."""

    def __init__(self, app: SandboxApp) -> None:
        self.app = app
        self._queries: dict[str, KioskQuery] = {}
        self._documents: dict[str, tuple[str, bytes]] = {}  # id -> (account, gzipped bytes)
        self._facts: OrderedDict[tuple[str, date, date], pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            Route(f"{DATA_KIOSK}/queries", self.create_query, methods=["POST"]),
            Route(f"{DATA_KIOSK}/queries", self.get_queries, methods=["GET"]),
            Route(f"{DATA_KIOSK}/queries/{{query_id}}", self.get_query, methods=["GET"]),
            Route(f"{DATA_KIOSK}/queries/{{query_id}}", self.cancel_query, methods=["DELETE"]),
            Route(f"{DATA_KIOSK}/documents/{{document_id}}", self.get_document, methods=["GET"]),
            Route("/kiosk-downloads/{document_id}", self.download, methods=["GET"]),
        ]

    # -- lifecycle ----------------------------------------------------------------------------

    def _status(self, query: KioskQuery) -> str:
        if query.status in ("CANCELLED", "DONE", "FATAL"):
            return query.status
        config = self.app.config
        age = self.app.clock.now() - query.created
        if age < config.queue_seconds:
            return "IN_QUEUE"
        if age < config.queue_seconds + config.processing_seconds or not query.built.is_set():
            return "IN_PROGRESS"
        query.status = "FATAL" if query.error_document_id else "DONE"
        return query.status

    def _build(self, query: KioskQuery) -> None:
        """Make the query's document (in a worker thread: a long range takes real seconds)."""
        try:
            spec, marketplace = query.spec, self.app.marketplace
            if spec.start < two_years_before(marketplace.today):
                self._error(query, "startDate must be no more than two years ago.")
                return
            first = max(spec.start, marketplace.first_day(query.account))
            last = min(spec.end, marketplace.last_day(query.account))
            if first > last:
                return  # DONE without a document: no data for the range
            home = self.app.config.home_of(query.account)
            facts = self._range_facts(query.account, first, last)
            if spec.operation == BY_ASIN:
                rows = by_asin_rows(
                    facts,
                    spec.start,
                    spec.end,
                    spec.marketplace_id,
                    home.currency,
                    self.app.config.b2b,
                )
            else:
                rows = trends_rows(
                    facts, spec.asins, spec.marketplace_id, home.currency, self.app.config.b2b
                )
            if rows:
                document_id = f"amzn1.tortuga.4.na.{uuid.uuid4()}"
                with self._lock:
                    self._documents[document_id] = (query.account, gzip.compress(jsonl(rows)))
                query.data_document_id = document_id
        finally:
            query.built.set()

    def _error(self, query: KioskQuery, message: str) -> None:
        document_id = f"amzn1.tortuga.4.na.{uuid.uuid4()}"
        body = json.dumps({"errorMessage": message}).encode()
        with self._lock:
            self._documents[document_id] = (query.account, gzip.compress(body))
        query.error_document_id = document_id

    def _range_facts(self, account: str, first: date, last: date) -> pl.DataFrame:
        key = (account, first, last)
        with self._lock:
            if key in self._facts:
                self._facts.move_to_end(key)
                return self._facts[key]
        marketplace = self.app.marketplace
        facts = pl.concat(
            [
                marketplace.sales_and_traffic(account, first + timedelta(days=offset))
                for offset in range((last - first).days + 1)
            ]
        )
        with self._lock:
            self._facts[key] = facts
            while len(self._facts) > _CACHED_RANGES:
                self._facts.popitem(last=False)
        return facts

    def _json(self, query: KioskQuery) -> dict[str, Any]:
        status = self._status(query)
        store = self.app.store
        body: dict[str, Any] = {
            "queryId": query.query_id,
            "query": query.text,
            "createdTime": _iso(store.sim_datetime(query.created)),
            "processingStatus": status,
        }
        if status in ("IN_PROGRESS", "DONE", "FATAL"):  # a cancelled query never started
            start = query.created + self.app.config.queue_seconds
            body["processingStartTime"] = _iso(store.sim_datetime(start))
        if status in ("DONE", "FATAL", "CANCELLED"):
            body["processingEndTime"] = _iso(store.sim_datetime())
        if status == "DONE" and query.data_document_id:
            body["dataDocumentId"] = query.data_document_id
        if status == "FATAL":
            body["errorDocumentId"] = query.error_document_id
        return body

    # -- routes -------------------------------------------------------------------------------

    async def create_query(self, request: Request) -> Response:
        operation = "createQuery"
        guard = await self.app._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        account = guard[1]
        try:
            body = json.loads(await request.body() or b"{}")
            text = body["query"] if isinstance(body, dict) else None
            if not isinstance(text, str):
                raise QueryError("The body needs a query string.")
            spec = parse_trends_query(text)
        except (ValueError, KeyError) as error:
            return self.app._invalid(operation, str(error) or "The body is not valid.")
        if spec.marketplace_id not in self.app.config.marketplaces_of(account):
            return self.app._invalid(operation, f"Invalid marketplaceId: {spec.marketplace_id!r}.")
        query = KioskQuery(str(uuid.uuid4().int)[:11], account, text, spec, self.app.clock.now())
        with self._lock:
            self._queries[query.query_id] = query
        threading.Thread(target=self._build, args=(query,), daemon=True).start()
        return self.app._ok(operation, {"queryId": query.query_id}, status=202)

    def _query(self, query_id: str, account: str) -> KioskQuery | None:
        with self._lock:
            query = self._queries.get(query_id)
        return query if query is not None and query.account == account else None

    async def get_query(self, request: Request) -> Response:
        operation = "getQuery"
        guard = await self.app._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        query = self._query(request.path_params["query_id"], guard[1])
        if query is None:
            return self.app._not_found(operation, "The provided queryId was not found.")
        return self.app._ok(operation, self._json(query))

    async def get_queries(self, request: Request) -> Response:
        operation = "getQueries"
        guard = await self.app._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        params = request.query_params
        statuses = [s for v in params.getlist("processingStatuses") for s in v.split(",") if s]
        if bad := [s for s in statuses if s not in STATUSES]:
            return self.app._invalid(operation, f"Invalid processingStatuses: {', '.join(bad)}.")
        try:
            size = int(params.get("pageSize") or 10)
            token = params.get("paginationToken")
            offset = int(base64.urlsafe_b64decode(token.encode())) if token else 0
        except (ValueError, binascii.Error):
            return self.app._invalid(operation, "Invalid pageSize or paginationToken.")
        if not 1 <= size <= 100:
            return self.app._invalid(operation, "pageSize must be between 1 and 100.")
        horizon = self.app.clock.now() - RETENTION.total_seconds()
        with self._lock:
            mine = [q for q in self._queries.values() if q.account == guard[1]]
        listed = [
            self._json(q)
            for q in sorted(mine, key=lambda q: -q.created)
            if q.created >= horizon and (not statuses or self._status(q) in statuses)
        ]
        body: dict[str, Any] = {"queries": listed[offset : offset + size]}
        if offset + size < len(listed):
            next_token = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
            body["pagination"] = {"nextToken": next_token}
        return self.app._ok(operation, body)

    async def cancel_query(self, request: Request) -> Response:
        operation = "cancelQuery"
        guard = await self.app._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        query = self._query(request.path_params["query_id"], guard[1])
        if query is None:
            return self.app._not_found(operation, "The provided queryId was not found.")
        status = self._status(query)
        if status in ("DONE", "FATAL"):
            return self.app._invalid(
                operation,
                f"Query {query.query_id} is {status}; only non-terminal queries can be cancelled.",
            )
        query.status = "CANCELLED"  # cancelling a CANCELLED query is a no-op
        return self.app._ok(operation, None)

    async def get_document(self, request: Request) -> Response:
        operation = "getDocument"
        guard = await self.app._guard(request, operation)
        if isinstance(guard, Response):
            return guard
        document_id = request.path_params["document_id"]
        with self._lock:
            stored = self._documents.get(document_id)
        if stored is None or stored[0] != guard[1]:
            return self.app._not_found(operation, "The provided documentId was not found.")
        config = self.app.config
        lifetime = max(
            config.document_url_seconds, config.document_url_min_real_seconds * config.speed
        )
        expires = int(self.app.clock.now() + lifetime)
        signature = self.app.sign(f"{document_id}:{expires}")
        url = (
            f"{self.app.base_url}/kiosk-downloads/{document_id}"
            f"?expires={expires}&signature={signature}"
        )
        return self.app._ok(operation, {"documentId": document_id, "documentUrl": url})

    async def download(self, request: Request) -> Response:
        """The presigned URL: no SP-API auth; gzip announced in Content-Encoding, as Amazon's."""
        self.app._count("downloadKioskDocument")
        document_id = request.path_params["document_id"]
        expires = request.query_params.get("expires", "")
        signature = request.query_params.get("signature", "")
        if not self.app.verify(f"{document_id}:{expires}", signature):
            return Response("SignatureDoesNotMatch", status_code=403)
        if not expires.isdigit() or self.app.clock.now() > int(expires):
            return Response("Request has expired", status_code=403)
        with self._lock:
            stored = self._documents.get(document_id)
        if stored is None:
            return Response("NoSuchKey", status_code=404)
        data = await run_in_threadpool(lambda: stored[1])
        return Response(
            data, media_type="application/x-ndjson", headers={"Content-Encoding": "gzip"}
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
