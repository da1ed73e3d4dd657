"""Alerts: price, BSR, buy box, stock and rating events of the caller's ASINs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from amazon_assets.api.mart import MartReader, in_list
from amazon_assets.api.services.common import ALERTS, Invalid, Scope, rows_or_empty

DEFAULT_SINCE_DAYS = 7
MAX_ALERTS = 1000


def list_alerts(
    reader: MartReader,
    scope: Scope,
    since: date | None = None,
    kinds: Sequence[str] | None = None,
    asin: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Alerts on or after `since` (default: the last 7 days), newest first; `truncated` says
    whether more than `limit` matched."""
    if not 1 <= limit <= MAX_ALERTS:
        raise Invalid(f"limit is 1 to {MAX_ALERTS}; got {limit}.")
    since = since or scope.today - timedelta(days=DEFAULT_SINCE_DAYS)
    params: dict[str, Any] = {"since": since}
    where = f"report_date >= %(since)s{scope.accounts_sql(params)}"
    if kinds:
        where += f" AND kind IN {in_list('kind', sorted(set(kinds)), params)}"
    if asin:
        params["asin"] = asin
        where += " AND asin = %(asin)s"
    rows = rows_or_empty(
        reader,
        f"SELECT * FROM {ALERTS} WHERE {where}"
        f" ORDER BY report_date DESC, account, asin, kind LIMIT {limit + 1}",
        params,
    )
    return {
        "data": rows[:limit],
        "truncated": len(rows) > limit,
        "meta": {
            "since": since,
            "as_of": rows[0]["report_date"] if rows else None,
            "settled_through": scope.settled_through,
        },
    }
