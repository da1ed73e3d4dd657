"""The tags of every per-account job, whoever launched it: the accounts API's refresh and
backfill, the onboarding sensor's backfill of a new account and the sales_and_traffic_history
sensor's backfill of an account's history. The UI's backfill page,
`/v1/jobs` and an account's progress read them the same way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

ACCOUNT_TAG = "amazon_assets/account"
OPERATION_TAG = "amazon_assets/operation"  # refresh | backfill | onboarding | history
DAYS_TAG = "amazon_assets/days"  # first..last, over every source of the job
SOURCES_TAG = "amazon_assets/sources"  # the sources it covers, comma-separated
ONBOARDING = "onboarding"
HISTORY = (
    "history"  # sales and traffic the day's budget leaves room for (sales_and_traffic_history)
)


def job_tags(
    account: str, operation: str, sources: Sequence[str], first: date | str, last: date | str
) -> dict[str, str]:
    """The tags of `account`'s job: what it does, to which sources, over which days."""
    return {
        ACCOUNT_TAG: account,
        OPERATION_TAG: operation,
        DAYS_TAG: f"{first}..{last}",
        SOURCES_TAG: ",".join(sources),
    }
