"""The client core the SP-API and Ads API clients share: one session per resource call with the
clock, state store, counters and login; the ledger half of a report's life (resume the open
report, reuse one completed since `reuse_since`, else create it once across processes); polling
until a report is final; and presigned downloads.

What differs stays in each client: the library and its errors (`call`), the report bodies and
the statuses each API answers with.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Container, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from amazon_assets.sources.quotas import Clock, ReportDeadline
from amazon_assets.sources.refusals import missing_credential
from amazon_assets.sources.retry import TRANSIENT_STATUSES, quiet_loggers, resolve_login
from amazon_assets.sources.state import FORGOTTEN, LedgerEntry, ReportRequest, open_state_store

log = logging.getLogger(__name__)


class ClientSession:
    """One call of a resource: its clock, the shared state store, request counters, the login
    and the endpoint; used as a context manager (`close` ends what a client opened)."""

    def __init__(self, resource: Any, api: str, quiet: Sequence[str]) -> None:
        quiet_loggers(quiet)
        self.resource = resource
        self.clock = Clock(resource.clock_speed)
        self.store = open_state_store(resource.state_path)
        self.requests: Counter[str] = Counter()
        self.refresh_token, self.client_id, self.client_secret, self.from_vault = resolve_login(
            resource, missing_credential(resource.account), api
        )
        self.endpoint = resource.endpoint.rstrip("/")
        self.host = urlsplit(self.endpoint).netloc

    def __enter__(self) -> ClientSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the clients the session opened."""

    # -- the report ledger ---------------------------------------------------------------------

    def resumable(self, entry: LedgerEntry, resume_seconds: float) -> bool:
        """Whether a ledger entry was written on this clock recently enough to follow."""
        return (
            entry.clock_speed == self.clock.speed
            and self.clock.now() - entry.created_at < resume_seconds
        )

    def open_or_create(
        self,
        request: ReportRequest,
        create: Callable[[ReportRequest], str],
        resume_seconds: float,
        reuse_since: datetime | None = None,
    ) -> tuple[str, bool]:
        """The open report of this request from the ledger, else one completed since
        `reuse_since`, else `create(request)`; (id, resumed).

        Atomic across processes and machines sharing the store (`StateStore.report_lock`): two
        runs asking for the same report at once create it once and both follow it.
        """
        with self.store.report_lock(request):
            entry = self.store.open_report(request)
            if entry is not None:
                if self.resumable(entry, resume_seconds):
                    log.info("Resuming %s report %s", request.report_type, entry.report_id)
                    return entry.report_id, True
                self.store.finish_report(request, entry.report_id, FORGOTTEN, self.clock)
            if reuse_since is not None:
                since = reuse_since.timestamp() * self.clock.speed
                entry = self.store.recent_report(request, since, self.clock)
                if entry is not None and self.resumable(entry, resume_seconds):
                    log.info("Reusing %s report %s", request.report_type, entry.report_id)
                    return entry.report_id, True
            return create(request), False

    # -- waiting and downloading ---------------------------------------------------------------

    def poll(
        self,
        get: Callable[[], dict | None],
        final: Container[str],
        status_key: str,
        intervals: Sequence[float],
        still_running: Callable[[dict], Exception],
        polls: int = 0,
    ) -> dict | None:
        """Ask `get` until the report's `status_key` is final, waiting `intervals` between asks
        (the last repeats) for at most the resource's `report_timeout_seconds`; `get` answering
        None (the server does not know the report) ends the wait with None, and a report still
        running at the deadline raises `still_running(report)`."""
        deadline = ReportDeadline(
            self.clock,
            self.resource.report_timeout_seconds,
            self.resource.min_real_report_wait_seconds,
        )
        while True:
            report = get()
            if report is None or report.get(status_key) in final:
                return report
            interval = intervals[min(polls, len(intervals) - 1)]
            polls += 1
            if deadline.passed_after(interval):
                raise still_running(report)
            self.clock.sleep(interval)

    def get_presigned(
        self,
        http: httpx.Client,
        url: str,
        operation: str,
        refused: Callable[[int], Exception],
        backoff: Callable[[str, str, int], None],
    ) -> httpx.Response | None:
        """GET a presigned URL without API auth, retrying transient failures; None when the link
        is refused (expired). Another status raises `refused(status)`; `backoff(operation,
        reason, attempt)` waits before a retry and raises once the attempts are spent."""
        for attempt in range(1, self.resource.max_attempts + 1):
            self.requests[operation] += 1
            try:
                response = http.get(url)
            except httpx.TransportError as error:
                reason = type(error).__name__
            else:
                if response.status_code == 200:
                    return response
                if response.status_code in (401, 403):
                    return None
                if response.status_code not in TRANSIENT_STATUSES:
                    raise refused(response.status_code)
                reason = f"HTTP {response.status_code}"
            backoff(operation, reason, attempt)
        raise AssertionError("unreachable")
