"""Advertising (Amazon Ads API, Sponsored Products): bronze reports and entity snapshots, silver
daily facts and entity dimensions kept as history, per seller account (specs:
`defs/advertising/spec.py`).

Accounts are seller history's dynamic `accounts` partitions (`amazon-assets accounts add`); each
has its own Ads refresh token and profile. Facts are partitioned by (account, day) and dimensions
by account, and every silver row carries its `account`, so loading one account never replaces
another account's rows.

Facts: one v3 report per account, type and day (bronze keeps each exactly as downloaded, written
the moment it arrives: `ingestion.bronze.write_ads_reports`), the newest stored one of each day
(`ingestion.silver`) parsed into four tables replaced per (account, day). The Ads API only serves
the last 95 days, so days older than that are never requested: a run covering them re-parses
what the lake already holds (and writes nothing for a day it never held), so history beyond the
retention is never lost.

Dimensions: the Ads API lists entities as they are now. Each snapshot is kept in the lake and
merged into the account's stored history (read back through the `warehouse` resource: an asset
cannot take its own partition as an input), then the account's whole history is written again.
"""

import gzip
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import polars as pl
from google.api_core.exceptions import NotFound

from amazon_assets.defs.advertising.checks import (
    dimension_check_specs,
    evaluate_fact_checks,
    fact_check_specs,
    one_current_version_per_key,
)
from amazon_assets.defs.advertising.spec import (
    ADS_ENTITIES,
    ADS_REPORT_RETENTION_DAYS,
    ADS_REPORTS,
    ENTITY_SNAPSHOT,
)
from amazon_assets.ingestion.bronze import SourceProgress, account_documents, write_ads_reports
from amazon_assets.ingestion.silver import newest_documents
from amazon_assets.parsers.ads_entities import (
    AD_ENTITIES,
    PROFILES,
    load_snapshot,
    merge_dimension_history,
    parse_entities,
    snapshot_document,
)
from amazon_assets.parsers.ads_reports import AD_REPORT_TYPES, AdsReportType, parse_ads_report
from amazon_assets.parsers.quarantine import ACCOUNT_QUARANTINE_SCHEMA
from amazon_assets.partitions import days_of_accounts
from amazon_assets.resources.ads_api import AdsApiResource
from amazon_assets.resources.lake import BronzeDocument, Lake, LakeResource, write_document
from amazon_assets.resources.warehouse import WarehouseResource
from amazon_assets.sources.refusals import refusals_fail_permanently
from amazon_assets.sources.reuse import run_reuse_since

# The Sponsored Products listings a snapshot holds beside the profiles.
ENTITY_LISTINGS = tuple(name for name in ADS_ENTITIES if name != PROFILES.name)
# Silver facts are replaced per (account, day); the names are the partition dimensions'.
FACT_PARTITION_EXPR = {"account": "account", "day": "report_date"}


def utc_today() -> date:
    """Today in UTC: the day the Ads API's retention is counted from."""
    return datetime.now(UTC).date()


def oldest_requestable_day(today: date) -> date:
    """The oldest day a report may still be requested for. One day of margin: Amazon counts
    days in the profile's time zone, which may already be a day behind UTC."""
    return today - timedelta(days=ADS_REPORT_RETENTION_DAYS - 1)


