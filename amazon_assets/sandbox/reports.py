"""Report types the sandbox can generate, and the store that walks reports through their lifecycle.

`REPORT_GENERATORS` maps an Amazon reportType to its `ReportGenerator`; later report types add an
entry here and the HTTP layer serves them unchanged. Statuses are derived from the simulated clock
on every read: IN_QUEUE for `queue_seconds`, IN_PROGRESS for `processing_seconds`, then DONE,
CANCELLED (no data, or a forced outcome) or FATAL.

Documents are built in the background from the moment a report is created (a build can take real
seconds), outside the store lock, once per report; a report whose processing time is over but
whose build is still running reads IN_PROGRESS, as a slow report does on Amazon. No request
builds anything itself, so getReport and getReportDocument answer at once, as Amazon's do; a
document download waits for the build in flight.
"""

from __future__ import annotations

import gzip
import itertools
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from amazon_assets.sandbox import sales_and_traffic, seller_history
from amazon_assets.sandbox.marketplace import Marketplace
from amazon_assets.sources.quotas import Clock


@dataclass(frozen=True)
class ReportRequest:
    """What a createReport asked for, with the dates already reduced to days."""

    account: str
    report_type: str
    start: date
    end: date
    options: dict[str, str]
    marketplace_ids: tuple[str, ...]


