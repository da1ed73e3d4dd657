"""What every service shares: the caller's scope, errors, table names, account resolution."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from amazon_assets.analytics.yoy import settled_through
from amazon_assets.api.mart import MartReader, MissingTable, in_list

MART = "mart.mart_asin_daily"
TRACKED = "mart.tracked_asins"
SCORES = "features.score_baseline_daily"
ALERTS = "features.alerts"
COMPARISON = "features.competitor_comparison_daily"
PREDICTIONS = "ml.predictions_daily"
KEYS = ("account", "asin", "report_date")
MAX_RANGE_DAYS = 731
DEFAULT_RANGE_DAYS = 90


class NotFound(LookupError):
    """Nothing the caller may see answers this (404); the message says what was looked for."""


class Ambiguous(LookupError):
    """The ASIN is in several of the caller's accounts; the caller must name one (409)."""

    def __init__(self, asin: str, accounts: Sequence[str]) -> None:
        super().__init__(
            f"ASIN {asin} is in several of your accounts ({', '.join(accounts)}); "
            "add ?account=NAME."
        )
        self.accounts = list(accounts)


class Invalid(ValueError):
    """A parameter is well-formed but wrong here, e.g. an unknown field (422)."""


@dataclass(frozen=True)
class Scope:
    """What the caller may see, and the day it asks on (which days are settled)."""

    accounts: frozenset[str] | None  # None: every account
    today: date
    settle_days: int

    @property
    def settled_through(self) -> date:
        return settled_through(self.today, self.settle_days)

    def accounts_sql(self, params: dict[str, Any], column: str = "account") -> str:
        """` AND account IN (...)` restricting a query to the caller's accounts ('' for all)."""
        if self.accounts is None:
            return ""
        return f" AND {column} IN {in_list('scope', sorted(self.accounts), params)}"

    def may_read(self, account: str) -> bool:
        return self.accounts is None or account in self.accounts

    def sees_all_of(self, reader: MartReader, table: str) -> bool:
        """Whether every account `table` holds is the caller's (then its ranks are theirs)."""
        return self.accounts is None or reader.accounts(table) <= self.accounts


def day_range(
    scope: Scope, first: date | None, last: date | None, default_days: int = DEFAULT_RANGE_DAYS
) -> tuple[date, date]:
    """[first, last] with defaults (the `default_days` days ending yesterday), checked."""
    last = last or scope.today - timedelta(days=1)
    first = first or last - timedelta(days=default_days - 1)
    if first > last:
        raise Invalid(f"from ({first}) is after to ({last}).")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise Invalid(f"a range covers at most {MAX_RANGE_DAYS} days; got {first}..{last}.")
    return first, last


def resolve_account(
    reader: MartReader, scope: Scope, asin: str, account: str | None = None
) -> tuple[str, date]:
    """The caller's account holding `asin` in the mart, and its last day there.

    An ASIN of an account the caller may not read is not found, exactly like an unknown one.
    """
    if account is not None and not scope.may_read(account):
        raise NotFound(f"ASIN {asin} is not in your accounts.")
    params: dict[str, Any] = {"asin": asin}
    where = scope.accounts_sql(params)
    if account is not None:
        params["account"] = account
        where += " AND account = %(account)s"
    rows = rows_or_empty(
        reader,
        f"SELECT account, max(report_date) AS last_day FROM {MART} WHERE asin = %(asin)s"
        f"{where} GROUP BY account ORDER BY account",
        params,
    )
    if not rows:
        raise NotFound(f"ASIN {asin} is not in your accounts.")
    if len(rows) > 1:
        raise Ambiguous(asin, [row["account"] for row in rows])
    return rows[0]["account"], rows[0]["last_day"]


def rows_or_empty(
    reader: MartReader, sql: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Rows of `sql`, or [] when its table has not been materialized yet."""
    try:
        return reader.rows(sql, params)
    except MissingTable:
        return []


def check_fields(
    reader: MartReader, table: str, fields: Iterable[str] | None, default: Sequence[str] = ()
) -> list[str]:
    """The requested columns of `table` (default: `default`, or every non-key column)."""
    available = [name for name in reader.columns(table) if name not in KEYS]
    if fields is None:
        wanted = [name for name in default if name in available] if default else available
        return wanted
    wanted = list(dict.fromkeys(fields))
    if not wanted:
        raise Invalid("fields names at least one column.")
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise Invalid(
            f"unknown field(s) {', '.join(unknown)}; {table} has {', '.join(available) or 'none'}."
        )
    return wanted


def present(reader: MartReader, table: str, names: Iterable[str]) -> list[str]:
    """Those of `names` that `table` has, in the given order."""
    columns = set(reader.columns(table))
    return [name for name in names if name in columns]


def quoted(names: Iterable[str]) -> str:
    """Column names as a quoted select list (names come from the table itself)."""
    return ", ".join('"' + name.replace('"', '""') + '"' for name in names)


def latest_values(
    rows_newest_first: Sequence[Mapping[str, Any]], fields: Sequence[str]
) -> tuple[dict[str, Any], dict[str, date]]:
    """Each field's newest non-null value and the day it was observed."""
    values: dict[str, Any] = dict.fromkeys(fields)
    observed: dict[str, date] = {}
    for field in fields:
        for row in rows_newest_first:
            if row.get(field) is not None:
                values[field], observed[field] = row[field], row["report_date"]
                break
    return values, observed
