"""Seller-history bronze on the contract's reads: a resumed backfill finds its stored windows from
their own sidecars and requests none of them again (real client, sandbox over HTTP)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from amazon_assets.defs.seller_history.bronze import AccountFetcher
from amazon_assets.defs.seller_history.spec import ORDERS
from amazon_assets.sources import planner
from amazon_assets_tests.ingestion.test_silver import CountingLake, store_window
from amazon_assets_tests.resources.test_sp_api import _resource


def test_a_resumed_backfill_reads_only_its_windows_sidecars_and_requests_nothing_stored(
    sandbox, tmp_path: Path
) -> None:
    lake = CountingLake(tmp_path / "lake")
    months = [date(2026, month, 1) for month in range(1, 8)]
    for start, after in zip(months, months[1:], strict=False):
        store_window(
            lake, ORDERS, start, after - timedelta(days=1), datetime.now(UTC), account="default"
        )
    lake.sidecars_read.clear()
    plan = planner.plan_source(ORDERS, date(2026, 5, 1), date(2026, 6, 30))  # May and June

    progress = AccountFetcher(
        _resource(sandbox, tmp_path / "state.sqlite"), lake, skip_stored=True
    ).run(plan)

    assert (progress["orders"].planned, progress["orders"].skipped) == (2, 2)
    assert sandbox.calls("createReport") == 0
    # January..April lie in the same folder and were never read.
    assert {key.split("/")[-3] for key in lake.sidecars_read} == {
        "run_date=2026-05-01",
        "run_date=2026-06-01",
    }
