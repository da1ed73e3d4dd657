"""Seller-history silver's key check can fail: a settlement Amazon serves again unchanged loads
once, one served again with a different amount fails the blocking check and is quarantined."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from amazon_assets.defs.seller_history.checks import evaluate_seller_checks
from amazon_assets.defs.seller_history.silver import SilverBatch, load_silver
from amazon_assets.defs.seller_history.spec import SETTLEMENTS
from amazon_assets.quality import KEYS_CHECK
from amazon_assets.resources.lake import BronzeDocument, LocalLake, write_document

ACCOUNT = "acme"
START, END = date(2026, 1, 1), date(2026, 1, 14)
NOW = datetime(2026, 2, 1, tzinfo=UTC)
HEADER = (
    "settlement-id\tsettlement-start-date\tsettlement-end-date\tdeposit-date\ttotal-amount\t"
    "currency\ttransaction-type\torder-id\tamount-type\tamount-description\tamount\tposted-date"
)


def settlement(principal: str) -> bytes:
    """A two-line settlement whose order line holds `principal`."""
    total = f"{float(principal) - 6:.2f}"
    return "\n".join(
        (
            HEADER,
            f"111\t2026-01-01 00:00:00 UTC\t2026-01-15 00:00:00 UTC\t2026-01-17 00:00:00 UTC\t"
            f"{total}\tUSD\t\t\t\t\t\t",
            f"111\t\t\t\t\t\tOrder\t111-1\tItemPrice\tPrincipal\t{principal}\t01/05/26",
            "111\t\t\t\t\t\tOrder\t111-1\tItemFees\tCommission\t-6.00\t01/05/26",
        )
    ).encode()


def store(lake: LocalLake, report_id: str, body: bytes, fetched_at: datetime) -> None:
    document = BronzeDocument(
        source=SETTLEMENTS.name,
        day=START,
        report_id=report_id,
        status="DONE",
        body=body,
        content_type="text/tab-separated-values",
        fetched_at=fetched_at,
        metadata={
            "report_type": SETTLEMENTS.report_type,
            "data_start": START.isoformat(),
            "data_end": END.isoformat(),
            "account": ACCOUNT,
        },
    )
    write_document(lake, SETTLEMENTS.lake_prefix(ACCOUNT), document, SETTLEMENTS.file_name(False))


def load(lake: LocalLake) -> tuple[SilverBatch, dg.AssetCheckResult]:
    batch = load_silver(lake, SETTLEMENTS.name, ACCOUNT, START, END + timedelta(days=1), NOW)
    [keys] = [
        result
        for result in evaluate_seller_checks(
            SETTLEMENTS.name,
            batch.facts,
            batch.quarantine,
            batch.summaries,
            batch.accounting,
            batch.key_conflicts,
        )
        if result.check_name == KEYS_CHECK
    ]
    return batch, keys


def test_a_settlement_served_again_unchanged_loads_once(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    store(lake, "1", settlement("39.98"), NOW - timedelta(days=2))
    store(lake, "2", settlement("39.98"), NOW - timedelta(days=1))
    batch, keys = load(lake)
    assert keys.passed
    assert batch.facts.height == 2 and batch.identical_rows_dropped == 2
    assert set(batch.facts["report_id"]) == {"2"}  # the newest copy
    assert batch.quarantine.height == 0


def test_a_key_repeated_with_different_values_fails_the_check_and_is_quarantined(
    tmp_path: Path,
) -> None:
    lake = LocalLake(tmp_path)
    store(lake, "1", settlement("39.98"), NOW - timedelta(days=2))
    store(lake, "2", settlement("41.98"), NOW - timedelta(days=1))
    batch, keys = load(lake)
    assert not keys.passed
    assert keys.metadata["duplicate_keys"].value == 1
    # The commission line is the same in both: loaded once. The principal lines differ: which
    # is right is unknown, so neither is in silver; both are in quarantine with the reason.
    assert batch.facts["amount_description"].to_list() == ["Commission"]
    assert batch.identical_rows_dropped == 1
    assert batch.key_conflicts.height == 2
    refused = batch.quarantine.filter(~pl.col("row_loaded"))
    assert sorted(refused["document_id"]) == ["1", "2"]
    assert set(refused["account"]) == {ACCOUNT}
    [reason] = set(refused["reason"])
    assert "settlement_id=111" in reason and "is in 2 rows with different values" in reason
