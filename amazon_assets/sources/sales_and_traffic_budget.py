"""The app-wide GET_SALES_AND_TRAFFIC_REPORT budget, shared fairly by every seller account.

Amazon limits GET_SALES_AND_TRAFFIC_REPORT per application, across all of its sellers, to one
request per 15 minutes: 96 a day (AMAZON_API_NOTES.md, section 2). A SKU-by-day document costs one
request per account and day, so refreshing a 7-day settling window for every account fills the
day at 13 accounts, and an 18-month history costs 548 requests per account.

The planner (pure functions) spends each day's requests in this order:
1. settling windows: the days Amazon may still restate, of every account, newest first and
   round-robin across accounts, so no account's window waits behind another's;
2. history: the remaining requests, round-robin across accounts (one day each in turn, newest
   first), so a newly connected account progresses from its first day without starving others.

Where the app has the Brand Analytics role (`Settings.data_kiosk`), Data Kiosk serves what the
Reports API need not: an account's whole history and, each day, its settling window at child-ASIN
level (`salesAndTrafficTrends`, 30 ASINs and up to two years per query, outside this budget). The
Reports API then serves only the SKU level of the settling window at two points: the newest day
(its first SKU view) and the day leaving the window (its settled SKU view), two requests per
account and day instead of seven. Without Data Kiosk every settling day and every history day is
a Reports request.

The day's count lives in the state store (`StateStore.budget_spend`): every process of the app
spends from the same 96, and one over the cap is refused with one sentence (`BudgetSpent`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import zip_longest

from amazon_assets.errors import PermanentError
from amazon_assets.settings import SALES_AND_TRAFFIC_DAILY
from amazon_assets.sources.quotas import Clock
from amazon_assets.sources.state import StateStore

REPORT_TYPE = "GET_SALES_AND_TRAFFIC_REPORT"
DAILY_REQUESTS = SALES_AND_TRAFFIC_DAILY  # one per 15 minutes, per application
SETTLING_DAYS = 7  # Amazon restates sales and traffic for about a week
SETTLING, HISTORY = "settling", "history"
HISTORY_ROUND_DAYS = 7  # history days of one account requested before the next account's turn
KIOSK_ASINS_PER_QUERY = 30
KIOSK_DAYS_PER_QUERY = 730
_EPOCH = date(1970, 1, 1)
_DAY_LABELS = 2_900_000  # days from 1970 that `date` can hold


class BudgetSpent(PermanentError):
    """The app's sales-and-traffic requests of the day are all spent; the message says when
    more are available."""


@dataclass(frozen=True)
class AccountNeeds:
    """What one account still needs from the Reports API (days newest first)."""

    account: str
    settling: tuple[date, ...]
    history: tuple[date, ...]


@dataclass(frozen=True, order=True)
class BudgetedRequest:
    """One GET_SALES_AND_TRAFFIC_REPORT: an account's day, for its settling window or history."""

    account: str
    day: date
    purpose: str  # SETTLING | HISTORY


@dataclass(frozen=True)
class DayPlan:
    """The requests a day's remaining budget buys, and what it leaves out."""

    requests: tuple[BudgetedRequest, ...]
    used_before: int
    budget: int
    settling_left_out: int  # settling days the day's budget could not cover
    history_left_out: int

    @property
    def used(self) -> int:
        return self.used_before + len(self.requests)

    @property
    def left(self) -> int:
        return self.budget - self.used


def settling_window(last_day: date, days: int = SETTLING_DAYS) -> tuple[date, ...]:
    """The days Amazon may still restate, newest first, ending with `last_day`."""
    return tuple(last_day - timedelta(days=offset) for offset in range(days))


def settling_requests(
    last_day: date, data_kiosk: bool, days: int = SETTLING_DAYS
) -> tuple[date, ...]:
    """The settling days to request from the Reports API today: all of them, or with Data Kiosk
    (which refreshes the whole window at child-ASIN level) the newest and the one leaving it."""
    window = settling_window(last_day, days)
    if not data_kiosk:
        return window
    return tuple(dict.fromkeys((window[0], window[-1])))


def purpose_of(day: date, last_day: date, days: int = SETTLING_DAYS) -> str:
    """SETTLING for a day of the window ending `last_day`, else HISTORY."""
    return SETTLING if (last_day - day).days < days else HISTORY


