"""The bronze writer: every document into the lake as it arrives, then its report closed.

Order matters for crash safety. A report's id is in the ledger from the moment Amazon answers
createReport (`SpApiResource.fetch_report(complete=False)` keeps it open); its document is written
to the lake (body, then sidecar); only then is the report closed (`complete_reports`). A crash
before the write resumes the open report (no second createReport); a crash after it finds the
document stored and reuses it (no request at all).

A stored document is reused instead of fetched again when it is final (fetched after Amazon
stopped restating its days, `DocumentSpec.settled`) or was fetched since the run's `reuse_since`
(`sources.reuse`: the run's start, or a re-run's last minutes). The daily refresh therefore
fetches again the days Amazon may still restate, and a backfill resumed after a crash fetches only
what is missing. Ads reports (`write_ads_reports`) follow the same order; their reuse is the
ledger's (a report completed since the reuse point is downloaded again, not requested again).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from amazon_assets.ingestion.spec import DocumentSpec
from amazon_assets.parsers.compression import is_gzip
from amazon_assets.resources.ads_api import AdsApiResource, AdsReportResult
from amazon_assets.resources.data_kiosk import (
    KioskResult,
    child_asins,
    fetch_child_asins,
    fetch_trends,
)
from amazon_assets.resources.lake import (
    SIDECAR_NAME,
    BronzeDocument,
    Lake,
    read_document,
    write_document,
)
from amazon_assets.resources.sp_api import ReportResult, SpApiResource
from amazon_assets.settings import DEFAULT_ACCOUNT
from amazon_assets.sources.sales_and_traffic_budget import kiosk_batches


def bronze_document(
    source: str,
    day: date,
    result: ReportResult,
    source_label: str,
    account: str,
    report_options: Mapping[str, str] | None = None,
) -> BronzeDocument:
    """The lake record of one fetched report: its bytes exactly as downloaded, and where they came from."""
    return BronzeDocument(
        source=source,
        day=day,
        report_id=result.report_id,
        status=result.status,
        body=result.body,
        content_type="application/gzip" if result.compression == "GZIP" else "application/json",
        fetched_at=result.fetched_at,
        metadata={
            "report_type": result.report_type,
            "report_document_id": result.document_id,
            "compression": result.compression,
            "data_start": result.data_start.isoformat(),
            "data_end": result.data_end.isoformat(),
            "account": account,
            "report_options": dict(report_options or {}),
            "source": source_label,
        },
    )


def kiosk_bronze_document(
    spec: DocumentSpec, result: KioskResult, source_label: str, account: str
) -> BronzeDocument:
    """The lake record of one Data Kiosk query's document (b"" when Amazon had no data): its
    bytes as downloaded, the range and the ASINs it was asked for."""
    gzipped = is_gzip(result.body)
    return BronzeDocument(
        source=spec.name,
        day=result.data_start,
        report_id=result.query_id,
        status="DONE",
        body=result.body,
        content_type="application/gzip" if gzipped else "application/x-ndjson",
        fetched_at=result.fetched_at,
        metadata={
            "report_type": spec.report_type,
            "data_document_id": result.document_id,
            "compression": "GZIP" if gzipped else None,
            "data_start": result.data_start.isoformat(),
            "data_end": result.data_end.isoformat(),
            "account": account,
            "report_options": dict(spec.report_options),
            "asins": list(result.asins),
            "source": source_label,
        },
    )


@dataclass(frozen=True, eq=False)  # one object per sidecar: hashed by identity
class StoredDocument:
    """A document's sidecar: enough to choose documents without reading bodies."""

    sidecar_key: str
    meta: Mapping[str, Any]

    @property
    def data_start(self) -> date:
        return date.fromisoformat(self.meta["metadata"]["data_start"])

    @property
    def data_end(self) -> date:
        return date.fromisoformat(self.meta["metadata"]["data_end"])

    @property
    def fetched_at(self) -> datetime:
        return datetime.fromisoformat(self.meta["fetched_at"])

    @property
    def report_id(self) -> str | None:
        return self.meta.get("report_id")

    @property
    def asins(self) -> tuple[str, ...]:
        """The child ASINs a Data Kiosk query was asked for (empty for a report)."""
        return tuple(self.meta["metadata"].get("asins") or ())

    @property
    def report_options(self) -> dict[str, str]:
        return dict(self.meta["metadata"].get("report_options") or {})

    def read(self, lake: Lake) -> BronzeDocument:
        return read_document(lake, self.sidecar_key, self.meta)


