"""The daily seller-history refresh: one run per account over the longest source lookback."""

from __future__ import annotations

import dagster as dg

from amazon_assets.defs.seller_history.assets import MODE_TAG, REFRESH
from amazon_assets.defs.seller_history.spec import SPECS
from amazon_assets.schedules import build_daily_refresh_schedule

SELLER_HISTORY_JOB = "seller_history_job"
# The run spans the longest lookback so each source's silver re-derives every day it re-fetched.
REFRESH_DAYS = max(spec.lookback_days for spec in SPECS.values())


def build_seller_history_schedule(
    job: dg.UnresolvedAssetJobDefinition, daily: dg.TimeWindowPartitionsDefinition
) -> dg.ScheduleDefinition:
    """Every morning (UTC), per account: each source re-fetches its own lookback."""
    return build_daily_refresh_schedule(
        job,
        name="seller_history_daily",
        cron_schedule="30 7 * * *",
        days=REFRESH_DAYS,
        first_partition=daily.start.date(),
        per_account=True,
        tags={MODE_TAG: REFRESH},
    )
