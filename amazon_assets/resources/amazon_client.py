"""The client core the SP-API and Ads API clients share: one session per resource call with the
clock, state store, counters and login; one loop that paces, sends and retries every API call
(`call_paced`); the ledger half of a report's life (resume the open report, reuse one completed
since `reuse_since`, else create it once across processes); polling until a report is final; and
presigned downloads.

What differs stays in each client: the library, how it logs in (`login`), which of its errors
mean what (the `classify` each call passes: throttled, denied, refused, transient or an answer),
the report bodies and the statuses each API answers with.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from amazon_assets.sources.quotas import Clock, Quota, ReportDeadline
from amazon_assets.sources.refusals import api_refusal, login_refusal, missing_credential
from amazon_assets.sources.retry import (
    TRANSIENT_STATUSES,
    backoff_seconds,
    quiet_loggers,
    redact,
    resolve_login,
)
from amazon_assets.sources.state import FORGOTTEN, LedgerEntry, ReportRequest, open_state_store

log = logging.getLogger(__name__)


def token_refresh_at(answer: Mapping[str, Any]) -> float:
    """When (real time) to replace an access token Login with Amazon just answered: a minute
    before its `expires_in` (an hour if unsaid), halfway through a shorter life."""
    lifetime = float(answer.get("expires_in") or 3600)
    return time.time() + max(lifetime - 60.0, lifetime / 2)


class RetryLater(Exception):
    """A failure worth another try (a throttled or failing login, an answer missing what it
    must hold); the message is the reason logged and named if the attempts run out."""


# What a failed attempt means; a client's `classify` maps its library's errors to these.
@dataclass(frozen=True)
class Throttled:
    """Amazon answered 429: its bucket is empty, so ours is emptied too before the retry."""

    reason: str


@dataclass(frozen=True)
class Denied:
    """401/403: the access token may have expired since the login; log in again once, and if
    Amazon denies the call again, the seller or the app lacks a permission (final)."""

    status: str  # as the refusal names it: "403", "401 Unauthorized"
    detail: str  # Amazon's explanation (redacted here)
    # Buckets whose token this try holds and may keep: Amazon served nothing, so the slow
    # per-application report-type token (one per 15 minutes) is still good for the next try.
    held: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Refused:
    """A failure that asking again cannot cure: `error` is raised at once."""

    error: Exception


@dataclass(frozen=True)
class Transient:
    """A 5xx, a timeout, a broken connection: retried after a backoff."""

    reason: str


@dataclass(frozen=True)
class Answer:
    """An error that is the call's answer (a 404 that means "unknown", a passthrough status)."""

    value: Any


Outcome = Throttled | Denied | Refused | Transient | Answer


