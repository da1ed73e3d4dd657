"""Seller-history silver: an account's bronze documents -> typed rows of a range of days.

Documents of one source overlap (a monthly backfill window, then daily refresh windows covering
its last days), so each day takes its rows from the newest document covering it, the contract's
silver choice (`ingestion.silver.newest_covering`: only the sidecars of windows that can cover
the run's days are read; a fee preview covers its snapshot day only): overlapping windows and
re-runs never double count, and a row Amazon dropped from a newer document disappears from
silver too. Settlements are chosen by report id instead (Amazon generates them and chooses their
periods), so every stored settlement is read.

Rows repeating a natural key after that choice: copies identical in every column but their
lineage (report id, load time) are reduced to the newest, counted (`identical_rows_dropped` in
the UI): Amazon legitimately serves the same settlement again under a new report id (the listing
returns every settlement report of the last 90 days). Rows repeating a key with different values
have no legitimate cause (within one document `occurrence` numbers repeated lines, and each day
is taken from one document): every copy goes to quarantine with the reason, counted, and the
blocking key check sees them (`SilverBatch.key_conflicts`), so it fails and a person looks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from amazon_assets.defs.seller_history.spec import (
    FEE_PREVIEW,
    FINANCIAL_EVENTS,
    SETTLEMENTS,
    SPECS,
)
from amazon_assets.ingestion.bronze import StoredDocument, account_documents
from amazon_assets.ingestion.silver import data_window, newest_covering
from amazon_assets.parsers.quarantine import (
    ACCOUNT_QUARANTINE_SCHEMA,
    ACCOUNTING_SCHEMA,
    QUARANTINE_SCHEMA,
    document_accounting,
)
from amazon_assets.parsers.seller_history import financial_events, settlements
from amazon_assets.parsers.seller_history.customer_returns import CUSTOMER_RETURNS
from amazon_assets.parsers.seller_history.fee_preview import fee_preview
from amazon_assets.parsers.seller_history.inventory_ledger import INVENTORY_LEDGER
from amazon_assets.parsers.seller_history.orders import ORDERS
from amazon_assets.parsers.seller_history.reimbursements import REIMBURSEMENTS
from amazon_assets.parsers.seller_history.tsv import FlatFile, ParsedDocument
from amazon_assets.quality import conflicting_key_quarantine, separate_repeated_keys
from amazon_assets.resources.lake import Lake

# Columns that say which document a row came from and when it was loaded, not what Amazon said.
LINEAGE = ("report_id", "ingested_at")


@dataclass(frozen=True)
class SilverBatch:
    """One source's rows for an account and a range of days."""

    facts: pl.DataFrame
    quarantine: pl.DataFrame  # ACCOUNT_QUARANTINE_SCHEMA
    summaries: pl.DataFrame | None  # settlements only
    document_rows: int  # data rows of the documents the days were taken from
    documents: int
    accounting: pl.DataFrame  # ACCOUNTING_SCHEMA: each document (Finances: each page) read
    # Rows repeating a natural key with different values (in quarantine, not in `facts`): the
    # key check is evaluated on `facts` plus these.
    key_conflicts: pl.DataFrame
    identical_rows_dropped: int  # copies of a row served again (module doc)


def _parse(
    source: str, document: StoredDocument, lake: Lake, account: str, ingested_at: datetime
) -> tuple[ParsedDocument, pl.DataFrame | None]:
    bronze = document.read(lake)
    document_id = _document_id(document)
    if bronze.status != "DONE":  # CANCELLED: Amazon had no data for the window
        empty = ParsedDocument(
            pl.DataFrame(schema=SPECS[source].schema), pl.DataFrame(schema=QUARANTINE_SCHEMA), 0
        )
        return empty, None
    charset = bronze.metadata.get("charset")
    if source == FINANCIAL_EVENTS.name:
        parsed = financial_events.parse_financial_events(
            bronze.body, account=account, report_id=document_id, ingested_at=ingested_at
        )
        return parsed, None
    if source == SETTLEMENTS.name:
        settlement = settlements.parse_settlement(
            bronze.body,
            account=account,
            report_id=document_id,
            charset=charset,
            fallback_date=document.data_start,
            ingested_at=ingested_at,
        )
        parsed = ParsedDocument(settlement.lines, settlement.quarantine, settlement.document_rows)
        return parsed, settlement.summary
    spec = fee_preview(document.data_end) if source == FEE_PREVIEW.name else _FLAT[source]
    parsed = spec.parse(
        bronze.body,
        account=account,
        report_id=document_id,
        charset=charset,
        fallback_date=document.data_start,
        ingested_at=ingested_at,
    )
    return parsed, None