def _run_date(key: str) -> date | None:
    for part in key.split("/"):
        if part.startswith("run_date="):
            return date.fromisoformat(part.removeprefix("run_date="))
    return None


def stored_documents(
    lake: Lake, lake_prefix: str, first: date | None = None, last: date | None = None
) -> list[StoredDocument]:
    """The documents under `lake_prefix` (sidecars only), oldest first; with `first` and `last`,
    only those whose first day (their `run_date` folder) lies in [first, last]: the other
    sidecars are never read."""
    return _stored_under(lake, lake_prefix + "/", first, last)


def _stored_under(
    lake: Lake, key_prefix: str, first: date | None, last: date | None
) -> list[StoredDocument]:
    stored = []
    for key in lake.list_keys(key_prefix):
        if not key.endswith(f"/{SIDECAR_NAME}"):
            continue
        run_date = _run_date(key)
        if run_date is not None and (
            (first is not None and run_date < first) or (last is not None and run_date > last)
        ):
            continue
        stored.append(StoredDocument(key, json.loads(lake.read_bytes(key))))
    return sorted(stored, key=lambda d: (d.fetched_at, d.sidecar_key))


def account_documents(
    spec: DocumentSpec,
    lake: Lake,
    account: str,
    first: date | None = None,
    last: date | None = None,
) -> list[StoredDocument]:
    """The account's documents of `spec` (as `stored_documents`): under its lake prefix, and
    those an earlier version stored under `spec.legacy_prefix` that are the account's, read
    where they lie; a sidecar an earlier version wrote is completed in memory (`_completed`:
    nothing is copied or moved)."""
    stored = [
        _completed(spec, doc, account)
        for doc in stored_documents(lake, spec.lake_prefix(account), first, last)
    ]
    if spec.legacy_prefix is not None:
        # Only the run_date folders: the per-account prefixes may lie beneath the legacy one.
        legacy = _stored_under(lake, f"{spec.legacy_prefix}/run_date=", first, last)
        stored += [
            _completed(spec, doc, account)
            for doc in legacy
            if account in (doc.meta["metadata"].get("accounts") or [DEFAULT_ACCOUNT])
        ]
    return sorted(stored, key=lambda d: (d.fetched_at, d.sidecar_key))


def _completed(spec: DocumentSpec, document: StoredDocument, account: str) -> StoredDocument:
    """`account`'s sidecar as the current layout writes it. Earlier versions recorded no window
    (the document's day was its window), no options (they sent `spec.report_options`, unchanged
    since) and, in the legacy layout, no account."""
    metadata = document.meta["metadata"]
    if "data_start" in metadata and "report_options" in metadata and "account" in metadata:
        return document
    day = document.meta["day"]
    completed = {"data_start": day, "data_end": day, "report_options": dict(spec.report_options)}
    metadata = {**completed, **metadata, "account": account}
    return StoredDocument(document.sidecar_key, {**document.meta, "metadata": metadata})


def reusable(spec: DocumentSpec, document: StoredDocument, *, reuse_since: datetime) -> bool:
    """Whether a stored document stands for its window instead of a new request (module doc)."""
    if document.report_options != dict(spec.report_options):
        return False
    fetched = document.fetched_at
    return spec.settled(document.data_end, fetched.date()) or fetched >= reuse_since


