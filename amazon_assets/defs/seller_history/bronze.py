"""Seller-history bronze: run an account's planned requests concurrently and keep every document.

Lake layout (one folder per document, the foundation's `write_document`, under each spec's
`lake_prefix`):
`amazon/reports/<source>/us/account=<name>/run_date=<first day>/report_id=<id>/part-000.tsv.gz`
for the six reports (settlements included) and
`amazon/finances/financial_events/us/account=<name>/run_date=<first day>/report_id=none-<ts>/part-000.json.gz`
for Finances API windows; `_meta.json` beside each body records the window (data_start,
data_end), the report and document ids, the compression and the download's charset.

One document spans many day partitions (orders: a month), so this module writes and reads the
lake itself (the `lake` resource) instead of a day-keyed IO manager. All of an account's requests
run at once in threads: createReport, getReportDocument and listFinancialEvents draw on their own
persisted token buckets (`SpApiResource`), so the account's work finishes close to the bound the
slowest bucket imposes. Each document is written the moment it arrives and only then is its
report closed, the contract's order (`ingestion/bronze.py`). Resume: in a backfill, a planned
window already in bronze is skipped (only the sidecars of the planned windows' first days are
read, `ingestion.bronze.account_documents`); one whose report was created but not stored is
resumed from the report ledger (`fetch_report(complete=False)`, closed with `complete_reports`
once stored); a Finances window resumes after its last recorded page (pages are kept in the
state store as they arrive, dropped once the document is stored).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, date, datetime, timedelta
from typing import Any

from amazon_assets.defs.seller_history.spec import SETTLEMENTS, SPECS
from amazon_assets.ingestion.bronze import (
    SourceProgress,
    StoredDocument,
    account_documents,
    bronze_document,
)
from amazon_assets.resources.lake import BronzeDocument, Lake, write_document
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.sources.planner import FINANCES, LISTED, PlannedRequest

# One thread per request: they mostly sleep on quota buckets and report processing, and a
# request queued behind others would leave its bucket idle (Finances pages run beside reports).
MAX_WORKERS = 128
# Amazon lists reports created in the last 90 days; ask for all of them (minus a margin for clocks).
SETTLEMENT_LISTING = timedelta(days=90) - timedelta(minutes=5)


class AccountFetcher:
    """Runs one account's plan: every request concurrently, documents written as they arrive."""

    def __init__(
        self,
        sp_api: SpApiResource,
        lake: Lake,
        *,
        skip_stored: bool,
        log: Callable[[str], None] = lambda message: None,
        today: date | None = None,
        reuse_since: datetime | None = None,
    ) -> None:
        self.sp_api = sp_api
        self.lake = lake
        self.account = sp_api.account
        self.skip_stored = skip_stored
        self.log = log
        self.today = today or datetime.now(UTC).date()
        self.reuse_since = reuse_since  # see sources/reuse.py
        self.progress: dict[str, SourceProgress] = {}
        self._lock = threading.Lock()

    def run(self, plan: Iterable[PlannedRequest]) -> dict[str, SourceProgress]:
        """Fetch every planned request (newest first); raise the first failure after the rest."""
        plan = list(plan)
        if plan:
            # Once, before the concurrent requests: a refused login fails the run at once.
            self.sp_api.check_login()
        tasks: list[tuple[PlannedRequest, Callable[[], None]]] = []
        planned: dict[str, list[PlannedRequest]] = {}
        for request in plan:
            planned.setdefault(request.source, []).append(request)
        self.progress.update({source: SourceProgress() for source in planned})
        stored = {source: self._stored(requests) for source, requests in planned.items()}
        for request in plan:
            progress = self.progress[request.source]
            serving = request.spec.serving
            if serving == LISTED:
                tasks.append((request, lambda: self._settlements(stored[SETTLEMENTS.name])))
                continue
            progress.planned += 1
            if self.skip_stored and any(
                (doc.data_start, doc.data_end) == (request.start, request.end)
                for doc in stored[request.source]
            ):
                progress.skipped += 1
                continue
            fetch = self._finances if serving == FINANCES else self._report
            tasks.append((request, lambda request=request, fetch=fetch: fetch(request)))
        errors: list[BaseException] = []
        if tasks:
            with ThreadPoolExecutor(min(MAX_WORKERS, len(tasks))) as pool:
                futures = {pool.submit(task): request for request, task in tasks}
                for future in as_completed(futures):
                    error = future.exception()
                    if error is not None:
                        errors.append(error)
                        request = futures[future]
                        self.log(f"{request.source} {request.start}..{request.end} failed: {error}")
        if errors:
            raise errors[0]
        return self.progress

    def _stored(self, requests: list[PlannedRequest]) -> list[StoredDocument]:
        """The stored documents that can stand for some of one document's planned requests:
        every settlement (Amazon chooses their periods); in a backfill, the documents of the
        planned windows' first days (only their sidecars are read); else none."""
        spec = requests[0].spec
        if spec is SETTLEMENTS:
            return account_documents(spec, self.lake, self.account)
        if not self.skip_stored:
            return []
        starts = [request.start for request in requests]
        return account_documents(spec, self.lake, self.account, min(starts), max(starts))

    def _store(self, source: str, document: BronzeDocument, requests: Mapping[str, int]) -> None:
        spec = SPECS[source]
        gzipped = document.content_type == "application/gzip"
        write_document(self.lake, spec.lake_prefix(self.account), document, spec.file_name(gzipped))
        with self._lock:
            self.progress[source].stored(document, requests)
            done = sum(p.done for p in self.progress.values())
            planned = sum(p.planned for p in self.progress.values())
        self.log(
            f"{self.account} {source} {document.metadata.get('data_start')}.."
            f"{document.metadata.get('data_end')}: {document.status} "
            f"({done} of {planned} requests done)"
        )

    def _report(self, request: PlannedRequest) -> None:
        result = self.sp_api.fetch_report(
            request.spec.report_type,
            request.start,
            request.end,
            complete=False,
            reuse_since=self.reuse_since,
        )
        document = bronze_document(
            request.source, request.start, result, self.sp_api.source_label, self.account
        )
        document = _flat_file(document, self.account, result.charset)
        self._store(request.source, document, result.requests)
        self.sp_api.complete_reports([result.report_id])

    def _finances(self, request: PlannedRequest) -> None:
        posted_after = datetime.combine(request.start, datetime.min.time(), UTC)
        posted_before = datetime.combine(request.end + timedelta(days=1), datetime.min.time(), UTC)
        pages = self.sp_api.list_financial_events(
            posted_after, posted_before, reuse_since=self.reuse_since
        )
        stored = {
            "PostedAfter": posted_after.isoformat(),
            "PostedBefore": posted_before.isoformat(),
            "pages": pages,
        }
        document = BronzeDocument(
            source=request.source,
            day=request.start,
            report_id=None,
            status="DONE",
            body=gzip.compress(json.dumps(stored, separators=(",", ":")).encode(), mtime=0),
            content_type="application/gzip",
            fetched_at=datetime.now(UTC),
            metadata={
                "operation": "listFinancialEvents",
                "account": self.account,
                "data_start": request.start.isoformat(),
                "data_end": request.end.isoformat(),
                "pages": len(pages),
                "source": self.sp_api.source_label,
            },
        )
        self._store(request.source, document, {"listFinancialEvents": len(pages)})
        self.sp_api.forget_financial_events(posted_after, posted_before)

    def _settlements(self, stored: list[StoredDocument]) -> None:
        """List the settlement reports Amazon holds; download those not yet in bronze."""
        report_type = SETTLEMENTS.report_type
        listed = self.sp_api.list_reports([report_type], datetime.now(UTC) - SETTLEMENT_LISTING)
        known = {doc.report_id for doc in stored}
        new = [report for report in listed if report.get("reportId") not in known]
        with self._lock:
            progress = self.progress[SETTLEMENTS.name]
            progress.planned += len(listed)
            progress.skipped += len(listed) - len(new)
            progress.requests["getReports"] += 1
        # Newest first, as everywhere.
        for report in sorted(new, key=lambda r: r.get("dataEndTime") or "", reverse=True):
            document_id = report["reportDocumentId"]
            body, compression, charset = self.sp_api.fetch_document(document_id)
            start = _day(report.get("dataStartTime")) or self.today
            end = _day(report.get("dataEndTime")) or start
            document = BronzeDocument(
                source=SETTLEMENTS.name,
                day=start,
                report_id=str(report["reportId"]),
                status="DONE",
                body=body,
                content_type="application/gzip" if compression == "GZIP" else _TSV,
                fetched_at=datetime.now(UTC),
                metadata={
                    "report_type": report_type,
                    "report_document_id": document_id,
                    "compression": compression,
                    "data_start": start.isoformat(),
                    "data_end": end.isoformat(),
                    "created_time": report.get("createdTime"),
                    "charset": charset,
                    "account": self.account,
                    "source": self.sp_api.source_label,
                },
            )
            self._store(SETTLEMENTS.name, document, {"getReportDocument": 1})


_TSV = "text/tab-separated-values"


def _flat_file(document: BronzeDocument, account: str, charset: str | None) -> BronzeDocument:
    """A report's bronze record with the flat file's content type, charset and account."""
    content_type = document.content_type if document.content_type == "application/gzip" else _TSV
    return dataclasses.replace(
        document,
        content_type=content_type,
        metadata={**document.metadata, "charset": charset, "account": account},
    )


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).date()
