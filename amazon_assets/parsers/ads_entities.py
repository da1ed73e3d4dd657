"""Ads API entity listings (profiles, SP v3 campaigns, ad groups, keywords, targets) -> typed
snapshots, and the history (SCD type 2) that keeps every version of them.

Listings are what Amazon says *now*; the Ads API keeps no history of a bid or a budget. So each
snapshot is merged into the dimension's history: an entity whose tracked columns (state, budget,
bid) changed gets a new version, the old one is closed at the snapshot time, and an entity that no
longer appears is closed. Descriptive columns (a renamed campaign) update the current version
in place: they do not change what a day's spend was bought with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from amazon_assets.parsers.quarantine import (
    QuarantineRecord,
    as_utc,
    json_text,
    quarantine_frame,
)

_MONEY = pl.Decimal(18, 2)
_CENT = Decimal("0.01")
SCD_COLUMNS = pl.Schema(
    {
        "valid_from": pl.Datetime("us", "UTC"),
        "valid_to": pl.Datetime("us", "UTC"),  # null while the version is current
        "is_current": pl.Boolean,
    }
)


@dataclass(frozen=True)
class _Attribute:
    """One entity attribute: where Amazon puts it (a path into the object), ours, its kind."""

    path: tuple[str, ...]
    column: str
    kind: str  # "id" | "text" | "money" | "date" | "json"
    required: bool = False


_DTYPES = {"id": pl.Utf8, "text": pl.Utf8, "money": _MONEY, "date": pl.Date, "json": pl.Utf8}


@dataclass(frozen=True)
class AdsEntity:
    """One entity listing: its silver dimension, key, tracked columns and attributes."""

    name: str  # as the listing calls it: "campaigns", "adGroups", ...
    table: str
    key: str
    tracked: tuple[str, ...]
    attributes: tuple[_Attribute, ...]

    @property
    def key_columns(self) -> tuple[str, ...]:
        """Ids are unique per profile, so the account and profile are part of every key."""
        profile = ("account", "profile_id")
        return (*profile, self.key) if self.key != "profile_id" else profile

    @property
    def schema(self) -> pl.Schema:
        """The snapshot schema (the dimension adds SCD_COLUMNS)."""
        columns = {"account": pl.Utf8, "profile_id": pl.Utf8}
        columns.update({a.column: _DTYPES[a.kind] for a in self.attributes})
        return pl.Schema(columns)


def _a(path: str, column: str, kind: str, required: bool = False) -> _Attribute:
    return _Attribute(tuple(path.split(".")), column, kind, required)


PROFILES = AdsEntity(
    "profiles",
    "dim_ads_profiles",
    key="profile_id",
    tracked=("country_code", "currency_code", "timezone", "marketplace_id", "account_id"),
    attributes=(
        _a("countryCode", "country_code", "text"),
        _a("currencyCode", "currency_code", "text"),
        _a("timezone", "timezone", "text"),
        _a("accountInfo.marketplaceStringId", "marketplace_id", "text"),
        _a("accountInfo.id", "account_id", "id"),
        _a("accountInfo.type", "account_type", "text"),
        _a("accountInfo.name", "account_name", "text"),
    ),
)
CAMPAIGNS = AdsEntity(
    "campaigns",
    "dim_ads_campaigns",
    key="campaign_id",
    tracked=("state", "budget_amount"),
    attributes=(
        _a("campaignId", "campaign_id", "id", True),
        _a("portfolioId", "portfolio_id", "id"),
        _a("name", "name", "text"),
        _a("state", "state", "text", True),
        _a("targetingType", "targeting_type", "text"),
        _a("budget.budget", "budget_amount", "money"),
        _a("budget.budgetType", "budget_type", "text"),
        _a("startDate", "start_date", "date"),
        _a("endDate", "end_date", "date"),
    ),
)
AD_GROUPS = AdsEntity(
    "adGroups",
    "dim_ads_ad_groups",
    key="ad_group_id",
    tracked=("state", "default_bid"),
    attributes=(
        _a("adGroupId", "ad_group_id", "id", True),
        _a("campaignId", "campaign_id", "id", True),
        _a("name", "name", "text"),
        _a("state", "state", "text", True),
        _a("defaultBid", "default_bid", "money"),
    ),
)
KEYWORDS = AdsEntity(
    "keywords",
    "dim_ads_keywords",
    key="keyword_id",
    tracked=("state", "bid"),
    attributes=(
        _a("keywordId", "keyword_id", "id", True),
        _a("adGroupId", "ad_group_id", "id", True),
        _a("campaignId", "campaign_id", "id", True),
        _a("keywordText", "keyword_text", "text"),
        _a("matchType", "match_type", "text"),
        _a("state", "state", "text", True),
        _a("bid", "bid", "money"),  # absent: the ad group's default bid applies
    ),
)
TARGETS = AdsEntity(
    "targets",
    "dim_ads_targets",
    key="target_id",
    tracked=("state", "bid"),
    attributes=(
        _a("targetId", "target_id", "id", True),
        _a("adGroupId", "ad_group_id", "id", True),
        _a("campaignId", "campaign_id", "id", True),
        _a("expressionType", "expression_type", "text"),
        _a("expression", "expression", "json"),
        _a("resolvedExpression", "resolved_expression", "json"),
        _a("state", "state", "text", True),
        _a("bid", "bid", "money"),
    ),
)
# profileId is the key of a profile and the scope of everything else: read it from the object.
_PROFILE_ID = _a("profileId", "profile_id", "id", True)

AD_ENTITIES: dict[str, AdsEntity] = {
    e.name: e for e in (PROFILES, CAMPAIGNS, AD_GROUPS, KEYWORDS, TARGETS)
}


@dataclass(frozen=True)
class ParsedEntities:
    """A typed snapshot of one listing and the objects that could not be typed."""

    snapshot: pl.DataFrame  # exactly the entity's schema
    quarantine: pl.DataFrame  # exactly QUARANTINE_SCHEMA


class _RowError(Exception):
    """An object that cannot be typed; the message is the quarantine reason."""


def parse_entities(
    entity_name: str,
    objects: Sequence[Any],
    *,
    account: str,
    profile_id: str | None,
    snapshot_id: str,
    snapshot_time: datetime,
) -> ParsedEntities:
    """One listing's objects as a typed snapshot (profile_id from each object for profiles)."""
    entity = AD_ENTITIES[entity_name]
    snapshot_time = as_utc(snapshot_time)
    rows: list[dict[str, Any]] = []
    refused: list[QuarantineRecord] = []
    for line_number, obj in enumerate(objects, start=1):
        try:
            if not isinstance(obj, dict):
                raise _RowError(f"the {entity_name} entry is {json_text(obj)}, not an object.")
            row = {"account": account}
            row["profile_id"] = _typed(obj, _PROFILE_ID) if entity is PROFILES else str(profile_id)
            row.update({a.column: _typed(obj, a) for a in entity.attributes})
            rows.append(row)
        except _RowError as error:
            refused.append(
                QuarantineRecord(
                    source=f"ads_entities_{entity_name}",
                    report_date=snapshot_time.date(),
                    document_id=snapshot_id,
                    line_number=line_number,
                    reason=str(error),
                    raw_row=json_text(obj),
                    quarantined_at=snapshot_time,
                )
            )
    snapshot = pl.DataFrame(rows, schema=entity.schema)
    return ParsedEntities(snapshot=snapshot, quarantine=quarantine_frame(refused))