_FLAT: dict[str, FlatFile] = {
    spec.source: spec for spec in (ORDERS, INVENTORY_LEDGER, REIMBURSEMENTS, CUSTOMER_RETURNS)
}


def _snapshot_day(document: StoredDocument) -> tuple[date, date]:
    """The day a fee preview covers: its rows are dated with the snapshot day, the window's last."""
    return document.data_end, document.data_end


def _settlement_documents(
    documents: list[StoredDocument], first: date, last: date
) -> dict[StoredDocument, list[date]]:
    newest: dict[str | None, StoredDocument] = {}
    for doc in documents:  # oldest first: a later copy of a settlement replaces an earlier one
        newest[doc.report_id] = doc
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return {
        doc: [d for d in days if doc.data_start <= d <= doc.data_end + timedelta(days=1)]
        for doc in newest.values()
    }


def _keep(frame: pl.DataFrame, days: list[date], fallback: date | None = None) -> pl.DataFrame:
    column = pl.col("report_date")
    if fallback is not None and days:
        # Rows that could not be dated carry the document's first day: file them on its first day here.
        frame = frame.with_columns(
            pl.when(column.is_in(days) | (column != fallback))
            .then(column)
            .otherwise(pl.lit(min(days)))
            .alias("report_date")
        )
    return frame.filter(column.is_in(days))


def load_silver(
    lake: Lake, source: str, account: str, first: date, last: date, ingested_at: datetime
) -> SilverBatch:
    """The rows of [first, last] for one account and source, from the lake's documents."""
    spec = SPECS[source]
    if spec is SETTLEMENTS:  # every stored settlement: Amazon chooses their periods
        chosen = _settlement_documents(account_documents(spec, lake, account), first, last)
    else:
        coverage = _snapshot_day if spec is FEE_PREVIEW else data_window
        chosen = newest_covering(spec, lake, account, first, last, coverage)
    facts, quarantine, summaries, accounting = [], [], [], []
    document_rows = 0
    for document, days in sorted(chosen.items(), key=lambda item: item[0].fetched_at):
        if not days:
            continue
        parsed, summary = _parse(source, document, lake, account, ingested_at)
        accounting.append(_accounting(source, document, parsed, summary))
        facts.append(_keep(parsed.facts, days))
        quarantine.append(
            _keep(parsed.quarantine, days, fallback=document.data_start).with_columns(
                account=pl.lit(account)
            )
        )
        if summary is not None:
            summaries.append(_keep(summary, days))
        document_rows += parsed.document_rows
    # Documents were read oldest first: an identical copy kept is the newest one.
    repeats = separate_repeated_keys(
        pl.concat(facts) if facts else pl.DataFrame(schema=spec.schema), spec.natural_key, LINEAGE
    )
    quarantine.append(
        conflicting_key_quarantine(
            repeats.conflicting, spec.natural_key, source, ingested_at
        ).with_columns(account=pl.lit(account))
    )
    summary_frame = None
    if spec is SETTLEMENTS:
        summary_frame = (
            pl.concat(summaries)
            if summaries
            else pl.DataFrame(schema=settlements.SETTLEMENT_SUMMARIES_SCHEMA)
        ).unique(subset=list(settlements.SUMMARY_KEY), keep="last", maintain_order=True)
    quarantine_frame = pl.concat(
        [frame.cast(dict(ACCOUNT_QUARANTINE_SCHEMA)) for frame in quarantine]
    )
    return SilverBatch(
        repeats.kept,
        quarantine_frame,
        summary_frame,
        document_rows,
        len(chosen),
        pl.concat(accounting) if accounting else pl.DataFrame(schema=ACCOUNTING_SCHEMA),
        repeats.conflicting,
        repeats.identical_dropped,
    )


def _document_id(document: StoredDocument) -> str:
    """The report id, or for a Finances window the folder name the lake gave it."""
    return document.report_id or document.sidecar_key.split("/")[-2].removeprefix("report_id=")


def _accounting(
    source: str, document: StoredDocument, parsed: ParsedDocument, summary: pl.DataFrame | None
) -> pl.DataFrame:
    """How the document's rows (Finances: each page's events) are accounted for, counted before
    the days of the run are picked out of it."""
    document_id = _document_id(document)
    if source == FINANCIAL_EVENTS.name:
        return financial_events.page_accounting(document_id, parsed)
    loaded = parsed.facts.height + (summary.height if summary is not None else 0)
    return document_accounting(document_id, parsed.document_rows, loaded, parsed.quarantine)
