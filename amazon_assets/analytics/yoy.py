"""Year over year: which day of last year a day is compared with, and the paired series.

Two alignments, as sellers use them:
- `weekday`: 364 days back (52 weeks), the same weekday, so a Monday is compared with a Monday
  (weekly shopping patterns, and events like Black Friday that fall on a weekday, line up);
  2026-11-26 (a Thursday) -> 2025-11-27 (a Thursday); 2028-02-29 -> 2027-03-02.
- `date`: the same calendar date a year back; 29 February, which last year lacks, -> 28 February.

Only settled days are compared: Amazon restates recent days, so a provisional day would be
compared with a settled one. One module for the API, GraphQL and the dashboard, so each shows the
same pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

Alignment = Literal["weekday", "date"]
ALIGNMENTS: tuple[Alignment, ...] = ("weekday", "date")
WEEKDAY_OFFSET = timedelta(days=364)


def year_ago(day: date, align: Alignment) -> date:
    """The day of last year that `day` is compared with."""
    if align == "weekday":
        return day - WEEKDAY_OFFSET
    if align == "date":
        if day.month == 2 and day.day == 29:
            return date(day.year - 1, 2, 28)
        return day.replace(year=day.year - 1)
    raise ValueError(f"align must be one of {', '.join(ALIGNMENTS)}; got {align!r}.")


def settled_through(today: date, settle_days: int) -> date:
    """The last settled day: the mart rebuilds the `settle_days` days ending yesterday."""
    return today - timedelta(days=1 + settle_days)


def yoy_days(first: date, last: date, align: Alignment) -> list[tuple[date, date]]:
    """(day, year-ago day) for every day from `first` through `last`."""
    return [
        (day, year_ago(day, align))
        for day in (first + timedelta(days=i) for i in range((last - first).days + 1))
    ]


def _change(now: Any, before: Any) -> float | None:
    """Relative change now / before - 1; None when either is missing or before is zero."""
    if now is None or before is None or isinstance(now, bool) or isinstance(before, bool):
        return None
    if not isinstance(now, int | float | Decimal) or not isinstance(before, int | float | Decimal):
        return None
    if before == 0:
        return None
    return float(now) / float(before) - 1.0


def yoy_series(
    pairs: Sequence[tuple[date, date]],
    rows_by_day: Mapping[date, Mapping[str, Any]],
    fields: Sequence[str],
) -> list[dict[str, Any]]:
    """One entry per pair: the day, its year-ago day, and per field now, year ago and change."""
    series = []
    for day, before_day in pairs:
        now, before = rows_by_day.get(day, {}), rows_by_day.get(before_day, {})
        series.append(
            {
                "report_date": day,
                "year_ago_date": before_day,
                **{
                    field: {
                        "value": now.get(field),
                        "year_ago": before.get(field),
                        "change": _change(now.get(field), before.get(field)),
                    }
                    for field in fields
                },
            }
        )
    return series