@dataclass
class SourceProgress:
    """What one run did for one source: requests planned, skipped (already stored) and fetched."""

    planned: int = 0
    skipped: int = 0
    fetched: int = 0
    cancelled: int = 0
    bytes: int = 0
    requests: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> int:
        return self.skipped + self.fetched

    def add(self, other: SourceProgress) -> None:
        self.planned += other.planned
        self.skipped += other.skipped
        self.fetched += other.fetched
        self.cancelled += other.cancelled
        self.bytes += other.bytes
        self.requests.update(other.requests)

    def stored(self, document: BronzeDocument, requests: Mapping[str, int]) -> None:
        self.fetched += 1
        self.cancelled += document.status == "CANCELLED"
        self.bytes += len(document.body)
        self.requests.update(requests)

    def metadata(self) -> dict[str, int]:
        """Numbers a person reads in the UI (and Dagster charts)."""
        return {
            "requests_planned": self.planned,
            "requests_done": self.done,
            "already_in_bronze": self.skipped,
            "documents_fetched": self.fetched,
            "cancelled": self.cancelled,
            "bytes": self.bytes,
            **{f"calls_{op}": n for op, n in sorted(self.requests.items())},
        }


def write_reports(
    spec: DocumentSpec,
    sp_api: SpApiResource,
    lake: Lake,
    first_days: Sequence[date],
    log: Callable[[str], None] = lambda message: None,
    before_request: Callable[[date], None] | None = None,
    *,
    reuse_since: datetime,
) -> SourceProgress:
    """One report per window starting at each of `first_days` (newest first: when quotas bite,
    the days users look at arrive first), each stored as it arrives; stored ones reused (settled,
    or fetched since `reuse_since`: `sources.reuse`).
    `before_request(day)` runs before each createReport sent to Amazon (a budget may refuse
    it); a report resumed from the ledger is no new request and does not run it."""
    account = sp_api.account
    progress = SourceProgress()
    if not first_days:
        return progress
    stored = account_documents(spec, lake, account, min(first_days), max(first_days))
    for day in sorted(first_days, reverse=True):
        start, end = spec.window(day)
        progress.planned += 1
        if any(
            (doc.data_start, doc.data_end) == (start, end)
            and reusable(spec, doc, reuse_since=reuse_since)
            for doc in stored
        ):
            progress.skipped += 1
            continue
        result = sp_api.fetch_report(
            spec.report_type,
            start,
            end,
            dict(spec.report_options),
            complete=False,
            before_create=None if before_request is None else partial(before_request, start),
        )
        document = bronze_document(
            spec.name, start, result, sp_api.source_label, account, spec.report_options
        )
        gzipped = result.compression == "GZIP"
        store_then_close(sp_api, lake, spec, account, document, gzipped, result.requests, progress)
        log(
            f"{account} {start}: report {result.report_id} {result.status} "
            f"({progress.done} of {len(first_days)} days in bronze)"
        )
    return progress


def store_then_close(
    client: SpApiResource | AdsApiResource,
    lake: Lake,
    spec: DocumentSpec,
    account: str,
    document: BronzeDocument,
    gzipped: bool,
    requests: Mapping[str, int],
    progress: SourceProgress,
) -> None:
    """Write a fetched report's document to the lake, and only then close its report in the
    ledger: the order the contract's crash safety rests on (see the module's docstring)."""
    write_document(lake, spec.lake_prefix(account), document, spec.file_name(gzipped))
    client.complete_reports([document.report_id])
    progress.stored(document, requests)


def ads_bronze_document(
    spec: DocumentSpec, result: AdsReportResult, profile: Mapping[str, str], source_label: str
) -> BronzeDocument:
    """The lake record of one Ads report: its gzip JSON exactly as downloaded, its window, and
    the advertising profile (id, currency, account) its rows are stamped with in silver."""
    return BronzeDocument(
        source=spec.name,
        day=result.day_start,
        report_id=result.report_id,
        status="DONE",
        body=result.body,
        content_type="application/gzip",
        fetched_at=result.fetched_at,
        metadata={
            "report_type_id": result.report_type_id,
            "data_start": result.day_start.isoformat(),
            "data_end": result.day_end.isoformat(),
            "report_options": dict(spec.report_options),
            "source": source_label,
            **profile,
        },
    )


