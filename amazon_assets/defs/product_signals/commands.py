"""`amazon-assets track add|remove|list`, `ingest product-signals` and the signals demo step."""

from __future__ import annotations

import argparse
import time

import dagster as dg

from amazon_assets.commands import (
    DEFAULT_SANDBOX_SEED,
    CommandError,
    DemoContext,
    add_day_range_options,
    check_summary,
    days_from_arguments,
    embedded_sandbox,
    run_account_job,
    sandbox_config,
)
from amazon_assets.defs.product_signals.definitions import PRODUCT_SIGNALS_JOB
from amazon_assets.defs.product_signals.spec import PRODUCT_SIGNALS, TRACKED_ASINS_KEY
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings
from amazon_assets.tracking import (
    TrackingError,
    add_tracked,
    list_tracked,
    remove_tracked,
    track,
)


def register(commands: argparse._SubParsersAction, ingest: argparse._SubParsersAction) -> None:
    tracking = commands.add_parser("track", help="ASINs whose product signals are collected")
    actions = tracking.add_subparsers(dest="track_action", required=True)
    add = actions.add_parser("add", help="track an own ASIN, or a competitor of one")
    add.add_argument("asin")
    add.add_argument("--competitor-of", default=None, metavar="ASIN", help="the own ASIN")
    add.set_defaults(handler=track_add)
    remove = actions.add_parser("remove", help="stop tracking an ASIN (and its competitors)")
    remove.add_argument("asin")
    remove.set_defaults(handler=track_remove)
    listing = actions.add_parser("list", help="the tracked ASINs")
    listing.set_defaults(handler=track_list)
    for action in (add, remove, listing):
        action.add_argument("--account", default=None, help=f"seller account ({DEFAULT_ACCOUNT})")

    source = ingest.add_parser(
        "product-signals", help="catalog, pricing and reviews of the tracked ASINs"
    )
    add_day_range_options(source, default_days=1)
    source.add_argument("--account", default=None, help="only this account (default: all)")
    source.set_defaults(handler=ingest_product_signals)


def _warehouse(settings: Settings):
    from amazon_assets.resources.warehouse import warehouse_from_settings

    return warehouse_from_settings(settings)[1]


def _observe(settings: Settings, change: str) -> None:
    """Record the change on the tracked-ASIN asset, so the UI shows who tracks what since when."""
    key = TRACKED_ASINS_KEY
    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(
            dg.AssetObservation(asset_key=key, metadata={"change": change})
        )


def track_add(settings: Settings, args: argparse.Namespace) -> int:
    account = args.account or DEFAULT_ACCOUNT
    try:
        added = add_tracked(
            _warehouse(settings), settings.bigquery_dataset, account, args.asin, args.competitor_of
        )
    except TrackingError as error:
        raise CommandError(str(error)) from None
    what = f"{args.asin.upper()}" + (
        f" as a competitor of {args.competitor_of.upper()}" if args.competitor_of else ""
    )
    if added:
        _observe(settings, f"{account}: added {what}")
    print(f"track: {what} for {account}: {'added' if added else 'already tracked'}")
    return 0


def track_remove(settings: Settings, args: argparse.Namespace) -> int:
    account = args.account or DEFAULT_ACCOUNT
    try:
        removed = remove_tracked(
            _warehouse(settings), settings.bigquery_dataset, account, args.asin
        )
    except TrackingError as error:
        raise CommandError(str(error)) from None
    if not removed:
        raise CommandError(f"{args.asin.upper()} is not tracked for account {account!r}.")
    _observe(settings, f"{account}: removed {args.asin.upper()}")
    print(f"track: {args.asin.upper()} removed for {account} ({removed} row(s))")
    return 0


def track_list(settings: Settings, args: argparse.Namespace) -> int:
    try:
        tracked = list_tracked(_warehouse(settings), settings.bigquery_dataset, args.account)
    except TrackingError as error:
        raise CommandError(str(error)) from None
    for row in tracked.iter_rows(named=True):
        against = f" of {row['competitor_of']}" if row["competitor_of"] else ""
        print(
            f"{row['account']}\t{row['asin']}\t{row['role']}{against}\t{row['added_at']:%Y-%m-%d}"
        )
    print(f"{tracked.select('account', 'asin').unique().height} tracked ASIN(s)")
    return 0


