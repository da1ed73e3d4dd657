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

from amazon_assets.defs.product_signals.checks import (
    SILVER_TABLE,
    evaluate_product_signal_checks,
    product_signal_check_specs,
)
from amazon_assets.parsers.product_signals import (
    PRODUCT_SNAPSHOT_SCHEMA,
    parse_product_signals,
    signals_document,
)
from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA
from amazon_assets.resources.lake import BronzeDocument
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.resources.warehouse import WarehouseResource
from amazon_assets.sources.refusals import refusals_fail_permanently
from amazon_assets.sources.reviews import ApifyDatasetReviews
from amazon_assets.tracking import TRACKED_TABLE, list_tracked

BRONZE_KEY = ["bronze", "product_signals"]
BRONZE_PREFIX = "amazon/catalog/us"
QUARANTINE_TABLE = "quarantine_product_signals"
# Run tag limiting a run to some accounts (comma-separated); other accounts' rows are kept.
ACCOUNTS_TAG = "amazon-assets/accounts"


def _preview(frame: pl.DataFrame) -> dg.MetadataValue:
    text = frame.head(5).to_pandas().to_markdown(index=False) if frame.height else "(no rows)"
    return dg.MetadataValue.md(text)


def current_days(now: datetime) -> set[date]:
    """The days whose partition the present state of Amazon's catalog stands for."""
    today = now.astimezone(UTC).date()
    return {today, today - timedelta(days=1)}


def run_accounts(context: dg.AssetExecutionContext) -> list[str] | None:
    """The accounts a run is limited to by its ACCOUNTS_TAG, or None for every account."""
    raw = context.run.tags.get(ACCOUNTS_TAG)
    return [name.strip() for name in raw.split(",") if name.strip()] if raw else None