@dataclass(frozen=True)
class ReportGenerator:
    """How one reportType is checked, built and broken on purpose."""

    build: Callable[[Marketplace, ReportRequest], bytes | None]  # None -> CANCELLED (no data)
    validate_options: Callable[[dict[str, str]], str | None] = lambda options: None
    malform: Callable[[bytes], bytes] = lambda document: document[: len(document) // 2]
    content_type: str = "application/json"
    # Checks on the whole request (dates included): the reason it is refused with 400, or None.
    validate_request: Callable[[ReportRequest], str | None] = lambda request: None
    # The charset a text document is served in (per account), or None for binary/JSON documents.
    charset: Callable[[Marketplace, ReportRequest], str] | None = None
    # Whether one report may cover several marketplaces (seller-history flat files); sales and
    # traffic takes one, and Amazon ends a request for several FATAL.
    multi_marketplace: bool = False


def _sales_and_traffic(marketplace: Marketplace, request: ReportRequest) -> bytes | None:
    return sales_and_traffic.build_sales_and_traffic(
        marketplace,
        request.account,
        request.start,
        request.end,
        request.options,
        request.marketplace_ids,
    )


def _seller_history(method: str) -> Callable[[Marketplace, ReportRequest], bytes | None]:
    def build(marketplace: Marketplace, request: ReportRequest) -> bytes | None:
        history = seller_history.SellerHistory.of(marketplace)
        return getattr(history, method)(request.account, request.start, request.end)

    return build


def _charset(marketplace: Marketplace, request: ReportRequest) -> str:
    return marketplace.config.encoding_of(request.account)


def _orders_window(request: ReportRequest) -> str | None:
    if (request.end - request.start).days + 1 > seller_history.ORDERS_MAX_DAYS:
        return (
            f"{request.report_type} covers at most {seller_history.ORDERS_MAX_DAYS} days; "
            f"the requested range {request.start}..{request.end} is longer."
        )
    return None


def _not_requestable(request: ReportRequest) -> str | None:
    return (
        f"Report type {request.report_type} cannot be requested; Amazon generates settlement "
        "reports on its own schedule: find them with getReports."
    )


def _tsv(report_type: str, method: str, **extra: Any) -> ReportGenerator:
    number_column, date_column = seller_history.MALFORM_TARGETS[report_type]
    return ReportGenerator(
        build=_seller_history(method),
        malform=lambda document: seller_history.malform_tsv(document, number_column, date_column),
        content_type="text/plain",
        charset=_charset,
        multi_marketplace=True,
        **extra,
    )


REPORT_GENERATORS: dict[str, ReportGenerator] = {
    sales_and_traffic.REPORT_TYPE: ReportGenerator(
        build=_sales_and_traffic,
        validate_options=sales_and_traffic.validate_options,
        malform=sales_and_traffic.malform,
    ),
    seller_history.ORDERS: _tsv(
        seller_history.ORDERS, "orders_document", validate_request=_orders_window
    ),
    seller_history.LEDGER: _tsv(seller_history.LEDGER, "ledger_document"),
    seller_history.FEE_PREVIEW: _tsv(seller_history.FEE_PREVIEW, "fee_preview_document"),
    seller_history.REIMBURSEMENTS: _tsv(seller_history.REIMBURSEMENTS, "reimbursements_document"),
    seller_history.CUSTOMER_RETURNS: _tsv(seller_history.CUSTOMER_RETURNS, "returns_document"),
    seller_history.SETTLEMENTS: _tsv(
        seller_history.SETTLEMENTS, "settlement_document", validate_request=_not_requestable
    ),
}

TERMINAL = ("DONE", "CANCELLED", "FATAL")
RETENTION = timedelta(days=90)


@dataclass
class Report:
    """One report as the sandbox tracks it (times in simulated seconds)."""

    report_id: str
    request: ReportRequest
    created: float
    forced_outcome: str | None = None  # "FATAL" | "CANCELLED" from faults
    malformed: bool = False
    cancelled_at: float | None = None
    final_status: str | None = None
    document_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Document:
    document_id: str
    report_id: str
    gzipped: bytes
    content_type: str


@dataclass(frozen=True)
class _Outcome:
    """What a document build ended in: the final status and, for DONE, the document."""

    status: str
    document: Document | None = None
    error: str | None = None


class ReportStore:
    """Every report and document of one sandbox; thread-safe."""

    def __init__(
        self,
        marketplace: Marketplace,
        clock: Clock,
        queue_seconds: float = 30.0,
        processing_seconds: float = 60.0,
    ) -> None:
        self.marketplace = marketplace
        self.clock = clock
        self.queue_seconds = queue_seconds
        self.processing_seconds = processing_seconds
        self._reports: dict[str, Report] = {}
        self._documents: dict[str, Document] = {}
        # report id (or, for a generated report's document, document id) -> set once it is built
        self._building: dict[str, threading.Event] = {}
        self._ids = itertools.count(50_000_000_001)
        self._lock = threading.RLock()
        # Two builders: documents are polars work that mostly runs outside the GIL.
        self._builders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-report")
        # Simulated wall time starts at the real time the store was made and runs `speed` times faster.
        self._epoch_real = datetime.now(UTC).replace(microsecond=0)
        self._epoch_sim = clock.now()

    # -- simulated time ---------------------------------------------------------------------

    def sim_datetime(self, sim_seconds: float | None = None) -> datetime:
        """The simulated wall-clock time of a simulated-seconds reading (default: now)."""
        seconds = self.clock.now() if sim_seconds is None else sim_seconds
        return self._epoch_real + timedelta(seconds=seconds - self._epoch_sim)

    def sim_seconds(self, moment: datetime) -> float:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return self._epoch_sim + (moment - self._epoch_real).total_seconds()

    # -- operations -------------------------------------------------------------------------

    def create(self, request: ReportRequest, forced_outcome: str | None, malformed: bool) -> Report:
        with self._lock:
            report = Report(
                report_id=str(next(self._ids)),
                request=request,
                created=self.clock.now(),
                forced_outcome=forced_outcome,
                malformed=malformed,
            )
            self._reports[report.report_id] = report
            if forced_outcome:
                report.final_status = forced_outcome  # shown once its processing time is over
            else:
                self._submit(report, report.report_id, None)
            return report

    def add_generated(self, request: ReportRequest, created: float) -> Report:
        """A report Amazon made on its own (settlements), created at simulated second `created`."""
        with self._lock:
            report = Report(report_id=str(next(self._ids)), request=request, created=created)
            # Its document exists already (Amazon made it); the bytes are built in the background.
            document_id = f"amzn1.spdoc.1.4.na.{uuid.uuid4()}"
            report.document_id = document_id
            report.final_status = "DONE"
            self._reports[report.report_id] = report
            self._submit(report, document_id, document_id)
            return report

    def get(self, report_id: str, account: str) -> Report | None:
        with self._lock:
            return self._visible(report_id, account)

    def cancel(self, report_id: str, account: str) -> str:
        """'ok', 'missing', or the status that forbids cancelling (only IN_QUEUE can be cancelled)."""
        with self._lock:
            report = self._visible(report_id, account)
            if report is None:
                return "missing"
            status = self.status(report)
            if status == "IN_QUEUE":
                report.cancelled_at = self.clock.now()
                report.final_status = "CANCELLED"
                return "ok"
            return status

    def list(self, account: str) -> list[Report]:
        with self._lock:
            reports = [
                r
                for r in self._reports.values()
                if r.request.account == account and not self._expired(r)
            ]
        return sorted(reports, key=lambda r: (-r.created, r.report_id))

    def all(self) -> list[Report]:
        with self._lock:
            return list(self._reports.values())

    def document(self, document_id: str) -> Document | None:
        self._wait_built(document_id)
        with self._lock:
            return self._documents.get(document_id)

    def document_for(self, document_id: str, account: str) -> Document | None:
        self._wait_built(document_id)
        with self._lock:
            document = self._documents.get(document_id)
            if document is None:
                return None
            report = self._reports[document.report_id]
            return document if report.request.account == account else None

    # -- lifecycle --------------------------------------------------------------------------

    def status(self, report: Report) -> str:
        if report.cancelled_at is not None:
            return "CANCELLED"
        elapsed = self.clock.now() - report.created
        if elapsed < self.queue_seconds:
            return "IN_QUEUE"
        if elapsed < self.queue_seconds + self.processing_seconds:
            return "IN_PROGRESS"
        return report.final_status or "IN_PROGRESS"  # a requested report's build is running

    def to_json(self, report: Report) -> dict[str, Any]:
        """The report object with Amazon's field names (a consistent snapshot, under the lock)."""
        with self._lock:
            return self._to_json(report)

    def _to_json(self, report: Report) -> dict[str, Any]:
        status = self.status(report)
        request = report.request
        body: dict[str, Any] = {
            "reportId": report.report_id,
            "reportType": request.report_type,
            "dataStartTime": _iso(datetime.combine(request.start, datetime.min.time(), UTC)),
            "dataEndTime": _iso(datetime.combine(request.end, datetime.max.time(), UTC)),
            "marketplaceIds": list(request.marketplace_ids),
            "createdTime": _iso(self.sim_datetime(report.created)),
            "processingStatus": status,
        }
        if report.cancelled_at is not None:
            body["processingEndTime"] = _iso(self.sim_datetime(report.cancelled_at))
            return body
        if status != "IN_QUEUE":
            body["processingStartTime"] = _iso(
                self.sim_datetime(report.created + self.queue_seconds)
            )
        if status in TERMINAL:
            end = report.created + self.queue_seconds + self.processing_seconds
            body["processingEndTime"] = _iso(self.sim_datetime(end))
        if report.document_id and status in TERMINAL:
            body["reportDocumentId"] = report.document_id
        return body

    def _visible(self, report_id: str, account: str) -> Report | None:
        """The account's unexpired report `report_id` (call with the lock held)."""
        report = self._reports.get(report_id)
        if report is None or report.request.account != account or self._expired(report):
            return None
        return report

    def _expired(self, report: Report) -> bool:
        return self.clock.now() - report.created > RETENTION.total_seconds()

    def _submit(self, report: Report, key: str, document_id: str | None) -> None:
        """Start building a report's document in the background (call with the lock held)."""
        self._building[key] = threading.Event()
        self._builders.submit(self._build, report, key, document_id)

    def _wait_built(self, document_id: str) -> None:
        """Wait for a generated report's document if its build is still running."""
        with self._lock:
            event = self._building.get(document_id)
        if event is not None:
            event.wait()

    def _build(self, report: Report, key: str, document_id: str | None) -> None:
        """Generate a report's document outside the lock, then store it under the lock."""
        outcome: _Outcome | None = None
        try:
            outcome = self._generate(report, document_id)
        finally:
            with self._lock:
                if outcome is not None and report.cancelled_at is None:
                    if outcome.document is not None:
                        self._documents[outcome.document.document_id] = outcome.document
                        report.document_id = outcome.document.document_id
                    if outcome.error is not None:
                        report.extra["error"] = outcome.error
                    report.final_status = outcome.status
                event = self._building.pop(key, None)
            if event is not None:
                event.set()

    def _generate(self, report: Report, document_id: str | None) -> _Outcome:
        """Build a report's document; touches no store state, so it runs without the lock."""
        generator = REPORT_GENERATORS[report.request.report_type]
        try:
            body = generator.build(self.marketplace, report.request)
        except Exception as error:  # a generator bug is Amazon's FATAL, not a 500 on getReport
            return _Outcome("FATAL", error=repr(error))
        if body is None:
            return _Outcome("CANCELLED")
        if report.malformed:
            body = generator.malform(body)
        content_type = generator.content_type
        if generator.charset is not None:
            content_type += f"; charset={generator.charset(self.marketplace, report.request)}"
        document_id = document_id or f"amzn1.spdoc.1.4.na.{uuid.uuid4()}"
        # mtime=0 keeps the gzip bytes a pure function of the document.
        gzipped = gzip.compress(body, mtime=0)
        return _Outcome("DONE", Document(document_id, report.report_id, gzipped, content_type))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()