def with_account(quarantine: pl.DataFrame, account: str) -> pl.DataFrame:
    """Quarantined rows of one account, in ACCOUNT_QUARANTINE_SCHEMA."""
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
    report_type: AdsReportType, partitions_def: dg.PartitionsDefinition, lake_kind: str
) -> dg.AssetsDefinition:
    spec = ADS_REPORTS[report_type.report_type_id]

    @dg.asset(
        key=spec.bronze_key,
        group_name="bronze",
        kinds={"json", lake_kind},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"lake_prefix": spec.lake_prefix("<account>")},
        # A retry requests nothing again: stored reports are closed, open ones resumed.
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
        description=f"Raw Sponsored Products {spec.report_type} v3 reports, one per account and "
        "day, gzip JSON as served, each written to the lake the moment it arrives.",
    )
    @refusals_fail_permanently
    def bronze_ads_report(
        context: dg.AssetExecutionContext, ads_api: AdsApiResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        store = lake.lake()
        oldest = oldest_requestable_day(utc_today())
        progress = SourceProgress()
        too_old = 0
        by_account = days_of_accounts(context.partition_keys)
        reuse_since = run_reuse_since(context, ads_api.reuse_minutes)
        for account, days in by_account.items():
            account_api = ads_api.for_account(account)
            recent = [d for d in days if d >= oldest]
            if recent:
                progress.add(
                    write_ads_reports(
                        spec,
                        account_api,
                        store,
                        recent,
                        _profile(account_api),
                        log=context.log.info,
                        reuse_since=reuse_since,
                    )
                )
            if skipped := len(days) - len(recent):
                too_old += skipped
                context.log.info(
                    f"{account}: {skipped} day(s) before {oldest} are beyond the Ads API's "
                    f"{ADS_REPORT_RETENTION_DAYS}-day retention: not requested, the lake keeps them."
                )
        return dg.MaterializeResult(
            metadata={
                "source": ads_api.source_label,
                "accounts": dg.MetadataValue.text(", ".join(by_account)),
                "days_beyond_retention": too_old,
                **progress.metadata(),
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
    """Facts and quarantined rows of the newest stored report of a type for each of the
    account's `days` (`ingestion.silver`), and the days within the retention that have none."""
    chosen, uncovered = newest_documents(
        ADS_REPORTS[report_type.report_type_id], lake, account, days
    )
    facts, quarantine = [], []
    for day, stored in sorted(chosen.items()):
        document = stored.read(lake)
        parsed = parse_ads_report(
            document.body,
            report_type.report_type_id,
            report_id=document.report_id or "",
            account=account,
            profile_id=str(document.metadata.get("profile_id", "")),
            currency=str(document.metadata.get("currency", "USD")),
            report_days={day},
            ingested_at=ingested_at,
        )
        facts.append(parsed.facts)
        quarantine.append(with_account(parsed.quarantine, account))
    # Beyond the retention and never fetched: nothing to load, nothing lost.
    missing = [
        f"{account} {report_type.report_type_id} {day}" for day in uncovered if day >= oldest
    ]
    return facts, quarantine, missing


def build_fact_assets(
    partitions_def: dg.MultiPartitionsDefinition, lake_kind: str, warehouse_kind: str
) -> list[dg.AssetsDefinition]:
    """Bronze report assets (one per report type) and the multi-asset of the four fact tables."""
    report_types = list(AD_REPORT_TYPES.values())
    bronze = [_bronze_report_asset(t, partitions_def, lake_kind) for t in report_types]
    specs = [ADS_REPORTS[t.report_type_id] for t in report_types]
    outs = {
        spec.report_type: dg.AssetOut(
            key=spec.silver_key,
            group_name="silver",
            kinds={"polars", warehouse_kind},
            io_manager_key="warehouse_io_manager",
            metadata={
                "partition_expr": FACT_PARTITION_EXPR,
                "cluster_by": list(spec.cluster_by),
            },
            description=f"Sponsored Products {spec.report_type} metrics per account and day, "
            f"typed; one row per ({', '.join(spec.natural_key)}).",
        )
        for spec in specs
    }
    # Every report type's refused rows, in one table.
    outs["quarantine"] = dg.AssetOut(
        key=specs[0].quarantine_key,
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
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """Parse the newest stored report of each type, account and day into typed facts;
        malformed rows go to quarantine."""
        store = lake.lake()
        ingested_at = datetime.now(UTC)
        oldest = oldest_requestable_day(utc_today())
        facts: dict[str, list[pl.DataFrame]] = {t.report_type_id: [] for t in report_types}
        quarantine: list[pl.DataFrame] = []
        missing: list[str] = []
        for account, days in days_of_accounts(context.partition_keys).items():
            for report_type in report_types:
                parts, refused, absent = load_account_facts(
                    store, report_type, account, days, oldest, ingested_at
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
            pl.concat(quarantine) if quarantine else pl.DataFrame(schema=ACCOUNT_QUARANTINE_SCHEMA)
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
                        pl.col("source") == ADS_REPORTS[type_id].name
                    ).height,
                },
            )
        yield dg.Output(
            quarantine_frame, output_name="quarantine", metadata={"rows": quarantine_frame.height}
        )
        yield from evaluate_fact_checks(frames, report_types)

    return [*bronze, fact_ads_sp]


def newest_snapshot(lake: Lake, account: str) -> BronzeDocument | None:
    """The account's newest entity snapshot (the newest day's sidecars only are read)."""
    prefix = ENTITY_SNAPSHOT.lake_prefix(account) + "/run_date="
    days = {key[len(prefix) :].split("/", 1)[0] for key in lake.list_keys(prefix)}
    if not days:
        return None
    newest = date.fromisoformat(max(days))
    stored = account_documents(ENTITY_SNAPSHOT, lake, account, newest, newest)
    return stored[-1].read(lake) if stored else None


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
        key=ENTITY_SNAPSHOT.bronze_key,
        group_name="bronze",
        kinds={"json", lake_kind},
        partitions_def=accounts,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
        metadata={"lake_prefix": ENTITY_SNAPSHOT.lake_prefix("<account>")},
    )
    @refusals_fail_permanently
    def ads_entities(
        context: dg.AssetExecutionContext, ads_api: AdsApiResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        """A snapshot of the account's profiles and every SP campaign, ad group, keyword and target, as listed."""
        account_api = ads_api.for_account(context.partition_key)
        profile = _profile(account_api)
        listings = {"profiles": account_api.profiles()}
        listings.update({name: account_api.list_entities(name) for name in ENTITY_LISTINGS})
        fetched_at = datetime.now(UTC)
        document = BronzeDocument(
            source=ENTITY_SNAPSHOT.name,
            day=fetched_at.date(),
            report_id=f"snapshot-{fetched_at:%Y%m%dT%H%M%S%fZ}",
            status="DONE",
            body=gzip.compress(snapshot_document(listings)),
            content_type="application/gzip",
            fetched_at=fetched_at,
            metadata={
                "data_start": fetched_at.date().isoformat(),
                "data_end": fetched_at.date().isoformat(),
                "report_options": dict(ENTITY_SNAPSHOT.report_options),
                "source": ads_api.source_label,
                **profile,
            },
        )
        store = lake.lake()
        keys = write_document(
            store,
            ENTITY_SNAPSHOT.lake_prefix(account_api.account),
            document,
            ENTITY_SNAPSHOT.file_name(True),
        )
        return dg.MaterializeResult(
            metadata={
                "source": ads_api.source_label,
                "uri": dg.MetadataValue.path(store.uri(keys[0])),
                **{name: len(items) for name, items in listings.items()},
            }
        )

    entities = list(AD_ENTITIES.values())
    outs = {
        entity.name: dg.AssetOut(
            key=ADS_ENTITIES[entity.name].silver_key,
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
        key=ENTITY_SNAPSHOT.quarantine_key,
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
        context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """Merge the account's newest entity snapshot into each dimension's stored history."""
        account = context.partition_key
        document = newest_snapshot(lake.lake(), account)
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
                one_current_version_per_key(
                    ADS_ENTITIES[entity.name].silver_key, history, entity.key_columns
                )
            )
        quarantine_frame = pl.concat(quarantine)
        yield dg.Output(
            quarantine_frame, output_name="quarantine", metadata={"rows": quarantine_frame.height}
        )
        yield from checks

    return [ads_entities, dim_ads]
