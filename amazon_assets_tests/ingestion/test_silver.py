"""The silver loader's choice of documents, on a real local lake."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS
from amazon_assets.defs.seller_history.spec import ORDERS
from amazon_assets.ingestion.bronze import reusable, stored_documents
from amazon_assets.ingestion.silver import newest_covering, newest_documents
from amazon_assets.ingestion.spec import DocumentSpec
from amazon_assets.resources.lake import SIDECAR_NAME, BronzeDocument, LocalLake, write_document

SPEC = BUSINESS_REPORTS
FIRST = date(2026, 6, 1)
NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)


class CountingLake(LocalLake):
    """A local lake that remembers which sidecars were read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.sidecars_read: list[str] = []

    def read_bytes(self, key: str) -> bytes:
        if key.endswith(SIDECAR_NAME):
            self.sidecars_read.append(key)
        return super().read_bytes(key)


def store(
    lake: LocalLake,
    day: date,
    fetched_at: datetime,
    options: dict[str, str] | None = None,
    account: str = "acme",
) -> None:
    document = BronzeDocument(
        source=SPEC.name,
        day=day,
        report_id=f"{day:%Y%m%d}-{fetched_at:%Y%m%d%H%M%S}-{account}",
        status="DONE",
        body=b"{}",
        content_type="application/json",
        fetched_at=fetched_at,
        metadata={
            "data_start": day.isoformat(),
            "data_end": day.isoformat(),
            "report_options": dict(SPEC.report_options) if options is None else options,
        },
    )
    write_document(lake, SPEC.lake_prefix(account), document, SPEC.file_name(False))


def test_the_newest_document_with_the_specs_options_covers_each_day(tmp_path: Path) -> None:
    lake = CountingLake(tmp_path)
    days = [FIRST + timedelta(days=i) for i in range(30)]
    for day in days:
        store(lake, day, NOW - timedelta(days=2))
    store(lake, days[10], NOW)  # a refresh
    store(lake, days[11], NOW, options={"asinGranularity": "CHILD"})  # another request
    store(lake, days[12], NOW, account="other")
    wanted = days[10:13]
    lake.sidecars_read.clear()

    chosen, uncovered = newest_documents(SPEC, lake, "acme", wanted)

    assert sorted(chosen) == wanted and uncovered == []
    assert chosen[days[10]].fetched_at == NOW
    assert chosen[days[11]].fetched_at == NOW - timedelta(days=2)  # options differ: not chosen
    assert chosen[days[12]].fetched_at == NOW - timedelta(days=2)  # another account's
    # Only the sidecars of the days asked for were read, not the month's.
    assert {key.split("/")[-3] for key in lake.sidecars_read} == {
        f"run_date={day}" for day in wanted
    }
    later = days[-1] + timedelta(days=1)
    assert newest_documents(SPEC, lake, "acme", [later]) == ({}, [later])


def test_a_document_is_reused_when_final_or_fetched_since_reuse_since(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    today = NOW.date()
    since = NOW - timedelta(hours=1)  # `sources.reuse.reuse_since` of the run
    recent, restated, settled = (today - timedelta(days=n) for n in (2, 3, 20))
    store(lake, recent, since + timedelta(minutes=1))
    store(lake, restated, since - timedelta(minutes=1))  # Amazon may restate it
    # Fetched after Amazon stopped restating the day (lookback 7 days): final.
    store(lake, settled, NOW - timedelta(days=10))
    store(lake, recent, NOW, options={"asinGranularity": "CHILD"})
    documents = stored_documents(lake, SPEC.lake_prefix("acme"))
    by_day = {
        doc.data_start: doc for doc in documents if doc.report_options["asinGranularity"] == "SKU"
    }

    assert reusable(SPEC, by_day[recent], reuse_since=since)
    assert not reusable(SPEC, by_day[restated], reuse_since=since)
    assert reusable(SPEC, by_day[settled], reuse_since=since)
    [other_options] = [doc for doc in documents if doc.report_options["asinGranularity"] == "CHILD"]
    assert not reusable(SPEC, other_options, reuse_since=since)  # never stands for another request


def test_calendar_windows_are_chosen_from_the_sidecars_of_windows_that_can_cover_the_days(
    tmp_path: Path,
) -> None:
    """Seller history's monthly orders windows and a later refresh window over their last days."""
    lake = CountingLake(tmp_path)
    months = [date(2026, m, 1) for m in range(1, 7)]
    for start in months:
        end = date(2026, start.month + 1, 1) - timedelta(days=1)
        store_window(lake, ORDERS, start, end, NOW - timedelta(days=20))
    store_window(lake, ORDERS, date(2026, 6, 2), date(2026, 6, 30), NOW)  # the refresh
    lake.sidecars_read.clear()

    chosen = newest_covering(ORDERS, lake, "acme", date(2026, 5, 30), date(2026, 6, 2))

    assert {(doc.data_start, days[0], days[-1]) for doc, days in chosen.items()} == {
        (date(2026, 5, 1), date(2026, 5, 30), date(2026, 5, 31)),
        (date(2026, 6, 1), date(2026, 6, 1), date(2026, 6, 1)),
        (date(2026, 6, 2), date(2026, 6, 2), date(2026, 6, 2)),
    }
    # A window starts at most 30 days before a day it covers: January..April were never read.
    assert {key.split("/")[-3] for key in lake.sidecars_read} == {
        "run_date=2026-05-01",
        "run_date=2026-06-01",
        "run_date=2026-06-02",
    }


def store_window(
    lake: LocalLake,
    spec: DocumentSpec,
    start: date,
    end: date,
    fetched_at: datetime,
    account: str = "acme",
) -> None:
    """A document of [start, end] as the bronze writer stores it (an empty body)."""
    document = BronzeDocument(
        source=spec.name,
        day=start,
        report_id=f"{start:%Y%m%d}-{fetched_at:%Y%m%d%H%M%S}",
        status="DONE",
        body=b"",
        content_type="text/tab-separated-values",
        fetched_at=fetched_at,
        metadata={"data_start": start.isoformat(), "data_end": end.isoformat()},
    )
    write_document(lake, spec.lake_prefix(account), document, spec.file_name(False))
