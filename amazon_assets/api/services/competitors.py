"""Competitors: an own ASIN's 3 to 5 tracked competitors and the daily gaps to them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from amazon_assets.api.mart import MartReader, in_list
from amazon_assets.api.services.common import (
    COMPARISON,
    MART,
    TRACKED,
    Scope,
    day_range,
    latest_values,
    present,
    quoted,
    resolve_account,
    rows_or_empty,
)
from amazon_assets.api.services.products import STATE_LOOKBACK_DAYS

SIGNALS = (
    "price",
    "buy_box_price",
    "has_buy_box",
    "offer_count",
    "bsr",
    "category",
    "rating",
    "review_count",
    "in_stock",
)


def competitors_of(
    reader: MartReader, owners: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[str]]:
    """The tracked competitors of each (account, own ASIN), in one query."""
    if not owners:
        return {}
    params: dict[str, Any] = {}
    accounts = in_list("account", sorted({account for account, _ in owners}), params)
    asins = in_list("owner", sorted({asin for _, asin in owners}), params)
    rows = rows_or_empty(
        reader,
        f"SELECT DISTINCT account, competitor_of, asin FROM {TRACKED}"
        f" WHERE account IN {accounts} AND competitor_of IN {asins}"
        " ORDER BY account, competitor_of, asin",
        params,
    )
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        found[(row["account"], row["competitor_of"])].append(row["asin"])
    return {owner: found.get(owner, []) for owner in owners}


def _competitor_asins(reader: MartReader, account: str, asin: str) -> list[str]:
    return competitors_of(reader, [(account, asin)])[(account, asin)]


def product_competitors(
    reader: MartReader, scope: Scope, asin: str, account: str | None = None
) -> dict[str, Any]:
    """The own ASIN and each competitor: newest price, buy box, BSR, rating, reviews, stock
    (each with its day), and the newest row of daily gaps."""
    account, last_day = resolve_account(reader, scope, asin, account)
    competitors = _competitor_asins(reader, account, asin)
    params: dict[str, Any] = {
        "account": account,
        "since": last_day - timedelta(days=STATE_LOOKBACK_DAYS - 1),
    }
    fields = present(reader, MART, SIGNALS)
    rows = reader.rows(
        f"SELECT {quoted(['asin', 'report_date', *fields])} FROM {MART} WHERE account = %(account)s"
        f" AND asin IN {in_list('asin', [asin, *competitors], params)}"
        " AND report_date >= %(since)s ORDER BY asin, report_date DESC",
        params,
    )
    by_asin: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_asin[row["asin"]].append(row)

    def state(code: str) -> dict[str, Any]:
        values, observed = latest_values(by_asin.get(code, []), fields)
        return {"asin": code, **values, "observed_on": observed}

    gaps = rows_or_empty(
        reader,
        f"SELECT * FROM {COMPARISON} WHERE account = %(account)s AND asin = %(asin)s"
        " ORDER BY report_date DESC LIMIT 1",
        {"account": account, "asin": asin},
    )
    return {
        "data": {
            "account": account,
            "own": state(asin),
            "competitors": [state(code) for code in competitors],
            "latest_gaps": _without_keys(gaps[0]) if gaps else None,
        },
        "meta": {"as_of": last_day, "settled_through": min(last_day, scope.settled_through)},
    }


def _without_keys(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name not in ("account", "asin")}


def competition_gaps(
    reader: MartReader,
    scope: Scope,
    asin: str,
    first: date | None = None,
    last: date | None = None,
    account: str | None = None,
) -> dict[str, Any]:
    """The daily gaps of an own ASIN to its competitors (features.competitor_comparison_daily):
    price, BSR, rating and reviews against the competitors' medians, estimated sales share."""
    first, last = day_range(scope, first, last)
    account, _ = resolve_account(reader, scope, asin, account)
    gaps = rows_or_empty(
        reader,
        f"SELECT * FROM {COMPARISON} WHERE account = %(account)s AND asin = %(asin)s"
        " AND report_date BETWEEN %(first)s AND %(last)s ORDER BY report_date",
        {"account": account, "asin": asin, "first": first, "last": last},
    )
    as_of = gaps[-1]["report_date"] if gaps else None
    return {
        "data": {
            "account": account,
            "asin": asin,
            "competitors": _competitor_asins(reader, account, asin),
            "from": first,
            "to": last,
            "series": [_without_keys(row) for row in gaps],
        },
        "meta": {
            "as_of": as_of,
            "settled_through": scope.settled_through
            if as_of is None
            else min(as_of, scope.settled_through),
        },
    }
