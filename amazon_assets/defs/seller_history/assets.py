"""Seller history: bronze documents of seven SP-API sources and their silver facts, per account.

Partitions are (account, day): a dynamic `accounts` dimension crossed with the shared daily
partitions, so a newly connected account is backfilled without touching the others. One bronze
step fetches all selected sources of an account at once (their requests share the account's quota
buckets concurrently); each source's silver step re-derives its days from the lake.

Run modes (run tag `amazon_assets/seller_history_mode`):
- "backfill" (default, e.g. the UI's backfill page and the onboarding sensor): calendar-aligned
  windows over the run's days; windows already in bronze are skipped, so an interrupted backfill
  resumes where it stopped;
- "refresh" (the daily schedule): each source re-fetches its own lookback (its spec's
  `lookback_days`, `defs/seller_history/spec.py`);
- "fetch" (`amazon-assets ingest`): the run's days are fetched again whatever bronze holds.
"""

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from amazon_assets.asset_keys import silver_key
from amazon_assets.defs.seller_history.bronze import AccountFetcher
from amazon_assets.defs.seller_history.checks import (
    evaluate_seller_checks,
    seller_check_specs,
)
from amazon_assets.defs.seller_history.silver import load_silver
from amazon_assets.defs.seller_history.spec import (
    SETTLEMENT_SUMMARIES_DESCRIPTION,
    SETTLEMENT_SUMMARIES_TABLE,
    SETTLEMENTS,
    SPECS,
)
from amazon_assets.ingestion.bronze import SourceProgress
from amazon_assets.parsers.quarantine import refused_rows
from amazon_assets.partitions import days_by_account
from amazon_assets.resources.lake import LakeResource
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.sources import planner
from amazon_assets.sources.refusals import refusals_fail_permanently
from amazon_assets.sources.reuse import run_reuse_since

MODE_TAG = "amazon_assets/seller_history_mode"
BACKFILL, REFRESH, FETCH = "backfill", "refresh", "fetch"
SOURCE_NAMES = tuple(SPECS)  # orders, inventory_ledger, ... financial_events


def plan_for_run(
    sources: Sequence[str], first: date, last: date, mode: str
) -> list[planner.PlannedRequest]:
    """The requests a run makes for one account."""
    specs = [SPECS[source] for source in sources]
    if mode != REFRESH:
        return planner.plan_requests(specs, first, last)
    plan = []
    for spec in specs:
        start, end = planner.refresh_range(spec, last)
        plan.extend(planner.plan_source(spec, max(start, first), end))
    return sorted(plan, key=lambda r: (-r.end.toordinal(), r.source))


def build_seller_history_assets(
    partitions_def: dg.MultiPartitionsDefinition,
    lake_kind: str,
    warehouse_kind: str,
) -> list[dg.AssetsDefinition]:
    """The bronze step (all sources) and one silver step per source."""
    return [
        _bronze_assets(partitions_def, lake_kind),
        *(_silver_asset(source, partitions_def, warehouse_kind) for source in SOURCE_NAMES),
    ]


def _bronze_assets(
    partitions_def: dg.MultiPartitionsDefinition, lake_kind: str
) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            spec.bronze_key,
            group_name="bronze",
            kinds={spec.file_extension, lake_kind},
            partitions_def=partitions_def,
            description=f"Every raw {spec.name.replace('_', ' ')} document, exactly as Amazon "
            "served it.",
            metadata={"lake_prefix": spec.lake_prefix("<account>")},
            skippable=True,
        )
        for spec in SPECS.values()
    ]

    @dg.multi_asset(
        name="seller_history_bronze",
        specs=specs,
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run(),
        # No step retry: each request is already retried (429, 5xx, one FATAL), and a failed
        # step is resumed by running it again (stored windows are skipped, open reports resumed).
    )
    @refusals_fail_permanently
    def seller_history_bronze(
        context: dg.AssetExecutionContext,
        sp_api: SpApiResource,
        lake: LakeResource,
    ) -> Iterator[dg.MaterializeResult]:
        """Fetch the selected sources for each account of the run, all requests at once."""
        sources = [s for s, spec in SPECS.items() if spec.bronze_key in context.selected_asset_keys]
        mode = context.run.tags.get(MODE_TAG, BACKFILL)
        store = lake.lake()
        ranges = days_by_account(context.partition_keys)
        reuse_since = run_reuse_since(context, sp_api.reuse_minutes)

        def fetch(account: str) -> dict[str, SourceProgress]:
            first, last = ranges[account]
            plan = plan_for_run(sources, first, last, mode)
            context.log.info(
                f"{account}: {len(plan)} requests planned for {first}..{last} ({mode})"
            )
            fetcher = AccountFetcher(
                sp_api.for_account(account),
                store,
                skip_stored=mode == BACKFILL,
                log=context.log.info,
                reuse_since=reuse_since,
            )
            return fetcher.run(plan)

        with ThreadPoolExecutor(max(1, len(ranges))) as pool:
            progress = dict(zip(ranges, pool.map(fetch, ranges), strict=True))
        for source in sources:
            totals = SourceProgress()
            for account_progress in progress.values():
                totals.add(account_progress.get(source, SourceProgress()))
            yield dg.MaterializeResult(
                asset_key=SPECS[source].bronze_key,
                metadata={
                    "source": sp_api.source_label,
                    "mode": mode,
                    "accounts": dg.MetadataValue.text(", ".join(ranges)),
                    **totals.metadata(),
                },
            )

    return seller_history_bronze


