"""The SQLite state file: quota buckets shared across connections and the report ledger."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from amazon_assets.sources.quotas import Clock, Quota, client_quota
from amazon_assets.sources.state import (
    COMPLETED,
    FATAL,
    REQUESTED,
    ReportRequest,
    StateStore,
)

# A clock slow enough that refills during a test are negligible next to one token.
FROZEN = Clock(speed=1e-9)
QUOTA = Quota(rate=1.0, burst=3)


def _request(**overrides: object) -> ReportRequest:
    values: dict = {
        "endpoint": "https://sellingpartnerapi-na.amazon.com",
        "account": "default",
        "marketplace_id": "ATVPDKIKX0DER",
        "report_type": "GET_SALES_AND_TRAFFIC_REPORT",
        "data_start": "2026-01-05",
        "data_end": "2026-01-05",
        "report_options": {"dateGranularity": "DAY", "asinGranularity": "SKU"},
    }
    values.update(overrides)
    return ReportRequest(**values)


def test_bucket_is_shared_between_two_stores_on_one_file(tmp_path: Path) -> None:
    first, second = StateStore(tmp_path / "s.sqlite"), StateStore(tmp_path / "s.sqlite")
    bucket = [("host|app|default|createReport", QUOTA)]
    assert first.try_take(bucket, FROZEN) == 0
    assert second.try_take(bucket, FROZEN) == 0
    assert first.try_take(bucket, FROZEN) == 0
    # The burst of 3 is spent across both connections: the fourth take must wait about 1 s.
    wait = second.try_take(bucket, FROZEN)
    assert wait == pytest.approx(1.0, abs=1e-3)
    assert first.tokens("host|app|default|createReport", QUOTA, FROZEN) < 1


def test_bucket_refills_at_its_rate(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    bucket = [("k", Quota(rate=0.5, burst=1))]
    assert store.try_take(bucket, FROZEN) == 0
    assert store.try_take(bucket, FROZEN) == pytest.approx(2.0, abs=1e-3)
    # Move the stored timestamp one simulated second back: half a token has refilled.
    with sqlite3.connect(tmp_path / "s.sqlite") as connection:
        connection.execute("UPDATE quota_buckets SET updated = updated - 1")
    assert store.try_take(bucket, FROZEN) == pytest.approx(1.0, abs=1e-3)


def test_take_is_all_or_nothing_across_buckets(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    operation = ("op", Quota(rate=1.0, burst=5))
    report_type = ("type", Quota(rate=0.01, burst=1))
    assert store.try_take([operation, report_type], FROZEN) == 0
    assert store.try_take([operation, report_type], FROZEN) == pytest.approx(100.0, abs=0.1)
    # The refused take left the operation bucket alone: 4 tokens remain, not 3.
    assert store.tokens("op", operation[1], FROZEN) == pytest.approx(4.0, abs=1e-3)


def test_drain_empties_a_bucket(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    store.drain(["k"], FROZEN)
    assert store.tokens("k", QUOTA, FROZEN) == pytest.approx(0.0, abs=1e-3)
    assert store.try_take([("k", QUOTA)], FROZEN) == pytest.approx(1.0, abs=1e-3)


def test_bucket_written_on_another_clock_starts_full(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    store.drain(["k"], Clock(speed=3600.0))
    assert store.tokens("k", QUOTA, FROZEN) == QUOTA.burst


def _take_many(path: str, count: int, results: multiprocessing.Queue) -> None:
    store = StateStore(path)
    results.put(
        sum(store.try_take([("shared", Quota(1e-9, 50))], Clock(1.0)) == 0 for _ in range(count))
    )


def test_concurrent_processes_never_overspend(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite")
    StateStore(path)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_take_many, args=(path, 40, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    taken = sum(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    # 120 attempts against a bucket of 50 that does not refill: exactly 50 succeed.
    assert taken == 50


def test_ledger_put_get_complete(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    request = _request()
    assert store.open_report(request) is None
    store.record_report(request, "1001", FROZEN)
    entry = StateStore(tmp_path / "s.sqlite").open_report(request)
    assert entry is not None and entry.report_id == "1001" and entry.status == REQUESTED
    # Another range or other options are another request.
    assert store.open_report(_request(data_start="2026-01-06", data_end="2026-01-06")) is None
    assert store.open_report(_request(report_options={"asinGranularity": "SKU"})) is None
    store.finish_report(request, "1001", COMPLETED, FROZEN, document_id="DOC-1")
    assert store.open_report(request) is None
    store.record_report(request, "1002", FROZEN)
    store.finish_report(request, "1002", FATAL, FROZEN)
    history = store.report_history(request)
    assert [(e.report_id, e.status, e.document_id) for e in history] == [
        ("1001", COMPLETED, "DOC-1"),
        ("1002", FATAL, None),
    ]


def test_ledger_key_ignores_option_order() -> None:
    a = _request(report_options={"a": "1", "b": "2"})
    b = _request(report_options={"b": "2", "a": "1"})
    assert a.key == b.key


def test_finish_report_needs_a_final_status(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="final status"):
        store.finish_report(_request(), "1", REQUESTED, FROZEN)


def test_settle_moves_the_take_to_the_answer(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    quota = Quota(rate=0.1, burst=1)
    assert store.try_take([("k", quota)], FROZEN) == 0
    # The answer came 5 s after the take: the next token is 10 s after the answer, 15 s from now.
    store.settle([("k", quota)], elapsed=5.0)
    assert store.try_take([("k", quota)], FROZEN) == pytest.approx(15.0, abs=1e-3)


def test_settle_charges_only_the_time_beyond_the_tolerance(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    quota = Quota(rate=0.1, burst=2, tolerance=3.0)
    assert store.try_take([("k", quota)], FROZEN) == 0
    store.settle([("k", quota)], elapsed=2.0)  # within the tolerance: the token is all it cost
    assert store.try_take([("k", quota)], FROZEN) == 0
    # 5 s is 2 s beyond the tolerance: 0.2 token more, so the next one is 12 s away, not 10.
    store.settle([("k", quota)], elapsed=5.0)
    assert store.try_take([("k", quota)], FROZEN) == pytest.approx(12.0, abs=1e-3)


def test_client_quota_reserves_the_burst_an_arrival_delay_needs() -> None:
    # 1.5 real seconds at speed 10 is 15 simulated seconds: 7.4 finance tokens of the 30.
    finances = client_quota(Quota(rate=0.5, burst=30), speed=10)
    assert finances.rate == pytest.approx(0.495)
    assert finances.burst == pytest.approx(30 - 0.495 * 15)
    assert finances.tolerance == pytest.approx(15)
    # getReport (2/s) would need 30 of its 15 tokens: half the burst is the most it gives up.
    polls = client_quota(Quota(rate=2.0, burst=15), speed=10)
    assert polls.burst == pytest.approx(7.5) and polls.tolerance == pytest.approx(7.5 / 1.98)
    # A bucket of one token keeps it whole (a client needs one to send anything): no tolerance.
    single = client_quota(Quota(rate=1 / 900, burst=1), speed=10)
    assert (single.burst, single.tolerance) == (1, 0)
