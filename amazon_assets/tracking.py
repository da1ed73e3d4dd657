"""Tracked ASINs per seller account (own and competitors'), kept in the warehouse.

Table `<dataset>.tracked_asins`: one row per (account, asin, competitor_of); an own ASIN has role
"own" and no competitor_of; a competitor ASIN has role "competitor" and names the own ASIN it is
compared with (it may compete with several). The same SQL runs in DuckDB and BigQuery; only the
inline rows differ (VALUES in DuckDB, UNNEST of STRUCTs in BigQuery). Identifiers are validated
before they reach SQL, since the warehouse resource takes plain statements.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import polars as pl

from amazon_assets.resources.warehouse import WarehouseResource, create_table_sql

TRACKED_TABLE = "tracked_asins"
MAX_TRACKED_PER_ACCOUNT = 5000
OWN, COMPETITOR = "own", "competitor"
TRACKED_SCHEMA = pl.Schema(
    {
        "account": pl.String,
        "asin": pl.String,
        "role": pl.String,
        "competitor_of": pl.String,
        "added_at": pl.Datetime("us", "UTC"),
    }
)
_ASIN = re.compile(r"^[A-Z0-9]{10}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")


class TrackingError(ValueError):
    """A tracking change was refused; the message names the value and what to do."""


def normalize_asin(asin: str) -> str:
    """An ASIN in upper case, or TrackingError when it is not ten letters and digits."""
    value = asin.strip().upper()
    if not _ASIN.match(value):
        raise TrackingError(f"{asin!r} is not an ASIN (ten letters and digits, e.g. B08N5WRWNW).")
    return value


def _account(account: str) -> str:
    if not _ACCOUNT.match(account):
        raise TrackingError(
            f"{account!r} is not an account name (letters, digits, space, '_', '.', '-')."
        )
    return account


def tracked_table(warehouse: WarehouseResource, dataset: str) -> str:
    """The qualified name of the tracked-ASIN table in this warehouse."""
    return warehouse.table(dataset, TRACKED_TABLE)


def ensure_table(warehouse: WarehouseResource, dataset: str) -> str:
    """Create the dataset (schema) and the table when missing; returns the table name."""
    table = tracked_table(warehouse, dataset)
    schema = f"`{warehouse.project}.{dataset}`" if warehouse.kind == "bigquery" else dataset
    warehouse.query(f"CREATE SCHEMA IF NOT EXISTS {schema}", read_only=False)
    warehouse.query(create_table_sql(table, TRACKED_SCHEMA, warehouse.kind), read_only=False)
    return table


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _rows_sql(rows: Sequence[tuple[str, str, str, str | None]], kind: str, now: datetime) -> str:
    """A SELECT yielding `rows` as (account, asin, role, competitor_of, added_at)."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    if kind == "bigquery":
        structs = ", ".join(
            f"STRUCT({', '.join(_literal(v) for v in row)}, TIMESTAMP '{stamp}')" for row in rows
        )
        # The first STRUCT names the fields; BigQuery infers the rest by position.
        return (
            "SELECT * FROM UNNEST(ARRAY<STRUCT<account STRING, asin STRING, role STRING, "
            f"competitor_of STRING, added_at TIMESTAMP>>[{structs}])"
        )
    values = ", ".join(
        f"({', '.join(_literal(v) for v in row)}, TIMESTAMPTZ '{stamp}')" for row in rows
    )
    return f"SELECT * FROM (VALUES {values}) AS v(account, asin, role, competitor_of, added_at)"


def track(
    warehouse: WarehouseResource,
    dataset: str,
    account: str,
    entries: Sequence[tuple[str, str | None]],
    now: datetime | None = None,
) -> int:
    """Track (asin, competitor_of) pairs for an account; returns how many rows were new.

    A competitor's own ASIN is tracked as own too. Already tracked pairs are left as they are,
    so adding is idempotent.
    """
    account = _account(account)
    wanted: dict[tuple[str, str | None], None] = {}
    for asin, competitor_of in entries:
        asin = normalize_asin(asin)
        if competitor_of is None:
            wanted[(asin, None)] = None
            continue
        own = normalize_asin(competitor_of)
        if own == asin:
            raise TrackingError(f"{asin} cannot be a competitor of itself.")
        wanted[(own, None)] = None
        wanted[(asin, own)] = None
    if not wanted:
        return 0
    table = ensure_table(warehouse, dataset)
    existing = list_tracked(warehouse, dataset, account)
    known = {(r["asin"], r["competitor_of"]) for r in existing.iter_rows(named=True)}
    new = [pair for pair in wanted if pair not in known]
    asins = set(existing["asin"].to_list()) | {asin for asin, _ in new}
    if len(asins) > MAX_TRACKED_PER_ACCOUNT:
        raise TrackingError(
            f"Account {account!r} would track {len(asins)} ASINs; the limit is "
            f"{MAX_TRACKED_PER_ACCOUNT}: remove some first (`amazon-assets track remove ASIN`)."
        )
    if not new:
        return 0
    rows = [
        (account, asin, OWN if competitor_of is None else COMPETITOR, competitor_of)
        for asin, competitor_of in new
    ]
    warehouse.query(
        f"INSERT INTO {table} (account, asin, role, competitor_of, added_at) "
        + _rows_sql(rows, warehouse.kind, now or datetime.now(UTC)),
        read_only=False,
    )
    return len(rows)


def add_tracked(
    warehouse: WarehouseResource,
    dataset: str,
    account: str,
    asin: str,
    competitor_of: str | None = None,
) -> int:
    """Track one ASIN (own, or a competitor of an own ASIN); returns how many rows were new."""
    return track(warehouse, dataset, account, [(asin, competitor_of)])


def remove_tracked(warehouse: WarehouseResource, dataset: str, account: str, asin: str) -> int:
    """Stop tracking an ASIN, and the competitors tracked only against it; returns rows removed."""
    account, asin = _account(account), normalize_asin(asin)
    table = ensure_table(warehouse, dataset)
    where = (
        f"account = {_literal(account)} AND (asin = {_literal(asin)} "
        f"OR competitor_of = {_literal(asin)})"
    )
    count = warehouse.query(f"SELECT count(*) AS n FROM {table} WHERE {where}")["n"][0]
    if count:
        warehouse.query(f"DELETE FROM {table} WHERE {where}", read_only=False)
    return int(count)


def list_tracked(
    warehouse: WarehouseResource, dataset: str, account: str | None = None
) -> pl.DataFrame:
    """Tracked rows (all accounts, or one), own ASINs first; an empty typed frame when none."""
    table = ensure_table(warehouse, dataset)
    where = f" WHERE account = {_literal(_account(account))}" if account is not None else ""
    frame = warehouse.query(
        f"SELECT account, asin, role, competitor_of, added_at FROM {table}{where} "
        "ORDER BY account, role DESC, competitor_of, asin"
    )
    if frame.is_empty():
        return pl.DataFrame(schema=TRACKED_SCHEMA)
    return frame.cast(dict(TRACKED_SCHEMA))  # type: ignore[arg-type]