class ClientSession(ABC):
    """One call of a resource: its clock, the shared state store, request counters, the login
    and the endpoint; used as a context manager (`close` ends what a client opened)."""

    api_name: ClassVar[str]  # as Amazon writes it: "SP-API", "Ads API"
    prefix: ClassVar[str]  # of its credential variables: "SP_API", "ADS_API"
    error: ClassVar[type[Exception]]  # what it raises when Amazon keeps failing
    quiet: ClassVar[tuple[str, ...]]  # loggers of its libraries that would print secrets

    def __init__(self, resource: Any) -> None:
        quiet_loggers(self.quiet)
        self.resource = resource
        self.clock = Clock(resource.clock_speed)
        self.store = open_state_store(resource.state_path)
        self.requests: Counter[str] = Counter()
        self.refresh_token, self.client_id, self.client_secret, self.from_vault = resolve_login(
            resource, missing_credential(resource.account), self.prefix
        )
        self.endpoint = resource.endpoint.rstrip("/")
        self.host = urlsplit(self.endpoint).netloc

    def __enter__(self) -> ClientSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Close the clients the session opened."""

    # -- login and secrets ---------------------------------------------------------------------

    @abstractmethod
    def login(self) -> None:
        """Make sure a valid access token is cached: one Login-with-Amazon request at most; a
        refusal raises `CredentialRefused` (`login_failure`), a transient failure `RetryLater`."""

    @abstractmethod
    def forget_login(self) -> None:
        """Drop the cached access token so that the next `login` asks for a new one."""

    @abstractmethod
    def cached_access_token(self) -> str | None:
        """The access token `login` cached, if any (to keep it out of messages)."""

    def redact(self, text: str) -> str:
        """`text` without the refresh token, client secret or access token."""
        return redact(text, [self.refresh_token, self.client_secret, self.cached_access_token()])

    def login_failure(self, status: int, error_code: str | None, description: str) -> Exception:
        """What a Login-with-Amazon error answer means: `CredentialRefused` (final; a refused
        token from the vault is marked revoked there) or `RetryLater`."""
        refusal = login_refusal(
            self.prefix,
            self.resource.account,
            status,
            error_code,
            self.redact(description),
            state_path=self.resource.state_path if self.from_vault else None,
        )
        return refusal or RetryLater(f"login answered {status}")

    # -- pacing and retries --------------------------------------------------------------------

    def call_paced(
        self,
        operation: str,
        buckets: Sequence[tuple[str, Quota]],
        send: Callable[[], Any],
        classify: Callable[[Exception], Outcome | None],
    ) -> Any:
        """`send()` once a token of every bucket is taken, retried until it answers.

        Each attempt logs in first (a refused login spends no token) and counts
        `requests[operation]`. An error `send` raises is what `classify` says (None: not ours,
        raised as it is): a 429 counts `throttled` and empties the buckets; a 401/403 logs in
        again at once, without spending an attempt, and the second is final (`api_refusal`);
        a refusal is raised; an answer is returned; a transient failure (or `RetryLater`)
        waits `backoff_seconds` on the clock and counts `retries`, and after the resource's
        `max_attempts` fails with one sentence.
        """
        buckets = list(buckets)
        attempts = self.resource.max_attempts
        relogged = False
        attempt = 0
        while True:
            try:
                # Logged in before the token is taken: a refused login spends none (the
                # sales-and-traffic token refills once in 15 minutes).
                self.login()
                sent = self.store.take(buckets, self.clock) if buckets else self.clock.now()
                self.requests[operation] += 1
                try:
                    return send()
                finally:
                    if buckets:
                        self.store.settle(buckets, self.clock.now() - sent)
            except RetryLater as retry:
                outcome: Outcome | None = Transient(str(retry))
            except Exception as error:
                outcome = classify(error)
                if outcome is None:
                    raise
            match outcome:
                case Answer(value):
                    return value
                case Refused(error):
                    raise error
                case Denied(status, detail, held):
                    if relogged:
                        raise api_refusal(
                            self.api_name,
                            self.prefix,
                            self.resource.account,
                            operation,
                            status,
                            self.redact(detail),
                        )
                    self.forget_login()
                    relogged = True
                    buckets = [bucket for bucket in buckets if bucket[0] not in held]
                    continue
                case Throttled(reason):
                    self.requests["throttled"] += 1
                    self.store.drain([key for key, _ in buckets], self.clock)
                case Transient(reason):
                    pass
            attempt += 1
            if attempt == attempts:
                raise self.error(
                    f"{operation} failed {attempts} times (last: {reason}) for account "
                    f"{self.resource.account!r} at {self.endpoint}; Amazon may be overloaded or "
                    "down, retry later."
                )
            self.wait_to_retry(operation, reason, attempt, attempts)

    def wait_to_retry(self, operation: str, reason: str, attempt: int, attempts: int) -> None:
        """Count a retry and wait `backoff_seconds(attempt)` on the clock."""
        self.requests["retries"] += 1
        delay = backoff_seconds(attempt)
        log.warning(
            "%s: %s; retry %d of %d in %.0f s (simulated)",
            operation,
            reason,
            attempt,
            attempts - 1,
            delay,
        )
        self.clock.sleep(delay)

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
        self, http: httpx.Client, url: str, operation: str, what: str
    ) -> httpx.Response | None:
        """GET a presigned URL without API auth, retrying transient failures; None when the link
        is refused (expired). Another status, or failures past `max_attempts`, raise the
        client's error naming `what` was downloaded."""
        attempts = self.resource.max_attempts
        for attempt in range(1, attempts + 1):
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
                    raise self.error(f"Downloading {what} answered HTTP {response.status_code}.")
                reason = f"HTTP {response.status_code}"
            if attempt < attempts:
                self.wait_to_retry(operation, reason, attempt, attempts)
        raise self.error(
            f"Downloading {what} failed {attempts} times (last: {reason}); retry later."
        )
