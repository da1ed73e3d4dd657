"""SpApiResource across real processes against the sandbox: kills and concurrent ingests."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from amazon_assets.sources.state import StateStore
from amazon_assets_tests.resources.test_sp_api import (
    SALES_AND_TRAFFIC,
    SKU_DAILY,
    _day,
    _resource,
)

# Real seconds a test waits for a child to get somewhere before it gives up (never asserted).
PATIENCE_SECONDS = 300.0

_LIST_FINANCES = """
import json, sys
from datetime import datetime
from amazon_assets.resources.sp_api import SpApiResource

resource = SpApiResource(**json.loads(sys.argv[1]))
after, before = (datetime.fromisoformat(value) for value in sys.argv[2:4])
print(len(resource.list_financial_events(after, before)), flush=True)
"""

_FETCH_DAYS = """
import json, sys
from datetime import date, datetime
from amazon_assets.resources.sp_api import SpApiResource

resource = SpApiResource(**json.loads(sys.argv[1]))
days, reuse_since = json.loads(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
ids = []
for day in map(date.fromisoformat, days):
    result = resource.fetch_report(
        "GET_SALES_AND_TRAFFIC_REPORT", day, day,
        {"dateGranularity": "DAY", "asinGranularity": "SKU"}, reuse_since=reuse_since,
    )
    ids.append(result.report_id)
print(json.dumps(ids), flush=True)
"""


def _arguments(sandbox, state_path: Path) -> str:
    """The resource's fields as a child process receives them."""
    return _resource(sandbox, state_path).model_dump_json()


def _recorded_pages(state_path: Path) -> int:
    with sqlite3.connect(state_path) as connection:
        return connection.execute("SELECT count(*) FROM finance_pages").fetchone()[0]


def _quiet_window(sandbox) -> tuple[datetime, datetime]:
    """Ten days outside the holiday season (no page is refused as too large): eight pages."""
    last = sandbox.config.today - timedelta(days=100)
    first = last - timedelta(days=10)
    return (
        datetime.combine(first, datetime.min.time(), UTC),
        datetime.combine(last, datetime.min.time(), UTC),
    )


def test_a_killed_finances_listing_resumes_without_fetching_a_page_twice(
    sandbox, tmp_path: Path, processes
) -> None:
    state_path = tmp_path / "state.sqlite"
    StateStore(state_path)  # its tables exist before the child writes them
    after, before = _quiet_window(sandbox)
    sandbox.faults.slow_next("listFinancialEvents", 1.0, times=100)  # time to kill it mid-way
    lister = processes(
        [
            sys.executable,
            "-c",
            _LIST_FINANCES,
            _arguments(sandbox, state_path),
            after.isoformat(),
            before.isoformat(),
        ]
    )
    deadline = time.monotonic() + PATIENCE_SECONDS
    while _recorded_pages(state_path) < 3:
        assert time.monotonic() < deadline, "the listing never recorded three pages"
        time.sleep(0.1)
    lister.send_signal(signal.SIGKILL)
    assert lister.wait(timeout=60) == -signal.SIGKILL
    recorded = _recorded_pages(state_path)
    calls_before = sandbox.calls("listFinancialEvents")
    sandbox.faults.reset()

    resumed = _resource(sandbox, state_path)
    pages = resumed.list_financial_events(after, before)
    resume_calls = sandbox.calls("listFinancialEvents") - calls_before
    fresh = _resource(sandbox, tmp_path / "fresh.sqlite").list_financial_events(after, before)
    assert len(fresh) == 8 and pages == fresh
    assert 3 <= recorded < 8 and resume_calls == len(fresh) - recorded

    resumed.forget_financial_events(after, before)
    assert _recorded_pages(state_path) == 0


def test_a_report_completed_since_reuse_since_is_reused_not_requested(
    sandbox, tmp_path: Path
) -> None:
    sp_api = _resource(sandbox, tmp_path / "state.sqlite")
    day = _day(sandbox)
    started = datetime.now(UTC)
    first = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY)
    again = sp_api.fetch_report(SALES_AND_TRAFFIC, day, day, SKU_DAILY, reuse_since=started)
    assert (again.report_id, again.body) == (first.report_id, first.body)
    assert sandbox.calls("createReport") == 1
    refreshed = sp_api.fetch_report(
        SALES_AND_TRAFFIC, day, day, SKU_DAILY, reuse_since=datetime.now(UTC)
    )
    assert refreshed.report_id != first.report_id and sandbox.calls("createReport") == 2


def test_two_processes_ingesting_the_same_days_request_each_report_once(
    sandbox, tmp_path: Path, processes
) -> None:
    state_path = tmp_path / "state.sqlite"
    days = [(_day(sandbox, 20) + timedelta(days=i)).isoformat() for i in range(7)]
    reuse_since = datetime.now(UTC).isoformat()
    command = [
        sys.executable,
        "-c",
        _FETCH_DAYS,
        _arguments(sandbox, state_path),
        json.dumps(days),
        reuse_since,
    ]
    ingests = [processes(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [ingest.communicate(timeout=PATIENCE_SECONDS)[0] for ingest in ingests]
    assert [ingest.returncode for ingest in ingests] == [0, 0], outputs
    first, second = (json.loads(output) for output in outputs)
    assert first == second and len(set(first)) == 7
    assert sandbox.calls("createReport") == 7
    assert date.fromisoformat(days[-1]) < sandbox.config.today
