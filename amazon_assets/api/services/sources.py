"""Every per-account source of the graph, as the accounts API names them, and which days of each
a refresh or backfill covers.

A source is what one chooses to sync: a seller-history source (orders, ... financial_events),
`business_reports` (sales and traffic, from Data Kiosk too where the app has it),
`product_signals` (catalog, prices, reviews of the tracked ASINs) and `ads` (the Sponsored
Products daily reports, where the account has the Ads API). Each has the (account, day) assets a
job materializes and the ones its progress counts (its bronze documents and silver facts).

What each gets (`refresh_scope`, `backfill_scope`; the onboarding sensor's backfill follows the
same rules):
- refresh: each source's own lookback, ending with the newest day;
- backfill: the chosen days, except that product signals have the newest day only (Amazon's
  catalog and prices describe the present), ads the days the Ads API still serves (95), and
  business reports without Data Kiosk the 7-day settling window unless the backfill says to
  spend the app's 96 GET_SALES_AND_TRAFFIC_REPORT requests a day on history (`spend_budget`):
  chosen by name without it, such a backfill is refused with one sentence saying what it costs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from amazon_assets.asset_keys import silver_key
from amazon_assets.defs.advertising.assets import oldest_requestable_day
from amazon_assets.defs.advertising.spec import ADS_REPORTS, REPORTS_QUARANTINE_TABLE
from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS, DAY_STATUS_TABLE
from amazon_assets.defs.product_signals.spec import PRODUCT_SIGNALS
from amazon_assets.defs.seller_history import source_asset_keys
from amazon_assets.defs.seller_history.assets import SOURCE_NAMES
from amazon_assets.defs.seller_history.schedules import REFRESH_DAYS
from amazon_assets.defs.seller_history.spec import SPECS
from amazon_assets.settings import Settings
from amazon_assets.sources.planner import FINANCES
from amazon_assets.sources.retry import refresh_token_variable
from amazon_assets.sources.sales_and_traffic_budget import (
    DAILY_REQUESTS,
    REPORT_TYPE,
    SETTLING_DAYS,
)
from amazon_assets.sources.vault import ACTIVE, ADS_API, CredentialVault

ADS = "ads"


class SourceRefused(Exception):
    """The chosen sources and days cannot be synced as asked; the message is one sentence."""


@dataclass(frozen=True)
class AccountSource:
    name: str
    report_types: tuple[str, ...]  # what is asked of Amazon (as the report ledger names it)
    keys: tuple[dg.AssetKey, ...]  # the (account, day) assets a job materializes
    progress_keys: tuple[dg.AssetKey, ...]  # bronze documents and silver facts: the work counted

    @property
    def report_type(self) -> str:
        return ", ".join(self.report_types)


def _seller_history(source: str) -> AccountSource:
    spec = SPECS[source]
    report_type = (
        f"{spec.report_type} (Finances API)" if spec.serving == FINANCES else spec.report_type
    )
    return AccountSource(
        source,
        (report_type,),
        tuple(source_asset_keys(source)),
        (spec.bronze_key, spec.silver_key),
    )


SOURCES: dict[str, AccountSource] = {
    **{source: _seller_history(source) for source in SOURCE_NAMES},
    BUSINESS_REPORTS.name: AccountSource(
        BUSINESS_REPORTS.name,
        (BUSINESS_REPORTS.report_type,),
        (
            BUSINESS_REPORTS.bronze_key,
            BUSINESS_REPORTS.silver_key,
            BUSINESS_REPORTS.quarantine_key,
            silver_key(DAY_STATUS_TABLE),
        ),
        (BUSINESS_REPORTS.bronze_key, BUSINESS_REPORTS.silver_key),
    ),
    PRODUCT_SIGNALS.name: AccountSource(
        PRODUCT_SIGNALS.name,
        (PRODUCT_SIGNALS.report_type,),
        (PRODUCT_SIGNALS.bronze_key, PRODUCT_SIGNALS.silver_key, PRODUCT_SIGNALS.quarantine_key),
        (PRODUCT_SIGNALS.bronze_key, PRODUCT_SIGNALS.silver_key),
    ),
    ADS: AccountSource(
        ADS,
        tuple(spec.report_type for spec in ADS_REPORTS.values()),
        (
            *(spec.bronze_key for spec in ADS_REPORTS.values()),
            *(spec.silver_key for spec in ADS_REPORTS.values()),
            silver_key(REPORTS_QUARANTINE_TABLE),
        ),
        (
            *(spec.bronze_key for spec in ADS_REPORTS.values()),
            *(spec.silver_key for spec in ADS_REPORTS.values()),
        ),
    ),
}


def has_ads(settings: Settings, vault: CredentialVault, account: str) -> bool:
    """Whether `account` has the Ads API: the sandbox's, an active consent in the vault or its
    refresh token in the environment (`ADS_API_REFRESH_TOKEN[_<ACCOUNT>]`)."""
    if settings.ads_api.is_sandbox or os.environ.get(refresh_token_variable(ADS_API, account)):
        return True
    return any(e.api == ADS_API and e.status == ACTIVE for e in vault.entries(account))


def account_sources(with_ads: bool) -> list[str]:
    """Every source of an account, in order; ads where the account has the Ads API."""
    return [name for name in SOURCES if with_ads or name != ADS]


def check_sources(sources: Sequence[str] | None, with_ads: bool, account: str) -> list[str]:
    """The chosen sources (default: every source of the account), refused in one sentence when
    one is unknown or is ads without the Ads API."""
    chosen = list(sources or account_sources(with_ads))
    unknown = [s for s in chosen if s not in SOURCES]
    if unknown:
        raise SourceRefused(f"unknown source {unknown[0]!r}; sources are {', '.join(SOURCES)}.")
    if ADS in chosen and not with_ads:
        raise SourceRefused(
            f"account {account!r} has no Ads API authorization; connect it at "
            f"/v1/amazon/authorize?account={account}&api=ads."
        )
    return chosen


def refresh_days(settings: Settings, source: str) -> int:
    """How many of the newest days a refresh of `source` fetches again."""
    if source == BUSINESS_REPORTS.name:
        return BUSINESS_REPORTS.lookback_days
    if source == PRODUCT_SIGNALS.name:
        return PRODUCT_SIGNALS.lookback_days
    if source == ADS:
        return settings.ads_lookback_days
    return REFRESH_DAYS


def refresh_scope(
    settings: Settings, sources: Sequence[str], days: Sequence[date]
) -> dict[str, list[date]]:
    """A refresh: each source's lookback, the newest of the partition days `days`."""
    return {source: list(days[-refresh_days(settings, source) :]) for source in sources}


