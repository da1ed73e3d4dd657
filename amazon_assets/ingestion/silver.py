"""The silver loader's choice: for each (account, day), the newest stored document covering it
(`newest_documents`, `newest_covering`); for documents that each hold a part of a day (Data Kiosk queries of 30
ASINs), the newest of each part (`newest_document_parts`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from datetime import date, timedelta

from amazon_assets.ingestion.bronze import StoredDocument, account_documents
from amazon_assets.ingestion.spec import DocumentSpec
from amazon_assets.resources.lake import Lake

Coverage = Callable[[StoredDocument], tuple[date, date]]


def data_window(document: StoredDocument) -> tuple[date, date]:
    """The days a document covers: the window it was requested for."""
    return document.data_start, document.data_end


def choose_documents(
    documents: Iterable[StoredDocument],
    first: date,
    last: date,
    coverage: Coverage = data_window,
) -> dict[StoredDocument, list[date]]:
    """For each day of [first, last], the newest document covering it; grouped by document."""
    chosen: dict[StoredDocument, list[date]] = defaultdict(list)
    spans = [(coverage(doc), doc) for doc in documents]
    day = first
    while day <= last:
        covering = [doc for (start, end), doc in spans if start <= day <= end]
        if covering:
            chosen[max(covering, key=lambda d: (d.fetched_at, d.sidecar_key))].append(day)
        day += timedelta(days=1)
    return dict(chosen)


def _stored_with_options(
    spec: DocumentSpec, lake: Lake, account: str, first: date, last: date
) -> list[StoredDocument]:
    """The account's documents of `spec` whose window can cover a day of [first, last] (only
    their sidecars are read), fetched with the spec's options."""
    return [
        doc
        for doc in account_documents(
            spec, lake, account, first - timedelta(days=spec.window_days - 1), last
        )
        if doc.report_options == dict(spec.report_options)
    ]


def newest_covering(
    spec: DocumentSpec,
    lake: Lake,
    account: str,
    first: date,
    last: date,
    coverage: Coverage = data_window,
) -> dict[StoredDocument, list[date]]:
    """For each day of [first, last], the newest stored document of `spec` covering it for
    `account` (fetched with the spec's options), grouped by document. Only the sidecars of
    windows that can cover those days are read."""
    stored = _stored_with_options(spec, lake, account, first, last)
    return choose_documents(stored, first, last, coverage)


def newest_documents(
    spec: DocumentSpec, lake: Lake, account: str, days: Iterable[date]
) -> tuple[dict[date, StoredDocument], list[date]]:
    """The newest stored document of `spec` covering each of `days` for `account` (as
    `newest_covering`), and the days no stored document covers."""
    days = sorted(set(days))
    if not days:
        return {}, []
    wanted = set(days)
    by_day = {
        day: document
        for document, covered in newest_covering(spec, lake, account, days[0], days[-1]).items()
        for day in covered
        if day in wanted
    }
    return by_day, [day for day in days if day not in by_day]


def newest_document_parts(
    spec: DocumentSpec,
    lake: Lake,
    account: str,
    days: Iterable[date],
    part: Callable[[StoredDocument], Hashable],
) -> tuple[dict[StoredDocument, list[date]], list[date]]:
    """For each of `days`, the newest stored document of each `part` covering it (a Data Kiosk
    query's ASINs: the day is the union of its parts), grouped by document; and the days no
    stored document covers."""
    days = sorted(set(days))
    if not days:
        return {}, []
    first, last = days[0], days[-1]
    parts: dict[Hashable, list[StoredDocument]] = defaultdict(list)
    for doc in _stored_with_options(spec, lake, account, first, last):
        parts[part(doc)].append(doc)
    wanted = set(days)
    chosen: dict[StoredDocument, list[date]] = {}
    for documents in parts.values():
        for document, covered in choose_documents(documents, first, last).items():
            if kept := [day for day in covered if day in wanted]:
                chosen[document] = kept
    covered_days = {day for kept in chosen.values() for day in kept}
    return chosen, [day for day in days if day not in covered_days]