def write_ads_reports(
    spec: DocumentSpec,
    ads_api: AdsApiResource,
    lake: Lake,
    first_days: Sequence[date],
    profile: Mapping[str, str],
    log: Callable[[str], None] = lambda message: None,
    *,
    reuse_since: datetime,
) -> SourceProgress:
    """One Ads report per window starting at each of `first_days` (newest first), each stored as
    it arrives and only then closed in the ledger. What a re-run reuses is the ledger's: a report
    completed since `reuse_since` is downloaded again, not requested again (the Ads API has no
    budget worth a skipped download, and a new server or profile is a new report)."""
    account = ads_api.account
    progress = SourceProgress()
    for day in sorted(first_days, reverse=True):
        start, end = spec.window(day)
        progress.planned += 1
        result = ads_api.fetch_report(
            spec.report_type, start, end, complete=False, reuse_since=reuse_since
        )
        document = ads_bronze_document(spec, result, profile, ads_api.source_label)
        store_then_close(ads_api, lake, spec, account, document, True, result.requests, progress)
        log(
            f"{account} {start}: {spec.report_type} report {result.report_id} "
            f"({progress.done} of {len(first_days)} days in bronze)"
        )
    return progress


def kiosk_ranges(days: Sequence[date], window_days: int) -> list[tuple[date, date]]:
    """[first, last] ranges of at most `window_days` covering `days`, newest first."""
    ranges: list[tuple[date, date]] = []
    if not days:
        return ranges
    oldest, end = min(days), max(days)
    while end >= oldest:
        start = max(oldest, end - timedelta(days=window_days - 1))
        ranges.append((start, end))
        end = start - timedelta(days=1)
    return ranges


def write_kiosk_history(
    trends: DocumentSpec,
    asins_spec: DocumentSpec,
    sp_api: SpApiResource,
    lake: Lake,
    days: Sequence[date],
    log: Callable[[str], None] = lambda message: None,
    *,
    reuse_since: datetime,
) -> SourceProgress:
    """The Data Kiosk documents of `days`: per range of at most two years, the account's child
    ASINs (salesAndTrafficByAsin), then one salesAndTrafficTrends query per 30 of them, each
    stored as it arrives; stored ones reused as by `write_reports` (a resumed backfill asks
    again for nothing)."""
    account = sp_api.account
    progress = SourceProgress()

    def stored_for(spec: DocumentSpec, start: date, end: date) -> list[StoredDocument]:
        return [
            doc
            for doc in account_documents(spec, lake, account, start, start)
            if (doc.data_start, doc.data_end) == (start, end)
            and reusable(spec, doc, reuse_since=reuse_since)
        ]

    def store(spec: DocumentSpec, result: KioskResult) -> None:
        document = kiosk_bronze_document(spec, result, sp_api.source_label, account)
        gzipped = document.metadata["compression"] == "GZIP"
        write_document(lake, spec.lake_prefix(account), document, spec.file_name(gzipped))
        progress.stored(document, result.requests)

    for start, end in kiosk_ranges(days, trends.window_days):
        progress.planned += 1
        listed = stored_for(asins_spec, start, end)
        if listed:
            progress.skipped += 1
            asins = child_asins(listed[-1].read(lake).body)
        else:
            result = fetch_child_asins(sp_api, start, end)
            store(asins_spec, result)
            asins = child_asins(result.body)
        stored = {doc.asins for doc in stored_for(trends, start, end)}
        for batch in kiosk_batches(asins):
            progress.planned += 1
            if batch in stored:
                progress.skipped += 1
                continue
            result = fetch_trends(sp_api, batch, start, end)
            store(trends, result)
            log(
                f"{account} {start}..{end}: Data Kiosk query {result.query_id} for "
                f"{len(batch)} ASINs ({progress.done} of {progress.planned} documents in bronze)"
            )
    return progress
