"""Advertising (Amazon Ads API, Sponsored Products): bronze reports and entity snapshots, silver
daily facts and entity dimensions kept as history.

Facts: one v3 report per type and day (bronze keeps each exactly as downloaded), parsed into four
day-partitioned tables replaced per day. The Ads API only serves the last 95 days, so days older
than that are never requested: a run covering them re-parses what the lake already holds (and
writes nothing for a day it never held), so history beyond the retention is never lost.

Dimensions: the Ads API lists entities as they are now. Each snapshot is kept in the lake and
merged into the dimension's stored history (read back through the `warehouse` resource: an
unpartitioned asset cannot take itself as an input), then the whole history is written again.
"""

import gzip
from collections.abc import Iterator
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
    parse_ads_report,
)
from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA
from amazon_assets.resources.ads_api import AdsApiResource
from amazon_assets.resources.lake import (
    SIDECAR_NAME,
    BronzeDocument,
    LakeIOManager,
    read_newest_document,
    write_document,
)
from amazon_assets.resources.warehouse import WarehouseResource

# "Most report types support 95 days" (Ads API reporting v3). One day of margin: Amazon counts
# days in the profile's time zone, which may already be a day behind UTC.
ADS_REPORT_RETENTION_DAYS = 95
ENTITIES_PREFIX = "amazon/ads/entities/us"
ENTITY_LISTINGS = ("campaigns", "adGroups", "keywords", "targets")
REPORTS_QUARANTINE_TABLE = "quarantine_ads_reports"
ENTITIES_QUARANTINE_TABLE = "quarantine_ads_entities"


def reports_prefix(report_type_id: str) -> str:
    """Where a report type's bronze documents live in the lake."""
    return f"amazon/ads/reports/{report_type_id}/us"


def utc_today() -> date:
    """Today in UTC: the day the Ads API's retention is counted from."""
    return datetime.now(UTC).date()


