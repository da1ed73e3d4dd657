"""Advertising (Amazon Ads API, Sponsored Products): bronze reports and entity snapshots, silver
daily facts and entity dimensions kept as history, per seller account.

Accounts are seller history's dynamic `accounts` partitions (`amazon-assets accounts add`); each
has its own Ads refresh token and profile. Facts are partitioned by (account, day) and dimensions
by account, and every silver row carries its `account`, so loading one account never replaces
another account's rows.

Facts: one v3 report per account, type and day (bronze keeps each exactly as downloaded), parsed
into four tables replaced per (account, day). The Ads API only serves the last 95 days, so days
older than that are never requested: a run covering them re-parses what the lake already holds
(and writes nothing for a day it never held), so history beyond the retention is never lost.

Dimensions: the Ads API lists entities as they are now. Each snapshot is kept in the lake and
merged into the account's stored history (read back through the `warehouse` resource: an asset
cannot take its own partition as an input), then the account's whole history is written again.
"""

import gzip
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import polars as pl
from google.api_core.exceptions import NotFound

from amazon_assets.asset_keys import silver_key
from amazon_assets.defs.advertising.checks import (
    dimension_check_specs,
    evaluate_fact_checks,
    fact_check_specs,
    one_current_version_per_key,
)
from amazon_assets.parsers.ads_entities import (
    AD_ENTITIES,
    PROFILES,
    load_snapshot,
    merge_dimension_history,
    parse_entities,
    snapshot_document,
)
from amazon_assets.parsers.ads_reports import (
    AD_REPORT_TYPES,
    QUARANTINE_SOURCE_PREFIX,
    AdsReportType,
    parse_ads_report,
)
from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA
from amazon_assets.partitions import days_by_account, partition_days
from amazon_assets.resources.ads_api import AdsApiResource
from amazon_assets.resources.lake import (
    SIDECAR_NAME,
    BronzeDocument,
    Lake,
    LakeIOManager,
    read_newest_document,
    write_document,
)
from amazon_assets.resources.warehouse import WarehouseResource
from amazon_assets.sources.refusals import refusals_fail_permanently
from amazon_assets.sources.reuse import run_reuse_since

# "Most report types support 95 days" (Ads API reporting v3). One day of margin: Amazon counts
# days in the profile's time zone, which may already be a day behind UTC.
ADS_REPORT_RETENTION_DAYS = 95
ENTITY_LISTINGS = ("campaigns", "adGroups", "keywords", "targets")
REPORTS_QUARANTINE_TABLE = "quarantine_ads_reports"
ENTITIES_QUARANTINE_TABLE = "quarantine_ads_entities"
FILE_NAME = "part-000.json.gz"
# Ads quarantine rows say which account they came from, like every other ads silver row.
ADS_QUARANTINE_SCHEMA = pl.Schema({**QUARANTINE_SCHEMA, "account": pl.Utf8})
# Silver facts are replaced per (account, day); the names are the partition dimensions'.
FACT_PARTITION_EXPR = {"account": "account", "day": "report_date"}


def reports_prefix(report_type_id: str, account: str) -> str:
    """Where an account's bronze documents of a report type live in the lake."""
    return f"amazon/ads/reports/{report_type_id}/us/account={account}"


def entities_prefix(account: str) -> str:
    """Where an account's entity snapshots live in the lake."""
    return f"amazon/ads/entities/us/account={account}"


def utc_today() -> date:
    """Today in UTC: the day the Ads API's retention is counted from."""
    return datetime.now(UTC).date()


def oldest_requestable_day(today: date) -> date:
    """The oldest day a report may still be requested for."""
    return today - timedelta(days=ADS_REPORT_RETENTION_DAYS - 1)


def run_days(partition_keys: Sequence[str]) -> dict[str, list[date]]:
    """The days a run covers per account, from its (account, day) partition keys."""
    return {
        account: [date.fromisoformat(day) for day in partition_days(first, last)]
        for account, (first, last) in days_by_account(partition_keys).items()
    }


def with_account(quarantine: pl.DataFrame, account: str) -> pl.DataFrame:
    """Quarantined rows of one account, in ADS_QUARANTINE_SCHEMA."""
    return quarantine.with_columns(pl.lit(account, pl.Utf8).alias("account"))


def _profile(ads_api: AdsApiResource) -> dict[str, str]:
    """The account's seller profile: id and currency, stamped on every document and row."""
    profile_id = str(ads_api.profile_id())
    profile = next((p for p in ads_api.profiles() if str(p.get("profileId")) == profile_id), None)
    if profile is None or not profile.get("currencyCode"):
        raise dg.Failure(
            f"Ads profile {profile_id} of account {ads_api.account!r} is not listed with a "
            "currencyCode by GET /v2/profiles; amounts cannot be stored without their currency."
        )
    return {
        "profile_id": profile_id,
        "currency": str(profile["currencyCode"]),
        "account": ads_api.account,
    }