def amazon_day(clock: Clock) -> date:
    """The day the budget counts against: Amazon's UTC day on `clock`. On an accelerated clock
    (the sandbox's) the date is a label of the simulated day, the same in every process."""
    return _EPOCH + timedelta(days=int(clock.now() // 86_400) % _DAY_LABELS)


def history_days(first_day: date, last_day: date, days: int = SETTLING_DAYS) -> tuple[date, ...]:
    """The days before the settling window, newest first (what a backfill requests)."""
    newest = last_day - timedelta(days=days)
    count = (newest - first_day).days + 1
    return tuple(newest - timedelta(days=offset) for offset in range(max(0, count)))


def plan_day(
    needs: Sequence[AccountNeeds], used_before: int = 0, budget: int = DAILY_REQUESTS
) -> DayPlan:
    """Spend what is left of the day's budget: settling windows first, then history, each
    round-robin across accounts in the order given, newest day first within an account."""
    left = max(0, budget - used_before)
    settling = _round_robin(
        [[BudgetedRequest(n.account, d, SETTLING) for d in n.settling] for n in needs]
    )
    history = _round_robin(
        [[BudgetedRequest(n.account, d, HISTORY) for d in n.history] for n in needs]
    )
    chosen = (settling + history)[:left]
    return DayPlan(
        requests=tuple(chosen),
        used_before=used_before,
        budget=budget,
        settling_left_out=max(0, len(settling) - left),
        history_left_out=len(history) - max(0, left - len(settling)),
    )


def history_plan(
    missing: Mapping[str, Sequence[date]],
    settling_spent: Mapping[str, int],
    last_day: date,
    used_before: int,
    budget: int = DAILY_REQUESTS,
) -> DayPlan:
    """What the day's budget buys of the accounts' `missing` history days (in the order of the
    mapping's accounts), once each account's settling window is served: the window's requests
    its refresh has not spent today (`settling_spent`) come first, whether it has run yet or
    not, then the history round-robin across accounts, newest day first (`plan_day`)."""
    window = settling_requests(last_day, data_kiosk=False)
    return plan_day(
        [
            AccountNeeds(
                account,
                window[settling_spent.get(account, 0) :],
                tuple(sorted(days, reverse=True)),
            )
            for account, days in missing.items()
        ],
        used_before=used_before,
        budget=budget,
    )


def request_order(
    days_by_account: Mapping[str, Sequence[date]],
    last_day: date,
    round_days: int = HISTORY_ROUND_DAYS,
    settling_days: int = SETTLING_DAYS,
) -> list[tuple[str, tuple[date, ...]]]:
    """The order a run requests its (account, days) in, as `plan_day` spends a budget: every
    account's settling days first, then history in rounds of `round_days` days per account
    (newest first), round-robin across accounts, so no account's history waits for another's."""
    settling, history = [], []
    for account, days in days_by_account.items():
        newest_first = sorted(days, reverse=True)
        window = tuple(
            d for d in newest_first if purpose_of(d, last_day, settling_days) == SETTLING
        )
        older = [d for d in newest_first if d not in window]
        if window:
            settling.append((account, window))
        history.append(
            [(account, tuple(older[i : i + round_days])) for i in range(0, len(older), round_days)]
        )
    rounds = [group for turn in zip_longest(*history) for group in turn if group is not None]
    return settling + rounds


def kiosk_queries(asins: int, days: int) -> int:
    """Data Kiosk queries for `asins` child ASINs over `days` days."""
    return math.ceil(asins / KIOSK_ASINS_PER_QUERY) * math.ceil(days / KIOSK_DAYS_PER_QUERY)


def kiosk_batches(asins: Sequence[str]) -> list[tuple[str, ...]]:
    """`asins` cut into Data Kiosk filters of at most 30, in order."""
    return [
        tuple(asins[i : i + KIOSK_ASINS_PER_QUERY])
        for i in range(0, len(asins), KIOSK_ASINS_PER_QUERY)
    ]


def _round_robin(queues: Iterable[list[BudgetedRequest]]) -> list[BudgetedRequest]:
    return [r for turn in zip_longest(*queues) for r in turn if r is not None]


class SalesAndTrafficBudget:
    """The day's count of one application's GET_SALES_AND_TRAFFIC_REPORT requests, in the state
    store every process of the app shares."""

    def __init__(self, store: StateStore, application: str, daily: int = DAILY_REQUESTS) -> None:
        self.store = store
        self.application = application
        self.daily = daily

    def spend(self, day: date, request: BudgetedRequest) -> int:
        """Count `request` against `day` (Amazon's UTC day); BudgetSpent when the day is full."""
        total = self.store.budget_spend(
            self.application, day.isoformat(), request.account, request.purpose, self.daily
        )
        if total is None:
            raise self.refusal(day, request)
        return total

    def check(self, day: date, request: BudgetedRequest) -> None:
        """BudgetSpent, without spending, when `day` has nothing left for `request`."""
        if self.used(day) >= self.daily:
            raise self.refusal(day, request)

    def refusal(self, day: date, request: BudgetedRequest) -> BudgetSpent:
        """The one sentence saying the day is spent and when `request` can be sent."""
        return BudgetSpent(
            f"The app's {self.daily} {REPORT_TYPE} requests for {day} are spent; "
            f"{request.account}'s {request.day} ({request.purpose}) waits for "
            f"{day + timedelta(days=1)}."
        )

    def used(self, day: date) -> int:
        return sum(self.counts(day).values())

    def counts(self, day: date) -> dict[tuple[str, str], int]:
        """(account, purpose) -> requests counted on `day`."""
        return self.store.budget_used(self.application, day.isoformat())

    def metadata(self, day: date) -> dict[str, int]:
        """Budget used and left on `day`, per purpose, for an asset's metadata in the UI."""
        counts = self.counts(day)
        used = sum(counts.values())
        return {
            "sales_and_traffic_budget_used": used,
            "sales_and_traffic_budget_left": max(0, self.daily - used),
            "sales_and_traffic_budget_settling": sum(
                n for (_, purpose), n in counts.items() if purpose == SETTLING
            ),
            "sales_and_traffic_budget_history": sum(
                n for (_, purpose), n in counts.items() if purpose == HISTORY
            ),
        }
