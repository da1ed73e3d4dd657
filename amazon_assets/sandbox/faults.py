"""Faults on demand: the things that go wrong with Amazon, injected one call (or report) at a time.

Operation names are Amazon's: createReport, getReport, getReports, cancelReport,
getReportDocument, downloadDocument, token; the Ads API's are prefixed "ads" (adsProfiles,
adsCampaignsList, adsAdGroupsList, adsKeywordsList, adsTargetsList, adsCreateReport, adsGetReport,
adsDownload).
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict, deque
from typing import Any

OPERATIONS = (
    "createReport",
    "getReport",
    "getReports",
    "cancelReport",
    "getReportDocument",
    "downloadDocument",
    "token",
    "listFinancialEvents",
    "adsProfiles",
    "adsCampaignsList",
    "adsAdGroupsList",
    "adsKeywordsList",
    "adsTargetsList",
    "adsCreateReport",
    "adsGetReport",
    "adsDownload",
)
OUTCOMES = ("FATAL", "CANCELLED")
# Login-with-Amazon refusals (OAuth 2 error codes) and the HTTP status LWA answers them with.
LOGIN_REFUSALS = {"invalid_grant": 400, "unauthorized_client": 400, "invalid_client": 401}


class Faults:
    """Queued one-shot faults plus random storms; thread-safe."""

    def __init__(
        self, throttle_probability: float = 0.0, error_probability: float = 0.0, seed: int = 0
    ) -> None:
        self.throttle_probability = throttle_probability
        self.error_probability = error_probability
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._throttle: dict[str, int] = defaultdict(int)
        self._fail: dict[str, deque[int]] = defaultdict(deque)
        self._slow: dict[str, deque[float]] = defaultdict(deque)
        self._outcomes: dict[str, deque[str]] = defaultdict(deque)
        self._truncate = 0
        self._malform = 0
        self._ads_failures = 0
        self._login_refusals: deque[str] = deque()
        self._denials: dict[str, deque[int]] = defaultdict(deque)

    # -- the public API ---------------------------------------------------------------------

    def throttle_next(self, operation: str, times: int = 1) -> None:
        """Answer the next `times` calls of `operation` with 429 QuotaExceeded."""
        _check_operation(operation)
        with self._lock:
            self._throttle[operation] += times

    def fail_next(self, operation: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` calls of `operation` with a 5xx (500 InternalFailure / 503)."""
        _check_operation(operation)
        if not 500 <= status <= 599:
            raise ValueError(f"fail_next status must be a 5xx code; got {status}.")
        with self._lock:
            self._fail[operation].extend([status] * times)

    def refuse_login(self, error: str = "invalid_grant", times: int = 1) -> None:
        """Answer the next `times` token requests with a Login-with-Amazon refusal
        (invalid_grant, unauthorized_client or invalid_client), whatever the credentials."""
        if error not in LOGIN_REFUSALS:
            raise ValueError(
                f"refuse_login error must be one of {', '.join(LOGIN_REFUSALS)}; got {error!r}."
            )
        with self._lock:
            self._login_refusals.extend([error] * times)

    def deny_next(self, operation: str, status: int = 403, times: int = 1) -> None:
        """Answer the next `times` calls of `operation` with 403 (or 401) Unauthorized, as Amazon
        does when the seller has not authorized the app or the app lacks the role."""
        _check_operation(operation)
        if operation == "token" or status not in (401, 403):
            raise ValueError("deny_next takes an API operation and status 401 or 403.")
        with self._lock:
            self._denials[operation].extend([status] * times)

    def slow_next(self, operation: str, seconds: float, times: int = 1) -> None:
        """Delay the next `times` answers of `operation` by `seconds` real seconds."""
        _check_operation(operation)
        with self._lock:
            self._slow[operation].extend([float(seconds)] * times)

    def next_report_outcome(self, report_type: str, outcome: str, times: int = 1) -> None:
        """The next `times` reports of `report_type` end FATAL or CANCELLED instead of DONE."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}; got {outcome!r}.")
        with self._lock:
            self._outcomes[report_type].extend([outcome] * times)

    def truncate_next_document(self, times: int = 1) -> None:
        """The next `times` document downloads serve a gzip stream cut in the middle."""
        with self._lock:
            self._truncate += times

    def malform_next_document(self, times: int = 1) -> None:
        """The next `times` reports created get documents with broken rows."""
        with self._lock:
            self._malform += times

    def next_ads_report_failure(self, times: int = 1) -> None:
        """The next `times` Ads API reports created end FAILED instead of COMPLETED."""
        with self._lock:
            self._ads_failures += times

    def reset(self) -> None:
        """Forget every queued fault and stop random storms."""
        with self._lock:
            self._throttle.clear()
            self._fail.clear()
            self._slow.clear()
            self._outcomes.clear()
            self._login_refusals.clear()
            self._denials.clear()
            self._truncate = self._malform = self._ads_failures = 0
            self.throttle_probability = self.error_probability = 0.0

    def apply(self, spec: dict[str, Any]) -> None:
        """Apply one admin-endpoint fault: {"fault": "throttle_next", "operation": ..., ...}."""
        spec = dict(spec)
        name = spec.pop("fault", None) or spec.pop("action", None)
        actions = {
            "throttle_next": self.throttle_next,
            "fail_next": self.fail_next,
            "slow_next": self.slow_next,
            "refuse_login": self.refuse_login,
            "deny_next": self.deny_next,
            "next_report_outcome": self.next_report_outcome,
            "truncate_next_document": self.truncate_next_document,
            "malform_next_document": self.malform_next_document,
            "next_ads_report_failure": self.next_ads_report_failure,
            "reset": self.reset,
        }
        if name == "storms":
            self.throttle_probability = float(spec.get("throttle_probability", 0.0))
            self.error_probability = float(spec.get("error_probability", 0.0))
            return
        if name not in actions:
            raise ValueError(f"Unknown fault {name!r}; known: {', '.join([*actions, 'storms'])}.")
        actions[name](**spec)

    # -- consumed by the server -------------------------------------------------------------

    def take_slow(self, operation: str) -> float:
        with self._lock:
            queue = self._slow.get(operation)
            return queue.popleft() if queue else 0.0

    def take_login_refusal(self) -> str | None:
        with self._lock:
            return self._login_refusals.popleft() if self._login_refusals else None

    def take_denial(self, operation: str) -> int | None:
        with self._lock:
            queue = self._denials.get(operation)
            return queue.popleft() if queue else None

    def take_throttle(self, operation: str, storms: bool = True) -> bool:
        with self._lock:
            if self._throttle.get(operation, 0) > 0:
                self._throttle[operation] -= 1
                return True
            return storms and self._random.random() < self.throttle_probability

    def take_failure(self, operation: str, storms: bool = True) -> int | None:
        with self._lock:
            queue = self._fail.get(operation)
            if queue:
                return queue.popleft()
            if storms and self._random.random() < self.error_probability:
                return self._random.choice((500, 503))
            return None

    def take_outcome(self, report_type: str) -> str | None:
        with self._lock:
            queue = self._outcomes.get(report_type)
            return queue.popleft() if queue else None

    def take_truncate(self) -> bool:
        with self._lock:
            if self._truncate > 0:
                self._truncate -= 1
                return True
            return False

    def take_ads_failure(self) -> bool:
        with self._lock:
            if self._ads_failures > 0:
                self._ads_failures -= 1
                return True
            return False

    def take_malform(self) -> bool:
        with self._lock:
            if self._malform > 0:
                self._malform -= 1
                return True
            return False


def _check_operation(operation: str) -> None:
    if operation not in OPERATIONS:
        raise ValueError(f"Unknown operation {operation!r}; known: {', '.join(OPERATIONS)}.")