def _bronze_report_asset(
    report_type_id: str, partitions_def: dg.PartitionsDefinition, lake_kind: str
) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"ads_reports_{report_type_id}",
        key_prefix="bronze",
        group_name="bronze",
        kinds={"json", lake_kind},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"lake_prefix": reports_prefix(report_type_id, "<account>")},
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
        description=f"Raw Sponsored Products {report_type_id} v3 reports, one per account and "
        "day, gzip JSON as served.",
    )
    @refusals_fail_permanently
    def bronze_ads_report(
        context: dg.AssetExecutionContext,
        ads_api: AdsApiResource,
        lake_io_manager: dg.ResourceParam[LakeIOManager],
    ) -> dg.MaterializeResult:
        lake = lake_io_manager.lake()
        oldest = oldest_requestable_day(utc_today())
        requests: Counter[str] = Counter()
        documents, too_old, total_bytes = 0, 0, 0
        by_account = run_days(context.partition_keys)
        reuse_since = run_reuse_since(context, ads_api.reuse_minutes)
        for account, days in by_account.items():
            account_api = ads_api.for_account(account)
            profile = _profile(account_api)
            report_ids = []
            # Newest first: the days users look at (and that Amazon still restates) arrive first.
            for day in sorted((d for d in days if d >= oldest), reverse=True):
                result = account_api.fetch_report(
                    report_type_id, day, day, complete=False, reuse_since=reuse_since
                )
                document = BronzeDocument(
                    source=QUARANTINE_SOURCE_PREFIX + report_type_id,
                    day=day,
                    report_id=result.report_id,
                    status="DONE",
                    body=result.body,
                    content_type="application/gzip",
                    fetched_at=result.fetched_at,
                    metadata={
                        "report_type_id": report_type_id,
                        "source": ads_api.source_label,
                        **profile,
                    },
                )
                write_document(lake, reports_prefix(report_type_id, account), document, FILE_NAME)
                report_ids.append(result.report_id)
                requests.update(result.requests)
                total_bytes += len(result.body)
            # Stored: a failure from here on need not resume these reports.
            account_api.complete_reports(report_ids)
            documents += len(report_ids)
            if skipped := len(days) - len(report_ids):
                too_old += skipped
                context.log.info(
                    f"{account}: {skipped} day(s) before {oldest} are beyond the Ads API's "
                    f"{ADS_REPORT_RETENTION_DAYS}-day retention: not requested, the lake keeps them."
                )
        return dg.MaterializeResult(
            metadata={
                "source": ads_api.source_label,
                "accounts": dg.MetadataValue.text(", ".join(by_account)),
                "documents": documents,
                "days_beyond_retention": too_old,
                "bytes": total_bytes,
                **{f"requests_{op}": count for op, count in sorted(requests.items())},
            }
        )

    return bronze_ads_report


def load_account_facts(
    lake: Lake,
    report_type: AdsReportType,
    account: str,
    days: Sequence[date],
    oldest: date,
    ingested_at: datetime,
) -> tuple[list[pl.DataFrame], list[pl.DataFrame], list[str]]:
    """Facts and quarantined rows of one account's stored reports of a type for `days`, and
    the days within the retention that have no report in the lake."""
    facts, quarantine, missing = [], [], []
    prefix = reports_prefix(report_type.report_type_id, account)
    for day in days:
        document = read_newest_document(lake, prefix, day)
        if document is None:
            # Beyond the retention and never fetched: nothing to load, nothing lost.
            if day >= oldest:
                missing.append(f"{account} {report_type.report_type_id} {day}")
            continue
        parsed = parse_ads_report(
            document.body,
            report_type.report_type_id,
            report_id=document.report_id or "",
            account=account,
            profile_id=str(document.metadata.get("profile_id", "")),
            currency=str(document.metadata.get("currency", "USD")),
            report_days={document.day},
            ingested_at=ingested_at,
        )
        facts.append(parsed.facts)
        quarantine.append(with_account(parsed.quarantine, account))
    return facts, quarantine, missing


