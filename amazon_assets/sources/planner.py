"""Seller-history request planning: which requests cover a range of days, and what quotas allow.

Pure functions, no I/O. `plan_requests` turns "these sources, these days" into the smallest list
of requests each source's limits allow, newest first (when quotas bite, the days users look at
arrive first). Windows are aligned to calendar months, quarters or half-years rather than to the
range's first day, so planning the same backfill again (after an interruption) yields the same
requests: the ones whose documents are already in bronze are skipped, the ones still open in the
report ledger are resumed, and only the rest cost createReport quota.

Windows per source, from Amazon's limits and the quotas (createReport and getReportDocument each
allow 15 at once, then one a minute; Finances 30 at once, then one every 2 seconds):
- orders: one calendar month (Amazon refuses more than 31 days per request);
- inventory ledger: one calendar month: 18 months of a 1,000-SKU ledger is ~1 M lines; a month is
  a document that parses in memory, and 18 requests cost 3 minutes of createReport quota;
- reimbursements, customer returns: half a year: a few lines a day, so big windows keep the
  request count (the scarce createReport quota) down while one document stays small;
- fee preview: one request for the current snapshot (Amazon keeps no history of it);
- settlements: never requested (Amazon generates them); listed with getReports, so no windows;
- financial events: one calendar quarter (Amazon allows at most 180 days per query); the pages,
  not the windows, cost quota, and separate windows can be paged concurrently.

Daily refresh lookback per source (`LOOKBACK_DAYS`), from how long each source takes to settle:
- orders 30 days: order status, last-updated-date and prices change until orders ship or are
  cancelled; pending orders can stay pending for up to 3 weeks (payment verification);
- inventory ledger 7 days: events land within a day or two; reconciled/unreconciled quantities
  of adjustments settle within a week;
- reimbursements 14 days: a reimbursement can be reversed or corrected in the following days
  (original-reimbursement-id), and Amazon's file is only updated daily;
- customer returns 14 days: status and detailed-disposition change after the warehouse inspects
  the unit, usually within two weeks;
- financial events 7 days: Amazon says events of the last 48 hours may be missing from the API,
  and refunds and adjustments post a few days after the fact;
- settlements: every run lists all reports of the last 90 days Amazon still serves and downloads
  the ones not yet in bronze, so a missed day never loses a settlement;
- fee preview: today's snapshot only; it is a point-in-time view with no history to restate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from amazon_assets.sources.quotas import REPORT_TYPE_QUOTAS, SP_API_QUOTAS, Quota

ORDERS = "orders"
INVENTORY_LEDGER = "inventory_ledger"
FEE_PREVIEW = "fee_preview"
REIMBURSEMENTS = "reimbursements"
CUSTOMER_RETURNS = "customer_returns"
SETTLEMENTS = "settlements"
FINANCIAL_EVENTS = "financial_events"

# How Amazon serves each source.
REPORT, LISTED, FINANCES = "report", "listed", "finances"


@dataclass(frozen=True)
class Source:
    """One seller-history source: how it is fetched, its window and its refresh lookback."""

    name: str
    report_type: str | None  # None for the Finances API
    serving: str  # REPORT | LISTED | FINANCES
    window_months: int  # calendar months per request window; 0: no windows
    lookback_days: int  # days the daily refresh re-fetches
    max_window_days: int | None = None  # Amazon's limit on one request's range


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(ORDERS, "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL", REPORT, 1, 30, 31),
        Source(INVENTORY_LEDGER, "GET_LEDGER_DETAIL_VIEW_DATA", REPORT, 1, 7),
        Source(FEE_PREVIEW, "GET_FBA_ESTIMATED_FBA_FEES_TXT_DATA", REPORT, 0, 1),
        Source(REIMBURSEMENTS, "GET_FBA_REIMBURSEMENTS_DATA", REPORT, 6, 14),
        Source(CUSTOMER_RETURNS, "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA", REPORT, 6, 14),
        Source(SETTLEMENTS, "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2", LISTED, 0, 90),
        Source(FINANCIAL_EVENTS, None, FINANCES, 3, 7, 180),
    )
}
LOOKBACK_DAYS = {name: source.lookback_days for name, source in SOURCES.items()}
FEE_PREVIEW_SPAN_DAYS = 3  # Amazon: StartDate at least 72 hours before EndDate


@dataclass(frozen=True, order=True)
class PlannedRequest:
    """One request to make: a source and the days [start, end] it covers."""

    source: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def aligned_windows(first: date, last: date, months: int) -> list[tuple[date, date]]:
    """[first, last] cut at calendar boundaries of `months` months (1, 3, 6, 12), newest first."""
    if last < first:
        return []
    if months < 1 or 12 % months:
        raise ValueError(f"window months must divide a year; got {months}.")
    windows = []
    index = _month_index(first) // months * months
    while _month_start(index) <= last:
        start = max(first, _month_start(index))
        end = min(last, _month_start(index + months) - timedelta(days=1))
        windows.append((start, end))
        index += months
    return windows[::-1]


def plan_source(source: str, first: date, last: date) -> list[PlannedRequest]:
    """The requests covering [first, last] for one source, newest first."""
    spec = SOURCES[source]
    if spec.serving == LISTED:
        return [PlannedRequest(source, first, last)]  # one getReports listing
    if spec.window_months == 0:
        # A snapshot: the one in force on `last`.
        return [PlannedRequest(source, last - timedelta(days=FEE_PREVIEW_SPAN_DAYS), last)]
    requests = [
        PlannedRequest(source, s, e) for s, e in aligned_windows(first, last, spec.window_months)
    ]
    for request in requests:
        if spec.max_window_days and request.days > spec.max_window_days:
            raise ValueError(f"{source} window {request} exceeds {spec.max_window_days} days.")
    return requests


def plan_requests(sources: Iterable[str], first: date, last: date) -> list[PlannedRequest]:
    """Every source's requests for [first, last], interleaved newest first."""
    planned = [request for source in sources for request in plan_source(source, first, last)]
    return sorted(planned, key=lambda r: (-r.end.toordinal(), r.source))


