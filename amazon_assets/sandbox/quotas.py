"""Amazon's usage plans enforced server-side: token buckets per operation and per report type.

Operation plans (SP_API_QUOTAS) apply per application and seller account; report-type limits
(REPORT_TYPE_QUOTAS) apply per application across all its sellers, as Amazon describes them.
"""

from __future__ import annotations

import threading

from amazon_assets.sources.quotas import REPORT_TYPE_QUOTAS, SP_API_QUOTAS, Clock, TokenBucket


class QuotaEnforcer:
    """Hands out tokens from lazily created buckets; `enabled=False` lets everything through."""

    def __init__(self, clock: Clock, enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._lock = threading.Lock()

    def rate(self, operation: str) -> float | None:
        """The operation's rate for the x-amzn-RateLimit-Limit header, if it has a plan."""
        quota = SP_API_QUOTAS.get(operation)
        return None if quota is None else quota.rate

    def allow(self, operation: str, client_id: str, account: str) -> bool:
        """Take a token of the operation's plan for (application, seller)."""
        quota = SP_API_QUOTAS.get(operation)
        if not self.enabled or quota is None:
            return True
        return self._bucket(("operation", operation, client_id, account), quota).try_take() == 0

    def allow_report_type(self, report_type: str, client_id: str) -> bool:
        """Take a token of the report type's per-application limit (createReport only)."""
        quota = REPORT_TYPE_QUOTAS.get(report_type)
        if not self.enabled or quota is None:
            return True
        return self._bucket(("report_type", report_type, client_id), quota).try_take() == 0

    def _bucket(self, key: tuple[str, ...], quota) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(quota, self.clock)
            return bucket
