"""Business reports (GET_SALES_AND_TRAFFIC_REPORT, SKU granularity; Data Kiosk's
salesAndTrafficTrends for the history when the app has the role): bronze documents, silver facts
and day statuses, per seller account and day (specs: `defs/business_reports/spec.py`)."""

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from amazon_assets.asset_keys import silver_key
from amazon_assets.defs.business_reports.checks import (
    business_report_check_specs,
    evaluate_business_report_checks,
)
from amazon_assets.defs.business_reports.spec import (
    BUSINESS_REPORTS,
    DATA_KIOSK_ASINS,
    DATA_KIOSK_TRENDS,
    DAY_STATUS_TABLE,
)
from amazon_assets.ingestion.bronze import (
    SourceProgress,
    StoredDocument,
    write_kiosk_history,
    write_reports,
)
from amazon_assets.ingestion.silver import newest_document_parts, newest_documents
from amazon_assets.parsers.data_kiosk import (
    DAY_STATUS_SCHEMA,
    PROVISIONAL,
    day_status,
    parse_sales_and_traffic_trends,
)
from amazon_assets.parsers.quarantine import ACCOUNT_QUARANTINE_SCHEMA, quarantine_frame
from amazon_assets.parsers.sales_and_traffic import parse_sales_and_traffic
from amazon_assets.partitions import days_of_accounts
from amazon_assets.resources.data_kiosk import child_asins
from amazon_assets.resources.lake import Lake, LakeResource
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.sources.quotas import Clock
from amazon_assets.sources.refusals import refusals_fail_permanently
from amazon_assets.sources.reuse import run_reuse_since
from amazon_assets.sources.sales_and_traffic_budget import (
    HISTORY,
    KIOSK_DAYS_PER_QUERY,
    SETTLING,
    BudgetedRequest,
    SalesAndTrafficBudget,
    amazon_day,
    purpose_of,
    request_order,
    settling_requests,
)
from amazon_assets.sources.state import open_state_store

SPEC = BUSINESS_REPORTS
KIOSK = DATA_KIOSK_TRENDS


def app_budget(sp_api: SpApiResource) -> SalesAndTrafficBudget | None:
    """The app's shared GET_SALES_AND_TRAFFIC_REPORT budget (per endpoint and LWA app), or None
    for a client that does not pace itself (benchmarks against a sandbox without quotas)."""
    if not sp_api.pace_requests:
        return None
    application = f"{sp_api.endpoint.rstrip('/')}|{sp_api.client_id}"
    return SalesAndTrafficBudget(
        open_state_store(sp_api.state_path), application, sp_api.sales_and_traffic_daily
    )


PARTITION_EXPR = {"account": "account", "day": "report_date"}


def kiosk_days(
    days_by_account: dict[str, list[date]], last_day: date
) -> tuple[dict[str, list[date]], dict[str, list[date]]]:
    """The days of each account Data Kiosk serves, as (history, settling): the history before
    the settling window within the two years a query may reach back, and the settling window's
    days the Reports API leaves to it (all but the newest and the one leaving the window:
    `settling_requests`), refreshed at child-ASIN level."""
    oldest = last_day - timedelta(days=KIOSK_DAYS_PER_QUERY - 1)
    reports = set(settling_requests(last_day, data_kiosk=True))

    def kept(keep: Callable[[date], bool]) -> dict[str, list[date]]:
        return {
            account: chosen
            for account, days in days_by_account.items()
            if (chosen := [d for d in days if keep(d)])
        }

    return (
        kept(lambda d: d >= oldest and purpose_of(d, last_day) == HISTORY),
        kept(lambda d: purpose_of(d, last_day) == SETTLING and d not in reports),
    )


def report_or_kiosk(
    reports: dict[date, StoredDocument], kiosk: dict[StoredDocument, list[date]]
) -> tuple[dict[date, StoredDocument], dict[StoredDocument, list[date]]]:
    """Which documents silver loads for each day: the day's SKU report (`reports`), unless it
    was fetched while the day was provisional and a Data Kiosk document of the day (`kiosk`:
    the newest of each ASIN batch, with the days it covers) came after it; else the day's Data
    Kiosk documents. With Data Kiosk the window's days between the newest and the one leaving
    it are refreshed by Data Kiosk: its restated child-ASIN rows replace the report of the
    day's first morning until the day's settled report arrives."""
    newest: dict[date, datetime] = {}
    for document, covered in kiosk.items():
        for day in covered:
            newest[day] = max(document.fetched_at, newest.get(day, document.fetched_at))
    chosen = {
        day: report
        for day, report in reports.items()
        if day_status(day, report.fetched_at.date(), SPEC.lookback_days) != PROVISIONAL
        or newest.get(day, report.fetched_at) <= report.fetched_at
    }
    rest = {
        document: kept
        for document, covered in kiosk.items()
        if (kept := [day for day in covered if day not in chosen])
    }
    return chosen, rest