def build_product_signal_assets(
    partitions_def: dg.PartitionsDefinition, dataset: str, lake_kind: str, warehouse_kind: str
) -> list[dg.AssetsDefinition | dg.SourceAsset]:
    """The tracked-ASIN, bronze and silver product-signal assets for one warehouse dataset."""
    tracked_key = dg.AssetKey([dataset, TRACKED_TABLE])

    @dg.observable_source_asset(
        key=tracked_key,
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
        key=BRONZE_KEY,
        group_name="bronze",
        kinds={"json", lake_kind},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="lake_io_manager",
        metadata={"lake_prefix": BRONZE_PREFIX, "file_name": "part-000.json.gz"},
        deps=[tracked_key],
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
    )
    @refusals_fail_permanently
    def product_signals(
        context: dg.AssetExecutionContext,
        sp_api: SpApiResource,
        reviews: ApifyDatasetReviews,
        warehouse: WarehouseResource,
    ) -> dict[str, BronzeDocument]:
        """Catalog, pricing and review answers for every tracked ASIN, one document per day."""
        tracked = list_tracked(warehouse, dataset)
        wanted = run_accounts(context)
        if wanted is not None:
            tracked = tracked.filter(pl.col("account").is_in(wanted))
        accounts = sorted(set(tracked["account"].to_list()))
        sandbox = sp_api.source_label == "sandbox"
        current = current_days(datetime.now(UTC))
        documents: dict[str, BronzeDocument] = {}
        requests: dict[str, int] = {}
        skipped = []
        for key in sorted(context.partition_keys, reverse=True):
            day = date.fromisoformat(key)
            if not sandbox and day not in current:
                skipped.append(key)  # Amazon cannot say what a past day looked like
                continue
            as_of = day if sandbox else None
            sections = []
            for account in accounts:
                rows = tracked.filter(pl.col("account") == account)
                asins = rows["asin"].unique(maintain_order=True).to_list()
                client = sp_api.for_account(account)
                catalog = client.search_catalog_items(asins, as_of=as_of)
                pricing = client.get_item_offers_batch(asins, as_of=as_of)
                review_items = reviews.fetch_reviews(
                    asins, as_of=as_of if reviews.sandbox else None
                )
                for result in (catalog, pricing):
                    for operation, count in result.requests.items():
                        requests[operation] = requests.get(operation, 0) + count
                sections.append(
                    {
                        "account": account,
                        "marketplace_id": client.marketplace_id,
                        "fetched_at": pricing.fetched_at.isoformat(),
                        "tracked": rows.select("asin", "role", "competitor_of").to_dicts(),
                        "catalog": catalog.pages,
                        "pricing": pricing.pages,
                        "reviews": review_items,
                    }
                )
            fetched_at = datetime.now(UTC)
            documents[key] = BronzeDocument(
                source="product_signals",
                day=day,
                report_id=f"signals-{fetched_at:%Y%m%dT%H%M%S%fZ}",
                status="DONE",
                body=signals_document(day, sp_api.source_label, as_of, sections),
                content_type="application/gzip",
                fetched_at=fetched_at,
                metadata={
                    "source": sp_api.source_label,
                    "as_of": as_of.isoformat() if as_of else None,
                    "accounts": accounts,
                    "all_accounts": wanted is None,
                    "asins": tracked.select("account", "asin").unique().height,
                },
            )
        if skipped:
            context.log.warning(
                f"Amazon serves the current catalog and prices only: {len(skipped)} past day(s) "
                f"({skipped[-1]}..{skipped[0]}) keep the documents already in the lake."
            )
        context.add_output_metadata(
            {
                "source": sp_api.source_label,
                "days": len(documents),
                "accounts": len(accounts),
                "tracked_asins": tracked.select("account", "asin").unique().height,
                "skipped_past_days": len(skipped),
                **{f"requests_{op}": n for op, n in sorted(requests.items())},
            }
        )
        return documents

    @dg.multi_asset(
        outs={
            "facts": dg.AssetOut(
                key=[dataset, SILVER_TABLE],
                group_name="silver",
                kinds={"polars", warehouse_kind},
                io_manager_key="warehouse_io_manager",
                metadata={"partition_expr": "snapshot_date", "cluster_by": ["account", "asin"]},
                description="Price, buy box, offers, ranks, listing and reviews per tracked ASIN "
                "and day; one row per (account, asin, snapshot_date).",
            ),
            "quarantine": dg.AssetOut(
                key=[dataset, QUARANTINE_TABLE],
                group_name="silver",
                kinds={"polars", warehouse_kind},
                io_manager_key="warehouse_io_manager",
                metadata={"partition_expr": "report_date"},
                description="Product-signal rows that could not be typed, with the reason.",
            ),
        },
        ins={"documents": dg.AssetIn(key=BRONZE_KEY)},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=product_signal_check_specs(dataset),
    )
    def fact_product_snapshot(
        context: dg.AssetExecutionContext,
        documents: dict[str, BronzeDocument],
        warehouse: WarehouseResource,
    ):
        """Parse each day's signal document; a run limited to some accounts keeps the others' rows."""
        ingested_at = datetime.now(UTC)
        facts, quarantine, without_document = [], [], []
        for key in context.partition_keys:
            document = documents.get(key)
            if document is None:
                without_document.append(key)  # never fetched: nothing to write for the day
                continue
            parsed = parse_product_signals(
                document.body, document.day, ingested_at, document.report_id or ""
            )
            facts.append(parsed.facts)
            quarantine.append(parsed.quarantine)
            if not document.metadata.get("all_accounts", True):
                facts.append(_other_accounts(warehouse, dataset, document))
        fact_frame = (
            pl.concat(facts, how="vertical_relaxed").cast(dict(PRODUCT_SNAPSHOT_SCHEMA))  # type: ignore[arg-type]
            if facts
            else pl.DataFrame(schema=PRODUCT_SNAPSHOT_SCHEMA)
        )
        quarantine_frame = (
            pl.concat(quarantine) if quarantine else pl.DataFrame(schema=QUARANTINE_SCHEMA)
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
        yield from evaluate_product_signal_checks(dataset, fact_frame)

    return [tracked_asins, product_signals, fact_product_snapshot]


def _other_accounts(
    warehouse: WarehouseResource, dataset: str, document: BronzeDocument
) -> pl.DataFrame:
    """Rows already loaded for the day of accounts this document did not fetch."""
    fetched = ", ".join("'" + a.replace("'", "''") + "'" for a in document.metadata["accounts"])
    table = warehouse.table(dataset, SILVER_TABLE)
    not_fetched = f" AND account NOT IN ({fetched})" if fetched else ""
    try:
        frame = warehouse.query(
            f"SELECT * FROM {table} WHERE snapshot_date = '{document.day.isoformat()}'{not_fetched}"
        )
    except Exception as error:  # noqa: BLE001 - no table yet: nothing to keep
        if "does not exist" in str(error) or "Not found" in str(error):
            return pl.DataFrame(schema=PRODUCT_SNAPSHOT_SCHEMA)
        raise
    return (
        frame.select(PRODUCT_SNAPSHOT_SCHEMA.names())
        if frame.height
        else pl.DataFrame(schema=PRODUCT_SNAPSHOT_SCHEMA)
    )