def ingest_product_signals(settings: Settings, args: argparse.Namespace) -> int:
    """One run per account with tracked ASINs (or the one account asked for)."""
    first, last = days_from_arguments(args)  # bad arguments fail before the code loads
    from amazon_assets.definitions import defs

    tracked = list_tracked(_warehouse(settings), settings.bigquery_dataset, args.account)
    if tracked.is_empty():
        raise CommandError("no tracked ASINs: add some with `amazon-assets track add ASIN`.")
    accounts = tracked["account"].unique(maintain_order=True).sort().to_list()
    started = time.monotonic()
    with embedded_sandbox(settings, accounts=accounts):
        results = [
            run_account_job(defs, PRODUCT_SIGNALS_JOB, account, first, last) for account in accounts
        ]
    print(
        f"product-signals: {', '.join(accounts)} {first}..{last} loaded in "
        f"{time.monotonic() - started:.1f}s from {settings.source_label}; "
        + "; ".join(check_summary(result) for result in results)
    )
    return 0


def demo_tracking(settings: Settings, skus: int) -> list[tuple[str, str | None]]:
    """Own ASINs of the demo account and, in the sandbox, their 3 to 5 competitors each."""
    if not settings.uses_sandbox:
        warehouse = _warehouse(settings)
        table = warehouse.table(settings.bigquery_dataset, "fact_business_reports_us")
        asins = warehouse.query(f"SELECT DISTINCT asin FROM {table} WHERE asin IS NOT NULL")
        return [(asin, None) for asin in asins["asin"].to_list()]
    from amazon_assets.sandbox import Marketplace
    from amazon_assets.sandbox.catalog import competitors

    marketplace = Marketplace(sandbox_config(settings, DEFAULT_SANDBOX_SEED, skus, quotas=True))
    own = marketplace.products(DEFAULT_ACCOUNT)["asin"].unique(maintain_order=True).to_list()
    rivals = competitors(marketplace, DEFAULT_ACCOUNT).select("asin", "competitor_of").rows()
    return [(asin, None) for asin in own] + rivals


def demo(context: DemoContext) -> list[str]:
    """Track the demo account's ASINs when nothing is tracked, then snapshot the demo days."""
    settings = context.settings
    warehouse = _warehouse(settings)
    dataset = settings.bigquery_dataset
    lines = []
    if list_tracked(warehouse, dataset).is_empty():
        links = demo_tracking(settings, context.skus)
        added = track(warehouse, dataset, DEFAULT_ACCOUNT, links)
        _observe(settings, f"{DEFAULT_ACCOUNT}: demo tracked {added} row(s)")
        own = sum(1 for _, competitor_of in links if competitor_of is None)
        lines.append(
            f"product signals: tracking {own} own ASINs and {len(links) - own} competitor links "
            f"({added} rows added)"
        )
    started = time.monotonic()
    result = run_account_job(
        context.defs, PRODUCT_SIGNALS_JOB, DEFAULT_ACCOUNT, context.first, context.last
    )
    table = warehouse.table(dataset, PRODUCT_SIGNALS.silver_table)
    summary = warehouse.query(
        "SELECT count(*) AS rows, count(DISTINCT asin) AS asins, "
        "count(DISTINCT CASE WHEN role = 'competitor' THEN asin END) AS competitors, "
        "avg(CASE WHEN role = 'own' THEN CAST(has_buy_box AS INT) END) AS buy_box_share, "
        f"count(rating) AS rated FROM {table} "
        f"WHERE snapshot_date BETWEEN '{context.first}' AND '{context.last}'"
    ).row(0, named=True)
    share = summary["buy_box_share"] or 0.0
    lines.append(
        f"product signals: {summary['rows']} snapshots of {summary['asins']} ASINs "
        f"({summary['competitors']} competitors) into {table}; own buy box held {share:.0%}, "
        f"{summary['rated']} rows rated ({time.monotonic() - started:.1f}s); "
        f"{check_summary(result)}"
    )
    return lines
