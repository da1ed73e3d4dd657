"""Business reports (GET_SALES_AND_TRAFFIC_REPORT, SKU granularity): bronze documents and silver
facts, per seller account and day (spec: `defs/business_reports/spec.py`)."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from amazon_assets.defs.business_reports.checks import (
    business_report_check_specs,
    evaluate_business_report_checks,
)
from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS
from amazon_assets.ingestion.bronze import SourceProgress, write_reports
from amazon_assets.ingestion.silver import newest_documents
from amazon_assets.parsers.quarantine import ACCOUNT_QUARANTINE_SCHEMA
from amazon_assets.parsers.sales_and_traffic import parse_sales_and_traffic
from amazon_assets.partitions import days_of_accounts
from amazon_assets.resources.lake import LakeResource
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.sources.quotas import Clock
from amazon_assets.sources.refusals import refusals_fail_permanently
from amazon_assets.sources.sales_and_traffic_budget import (
    BudgetedRequest,
    SalesAndTrafficBudget,
    amazon_day,
    purpose_of,
    request_order,
)
from amazon_assets.sources.state import open_state_store

SPEC = BUSINESS_REPORTS


def app_budget(sp_api: SpApiResource) -> SalesAndTrafficBudget | None:
    """The app's shared GET_SALES_AND_TRAFFIC_REPORT budget (per endpoint and LWA app), or None
    for a client that does not pace itself (benchmarks against a sandbox without quotas)."""
    if not sp_api.pace_requests:
        return None
    application = f"{sp_api.endpoint.rstrip('/')}|{sp_api.client_id}"
    return SalesAndTrafficBudget(open_state_store(sp_api.state_path), application)


PARTITION_EXPR = {"account": "account", "day": "report_date"}


def build_business_report_assets(
    partitions_def: dg.MultiPartitionsDefinition, dataset: str, lake_kind: str, warehouse_kind: str
) -> list[dg.AssetsDefinition]:
    """The bronze and silver business-report assets for one warehouse dataset."""

    @dg.asset(
        key=SPEC.bronze_key,
        group_name="bronze",
        kinds={"json", lake_kind},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"lake_prefix": SPEC.lake_prefix("<account>")},
        # A retry re-requests nothing stored: documents are in the lake as they arrive.
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
    )
    @refusals_fail_permanently
    def business_reports(
        context: dg.AssetExecutionContext, sp_api: SpApiResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        """Raw sales and traffic documents, one per account and day, exactly as Amazon served
        them (gzip JSON), each written to the lake the moment it arrives."""
        store = lake.lake()
        totals = SourceProgress()
        accounts = days_of_accounts(context.partition_keys)
        budget = app_budget(sp_api)
        clock = Clock(sp_api.clock_speed)
        last_day = datetime.now(UTC).date() - timedelta(days=1)
        # Settling windows first, then history round-robin across accounts (the budget's order).
        for account, days in request_order(accounts, last_day):

            def spend(day: date, account: str = account) -> None:
                if budget is not None:
                    purpose = purpose_of(day, last_day)
                    budget.spend(amazon_day(clock), BudgetedRequest(account, day, purpose))

            progress = write_reports(
                SPEC,
                sp_api.for_account(account),
                store,
                days,
                log=context.log.info,
                before_request=spend,
            )
            totals.add(progress)
        return dg.MaterializeResult(
            metadata={
                "source": sp_api.source_label,
                "accounts": dg.MetadataValue.text(", ".join(accounts)),
                **totals.metadata(),
                **(budget.metadata(amazon_day(clock)) if budget is not None else {}),
            }
        )

    def out(table: str, description: str, cluster_by: tuple[str, ...]) -> dg.AssetOut:
        return dg.AssetOut(
            key=[dataset, table],
            group_name="silver",
            kinds={"polars", warehouse_kind},
            io_manager_key="warehouse_io_manager",
            metadata={"partition_expr": PARTITION_EXPR, "cluster_by": list(cluster_by)},
            description=description,
        )

    @dg.multi_asset(
        name=SPEC.silver_table,
        outs={
            "facts": out(
                SPEC.silver_table,
                "Sales and traffic per SKU and day, typed; one row per "
                f"({', '.join(SPEC.natural_key)}).",
                SPEC.cluster_by,
            ),
            "quarantine": out(
                SPEC.quarantine_table,
                "Rows of business-report documents that could not be typed, with the reason.",
                ("account",),
            ),
        },
        deps=[SPEC.bronze_key],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=business_report_check_specs(dataset),
    )
    def fact_business_reports_us(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """Parse the newest stored document of each (account, day) into typed facts; malformed
        rows go to quarantine."""
        store = lake.lake()
        ingested_at = datetime.now(UTC)
        facts, quarantine, totals, document_rows = [], [], {}, {}
        missing: list[str] = []
        for account, days in days_of_accounts(context.partition_keys).items():
            chosen, uncovered = newest_documents(SPEC, store, account, days)
            missing += [f"{account} {day}" for day in uncovered]
            for day, stored in sorted(chosen.items()):
                document = stored.read(store)
                if document.status != "DONE":
                    continue  # CANCELLED: Amazon had no data for the day, an empty partition
                parsed = parse_sales_and_traffic(
                    document.body,
                    report_date=day,
                    report_id=document.report_id or "",
                    account=account,
                    ingested_at=ingested_at,
                )
                facts.append(parsed.facts)
                quarantine.append(parsed.quarantine.with_columns(account=pl.lit(account)))
                totals[(account, day)] = parsed.by_date_totals
                document_rows[(account, day)] = parsed.document_rows
        if missing:
            raise dg.Failure(
                f"No bronze business report for {', '.join(missing)}: materialize "
                "bronze/business_reports for those accounts and days first."
            )
        fact_frame = pl.concat(facts) if facts else pl.DataFrame(schema=SPEC.schema)
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
                "accounts": fact_frame["account"].n_unique(),
                "skus": fact_frame["msku"].n_unique(),
                "ordered_product_sales": float(fact_frame["ordered_product_sales"].sum() or 0),
                "units_ordered": int(fact_frame["units_ordered"].sum() or 0),
                "quarantined_rows": quarantine_frame.height,
                "preview": dg.MetadataValue.md(
                    fact_frame.head(5).to_pandas().to_markdown(index=False)
                    if fact_frame.height
                    else "(no rows)"
                ),
            },
        )
        yield dg.Output(
            quarantine_frame,
            output_name="quarantine",
            metadata={"rows": quarantine_frame.height},
        )
        yield from evaluate_business_report_checks(
            dataset, fact_frame, quarantine_frame, document_rows, totals
        )

    return [business_reports, fact_business_reports_us]
