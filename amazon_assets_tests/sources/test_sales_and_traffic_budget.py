"""The app-wide sales-and-traffic budget: settling windows first, history round-robin, 96 a day."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from amazon_assets.sources.quotas import Clock
from amazon_assets.sources.sales_and_traffic_budget import (
    DAILY_REQUESTS,
    HISTORY,
    SETTLING,
    AccountNeeds,
    BudgetedRequest,
    BudgetSpent,
    SalesAndTrafficBudget,
    amazon_day,
    history_days,
    history_plan,
    kiosk_batches,
    kiosk_queries,
    plan_day,
    purpose_of,
    request_order,
    settling_requests,
    settling_window,
)
from amazon_assets.sources.state import StateStore

LAST = date(2026, 12, 6)
FIRST = LAST - timedelta(days=547)  # 18 months: 548 days


def _needs(accounts: int, data_kiosk: bool, history: bool = True) -> list[AccountNeeds]:
    return [
        AccountNeeds(
            f"acct{i:02d}",
            settling_requests(LAST, data_kiosk),
            () if data_kiosk or not history else history_days(FIRST, LAST),
        )
        for i in range(accounts)
    ]


def test_settling_windows_come_before_any_history_and_the_day_never_exceeds_96():
    plan = plan_day(_needs(12, data_kiosk=False))
    purposes = [r.purpose for r in plan.requests]
    assert len(plan.requests) == DAILY_REQUESTS and plan.left == 0
    assert purposes[: 12 * 7] == [SETTLING] * 84
    assert purposes[84:] == [HISTORY] * 12
    assert plan.settling_left_out == 0


def test_history_is_round_robin_across_accounts_newest_day_first():
    plan = plan_day(_needs(12, data_kiosk=False))
    history = [r for r in plan.requests if r.purpose == HISTORY]
    assert Counter(r.account for r in history) == {f"acct{i:02d}": 1 for i in range(12)}
    assert {r.day for r in history} == {LAST - timedelta(days=7)}  # the newest history day


def test_twenty_accounts_without_data_kiosk_cannot_refresh_their_windows():
    """140 settling days do not fit in 96: the plan says how many are left out, and every
    account still gets some (round-robin), none gets all seven while another gets none."""
    plan = plan_day(_needs(20, data_kiosk=False))
    assert len(plan.requests) == 96 and plan.settling_left_out == 140 - 96
    per_account = Counter(r.account for r in plan.requests)
    assert max(per_account.values()) - min(per_account.values()) <= 1


def test_with_data_kiosk_twenty_accounts_take_two_settling_requests_each():
    plan = plan_day(_needs(20, data_kiosk=True))
    assert plan.settling_left_out == 0 and len(plan.requests) == 40 and plan.left == 56
    assert set(settling_requests(LAST, True)) == {LAST, LAST - timedelta(days=6)}
    assert settling_window(LAST) == tuple(LAST - timedelta(days=i) for i in range(7))


def test_a_budget_partly_used_earlier_today_is_respected():
    plan = plan_day(_needs(3, data_kiosk=False), used_before=90)
    assert len(plan.requests) == 6 and plan.used == 96 and plan.settling_left_out == 15


def test_history_gets_what_the_windows_not_yet_refreshed_today_leave():
    """Before the morning refresh every account's window is kept (one with its history complete
    too); a window refreshed already is not kept twice; history goes round-robin, newest first,
    in what is left."""
    older = history_days(FIRST, LAST)
    missing = {"acme": older[:5], "zeta": older[2:4], "done": ()}
    before = history_plan(missing, {}, LAST, used_before=0, budget=25)
    assert [(r.account, r.day) for r in before.requests if r.purpose == HISTORY] == [
        ("acme", older[0]),
        ("zeta", older[2]),
        ("acme", older[1]),
        ("zeta", older[3]),
    ]
    assert sum(r.purpose == SETTLING for r in before.requests) == 21 and before.left == 0
    # acme's refresh spent its 7 this morning: those 7 count as used, not kept again.
    after = history_plan(missing, {"acme": 7}, LAST, used_before=7, budget=25)
    assert sum(r.purpose == SETTLING for r in after.requests) == 14
    assert len([r for r in after.requests if r.purpose == HISTORY]) == 4 and after.left == 0
    # Four spent elsewhere today: the windows take the rest, history waits.
    spent = history_plan(missing, {}, LAST, used_before=4, budget=25)
    assert {r.purpose for r in spent.requests} == {SETTLING} and spent.history_left_out == 7


def test_history_and_kiosk_counts_for_18_months():
    assert len(history_days(FIRST, LAST)) == 548 - 7
    assert kiosk_queries(200, 548) == 7
    assert [len(b) for b in kiosk_batches([f"A{i}" for i in range(200)])] == [30] * 6 + [20]


def test_the_state_store_refuses_the_97th_request_with_one_sentence(tmp_path):
    budget = SalesAndTrafficBudget(StateStore(tmp_path / "state.sqlite"), "app-1")
    day = date(2026, 12, 7)
    for i in range(DAILY_REQUESTS):
        budget.spend(day, BudgetedRequest(f"acct{i % 3}", LAST, SETTLING))
    with pytest.raises(BudgetSpent) as spent:
        budget.spend(day, BudgetedRequest("acct9", LAST, HISTORY))
    message = str(spent.value)
    assert "96" in message and "2026-12-08" in message and message.count(". ") == 0
    assert budget.used(day) == 96  # the refused request was not counted
    assert budget.metadata(day) == {
        "sales_and_traffic_budget_used": 96,
        "sales_and_traffic_budget_left": 0,
        "sales_and_traffic_budget_settling": 96,
        "sales_and_traffic_budget_history": 0,
    }
    # Another application, and the next day, start afresh.
    other = SalesAndTrafficBudget(budget.store, "app-2")
    assert other.spend(day, BudgetedRequest("acct0", LAST, HISTORY)) == 1
    assert budget.spend(day + timedelta(days=1), BudgetedRequest("acct0", LAST, HISTORY)) == 1


def test_purpose_and_the_day_counted():
    assert purpose_of(LAST - timedelta(days=6), LAST) == SETTLING
    assert purpose_of(LAST - timedelta(days=7), LAST) == HISTORY
    real = Clock(1.0)
    assert amazon_day(real) == datetime.now(UTC).date() or amazon_day(real) == (
        datetime.now(UTC).date() + timedelta(days=1)  # midnight passed between the two reads
    )

    class Simulated(Clock):
        def now(self) -> float:
            return 86_400 * 3 + 5.0  # three simulated days and five seconds after the epoch

    assert amazon_day(Simulated(3600.0)) == date(1970, 1, 4)


def test_a_run_requests_settling_days_first_then_history_round_robin():
    days = [LAST - timedelta(days=i) for i in range(20)]
    order = request_order({"a": days, "b": days[:10]}, LAST)
    assert order[0] == ("a", tuple(days[:7])) and order[1] == ("b", tuple(days[:7]))
    assert order[2:] == [
        ("a", tuple(days[7:14])),
        ("b", tuple(days[7:10])),
        ("a", tuple(days[14:20])),
    ]
