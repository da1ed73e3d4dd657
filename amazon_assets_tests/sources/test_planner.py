"""The seller-history planner: windows within Amazon's limits, newest first, quota bounds."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from amazon_assets.defs.seller_history.spec import SPECS
from amazon_assets.sources import planner
from amazon_assets.sources.quotas import SP_API_QUOTAS

FIRST, LAST = date(2025, 5, 1), date(2026, 11, 21)


def test_windows_are_calendar_aligned_cover_every_day_once_newest_first() -> None:
    windows = planner.aligned_windows(date(2025, 5, 17), date(2026, 2, 3), 3)
    assert windows == [
        (date(2026, 1, 1), date(2026, 2, 3)),
        (date(2025, 10, 1), date(2025, 12, 31)),
        (date(2025, 7, 1), date(2025, 9, 30)),
        (date(2025, 5, 17), date(2025, 6, 30)),
    ]
    assert planner.aligned_windows(LAST, FIRST, 1) == []
    with pytest.raises(ValueError, match="divide a year"):
        planner.aligned_windows(FIRST, LAST, 5)


@pytest.mark.parametrize("source", sorted(SPECS))
def test_each_source_respects_its_limit_and_covers_the_range(source: str) -> None:
    spec = SPECS[source]
    requests = planner.plan_source(spec, FIRST, LAST)
    ends = [r.end for r in requests]
    assert ends == sorted(ends, reverse=True)  # newest first
    if spec.window_months:
        days = {r.start + timedelta(days=i) for r in requests for i in range(r.days)}
        assert len(days) == sum(r.days for r in requests) == (LAST - FIRST).days + 1
    if spec.serving != planner.LISTED:  # a listing asks for no range
        assert max(r.days for r in requests) <= spec.window_days


def test_plan_is_smallest_for_each_window_size_and_stable_across_runs() -> None:
    plan = planner.plan_requests(SPECS.values(), FIRST, LAST)
    counts = {s: sum(r.source == s for r in plan) for s in SPECS}
    assert counts == {
        "orders": 19,
        "inventory_ledger": 19,
        "fee_preview": 1,
        "reimbursements": 4,
        "customer_returns": 4,
        "settlements": 1,
        "financial_events": 7,
    }
    # Planning again (a resumed backfill) gives the same requests, so finished ones are skipped.
    assert planner.plan_requests(SPECS.values(), FIRST, LAST) == plan
    assert plan[0].end == LAST


def test_refresh_lookbacks() -> None:
    assert planner.refresh_range(SPECS["orders"], LAST) == (LAST - timedelta(days=29), LAST)
    assert planner.refresh_range(SPECS["financial_events"], LAST) == (
        LAST - timedelta(days=6),
        LAST,
    )


def test_quota_lower_bound_is_the_slowest_bucket() -> None:
    create = SP_API_QUOTAS["createReport"]
    finances = SP_API_QUOTAS["listFinancialEvents"]
    assert planner.quota_lower_bound({"createReport": 15}) == 0
    assert planner.quota_lower_bound({"createReport": 45, "listFinancialEvents": 40}) == max(
        30 / create.rate, 10 / finances.rate
    )
    assert planner.quota_lower_bound(
        {}, report_types={"GET_SALES_AND_TRAFFIC_REPORT": 3}
    ) == pytest.approx(2 * 900)
    plan = planner.plan_requests(SPECS.values(), FIRST, LAST)
    operations = planner.expected_operations(plan, settlements_listed=6)
    assert operations["createReport"] == 47 and operations["getReportDocument"] == 53