def _silver_asset(
    source: str,
    partitions_def: dg.MultiPartitionsDefinition,
    warehouse_kind: str,
) -> dg.AssetsDefinition:
    spec = SPECS[source]
    partition_expr = {"account": "account", "day": "report_date"}

    def out(silver_table: str, description: str, cluster_by: Sequence[str]) -> dg.AssetOut:
        return dg.AssetOut(
            key=silver_key(silver_table),
            group_name="silver",
            kinds={"polars", warehouse_kind},
            io_manager_key="warehouse_io_manager",
            metadata={"partition_expr": partition_expr, "cluster_by": list(cluster_by)},
            description=description,
        )

    outs = {
        "facts": out(spec.silver_table, spec.description, spec.cluster_by),
        "quarantine": out(
            spec.quarantine_table,
            f"Rows of {source.replace('_', ' ')} documents that could not be typed, with the reason.",
            ("account",),
        ),
    }
    if spec is SETTLEMENTS:
        outs["summaries"] = out(
            SETTLEMENT_SUMMARIES_TABLE, SETTLEMENT_SUMMARIES_DESCRIPTION, ("account",)
        )

    @dg.multi_asset(
        name=spec.silver_table,
        outs=outs,
        deps=[spec.bronze_key],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=seller_check_specs(source),
    )
    def silver(context: dg.AssetExecutionContext, lake: LakeResource):
        """Type the account's bronze documents for the run's days; malformed rows to quarantine."""
        store = lake.lake()
        ingested_at = datetime.now(UTC)
        batches = [
            load_silver(store, source, account, first, last, ingested_at)
            for account, (first, last) in days_by_account(context.partition_keys).items()
        ]
        # A partitioned run always has at least one (account, day), hence at least one batch.
        facts = pl.concat([b.facts for b in batches])
        quarantine = pl.concat([b.quarantine for b in batches])
        yield dg.Output(
            facts,
            output_name="facts",
            metadata={
                "rows": facts.height,
                "accounts": facts["account"].n_unique(),
                "documents": sum(b.documents for b in batches),
                "document_rows": sum(b.document_rows for b in batches),
                "quarantined_rows": quarantine.height,
                "refused_rows": refused_rows(quarantine).height,
                "identical_rows_dropped": sum(b.identical_rows_dropped for b in batches),
                "conflicting_key_rows_quarantined": sum(b.key_conflicts.height for b in batches),
                "preview": dg.MetadataValue.md(_preview(facts)),
            },
        )
        yield dg.Output(quarantine, output_name="quarantine", metadata={"rows": quarantine.height})
        summaries = None
        if spec is SETTLEMENTS:
            summaries = pl.concat([b.summaries for b in batches if b.summaries is not None])
            yield dg.Output(summaries, output_name="summaries", metadata={"rows": summaries.height})
        accounting = pl.concat([b.accounting for b in batches])
        key_conflicts = pl.concat([b.key_conflicts for b in batches])
        yield from evaluate_seller_checks(
            source, facts, quarantine, summaries, accounting, key_conflicts
        )

    return silver


def _preview(frame: pl.DataFrame) -> str:
    if not frame.height:
        return "(no rows)"
    return frame.head(5).to_pandas().to_markdown(index=False)
