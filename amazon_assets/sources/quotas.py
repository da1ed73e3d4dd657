"""Amazon's rate limits as token buckets on a clock that can run faster than real time.

The sandbox enforces these buckets and the SP-API client paces itself with the same ones, so in
steady state the client never earns a 429. Both sides read the same `Clock`: simulated seconds
are `time.time() * speed`, which agrees across processes without any coordination.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from amazon_assets import interrupts


@dataclass(frozen=True)
class Clock:
    """Simulated Amazon time; `speed` simulated seconds pass per real second."""

    speed: float = 1.0

    def now(self) -> float:
        return time.time() * self.speed

    def sleep(self, simulated_seconds: float) -> None:
        """Wait; a stop request (SIGTERM, SIGINT) ends the wait at once (`interrupts.sleep`)."""
        if simulated_seconds > 0:
            interrupts.sleep(simulated_seconds / self.speed)


# A report wait never ends sooner than this in real seconds: on an accelerated clock the real
# time a server spends building a document would otherwise count as hours (on Amazon's own
# clock, 1x, the simulated timeout is the longer one and this changes nothing).
MIN_REAL_REPORT_WAIT_SECONDS = 300.0


class ReportDeadline:
    """The end of a wait for a report: `seconds` on `clock`, and at least `min_real_seconds`
    real seconds."""

    def __init__(self, clock: Clock, seconds: float, min_real_seconds: float) -> None:
        self.clock = clock
        self.simulated_end = clock.now() + seconds
        self.real_end = time.monotonic() + min_real_seconds

    def passed_after(self, simulated_seconds: float) -> bool:
        """Whether a further wait of `simulated_seconds` would end past the deadline."""
        return (
            self.clock.now() + simulated_seconds > self.simulated_end
            and time.monotonic() + simulated_seconds / self.clock.speed > self.real_end
        )


@dataclass(frozen=True)
class Quota:
    """A token bucket: `rate` tokens per second, holding at most `burst`.

    `tolerance` (client side only): seconds a request may take to reach the server after its
    token was taken here without costing more than that token (see `client_quota`).
    """

    rate: float
    burst: float
    tolerance: float = 0.0

    def refill(self, tokens: float, elapsed: float) -> float:
        return min(self.burst, tokens + max(0.0, elapsed) * self.rate)

    def wait_for_token(self, tokens: float) -> float:
        """Seconds until a bucket holding `tokens` holds one."""
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


# A client paces itself a little slower than Amazon refills (its bucket and Amazon's run on
# different clocks) and leaves part of the burst unused: Amazon counts a request when it arrives,
# somewhere between the moment the client took its token and the answer, and the reserve absorbs
# up to ARRIVAL_TOLERANCE_SECONDS (real seconds: threads, the network) of that delay. A request
# slower than the reserve covers is charged for its extra time (`StateStore.settle`). On an
# accelerated clock a real second of the host's scheduling is minutes of Amazon's, so the
# tolerance is set for a busy 2-core host (half a second was exceeded there); at speed 1 it
# reserves a fraction of one token.
CLIENT_RATE_SHARE = 0.99
ARRIVAL_TOLERANCE_SECONDS = 1.5


def client_quota(quota: Quota, speed: float = 1.0) -> Quota:
    """The bucket a client on a clock of `speed` paces itself with so that `quota` never 429s.

    Arrivals at the server in any interval [a, b] come from takes in [a - tolerance, b]: at most
    (burst - reserve) + rate * (b - a + tolerance) = burst + rate * (b - a) with
    tolerance = reserve / rate, which is what the server allows. The reserve is at most half the
    burst, and a bucket of one token keeps it (a client needs one token to send anything).
    """
    rate = quota.rate * CLIENT_RATE_SHARE
    wanted = rate * ARRIVAL_TOLERANCE_SECONDS * speed
    reserve = max(0.0, min(wanted, quota.burst / 2, quota.burst - 1))
    return Quota(rate, quota.burst - reserve, tolerance=reserve / rate)


# Default usage plans, per selling partner and application (SP-API reference, per operation).
SP_API_QUOTAS: dict[str, Quota] = {
    "createReport": Quota(0.0167, 15),
    "getReport": Quota(2.0, 15),
    "getReports": Quota(0.0222, 10),
    "cancelReport": Quota(0.0222, 10),
    "getReportDocument": Quota(0.0167, 15),
    "listFinancialEvents": Quota(0.5, 30),
    # Catalog Items 2022-04-01 and Product Pricing v0 (product signals): one call carries up to
    # 20 ASINs, so pricing 5,000 ASINs takes 250 calls, about 42 minutes at 0.1 per second.
    "searchCatalogItems": Quota(2.0, 2),
    "getItemOffersBatch": Quota(0.1, 1),
    # Data Kiosk 2023-11-15 (dataKiosk_2023-11-15.json): the same plans as the Reports API's.
    "createQuery": Quota(0.0167, 15),
    "getQuery": Quota(2.0, 15),
    "getQueries": Quota(0.0222, 10),
    "cancelQuery": Quota(0.0222, 10),
    "getDocument": Quota(0.0167, 15),
}

# Limits Amazon applies per report type on top of createReport, per application (across every
# seller of one app). Sales and traffic: one request per 15 minutes, hence at most 96 a day.
REPORT_TYPE_QUOTAS: dict[str, Quota] = {
    "GET_SALES_AND_TRAFFIC_REPORT": Quota(1 / 900, 1),
}


class TokenBucket:
    """An in-memory, thread-safe token bucket on a `Clock`."""

    def __init__(self, quota: Quota, clock: Clock) -> None:
        self.quota = quota
        self.clock = clock
        self._tokens = float(quota.burst)
        self._updated = clock.now()
        self._lock = threading.Lock()

    def try_take(self) -> float:
        """Take a token if one is there and return 0, else return the simulated seconds to wait."""
        with self._lock:
            now = self.clock.now()
            self._tokens = self.quota.refill(self._tokens, now - self._updated)
            self._updated = now
            wait = self.quota.wait_for_token(self._tokens)
            if wait == 0:
                self._tokens -= 1
            return wait

    def take(self) -> None:
        """Block (in simulated time) until a token is taken."""
        while (wait := self.try_take()) > 0:
            self.clock.sleep(wait)