def _typed(obj: Mapping[str, Any], attribute: _Attribute) -> Any:
    raw: Any = obj
    for part in attribute.path:
        raw = raw.get(part) if isinstance(raw, Mapping) else None
    name = ".".join(attribute.path)
    if raw is None:
        if attribute.required:
            raise _RowError(f"{name} is missing; every entry needs one.")
        return None
    if attribute.kind == "id":
        if type(raw) is int or (isinstance(raw, str) and raw.strip()):
            return str(raw)
        raise _RowError(f"{name} is {json_text(raw)}, not an id.")
    if attribute.kind == "text":
        if isinstance(raw, str):
            return raw
        raise _RowError(f"{name} is {json_text(raw)}, not a string.")
    if attribute.kind == "json":
        return json_text(raw)
    if attribute.kind == "date":
        try:
            return date.fromisoformat(str(raw)[:10])
        except ValueError:
            raise _RowError(f"{name} is {json_text(raw)}, not a YYYY-MM-DD day.") from None
    # A float (a listing parsed without parse_float=Decimal) is read back from its shortest repr,
    # which is the number the JSON held; never through float arithmetic.
    amount = Decimal(repr(raw)) if type(raw) in (int, float) else raw
    if not (isinstance(amount, Decimal) and amount.is_finite() and amount >= 0):
        raise _RowError(f"{name} is {json_text(raw)}, not an amount of at least 0.")
    if amount != amount.quantize(_CENT):
        raise _RowError(f"{name} is {amount}, which has more than 2 decimal places.")
    return amount