def kiosk_empty_days(store: Lake, account: str, days: list[date]) -> dict[date, datetime]:
    """Of `days` (no trends document covers them), those whose newest stored ASIN list
    (salesAndTrafficByAsin over a range holding them) named no child ASIN: Amazon had no data,
    so no trends query was asked; each is an empty day as of that list's fetch time."""
    lists, _ = newest_documents(DATA_KIOSK_ASINS, store, account, days)
    empty = {doc: not child_asins(doc.read(store).body) for doc in set(lists.values())}
    return {day: document.fetched_at for day, document in lists.items() if empty[document]}


@dataclass
class KioskRows:
    """What the chosen Data Kiosk documents give silver, and how each (account, day)'s lines are
    accounted for: `lines` per day = its rows in `facts` + its refused lines in `quarantine` +
    `superseded` (a child ASIN's line of a day that a newer document of the day also holds)."""

    facts: pl.DataFrame
    quarantine: pl.DataFrame
    lines: dict[tuple[str, date], int]
    superseded: dict[tuple[str, date], int]


def _kiosk_rows(
    store: Lake,
    account: str,
    chosen: dict[StoredDocument, list[date]],
    ingested_at: datetime,
    statuses: dict[tuple[str, date], str],
) -> KioskRows:
    """Facts and refused lines of the chosen Data Kiosk documents, each for its chosen days; a
    child ASIN in two documents of a day (its batch changed) comes from the newest. Records each
    day's status in `statuses` (provisional if any part of the day is)."""
    facts, quarantine = [], []
    lines: Counter[tuple[str, date]] = Counter()
    superseded: Counter[tuple[str, date]] = Counter()
    seen = pl.DataFrame(schema={"report_date": pl.Date, "asin": pl.Utf8})
    for stored in sorted(chosen, key=lambda d: (d.fetched_at, d.sidecar_key), reverse=True):
        days = chosen[stored]
        parsed = parse_sales_and_traffic_trends(
            stored.read(store).body,
            query_id=stored.report_id or "",
            account=account,
            data_start=stored.data_start,
            data_end=stored.data_end,
            asins=stored.asins,
            fetched_at=stored.fetched_at,
            settle_days=KIOSK.lookback_days,
            ingested_at=ingested_at,
        )
        lines.update({(account, day): parsed.lines_by_day.get(day, 0) for day in days})
        rows = parsed.facts.filter(pl.col("report_date").is_in(days))
        newest = rows.join(seen, on=["report_date", "asin"], how="anti")
        for day, n in (
            rows.join(seen, on=["report_date", "asin"]).group_by("report_date").len().iter_rows()
        ):
            superseded[(account, day)] += n
        seen = pl.concat([seen, newest.select("report_date", "asin")])
        facts.append(newest)
        quarantine.append(parsed.quarantine.filter(pl.col("report_date").is_in(days)))
        for day, status in (
            parsed.days.filter(pl.col("report_date").is_in(days))
            .select("report_date", "status")
            .iter_rows()
        ):
            if statuses.get((account, day)) != PROVISIONAL:
                statuses[(account, day)] = status
    return KioskRows(
        facts=pl.concat(facts) if facts else pl.DataFrame(schema=SPEC.schema),
        quarantine=pl.concat(quarantine) if quarantine else quarantine_frame([]),
        lines=dict(lines),
        superseded=dict(superseded),
    )


