"""A small sandbox-derived mart shared by the ml tests (built once per session, in memory)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from amazon_assets.sandbox.config import SandboxConfig
from amazon_assets.sandbox.marketplace import Marketplace
from amazon_assets.sandbox.truth_mart import truth_mart

TODAY = date(2025, 1, 1)
SKUS = 220
DAYS = 150


@pytest.fixture(scope="session")
def marketplace() -> Marketplace:
    return Marketplace(SandboxConfig(seed=11, skus_per_account=SKUS, today=TODAY))


@pytest.fixture(scope="session")
def small_mart(marketplace: Marketplace) -> pl.DataFrame:
    """mart_asin_daily for ~200 ASINs over the last 150 days of the sandbox calendar."""
    account = marketplace.accounts[0]
    last = marketplace.last_day(account)
    return truth_mart(marketplace, account, last - timedelta(days=DAYS - 1), last)
