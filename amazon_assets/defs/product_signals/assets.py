"""Product signals: tracked ASINs, bronze signal documents and silver fact_product_snapshot.

Amazon's Catalog and Pricing APIs (and a scraped review dataset) describe the present, not a past
day. Against Amazon the bronze asset therefore fetches only the current days (yesterday and
today, UTC) and leaves older partitions to the documents already in the lake; the sandbox takes
a "sandboxAsOf" day, so a backfill there fetches each day's state.
"""

import hashlib
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from amazon_assets.asset_keys import silver_key
from amazon_assets.defs.product_signals.checks import (
    evaluate_product_signal_checks,
    product_signal_check_specs,
)
from amazon_assets.defs.product_signals.spec import PRODUCT_SIGNALS, TRACKED_ASINS_KEY
from amazon_assets.ingestion.bronze import SourceProgress
from amazon_assets.ingestion.silver import newest_documents
from amazon_assets.parsers.product_signals import (
    PRODUCT_SNAPSHOT_SCHEMA,
    parse_product_signals,
    signals_document,
)
from amazon_assets.parsers.quarantine import ACCOUNT_QUARANTINE_SCHEMA
from amazon_assets.partitions import days_of_accounts
from amazon_assets.resources.lake import BronzeDocument, LakeResource, write_document
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.resources.warehouse import WarehouseResource
from amazon_assets.sources.refusals import refusals_fail_permanently
from amazon_assets.sources.reviews import ApifyDatasetReviews
from amazon_assets.tracking import list_tracked

SPEC = PRODUCT_SIGNALS


def _preview(frame: pl.DataFrame) -> dg.MetadataValue:
    text = frame.head(5).to_pandas().to_markdown(index=False) if frame.height else "(no rows)"
    return dg.MetadataValue.md(text)


def current_days(now: datetime) -> set[date]:
    """The days whose partition the present state of Amazon's catalog stands for."""
    today = now.astimezone(UTC).date()
    return {today, today - timedelta(days=1)}


def _fetch_signals(
    client: SpApiResource,
    reviews: ApifyDatasetReviews,
    tracked: pl.DataFrame,
    day: date,
    sandbox: bool,
) -> tuple[BronzeDocument, dict[str, int]]:
    """One account's signal document for `day`: its tracked ASINs' catalog, pricing and reviews
    (the sandbox answers as of `day`; Amazon answers with the present)."""
    as_of = day if sandbox else None
    asins = tracked["asin"].unique(maintain_order=True).to_list()
    catalog = client.search_catalog_items(asins, as_of=as_of)
    pricing = client.get_item_offers_batch(asins, as_of=as_of)
    review_items = reviews.fetch_reviews(asins, as_of=as_of if reviews.sandbox else None)
    section = {
        "account": client.account,
        "marketplace_id": client.marketplace_id,
        "fetched_at": pricing.fetched_at.isoformat(),
        "tracked": tracked.select("asin", "role", "competitor_of").to_dicts(),
        "catalog": catalog.pages,
        "pricing": pricing.pages,
        "reviews": review_items,
    }
    fetched_at = datetime.now(UTC)
    document = BronzeDocument(
        source=SPEC.name,
        day=day,
        report_id=f"signals-{fetched_at:%Y%m%dT%H%M%S%fZ}",
        status="DONE",
        body=signals_document(day, client.source_label, as_of, [section]),
        content_type="application/gzip",
        fetched_at=fetched_at,
        metadata={
            "source": client.source_label,
            "as_of": as_of.isoformat() if as_of else None,
            "account": client.account,
            "data_start": day.isoformat(),
            "data_end": day.isoformat(),
            "report_options": {},
            "asins": len(asins),
        },
    )
    requests: dict[str, int] = {}
    for result in (catalog, pricing):
        for operation, count in result.requests.items():
            requests[operation] = requests.get(operation, 0) + count
    return document, requests