def build_fact_assets(
    partitions_def: dg.MultiPartitionsDefinition, lake_kind: str, warehouse_kind: str
) -> list[dg.AssetsDefinition]:
    """Bronze report assets (one per report type) and the multi-asset of the four fact tables."""
    report_types = list(AD_REPORT_TYPES.values())
    bronze = [
        _bronze_report_asset(t.report_type_id, partitions_def, lake_kind) for t in report_types
    ]
    outs = {
        t.report_type_id: dg.AssetOut(
            key=silver_key(t.table),
            group_name="silver",
            kinds={"polars", warehouse_kind},
            io_manager_key="warehouse_io_manager",
            metadata={
                "partition_expr": FACT_PARTITION_EXPR,
                "cluster_by": ["account", "campaign_id"],
            },
            description=f"Sponsored Products {t.report_type_id} metrics per account and day, "
            f"typed; one row per ({', '.join(t.key_columns)}).",
        )
        for t in report_types
    }
    outs["quarantine"] = dg.AssetOut(
        key=silver_key(REPORTS_QUARANTINE_TABLE),
        group_name="silver",
        kinds={"polars", warehouse_kind},
        io_manager_key="warehouse_io_manager",
        metadata={"partition_expr": FACT_PARTITION_EXPR},
        description="Rows of ads reports that could not be typed, with the reason.",
    )

    @dg.multi_asset(
        name="fact_ads_sp",
        outs=outs,
        deps=bronze,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=fact_check_specs(report_types),
    )
    def fact_ads_sp(
        context: dg.AssetExecutionContext, lake_io_manager: dg.ResourceParam[LakeIOManager]
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """Parse each account's and day's bronze reports into typed facts; malformed rows go to quarantine."""
        lake = lake_io_manager.lake()
        ingested_at = datetime.now(UTC)
        oldest = oldest_requestable_day(utc_today())
        facts: dict[str, list[pl.DataFrame]] = {t.report_type_id: [] for t in report_types}
        quarantine: list[pl.DataFrame] = []
        missing: list[str] = []
        for account, days in run_days(context.partition_keys).items():
            for report_type in report_types:
                parts, refused, absent = load_account_facts(
                    lake, report_type, account, days, oldest, ingested_at
                )
                facts[report_type.report_type_id] += parts
                quarantine += refused
                missing += absent
        if missing:
            raise dg.Failure(
                f"No bronze ads report for {', '.join(missing)}: materialize the bronze "
                "ads_reports assets for those accounts and days first."
            )
        frames = {
            type_id: pl.concat(parts)
            if parts
            else pl.DataFrame(schema=AD_REPORT_TYPES[type_id].schema)
            for type_id, parts in facts.items()
        }
        quarantine_frame = (
            pl.concat(quarantine) if quarantine else pl.DataFrame(schema=ADS_QUARANTINE_SCHEMA)
        )
        for type_id, frame in frames.items():
            yield dg.Output(
                frame,
                output_name=type_id,
                metadata={
                    "rows": frame.height,
                    "accounts": frame["account"].n_unique(),
                    "days": frame["report_date"].n_unique(),
                    "cost": float(frame["cost"].sum() or 0),
                    "clicks": int(frame["clicks"].sum() or 0),
                    "impressions": int(frame["impressions"].sum() or 0),
                    "sales_7d": float(frame["sales_7d"].sum() or 0),
                    "quarantined_rows": quarantine_frame.filter(
                        pl.col("source") == QUARANTINE_SOURCE_PREFIX + type_id
                    ).height,
                },
            )
        yield dg.Output(
            quarantine_frame, output_name="quarantine", metadata={"rows": quarantine_frame.height}
        )
        yield from evaluate_fact_checks(frames, report_types)

    return [*bronze, fact_ads_sp]


def _newest_snapshot(lake: Lake, account: str) -> BronzeDocument | None:
    """The account's newest entity snapshot (the newest day, then the newest of that day)."""
    prefix = entities_prefix(account)
    days = {
        key[len(prefix) + 1 :].split("/", 1)[0].removeprefix("run_date=")
        for key in lake.list_keys(f"{prefix}/")
        if key.endswith(f"/{SIDECAR_NAME}")
    }
    if not days:
        return None
    return read_newest_document(lake, prefix, date.fromisoformat(max(days)))


def _stored_history(
    warehouse: WarehouseResource, dataset: str, table: str, account: str
) -> pl.DataFrame | None:
    """The account's dimension history as last written, or None before the table's first write."""
    account_literal = account.replace("'", "''")
    try:
        return warehouse.query(
            f"SELECT * FROM {warehouse.table(dataset, table)} WHERE account = '{account_literal}'"
        )
    except (duckdb.CatalogException, NotFound):  # DuckDB's and BigQuery's "no such table"
        return None


def build_entity_assets(
    accounts: dg.PartitionsDefinition, dataset: str, lake_kind: str, warehouse_kind: str
) -> list[dg.AssetsDefinition]:
    """The bronze entity snapshot and the multi-asset of the five history dimensions, per account."""

    @dg.asset(
        key=["bronze", "ads_entities"],
        group_name="bronze",
        kinds={"json", lake_kind},
        partitions_def=accounts,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
        metadata={"lake_prefix": entities_prefix("<account>")},
    )
    @refusals_fail_permanently
    def ads_entities(
        context: dg.AssetExecutionContext,
        ads_api: AdsApiResource,
        lake_io_manager: dg.ResourceParam[LakeIOManager],
    ) -> dg.MaterializeResult:
        """A snapshot of the account's profiles and every SP campaign, ad group, keyword and target, as listed."""
        account_api = ads_api.for_account(context.partition_key)
        profile = _profile(account_api)
        listings = {"profiles": account_api.profiles()}
        listings.update({name: account_api.list_entities(name) for name in ENTITY_LISTINGS})
        fetched_at = datetime.now(UTC)
        document = BronzeDocument(
            source="ads_entities",
            day=fetched_at.date(),
            report_id=f"snapshot-{fetched_at:%Y%m%dT%H%M%S%fZ}",
            status="DONE",
            body=gzip.compress(snapshot_document(listings)),
            content_type="application/gzip",
            fetched_at=fetched_at,
            metadata={"source": ads_api.source_label, **profile},
        )
        lake = lake_io_manager.lake()
        keys = write_document(lake, entities_prefix(account_api.account), document, FILE_NAME)
        return dg.MaterializeResult(
            metadata={
                "source": ads_api.source_label,
                "uri": dg.MetadataValue.path(lake.uri(keys[0])),
                **{name: len(items) for name, items in listings.items()},
            }
        )

    entities = list(AD_ENTITIES.values())
    outs = {
        entity.name: dg.AssetOut(
            key=silver_key(entity.table),
            group_name="silver",
            kinds={"polars", warehouse_kind},
            io_manager_key="warehouse_io_manager",
            metadata={"partition_expr": "account"},
            description=f"Every version of the Ads API {entity.name}; a change in "
            f"{', '.join(entity.tracked)} opens a new one (valid_from, valid_to, is_current).",
        )
        for entity in entities
    }
    outs["quarantine"] = dg.AssetOut(
        key=silver_key(ENTITIES_QUARANTINE_TABLE),
        group_name="silver",
        kinds={"polars", warehouse_kind},
        io_manager_key="warehouse_io_manager",
        metadata={"partition_expr": "account"},
        description="Entries of the newest entity snapshot that could not be typed, with the reason.",
    )

    @dg.multi_asset(
        name="dim_ads",
        outs=outs,
        deps=[ads_entities],
        partitions_def=accounts,
        check_specs=dimension_check_specs(entities),
    )
    def dim_ads(
        context: dg.AssetExecutionContext,
        lake_io_manager: dg.ResourceParam[LakeIOManager],
        warehouse: WarehouseResource,
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """Merge the account's newest entity snapshot into each dimension's stored history."""
        account = context.partition_key
        document = _newest_snapshot(lake_io_manager.lake(), account)
        if document is None:
            raise dg.Failure(
                f"No entity snapshot of account {account!r} in the lake: materialize "
                "bronze/ads_entities for it first."
            )
        listings = load_snapshot(gzip.decompress(document.body))
        profile_id = str(document.metadata.get("profile_id", ""))
        quarantine = []
        checks = []
        for entity in entities:
            parsed = parse_entities(
                entity.name,
                listings.get(entity.name) or [],
                account=account,
                profile_id=None if entity is PROFILES else profile_id,
                snapshot_id=document.report_id or "",
                snapshot_time=document.fetched_at,
            )
            quarantine.append(with_account(parsed.quarantine, account))
            previous = _stored_history(warehouse, dataset, entity.table, account)
            history = merge_dimension_history(
                previous, parsed.snapshot, entity.key_columns, entity.tracked, document.fetched_at
            )
            current = history.filter(pl.col("is_current"))
            yield dg.Output(
                history,
                output_name=entity.name,
                metadata={
                    "snapshot": document.report_id or "",
                    "snapshot_at": document.fetched_at.isoformat(),
                    "current_entities": current.height,
                    "versions": history.height,
                    "new_versions": history.filter(
                        pl.col("valid_from") == document.fetched_at
                    ).height,
                    "quarantined_rows": parsed.quarantine.height,
                },
            )
            checks.append(
                one_current_version_per_key(silver_key(entity.table), history, entity.key_columns)
            )
        quarantine_frame = pl.concat(quarantine)
        yield dg.Output(
            quarantine_frame, output_name="quarantine", metadata={"rows": quarantine_frame.height}
        )
        yield from checks

    return [ads_entities, dim_ads]