def backfill_scope(
    settings: Settings,
    sources: Sequence[str],
    days: Sequence[date],
    *,
    chosen: bool,
    newest: date,
    today: date,
    spend_budget: bool = False,
) -> dict[str, list[date]]:
    """A backfill of `days`: each source's share of them (sources left without a day are left
    out). `chosen`: the sources were named, so one that can have none of the days, or business
    reports' history without `spend_budget`, is refused with one sentence instead."""
    scope = {
        source: _backfill_days(settings, source, days, chosen, newest, today, spend_budget)
        for source in sources
    }
    return {source: found for source, found in scope.items() if found}


def _backfill_days(
    settings: Settings,
    source: str,
    days: Sequence[date],
    chosen: bool,
    newest: date,
    today: date,
    spend_budget: bool,
) -> list[date]:
    if source == PRODUCT_SIGNALS.name:
        found = [d for d in days if d == newest]
        if chosen and not found:
            raise SourceRefused(
                f"product signals describe the present only: a backfill of them covers {newest}, "
                f"not {days[0]}..{days[-1]}."
            )
        return found
    if source == ADS:
        oldest = oldest_requestable_day(today)
        found = [d for d in days if d >= oldest]
        if chosen and not found:
            raise SourceRefused(
                f"the Ads API serves the days since {oldest} only; {days[0]}..{days[-1]} has "
                "none of them (the lake keeps what was fetched earlier)."
            )
        return found
    if source == BUSINESS_REPORTS.name and not settings.data_kiosk and not spend_budget:
        window = newest - timedelta(days=SETTLING_DAYS - 1)
        history = [d for d in days if d < window]
        if chosen and history:
            raise SourceRefused(budget_question(len(history), days[0], history[-1]))
        return [d for d in days if d >= window]
    return list(days)


def budget_question(history_days: int, first: date, last: date) -> str:
    """Why a sales-and-traffic history without Data Kiosk is a decision, in one sentence."""
    share = history_days / DAILY_REQUESTS
    return (
        f"business reports of {first}..{last} are history beyond the {SETTLING_DAYS}-day "
        f"settling window: without Data Kiosk that is {history_days} of the app's "
        f"{DAILY_REQUESTS} {REPORT_TYPE} requests a day ({_days(share)} of the whole app's "
        'budget, every other account\'s history waiting), so send "spend_budget": true to '
        "spend them, or set AMAZON_ASSETS_DATA_KIOSK=1 where the app has the Brand Analytics "
        "role."
    )


def _days(share: float) -> str:
    return f"{share:.1f} days" if share >= 1 else f"{math.ceil(share * 100)} % of a day"


def scope_range(scope: Mapping[str, Sequence[date]]) -> tuple[date, date]:
    """The first and last day of a job's scope, over every source."""
    return min(d for days in scope.values() for d in days), max(
        d for days in scope.values() for d in days
    )