def build_business_report_assets(
    partitions_def: dg.MultiPartitionsDefinition, lake_kind: str, warehouse_kind: str
) -> list[dg.AssetsDefinition]:
    """The bronze and silver business-report assets."""

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
        """Raw sales and traffic documents exactly as Amazon served them, each written to the
        lake the moment it arrives: one SKU report (gzip JSON) per account and day; with Data
        Kiosk on, the history and the settling window's days between its newest and the one
        leaving it (two reports per account and day, not seven) as salesAndTrafficTrends
        documents (JSONL, 30 child ASINs and up to two years each)."""
        store = lake.lake()
        totals = SourceProgress()
        accounts = days_of_accounts(context.partition_keys)
        budget = app_budget(sp_api)
        clock = Clock(sp_api.clock_speed)
        last_day = datetime.now(UTC).date() - timedelta(days=1)
        kiosk_history, kiosk_settling = (
            kiosk_days(accounts, last_day) if sp_api.data_kiosk else ({}, {})
        )
        from_kiosk = {
            account: {*kiosk_history.get(account, ()), *kiosk_settling.get(account, ())}
            for account in accounts
        }
        reports_days = {
            account: [d for d in days if d not in from_kiosk[account]]
            for account, days in accounts.items()
        }
        reuse_since = run_reuse_since(context, sp_api.reuse_minutes)
        # Settling windows first, then history round-robin across accounts (the budget's order).
        for account, days in request_order(reports_days, last_day):

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
                reuse_since=reuse_since,
            )
            totals.add(progress)
        # Data Kiosk, outside the reports' budget: each account's settling days between the two
        # reports (one range), then its history (ranges of up to two years).
        for served in (kiosk_settling, kiosk_history):
            for account, days in served.items():
                totals.add(
                    write_kiosk_history(
                        KIOSK,
                        DATA_KIOSK_ASINS,
                        sp_api.for_account(account),
                        store,
                        days,
                        log=context.log.info,
                        reuse_since=reuse_since,
                    )
                )
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
            key=silver_key(table),
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
                f"({', '.join(SPEC.natural_key)}). Days from Data Kiosk (history) are per child "
                "ASIN, msku null.",
                SPEC.cluster_by,
            ),
            "quarantine": out(
                SPEC.quarantine_table,
                "Rows of business-report documents that could not be typed, with the reason.",
                ("account",),
            ),
            "day_status": out(
                DAY_STATUS_TABLE,
                "Each account's day: provisional (Amazon may still restate it; an empty "
                "provisional day is not a zero) or settled, and its rows in "
                f"{SPEC.silver_table}.",
                ("account",),
            ),
        },
        deps=[SPEC.bronze_key],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=business_report_check_specs(),
    )
    def fact_business_reports_us(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """Parse the newest stored SKU report of each (account, day), else (or when Data Kiosk
        refreshed a provisional day after it: `report_or_kiosk`) the newest Data Kiosk documents
        covering it, into typed facts; malformed rows go to quarantine; each day is marked
        provisional or settled."""
        store = lake.lake()
        ingested_at = datetime.now(UTC)
        facts, quarantine, totals, document_rows = [], [], {}, {}
        statuses: dict[tuple[str, date], str] = {}
        superseded: dict[tuple[str, date], int] = {}
        missing: list[str] = []
        for account, days in days_of_accounts(context.partition_keys).items():
            reports, _ = newest_documents(SPEC, store, account, days)
            kiosk_parts, uncovered = newest_document_parts(
                KIOSK, store, account, days, part=lambda doc: doc.asins
            )
            chosen, kiosk = report_or_kiosk(reports, kiosk_parts)
            uncovered = [day for day in uncovered if day not in reports]
            for day, fetched_at in kiosk_empty_days(store, account, uncovered).items():
                statuses[(account, day)] = day_status(day, fetched_at.date(), KIOSK.lookback_days)
            missing += [f"{account} {day}" for day in uncovered if (account, day) not in statuses]
            for day, stored in sorted(chosen.items()):
                statuses[(account, day)] = day_status(
                    day, stored.fetched_at.date(), SPEC.lookback_days
                )
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
            kiosk_rows = _kiosk_rows(store, account, kiosk, ingested_at, statuses)
            facts.append(kiosk_rows.facts)
            quarantine.append(kiosk_rows.quarantine.with_columns(account=pl.lit(account)))
            # Each line of a Data Kiosk document is accounted for like a report's SKU row.
            document_rows.update(kiosk_rows.lines)
            superseded.update(kiosk_rows.superseded)
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
        rows = {
            (account, day): n
            for account, day, n in fact_frame.group_by("account", "report_date").len().iter_rows()
        }
        day_frame = pl.DataFrame(
            [
                (day, account, status, rows.get((account, day), 0))
                for (account, day), status in sorted(statuses.items())
            ],
            schema=DAY_STATUS_SCHEMA,
            orient="row",
        )
        yield dg.Output(
            day_frame,
            output_name="day_status",
            metadata={
                "days": day_frame.height,
                "provisional_days": day_frame.filter(pl.col("status") == PROVISIONAL).height,
            },
        )
        yield from evaluate_business_report_checks(
            fact_frame, quarantine_frame, document_rows, totals, superseded
        )

    return [business_reports, fact_business_reports_us]
