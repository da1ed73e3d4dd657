"""An EU account selling on Amazon.de, .fr and .it, documents in ISO-8859-1: its seller history
loads exactly (requested for its marketplaces; decimal commas, DD.MM.YYYY dates, quoted ledger)."""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from amazon_assets.defs.seller_history.assets import FETCH, MODE_TAG
from amazon_assets.defs.seller_history.spec import SETTLEMENTS
from amazon_assets.partitions import ACCOUNTS
from amazon_assets.settings import Settings
from amazon_assets_tests.defs.test_seller_history import (
    query,
    run,
    seller_definitions,
    silver_totals,
    truth_totals,
)

EU_MARKETPLACES = ("A1PA6795UKMFR9", "A13V1IB3VIYZZH", "APJ6JRA9NG5V4")  # .de, .fr, .it
YESTERDAY = date.today() - timedelta(days=1)


@pytest.fixture
def eu_sandbox(sandbox_factory):
    return sandbox_factory(
        accounts=("default", "eu"),
        skus_per_account=8,
        speed=600.0,
        quotas=False,  # quotas are tested elsewhere; this test is about the documents
        encodings=(("eu", "latin-1"),),
        account_marketplaces=(("eu", EU_MARKETPLACES),),
    )


def test_an_eu_accounts_history_loads_exactly(
    amazon_home: Path, eu_sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SP_API_ENDPOINT", eu_sandbox.url)
    monkeypatch.setenv("SP_API_LWA_TOKEN_URL", eu_sandbox.token_url)
    monkeypatch.setenv("AMAZON_ASSETS_SANDBOX_SPEED", str(eu_sandbox.config.speed))
    monkeypatch.setenv("SP_API_MARKETPLACE_IDS_EU", ",".join(EU_MARKETPLACES))
    # Dagster's in-memory instance and one planned event per asset, as in the 18-month test:
    # what this test proves lives in the sandbox, the lake and the warehouse.
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    settings = Settings.from_env()
    assert settings.market("eu").region == "eu-west-1"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ACCOUNTS.name, ["eu"])
    first = YESTERDAY - timedelta(days=20)
    started = time.monotonic()
    result = run(
        seller_definitions(settings), "eu", first, YESTERDAY, instance=instance,
        **{MODE_TAG: FETCH},
    )  # fmt: skip
    print(f"EU run: {time.monotonic() - started:.1f} s")
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []

    # Every report was requested for the account's three marketplaces at once.
    requested = {
        report.request.marketplace_ids
        for report in eu_sandbox.app.store.list("eu")
        if report.request.report_type != SETTLEMENTS.report_type
    }
    assert requested == {EU_MARKETPLACES}

    truth = eu_sandbox.seller_history
    span = [first + timedelta(days=i) for i in range((YESTERDAY - first).days + 1)]
    assert silver_totals(settings, "fact_orders", "item_price", "eu") == truth_totals(
        [truth.orders("eu", d) for d in span], "item_price"
    )
    channels = dict(
        query(
            settings,
            "select sales_channel, count(distinct currency) from amazon_econ.fact_orders "
            "where account = 'eu' group by 1",
        )
    )
    assert channels == {"Amazon.de": 1, "Amazon.fr": 1, "Amazon.it": 1}
    assert silver_totals(settings, "fact_inventory_ledger", "quantity", "eu") == truth_totals(
        [truth.ledger("eu", d) for d in span], "quantity"
    )
    [(titles,)] = query(
        settings,
        "select count(*) from amazon_econ.fact_inventory_ledger "
        "where account = 'eu' and regexp_matches(title, '[^\\x00-\\x7F]')",
    )
    assert titles > 0  # Latin-1 titles (Küchenfreund, Crème ...) read right
    parts = "amount_role = 'part'"
    assert silver_totals(settings, "fact_financial_events", "amount", "eu", parts) == truth_totals(
        [truth.financial_events("eu", d) for d in span], "amount"
    )
    [(currencies,)] = query(
        settings,
        "select string_agg(distinct currency, ',') from amazon_econ.fact_financial_events "
        "where account = 'eu'",
    )
    assert currencies == "EUR"
    # Settlements: decimal commas and DD.MM.YYYY dates; each summary equals its lines in truth.
    summaries = query(
        settings,
        "select settlement_id, total_amount, currency from amazon_econ.fact_settlement_summaries "
        "where account = 'eu'",
    )
    assert summaries
    periods = {sid: (start, end) for sid, start, end in truth.settlement_periods("eu")}
    for settlement_id, total, currency in summaries:
        rows = truth.settlement_rows("eu", *periods[settlement_id])
        assert Decimal(total) == Decimal(str(rows["amount"].sum())) and currency == "EUR"
    quarantined = pl.DataFrame(
        query(settings, "select count(*) from amazon_econ.quarantine_settlements")
    )
    assert quarantined.item() == 0
