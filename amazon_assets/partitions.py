"""Day partitions shared by every domain."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from amazon_assets.settings import Settings

HISTORY_MONTHS = 18


def history_start(today: date, months: int = HISTORY_MONTHS) -> date:
    """The first day of the month `months` before `today`: stable for a whole month."""
    month_index = today.year * 12 + (today.month - 1) - months
    return date(month_index // 12, month_index % 12 + 1, 1)


def daily_partitions(settings: Settings, today: date | None = None) -> dg.DailyPartitionsDefinition:
    """Report days from 18 months back (or AMAZON_ASSETS_START_DATE) through yesterday, UTC."""
    start = settings.start_date or history_start(today or date.today())
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=0)


def partition_days(first: date, last: date) -> list[str]:
    """Partition keys from `first` through `last` inclusive."""
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