def refresh_range(source: str, last: date) -> tuple[date, date]:
    """The days the daily refresh of `source` re-fetches, ending with `last`."""
    return last - timedelta(days=LOOKBACK_DAYS[source] - 1), last


def expected_operations(
    plan: Iterable[PlannedRequest], settlements_listed: int = 0
) -> dict[str, int]:
    """The fewest quota-counted operations a plan needs (Finances: one page per window at least).

    `settlements_listed` is the number of settlement documents to download.
    """
    counts: dict[str, int] = {}

    def add(operation: str, n: int = 1) -> None:
        counts[operation] = counts.get(operation, 0) + n

    for request in plan:
        serving = SOURCES[request.source].serving
        if serving == REPORT:
            add("createReport")
            add("getReport")
            add("getReportDocument")
        elif serving == LISTED:
            add("getReports")
            add("getReportDocument", settlements_listed)
        else:
            add("listFinancialEvents")
    return counts


def quota_lower_bound(
    operations: Mapping[str, int],
    report_types: Mapping[str, int] | None = None,
    quotas: Mapping[str, Quota] = SP_API_QUOTAS,
    type_quotas: Mapping[str, Quota] = REPORT_TYPE_QUOTAS,
) -> float:
    """Seconds the quotas alone impose on `operations` (count per operation) run concurrently.

    Each token bucket starts full: n calls need at least max(0, n - burst) / rate seconds, and
    buckets refill independently, so the bound is the slowest bucket. `report_types` counts
    createReport calls per report type for Amazon's per-type limits.
    """
    bounds = [0.0]
    for operation, count in operations.items():
        quota = quotas.get(operation)
        if quota is not None:
            bounds.append(max(0.0, count - quota.burst) / quota.rate)
    for report_type, count in (report_types or {}).items():
        quota = type_quotas.get(report_type)
        if quota is not None:
            bounds.append(max(0.0, count - quota.burst) / quota.rate)
    return max(bounds)