def build_product_signal_assets(
    partitions_def: dg.MultiPartitionsDefinition,
    dataset: str,
    lake_kind: str,
    warehouse_kind: str,
) -> list[dg.AssetsDefinition | dg.SourceAsset]:
    """The tracked-ASIN, bronze and silver product-signal assets; `dataset` holds the tracked
    ASINs' table."""

    @dg.observable_source_asset(
        key=TRACKED_ASINS_KEY,
        group_name="silver",
        kinds={warehouse_kind},
        required_resource_keys={"warehouse"},
        description="ASINs tracked per account (own and competitors'); edited with "
        "`amazon-assets track add/remove`.",
    )
    def tracked_asins(context: dg.OpExecutionContext) -> dg.ObserveResult:
        """Observe the tracked-ASIN table: its version changes whenever the list changes."""
        tracked = list_tracked(context.resources.warehouse, dataset)
        listing = tracked.select("account", "asin", "role", "competitor_of").write_csv()
        counts = tracked.group_by("account", "role").len().sort("account", "role")
        return dg.ObserveResult(
            data_version=dg.DataVersion(hashlib.sha256(listing.encode()).hexdigest()[:16]),
            metadata={
                "rows": tracked.height,
                "asins": tracked.select("account", "asin").unique().height,
                "by_account_and_role": dg.MetadataValue.json(
                    {f"{a}/{r}": n for a, r, n in counts.iter_rows()}
                ),
                "preview": _preview(tracked),
            },
        )

    @dg.asset(
        key=SPEC.bronze_key,
        group_name="bronze",
        kinds={"json", lake_kind},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"lake_prefix": SPEC.lake_prefix("<account>")},
        deps=[TRACKED_ASINS_KEY],
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
    )
    @refusals_fail_permanently
    def product_signals(
        context: dg.AssetExecutionContext,
        sp_api: SpApiResource,
        reviews: ApifyDatasetReviews,
        warehouse: WarehouseResource,
        lake: LakeResource,
    ) -> dg.MaterializeResult:
        """Catalog, pricing and review answers for an account's tracked ASINs, one document per
        account and day, each written to the lake as it arrives."""
        store = lake.lake()
        sandbox = sp_api.source_label == "sandbox"
        current = current_days(datetime.now(UTC))
        progress = SourceProgress()
        skipped: list[str] = []
        untracked: list[str] = []
        asins = 0
        for account, days in days_of_accounts(context.partition_keys).items():
            tracked = list_tracked(warehouse, dataset, account)
            if tracked.is_empty():
                untracked.append(account)
                continue
            asins += tracked["asin"].n_unique()
            for day in sorted(days, reverse=True):
                if not sandbox and day not in current:
                    skipped.append(f"{account} {day}")  # Amazon cannot say how a past day looked
                    continue
                progress.planned += 1
                document, requests = _fetch_signals(
                    sp_api.for_account(account), reviews, tracked, day, sandbox
                )
                write_document(store, SPEC.lake_prefix(account), document, SPEC.file_name(True))
                progress.stored(document, requests)
        if skipped:
            context.log.warning(
                f"Amazon serves the current catalog and prices only: {len(skipped)} past "
                "account-day(s) keep the documents already in the lake."
            )
        return dg.MaterializeResult(
            metadata={
                "source": sp_api.source_label,
                "tracked_asins": asins,
                "accounts_without_tracked_asins": dg.MetadataValue.text(
                    ", ".join(untracked) or "none"
                ),
                "skipped_past_days": len(skipped),
                **progress.metadata(),
            }
        )

    def out(table: str, day_column: str, description: str) -> dg.AssetOut:
        return dg.AssetOut(
            key=silver_key(table),
            group_name="silver",
            kinds={"polars", warehouse_kind},
            io_manager_key="warehouse_io_manager",
            metadata={
                "partition_expr": {"account": "account", "day": day_column},
                "cluster_by": list(SPEC.cluster_by),
            },
            description=description,
        )

    @dg.multi_asset(
        name=SPEC.silver_table,
        outs={
            "facts": out(
                SPEC.silver_table,
                "snapshot_date",
                "Price, buy box, offers, ranks, listing and reviews per tracked ASIN and day; "
                f"one row per ({', '.join(SPEC.natural_key)}).",
            ),
            "quarantine": out(
                SPEC.quarantine_table,
                "report_date",
                "Product-signal rows that could not be typed, with the reason.",
            ),
        },
        deps=[SPEC.bronze_key],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=product_signal_check_specs(),
    )
    def fact_product_snapshot(context: dg.AssetExecutionContext, lake: LakeResource):
        """Parse the newest stored signal document of each (account, day)."""
        store = lake.lake()
        ingested_at = datetime.now(UTC)
        facts, quarantine, without_document = [], [], []
        for account, days in days_of_accounts(context.partition_keys).items():
            chosen, uncovered = newest_documents(SPEC, store, account, days)
            # Never fetched (nothing tracked then, or a past day against Amazon): nothing to write.
            without_document += [f"{account} {day}" for day in uncovered]
            for day, stored in sorted(chosen.items()):
                document = stored.read(store)
                parsed = parse_product_signals(
                    document.body, day, ingested_at, document.report_id or "", account
                )
                facts.append(parsed.facts)
                quarantine.append(parsed.quarantine.with_columns(account=pl.lit(account)))
        fact_frame = (
            pl.concat(facts, how="vertical_relaxed").cast(dict(PRODUCT_SNAPSHOT_SCHEMA))  # type: ignore[arg-type]
            if facts
            else pl.DataFrame(schema=PRODUCT_SNAPSHOT_SCHEMA)
        )
        quarantine_frame = (
            pl.concat(quarantine).cast(dict(ACCOUNT_QUARANTINE_SCHEMA))
            if quarantine
            else pl.DataFrame(schema=ACCOUNT_QUARANTINE_SCHEMA)
        )
        yield dg.Output(
            fact_frame,
            output_name="facts",
            metadata={
                "rows": fact_frame.height,
                "asins": fact_frame.select("account", "asin").unique().height,
                "rows_with_price": fact_frame["price"].count(),
                "rows_with_bsr": fact_frame["bsr"].count(),
                "rows_with_rating": fact_frame["rating"].count(),
                "quarantined_rows": quarantine_frame.height,
                "days_without_document": dg.MetadataValue.text(
                    ", ".join(without_document) or "none"
                ),
                "preview": _preview(fact_frame),
            },
        )
        yield dg.Output(
            quarantine_frame, output_name="quarantine", metadata={"rows": quarantine_frame.height}
        )
        yield from evaluate_product_signal_checks(fact_frame)

    return [tracked_asins, product_signals, fact_product_snapshot]