def history_schema(snapshot_schema: Mapping[str, pl.DataType]) -> pl.Schema:
    """A dimension's schema: the snapshot's columns, then valid_from, valid_to, is_current."""
    return pl.Schema({**snapshot_schema, **SCD_COLUMNS})


def merge_dimension_history(
    history: pl.DataFrame | None,
    snapshot: pl.DataFrame,
    key_columns: Sequence[str],
    tracked_columns: Sequence[str],
    snapshot_time: datetime,
) -> pl.DataFrame:
    """The history after one snapshot: unchanged versions stay, changed or vanished ones close."""
    snapshot_time = as_utc(snapshot_time)
    keys, tracked = list(key_columns), list(tracked_columns)
    if snapshot.select(keys).is_duplicated().any():
        raise ValueError(f"The snapshot holds a key {keys} more than once; one row per entity.")
    schema = history_schema(snapshot.schema)
    history = _conform(history, schema)
    current = history.filter(pl.col("is_current"))
    newest = current["valid_from"].max()
    if newest is not None and newest > snapshot_time:  # type: ignore[operator]
        raise ValueError(
            f"The snapshot of {snapshot_time.isoformat()} is older than the current versions "
            f"(valid from {newest}); merging it would reorder history."
        )

    old = current.select(*keys, *tracked, "valid_from").rename(
        {c: f"{c}__old" for c in (*tracked, "valid_from")}
    )
    matched = snapshot.join(old, on=keys, how="inner")
    same = pl.all_horizontal(
        [pl.col(c).eq_missing(pl.col(f"{c}__old")) for c in tracked] or [pl.lit(True)]
    )
    unchanged = matched.filter(same).select(
        *snapshot.columns,
        pl.col("valid_from__old").alias("valid_from"),
        pl.lit(None, SCD_COLUMNS["valid_to"]).alias("valid_to"),
        pl.lit(True).alias("is_current"),
    )
    changed_keys = matched.filter(~same).select(keys)
    opened = pl.concat(
        [snapshot.join(changed_keys, on=keys, how="semi"), snapshot.join(old, on=keys, how="anti")]
    ).with_columns(
        pl.lit(snapshot_time, SCD_COLUMNS["valid_from"]).alias("valid_from"),
        pl.lit(None, SCD_COLUMNS["valid_to"]).alias("valid_to"),
        pl.lit(True).alias("is_current"),
    )
    # Versions of changed entities and of entities the snapshot no longer lists end now.
    still_same = unchanged.select(keys)
    closing = current.join(still_same, on=keys, how="anti").with_columns(
        pl.lit(snapshot_time, SCD_COLUMNS["valid_to"]).alias("valid_to"),
        pl.lit(False).alias("is_current"),
    )
    merged = pl.concat(
        [history.filter(~pl.col("is_current")), closing, unchanged, opened], how="vertical"
    )
    return merged.select(schema.names()).cast(dict(schema)).sort([*keys, "valid_from"])


def _conform(history: pl.DataFrame | None, schema: pl.Schema) -> pl.DataFrame:
    """The stored history in `schema`: columns added since it was written are null in old rows."""
    if history is None or not history.width:
        return pl.DataFrame(schema=schema)
    return history.select(
        [
            pl.col(name).cast(dtype) if name in history.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in schema.items()
        ]
    )


def snapshot_document(listings: Mapping[str, Sequence[Any]]) -> bytes:
    """The bronze body of one entity snapshot: every listing as returned, one JSON object."""
    return json.dumps(dict(listings), sort_keys=True).encode()


def load_snapshot(document: bytes) -> dict[str, list[Any]]:
    """The listings of a bronze snapshot, amounts read as Decimal (a bid is money, not a float)."""
    listings = json.loads(document, parse_float=Decimal)
    if not isinstance(listings, dict):
        raise ValueError("An entity snapshot is a JSON object of listings by entity name.")
    return listings
