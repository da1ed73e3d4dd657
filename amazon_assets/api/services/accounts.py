"""Accounts: each of the caller's seller accounts, its daily sales and ad spend, TACoS, and how
fresh each source's data is (the dashboard's overview, and GraphQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from amazon_assets.analytics.mart import SOURCE_COLUMNS
from amazon_assets.api.mart import MartReader
from amazon_assets.api.services.common import MART, Scope, day_range, present, rows_or_empty

DEFAULT_TREND_DAYS = 60
_TREND_SUMS = ("ordered_product_sales", "units_ordered", "ad_spend", "ad_sales")


def tacos(ad_spend: Decimal | None, sales: Decimal | None) -> float | None:
    """Total advertising cost of sales: ad spend over all sales (None without sales)."""
    if ad_spend is None or not sales:
        return None
    return float(ad_spend) / float(sales)


def _freshness_sql(reader: MartReader) -> str:
    """`max(report_date) FILTER (...) AS <source>` for every source whose columns the mart has."""
    selects = []
    for source, columns in SOURCE_COLUMNS.items():
        available = present(reader, MART, columns)
        if available:
            condition = " OR ".join(f'"{column}" IS NOT NULL' for column in available)
            selects.append(f'max(report_date) FILTER (WHERE {condition}) AS "{source}"')
    return ", ".join(selects)


def account_overview(
    reader: MartReader,
    scope: Scope,
    first: date | None = None,
    last: date | None = None,
) -> dict[str, Any]:
    """Per account: ASINs, the daily trend of sales, units, ad spend and TACoS over [first,
    last] (default: the 60 days ending yesterday), and each source's newest day with data."""
    first, last = day_range(scope, first, last, default_days=DEFAULT_TREND_DAYS)
    params: dict[str, Any] = {"first": first, "last": last}
    scoped = scope.accounts_sql(params)
    sums = present(reader, MART, _TREND_SUMS)
    currency = present(reader, MART, ["currency_code"])
    group = ["account", "report_date", *currency]
    trend = rows_or_empty(
        reader,
        f"SELECT {', '.join(group)}, count(DISTINCT asin) AS asins"
        + "".join(f', sum("{name}") AS "{name}"' for name in sums)
        + f" FROM {MART} WHERE report_date BETWEEN %(first)s AND %(last)s{scoped}"
        f" GROUP BY {', '.join(group)} ORDER BY account, report_date",
        params,
    )
    freshness = rows_or_empty(
        reader,
        f"SELECT account, count(DISTINCT asin) AS asins, max(report_date) AS last_day, "
        f"{_freshness_sql(reader)} FROM {MART} WHERE true{scoped} GROUP BY account ORDER BY account",
        params,
    )
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in trend:
        row["tacos"] = tacos(row.get("ad_spend"), row.get("ordered_product_sales"))
        by_account[row.pop("account")].append(row)
    accounts = []
    for row in freshness:
        name = row["account"]
        sources = {source: row.get(source) for source in SOURCE_COLUMNS if source in row}
        days = by_account.get(name, [])
        spend = sum((d.get("ad_spend") or Decimal(0) for d in days), Decimal(0))
        sales = sum((d.get("ordered_product_sales") or Decimal(0) for d in days), Decimal(0))
        accounts.append(
            {
                "account": name,
                "asins": row["asins"],
                "last_day": row["last_day"],
                "freshness": sources,
                "totals": {
                    "ordered_product_sales": sales,
                    "ad_spend": spend,
                    "tacos": tacos(spend, sales),
                },
                "trend": days,
            }
        )
    as_of = max((a["last_day"] for a in accounts if a["last_day"]), default=None)
    return {
        "data": {"from": first, "to": last, "accounts": accounts},
        "meta": {
            "as_of": as_of,
            "settled_through": scope.settled_through
            if as_of is None
            else min(as_of, scope.settled_through),
        },
    }
