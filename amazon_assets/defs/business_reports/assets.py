"""Business reports (GET_SALES_AND_TRAFFIC_REPORT, SKU granularity): bronze documents and silver facts."""

from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from amazon_assets.defs.business_reports.checks import (
    SILVER_TABLE,
    business_report_check_specs,
    evaluate_business_report_checks,
)
from amazon_assets.parsers.quarantine import QUARANTINE_SCHEMA
from amazon_assets.parsers.sales_and_traffic import (
    SALES_AND_TRAFFIC_SCHEMA,
    parse_sales_and_traffic,
)
from amazon_assets.resources.lake import BronzeDocument
from amazon_assets.resources.sp_api import ReportResult, SpApiResource
from amazon_assets.sources.refusals import refusals_fail_permanently

BUSINESS_REPORT_TYPE = "GET_SALES_AND_TRAFFIC_REPORT"
BUSINESS_REPORT_OPTIONS = {"dateGranularity": "DAY", "asinGranularity": "SKU"}
BRONZE_PREFIX = "amazon/reports/business/us"
QUARANTINE_TABLE = "quarantine_business_reports_us"


def bronze_document(
    source: str, day: date, result: ReportResult, source_label: str
) -> BronzeDocument:
    """The lake record of one fetched report: its bytes exactly as downloaded, and where they came from."""
    return BronzeDocument(
        source=source,
        day=day,
        report_id=result.report_id,
        status=result.status,
        body=result.body,
        content_type="application/gzip" if result.compression == "GZIP" else "application/json",
        fetched_at=result.fetched_at,
        metadata={
            "report_type": result.report_type,
            "report_document_id": result.document_id,
            "compression": result.compression,
            "data_start": result.data_start.isoformat(),
            "data_end": result.data_end.isoformat(),
            "source": source_label,
        },
    )


def build_business_report_assets(
    partitions_def: dg.PartitionsDefinition, dataset: str, lake_kind: str, warehouse_kind: str
) -> list[dg.AssetsDefinition]:
    """The bronze and silver business-report assets for one warehouse dataset."""

    @dg.asset(
        key=["bronze", "business_reports"],
        group_name="bronze",
        kinds={"json", lake_kind},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="lake_io_manager",
        metadata={"lake_prefix": BRONZE_PREFIX, "file_name": "part-000.json.gz"},
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
    )
    @refusals_fail_permanently
    def business_reports(
        context: dg.AssetExecutionContext, sp_api: SpApiResource
    ) -> dict[str, BronzeDocument]:
        """Raw sales and traffic documents, one per day, exactly as Amazon served them (gzip JSON)."""
        documents: dict[str, BronzeDocument] = {}
        requests: dict[str, int] = {}
        # Newest first: when quotas bite, the days users look at arrive first.
        for key in sorted(context.partition_keys, reverse=True):
            day = date.fromisoformat(key)
            result = sp_api.fetch_report(
                BUSINESS_REPORT_TYPE, day, day, BUSINESS_REPORT_OPTIONS, complete=False
            )
            documents[key] = bronze_document("business_reports", day, result, sp_api.source_label)
            for operation, count in result.requests.items():
                requests[operation] = requests.get(operation, 0) + count
            context.log.info(f"{key}: report {result.report_id} {result.status}")
        sp_api.complete_reports([doc.report_id for doc in documents.values() if doc.report_id])
        cancelled = sorted(k for k, doc in documents.items() if doc.status == "CANCELLED")
        context.add_output_metadata(
            {
                "source": sp_api.source_label,
                "days": len(documents),
                "cancelled_days": dg.MetadataValue.text(", ".join(cancelled) or "none"),
                "bytes": sum(len(doc.body) for doc in documents.values()),
                **{f"requests_{operation}": count for operation, count in sorted(requests.items())},
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
                metadata={"partition_expr": "report_date", "cluster_by": ["msku", "asin"]},
                description="Sales and traffic per SKU and day, typed; one row per (report_date, msku, asin).",
            ),
            "quarantine": dg.AssetOut(
                key=[dataset, QUARANTINE_TABLE],
                group_name="silver",
                kinds={"polars", warehouse_kind},
                io_manager_key="warehouse_io_manager",
                metadata={"partition_expr": "report_date"},
                description="Rows of business-report documents that could not be typed, with the reason.",
            ),
        },
        ins={"documents": dg.AssetIn(key=["bronze", "business_reports"])},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=business_report_check_specs(dataset),
    )
    def fact_business_reports_us(
        context: dg.AssetExecutionContext, documents: dict[str, BronzeDocument]
    ):
        """Parse each day's bronze document into typed facts; malformed rows go to quarantine."""
        ingested_at = datetime.now(UTC)
        facts, quarantine, totals, document_rows = [], [], {}, {}
        missing = [key for key in context.partition_keys if key not in documents]
        if missing:
            raise dg.Failure(
                f"No bronze business report for {', '.join(missing)}: materialize "
                "bronze/business_reports for those days first."
            )
        for key in context.partition_keys:
            document = documents[key]
            if document.status != "DONE":
                continue  # CANCELLED: Amazon had no data for the day, an empty partition
            parsed = parse_sales_and_traffic(
                document.body,
                report_date=document.day,
                report_id=document.report_id or "",
                account="default",
                ingested_at=ingested_at,
            )
            facts.append(parsed.facts)
            quarantine.append(parsed.quarantine)
            totals[key] = parsed.by_date_totals
            document_rows[key] = parsed.document_rows
        fact_frame = pl.concat(facts) if facts else pl.DataFrame(schema=SALES_AND_TRAFFIC_SCHEMA)
        quarantine_frame = (
            pl.concat(quarantine) if quarantine else pl.DataFrame(schema=QUARANTINE_SCHEMA)
        )
        yield dg.Output(
            fact_frame,
            output_name="facts",
            metadata={
                "rows": fact_frame.height,
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