def oldest_requestable_day(today: date) -> date:
    """The oldest day a report may still be requested for."""
    return today - timedelta(days=ADS_REPORT_RETENTION_DAYS - 1)


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
        io_manager_key="lake_io_manager",
        metadata={"lake_prefix": reports_prefix(report_type_id), "file_name": "part-000.json.gz"},
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
        description=f"Raw Sponsored Products {report_type_id} v3 reports, one per day, gzip JSON as served.",
    )
    def bronze_ads_report(
        context: dg.AssetExecutionContext, ads_api: AdsApiResource
    ) -> dict[str, BronzeDocument]:
        profile = _profile(ads_api)
        oldest = oldest_requestable_day(utc_today())
        documents: dict[str, BronzeDocument] = {}
        requests: dict[str, int] = {}
        too_old = [k for k in context.partition_keys if date.fromisoformat(k) < oldest]
        # Newest first: the days users look at (and that Amazon still restates) arrive first.
        for key in sorted(set(context.partition_keys) - set(too_old), reverse=True):
            day = date.fromisoformat(key)
            result = ads_api.fetch_report(report_type_id, day, day, complete=False)
            documents[key] = BronzeDocument(
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
            for operation, count in result.requests.items():
                requests[operation] = requests.get(operation, 0) + count
        ads_api.complete_reports([doc.report_id for doc in documents.values() if doc.report_id])
        if too_old:
            context.log.info(
                f"{len(too_old)} day(s) before {oldest} are beyond the Ads API's "
                f"{ADS_REPORT_RETENTION_DAYS}-day retention: not requested, the lake keeps them."
            )
        context.add_output_metadata(
            {
                "source": ads_api.source_label,
                "days": len(documents),
                "days_beyond_retention": len(too_old),
                "bytes": sum(len(doc.body) for doc in documents.values()),
                **{f"requests_{op}": count for op, count in sorted(requests.items())},
            }
        )
        return documents

    return bronze_ads_report


def build_fact_assets(
    partitions_def: dg.PartitionsDefinition, dataset: str, lake_kind: str, warehouse_kind: str
) -> list[dg.AssetsDefinition]:
    """Bronze report assets (one per report type) and the multi-asset of the four fact tables."""
    report_types = list(AD_REPORT_TYPES.values())
    bronze = {
        t.report_type_id: _bronze_report_asset(t.report_type_id, partitions_def, lake_kind)
        for t in report_types
    }
    outs = {
        t.report_type_id: dg.AssetOut(
            key=[dataset, t.table],
            group_name="silver",
            kinds={"polars", warehouse_kind},
            io_manager_key="warehouse_io_manager",
            metadata={"partition_expr": "report_date", "cluster_by": ["campaign_id"]},
            description=f"Sponsored Products {t.report_type_id} metrics per day, typed; one row per "
            f"({', '.join(t.key_columns)}).",
        )
        for t in report_types
    }
    outs["quarantine"] = dg.AssetOut(
        key=[dataset, REPORTS_QUARANTINE_TABLE],
        group_name="silver",
        kinds={"polars", warehouse_kind},
        io_manager_key="warehouse_io_manager",
        metadata={"partition_expr": "report_date"},
        description="Rows of ads reports that could not be typed, with the reason.",
    )

    @dg.multi_asset(
        name="fact_ads_sp",
        outs=outs,
        ins={
            f"documents_{type_id}": dg.AssetIn(key=asset.key) for type_id, asset in bronze.items()
        },
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=fact_check_specs(dataset, report_types),
    )
    def fact_ads_sp(
        context: dg.AssetExecutionContext, **documents: dict[str, BronzeDocument]
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """Parse each day's bronze reports into typed facts; malformed rows go to quarantine."""
        ingested_at = datetime.now(UTC)
        oldest = oldest_requestable_day(utc_today())
        facts: dict[str, list[pl.DataFrame]] = {t.report_type_id: [] for t in report_types}
        quarantine: list[pl.DataFrame] = []
        missing: list[str] = []
        for report_type in report_types:
            by_day = documents[f"documents_{report_type.report_type_id}"]
            for key in context.partition_keys:
                document = by_day.get(key)
                if document is None:
                    # Beyond the retention and never fetched: nothing to load, nothing lost.
                    if date.fromisoformat(key) >= oldest:
                        missing.append(f"{report_type.report_type_id} {key}")
                    continue
                parsed = parse_ads_report(
                    document.body,
                    report_type.report_type_id,
                    report_id=document.report_id or "",
                    account=str(document.metadata.get("account", "default")),
                    profile_id=str(document.metadata.get("profile_id", "")),
                    currency=str(document.metadata.get("currency", "USD")),
                    report_days={document.day},
                    ingested_at=ingested_at,
                )
                facts[report_type.report_type_id].append(parsed.facts)
                quarantine.append(parsed.quarantine)
        if missing:
            raise dg.Failure(
                f"No bronze ads report for {', '.join(missing)}: materialize the bronze "
                "ads_reports assets for those days first."
            )
        frames = {
            type_id: pl.concat(parts)
            if parts
            else pl.DataFrame(schema=AD_REPORT_TYPES[type_id].schema)
            for type_id, parts in facts.items()
        }
        quarantine_frame = (
            pl.concat(quarantine) if quarantine else pl.DataFrame(schema=QUARANTINE_SCHEMA)
        )
        for type_id, frame in frames.items():
            yield dg.Output(
                frame,
                output_name=type_id,
                metadata={
                    "rows": frame.height,
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
        yield from evaluate_fact_checks(dataset, frames, report_types)

    return [*bronze.values(), fact_ads_sp]


def _newest_snapshot(lake_io_manager: LakeIOManager) -> BronzeDocument | None:
    """The newest entity snapshot in the lake (the newest day, then the newest of that day)."""
    lake = lake_io_manager.lake()
    days = {
        key[len(ENTITIES_PREFIX) + 1 :].split("/", 1)[0].removeprefix("run_date=")
        for key in lake.list_keys(f"{ENTITIES_PREFIX}/")
        if key.endswith(f"/{SIDECAR_NAME}")
    }
    if not days:
        return None
    return read_newest_document(lake, ENTITIES_PREFIX, date.fromisoformat(max(days)))


def _stored_history(warehouse: WarehouseResource, dataset: str, table: str) -> pl.DataFrame | None:
    """The dimension's history as last written, or None before its first materialization."""
    try:
        return warehouse.query(f"SELECT * FROM {warehouse.table(dataset, table)}")
    except (duckdb.CatalogException, NotFound):  # DuckDB's and BigQuery's "no such table"
        return None


def build_entity_assets(
    dataset: str, lake_kind: str, warehouse_kind: str
) -> list[dg.AssetsDefinition]:
    """The bronze entity snapshot and the multi-asset of the five history dimensions."""

    @dg.asset(
        key=["bronze", "ads_entities"],
        group_name="bronze",
        kinds={"json", lake_kind},
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
        metadata={"lake_prefix": ENTITIES_PREFIX},
    )
    def ads_entities(
        context: dg.AssetExecutionContext,
        ads_api: AdsApiResource,
        lake_io_manager: dg.ResourceParam[LakeIOManager],
    ) -> dg.MaterializeResult:
        """A snapshot of the profiles and every SP campaign, ad group, keyword and target, as listed."""
        profile = _profile(ads_api)
        listings = {"profiles": ads_api.profiles()}
        listings.update({name: ads_api.list_entities(name) for name in ENTITY_LISTINGS})
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
        # Written here rather than through the IO manager: the lake IO manager stores daily
        # partitions, and a snapshot is "now", not a day of history.
        lake = lake_io_manager.lake()
        keys = write_document(lake, ENTITIES_PREFIX, document, "part-000.json.gz")
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
            key=[dataset, entity.table],
            group_name="silver",
            kinds={"polars", warehouse_kind},
            io_manager_key="warehouse_io_manager",
            description=f"Every version of the Ads API {entity.name}; a change in "
            f"{', '.join(entity.tracked)} opens a new one (valid_from, valid_to, is_current).",
        )
        for entity in entities
    }
    outs["quarantine"] = dg.AssetOut(
        key=[dataset, ENTITIES_QUARANTINE_TABLE],
        group_name="silver",
        kinds={"polars", warehouse_kind},
        io_manager_key="warehouse_io_manager",
        description="Entries of the newest entity snapshot that could not be typed, with the reason.",
    )

    @dg.multi_asset(
        name="dim_ads",
        outs=outs,
        deps=[ads_entities],
        check_specs=dimension_check_specs(dataset, entities),
    )
    def dim_ads(
        context: dg.AssetExecutionContext,
        lake_io_manager: dg.ResourceParam[LakeIOManager],
        warehouse: WarehouseResource,
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """Merge the newest entity snapshot into each dimension's stored history."""
        document = _newest_snapshot(lake_io_manager)
        if document is None:
            raise dg.Failure(
                "No entity snapshot in the lake: materialize bronze/ads_entities first."
            )
        listings = load_snapshot(gzip.decompress(document.body))
        profile_id = str(document.metadata.get("profile_id", ""))
        account = str(document.metadata.get("account", "default"))
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
            quarantine.append(parsed.quarantine)
            previous = _stored_history(warehouse, dataset, entity.table)
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
                    dg.AssetKey([dataset, entity.table]), history, entity.key_columns
                )
            )
        quarantine_frame = pl.concat(quarantine)
        yield dg.Output(
            quarantine_frame, output_name="quarantine", metadata={"rows": quarantine_frame.height}
        )
        yield from checks

    return [ads_entities, dim_ads]


def build_advertising_assets(
    partitions_def: dg.PartitionsDefinition, dataset: str, lake_kind: str, warehouse_kind: str
) -> list[dg.AssetsDefinition]:
    """Every advertising asset: entity snapshot and dimensions, bronze reports and facts."""
    return [
        *build_entity_assets(dataset, lake_kind, warehouse_kind),
        *build_fact_assets(partitions_def, dataset, lake_kind, warehouse_kind),
    ]
