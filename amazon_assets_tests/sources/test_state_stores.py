"""Both state stores, SQLite and PostgreSQL: shared buckets, the ledger, atomic check-then-create."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from amazon_assets.sources.quotas import Clock, Quota
from amazon_assets.sources.state import (
    COMPLETED,
    REQUESTED,
    PostgresStateStore,
    StateStore,
    open_state_store,
)
from amazon_assets_tests.sources.test_state import FROZEN, QUOTA, _request


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite")
    return request.getfixturevalue("postgres_database")


def test_location_selects_the_store(location: str) -> None:
    store = open_state_store(location)
    expected = PostgresStateStore if location.startswith("postgresql://") else StateStore
    assert type(store) is expected


def test_bucket_is_shared_between_two_stores(location: str) -> None:
    first, second = open_state_store(location), open_state_store(location)
    bucket = [("host|app|default|createReport", QUOTA)]
    assert [store.try_take(bucket, FROZEN) for store in (first, second, first)] == [0, 0, 0]
    assert second.try_take(bucket, FROZEN) == pytest.approx(1.0, abs=1e-3)
    second.drain(["host|app|default|createReport"], FROZEN)
    assert first.tokens("host|app|default|createReport", QUOTA, FROZEN) == pytest.approx(
        0.0, abs=1e-6
    )


def test_ledger_round_trip(location: str) -> None:
    store = open_state_store(location)
    request = _request()
    store.record_report(request, "r1", FROZEN)
    store.record_report(request, "r2", FROZEN)
    assert store.open_report(request).report_id == "r2"
    assert store.complete_reports(request.endpoint, ["r1", "r2", "unknown"], FROZEN) == 2
    assert store.open_report(request) is None
    history = store.report_history(request)
    assert [(e.report_id, e.status) for e in history] == [("r1", COMPLETED), ("r2", COMPLETED)]
    store.record_report(request, "r3", FROZEN)
    [entry] = [e for e in store.report_history(request) if e.status == REQUESTED]
    assert entry.report_id == "r3"


def _take_many(location: str, count: int, results: multiprocessing.Queue) -> None:
    store = open_state_store(location)
    results.put(
        sum(store.try_take([("shared", Quota(1e-9, 50))], Clock(1.0)) == 0 for _ in range(count))
    )


def _check_then_create(location: str, results: multiprocessing.Queue) -> None:
    """What a client does for one report: resume the open one, else create it (slowly)."""
    store = open_state_store(location)
    request = _request()
    with store.report_lock(request):
        entry = store.open_report(request)
        if entry is None:
            time.sleep(0.3)  # createReport takes a while: the window a race would need
            report_id = f"created-by-{multiprocessing.current_process().pid}"
            store.record_report(request, report_id, FROZEN)
            results.put(("created", report_id))
        else:
            results.put(("resumed", entry.report_id))


def _spawn(target, location: str, count: int, *args) -> list:
    # Forked: the children start at once with everything imported; each opens its own store.
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(target=target, args=(location, *args, results)) for _ in range(count)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    return outcomes


def test_concurrent_processes_never_overspend(postgres_database: str) -> None:
    location = postgres_database  # test_state.py covers the SQLite file
    open_state_store(location)
    taken = sum(_spawn(_take_many, location, 3, 40))
    assert taken == 50


def test_check_then_create_is_atomic_across_processes(location: str) -> None:
    open_state_store(location)
    outcomes = _spawn(_check_then_create, location, 4)
    created = [report_id for what, report_id in outcomes if what == "created"]
    assert len(created) == 1, outcomes
    assert {report_id for _, report_id in outcomes} == set(created)
    assert [e.report_id for e in open_state_store(location).report_history(_request())] == created
