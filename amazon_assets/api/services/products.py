"""Products: current state, daily series (one ASIN or a batch) and year over year."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from amazon_assets.analytics.yoy import Alignment, yoy_days, yoy_series
from amazon_assets.api.mart import MartReader, in_list
from amazon_assets.api.services.common import (
    MART,
    PREDICTIONS,
    SCORES,
    Invalid,
    Scope,
    check_fields,
    day_range,
    latest_values,
    present,
    quoted,
    resolve_account,
    rows_or_empty,
)

# The current state: each signal's newest value within this many days of the ASIN's last day.
STATE_LOOKBACK_DAYS = 30
STATE_FIELDS = (
    "price",
    "buy_box_price",
    "has_buy_box",
    "buy_box_percentage",
    "offer_count",
    "bsr",
    "category",
    "rating",
    "review_count",
    "in_stock",
    "sessions",
    "page_views",
    "units_ordered",
    "ordered_product_sales",
    "conversion",
    "currency_code",
)
YOY_FIELDS = ("units_ordered", "ordered_product_sales", "sessions", "conversion", "price", "bsr")
MAX_BATCH = 100


def _visible_rank(
    reader: MartReader, scope: Scope, table: str, score_column: str, row: dict[str, Any]
) -> int | None:
    """The row's rank in its category that day among the ASINs of the caller's accounts only
    (the stored rank counts every account's ASINs, which a tenant must not learn about)."""
    if scope.sees_all_of(reader, table):
        return row.get("category_rank")
    if row.get(score_column) is None:
        return None
    params: dict[str, Any] = {
        "day": row["report_date"],
        "marketplace": row.get("marketplace_id"),
        "category": row.get("category"),
        "score": row[score_column],
    }
    ahead = reader.rows(
        f"SELECT count(*) AS ahead FROM {table} WHERE report_date = %(day)s"
        " AND marketplace_id IS NOT DISTINCT FROM %(marketplace)s"
        " AND category IS NOT DISTINCT FROM %(category)s"
        f" AND {score_column} > %(score)s{scope.accounts_sql(params)}",
        params,
    )
    return int(ahead[0]["ahead"]) + 1


def _newest(
    reader: MartReader, table: str, account: str, asin: str, columns: Sequence[str]
) -> dict[str, Any] | None:
    wanted = present(reader, table, ["report_date", *columns])
    if not wanted:
        return None  # not materialized yet
    rows = rows_or_empty(
        reader,
        f"SELECT {quoted(wanted)} FROM {table} WHERE account = %(account)s AND asin = %(asin)s"
        " ORDER BY report_date DESC LIMIT 1",
        {"account": account, "asin": asin},
    )
    return rows[0] if rows else None


def product_state(
    reader: MartReader, scope: Scope, asin: str, account: str | None = None
) -> dict[str, Any]:
    """Price, buy box, BSR and category, rating, reviews, stock, explosive score and rank, and
    the latest prediction of one ASIN, each signal with the day it was observed."""
    account, last_day = resolve_account(reader, scope, asin, account)
    fields = present(reader, MART, STATE_FIELDS)
    rows = reader.rows(
        f"SELECT {quoted(['report_date', 'marketplace_id', *fields])} FROM {MART}"
        " WHERE account = %(account)s AND asin = %(asin)s"
        " AND report_date >= %(since)s ORDER BY report_date DESC",
        {
            "account": account,
            "asin": asin,
            "since": last_day - timedelta(days=STATE_LOOKBACK_DAYS - 1),
        },
    )
    values, observed = latest_values(rows, fields)
    ranked = ["marketplace_id", "category", "category_rank"]
    score = _newest(reader, SCORES, account, asin, ["explosive_score", *ranked])
    prediction = _newest(reader, PREDICTIONS, account, asin, ["score", "model_version", *ranked])
    data = {
        "account": account,
        "asin": asin,
        "marketplace_id": rows[0].get("marketplace_id"),
        **values,
        "observed_on": observed,
        "explosive_score": None
        if score is None
        else {
            "report_date": score["report_date"],
            "score": score.get("explosive_score"),
            "category_rank": _visible_rank(reader, scope, SCORES, "explosive_score", score),
        },
        "prediction": None
        if prediction is None
        else {
            "report_date": prediction["report_date"],
            "score": prediction.get("score"),
            "category_rank": _visible_rank(reader, scope, PREDICTIONS, "score", prediction),
            "model_version": prediction.get("model_version"),
        },
    }
    return {"data": data, "meta": _meta(scope, last_day)}


def _meta(scope: Scope, as_of: date | None) -> dict[str, Any]:
    settled = scope.settled_through
    return {
        "as_of": as_of,
        "settled_through": settled if as_of is None else min(as_of, settled),
    }


def product_metrics(
    reader: MartReader,
    scope: Scope,
    asin: str,
    first: date | None = None,
    last: date | None = None,
    fields: Sequence[str] | None = None,
    account: str | None = None,
) -> dict[str, Any]:
    """The daily mart series of one ASIN over [first, last] (default: 90 days to yesterday)."""
    first, last = day_range(scope, first, last)
    columns = check_fields(reader, MART, fields)
    account, _ = resolve_account(reader, scope, asin, account)
    series = reader.rows(
        f"SELECT report_date, {quoted(columns)} FROM {MART} WHERE account = %(account)s"
        " AND asin = %(asin)s AND report_date BETWEEN %(first)s AND %(last)s"
        " ORDER BY report_date",
        {"account": account, "asin": asin, "first": first, "last": last},
    )
    as_of = series[-1]["report_date"] if series else None
    return {
        "data": {"account": account, "asin": asin, "from": first, "to": last, "series": series},
        "meta": _meta(scope, as_of),
    }


def _products_where(
    scope: Scope, asins: Sequence[str], account: str | None, params: dict[str, Any]
) -> str:
    where = f"asin IN {in_list('asin', list(asins), params)}{scope.accounts_sql(params)}"
    if account is not None:
        params["account"] = account
        where += " AND account = %(account)s"
    return where


def find_products(
    reader: MartReader, scope: Scope, asins: Sequence[str], account: str | None = None
) -> list[tuple[str, str]]:
    """(account, asin) of each of `asins` the caller's accounts (or `account`) hold, sorted;
    one query whatever their number."""
    if not asins or (account is not None and not scope.may_read(account)):
        return []
    params: dict[str, Any] = {}
    where = _products_where(scope, asins, account, params)
    rows = reader.rows(f"SELECT DISTINCT account, asin FROM {MART} WHERE {where}", params)
    return sorted((row["account"], row["asin"]) for row in rows)


def batch_metrics(
    reader: MartReader,
    scope: Scope,
    asins: Sequence[str],
    first: date | None = None,
    last: date | None = None,
    fields: Sequence[str] | None = None,
    account: str | None = None,
) -> dict[str, Any]:
    """The series of up to 100 ASINs in two queries; `not_found` lists the ASINs none of the
    caller's accounts (or `account`) has. An ASIN in several accounts has one entry per account."""
    wanted = list(dict.fromkeys(asins))
    if not 1 <= len(wanted) <= MAX_BATCH:
        raise Invalid(f"a batch names 1 to {MAX_BATCH} ASINs; got {len(wanted)}.")
    first, last = day_range(scope, first, last)
    columns = check_fields(reader, MART, fields)
    if account is not None and not scope.may_read(account):
        return {"data": [], "not_found": wanted, "meta": _meta(scope, None)}
    params: dict[str, Any] = {"first": first, "last": last}
    where = _products_where(scope, wanted, account, params)
    found = find_products(reader, scope, wanted, account)
    rows = reader.rows(
        f"SELECT account, asin, report_date, {quoted(columns)} FROM {MART} WHERE {where}"
        " AND report_date BETWEEN %(first)s AND %(last)s ORDER BY account, asin, report_date",
        params,
    )
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        key = (row.pop("account"), row.pop("asin"))
        series[key].append(row)
    seen = {asin for _, asin in found}
    as_of = max((row["report_date"] for row in rows), default=None)
    return {
        "data": [
            {"account": acc, "asin": asin, "from": first, "to": last, "series": series[(acc, asin)]}
            for acc, asin in found
        ],
        "not_found": [asin for asin in wanted if asin not in seen],
        "meta": _meta(scope, as_of),
    }


def product_yoy(
    reader: MartReader,
    scope: Scope,
    asin: str,
    first: date | None = None,
    last: date | None = None,
    align: Alignment = "weekday",
    fields: Sequence[str] | None = None,
    account: str | None = None,
) -> dict[str, Any]:
    """Each settled day of [first, last] next to its day a year back (analytics/yoy.py); days
    after the last settled one are left out and counted in meta."""
    settled = scope.settled_through
    last = last or settled
    first, last = day_range(scope, first, last, default_days=28)
    columns = check_fields(reader, MART, fields, default=YOY_FIELDS)
    account, _ = resolve_account(reader, scope, asin, account)
    compared_last = min(last, settled)
    pairs = yoy_days(first, compared_last, align) if first <= compared_last else []
    rows_by_day: dict[date, dict[str, Any]] = {}
    if pairs:
        rows = reader.rows(
            f"SELECT report_date, {quoted(columns)} FROM {MART} WHERE account = %(account)s"
            " AND asin = %(asin)s AND ((report_date BETWEEN %(first)s AND %(last)s)"
            " OR (report_date BETWEEN %(past_first)s AND %(past_last)s))",
            {
                "account": account,
                "asin": asin,
                "first": first,
                "last": compared_last,
                "past_first": min(past for _, past in pairs),
                "past_last": max(past for _, past in pairs),
            },
        )
        rows_by_day = {row["report_date"]: row for row in rows}
    provisional = max(0, (last - max(first, settled + timedelta(days=1))).days + 1)
    return {
        "data": {
            "account": account,
            "asin": asin,
            "align": align,
            "from": first,
            "to": last,
            "series": yoy_series(pairs, rows_by_day, columns),
        },
        "meta": {
            **_meta(scope, pairs[-1][0] if pairs else None),
            "provisional_days_left_out": provisional,
        },
    }
