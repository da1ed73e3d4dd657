"""`amazon-assets ingest <seller source>`, `backfill`, `accounts` and the seller-history demo step."""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import dagster as dg

from amazon_assets.commands import (
    CommandError,
    DemoContext,
    add_day_range_options,
    check_summary,
    days_from_arguments,
    embedded_sandbox,
    run_account_job,
)
from amazon_assets.defs.seller_history.spec import SPECS
from amazon_assets.partitions import ACCOUNTS, HISTORY_MONTHS, history_start, register_account
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings

# Command-line names of the documents (`ingest orders`, `ingest inventory-ledger`, ...) -> their
# specs' names (`defs/seller_history/spec.py`).
SOURCE_COMMANDS = {name.replace("_", "-"): name for name in SPECS}


def register(commands: argparse._SubParsersAction, ingest: argparse._SubParsersAction) -> None:
    for command, source in SOURCE_COMMANDS.items():
        parser = ingest.add_parser(command, help=f"seller history: {command.replace('-', ' ')}")
        add_day_range_options(parser)
        parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="seller account name")
        parser.set_defaults(handler=ingest_source, seller_source=source)

    backfill = commands.add_parser("backfill", help="an account's seller history, N months back")
    backfill.add_argument("--account", required=True, help="seller account name")
    backfill.add_argument("--months", type=int, default=HISTORY_MONTHS)
    backfill.set_defaults(handler=backfill_account)

    accounts = commands.add_parser("accounts", help="seller accounts (a Dagster partition each)")
    actions = accounts.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="register an account; the sensor backfills it")
    add.add_argument("name")
    add.set_defaults(handler=add_account)
    actions.add_parser("list", help="the registered accounts").set_defaults(handler=list_accounts)


def _run(
    settings: Settings, job: str, account: str, first: date, last: date, mode: str
) -> dg.ExecuteInProcessResult:
    from amazon_assets.definitions import defs
    from amazon_assets.defs.seller_history.assets import MODE_TAG

    with embedded_sandbox(settings, accounts=(account,)):
        return run_account_job(defs, job, account, first, last, tags={MODE_TAG: mode})


def ingest_source(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.defs.seller_history import source_job_name
    from amazon_assets.defs.seller_history.assets import FETCH

    first, last = days_from_arguments(args)
    started = time.monotonic()
    result = _run(settings, source_job_name(args.seller_source), args.account, first, last, FETCH)
    print(
        f"{args.seller_source}: {args.account} {first}..{last} loaded in "
        f"{time.monotonic() - started:.1f}s from {settings.source_label}; {check_summary(result)}"
    )
    return 0


def backfill_account(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.defs.seller_history.assets import BACKFILL
    from amazon_assets.defs.seller_history.schedules import SELLER_HISTORY_JOB

    if args.months < 1:
        raise CommandError("--months must be at least 1.")
    last = date.today() - timedelta(days=1)
    first = max(history_start(date.today(), args.months), settings.start_date or date.min)
    started = time.monotonic()
    result = _run(settings, SELLER_HISTORY_JOB, args.account, first, last, BACKFILL)
    print(
        f"backfill: {args.account} {first}..{last} done in {time.monotonic() - started:.1f}s "
        f"from {settings.source_label}; {check_summary(result)}"
    )
    return 0


def add_account(settings: Settings, args: argparse.Namespace) -> int:
    name = args.name.strip()
    with dg.DagsterInstance.get() as instance:
        try:
            added = register_account(instance, name)
        except ValueError as error:
            raise CommandError(str(error)) from None
    if not added:
        print(f"account {name} is already registered")
        return 0
    print(
        f"account {name} registered; the seller_account_onboarding sensor starts its backfill: "
        f"{HISTORY_MONTHS} months of seller history, sales and traffic, product signals (or run "
        f"`amazon-assets backfill --account {name}` for its seller history)"
    )
    return 0


def list_accounts(settings: Settings, args: argparse.Namespace) -> int:
    with dg.DagsterInstance.get() as instance:
        for name in instance.get_dynamic_partitions(ACCOUNTS.name):
            print(name)
    return 0


def demo(context: DemoContext) -> list[str]:
    """Seller history of the default account for the demo days, and what landed in silver."""
    from amazon_assets.defs.seller_history.assets import FETCH, MODE_TAG
    from amazon_assets.defs.seller_history.schedules import SELLER_HISTORY_JOB
    from amazon_assets.resources.warehouse import warehouse_from_settings

    settings = context.settings
    started = time.monotonic()
    result = run_account_job(
        context.defs,
        SELLER_HISTORY_JOB,
        DEFAULT_ACCOUNT,
        context.first,
        context.last,
        tags={MODE_TAG: FETCH},
    )
    _, warehouse = warehouse_from_settings(settings)
    counts = []
    for spec in SPECS.values():
        name = warehouse.table(settings.bigquery_dataset, spec.silver_table)
        # The demo days of the demo account, like every other line of the demo.
        rows = warehouse.query(
            f"select count(*) as n from {name} where account = '{DEFAULT_ACCOUNT}' "
            f"and report_date between '{context.first}' and '{context.last}'"
        )["n"][0]
        counts.append(f"{spec.silver_table} {rows}")
    return [
        f"seller history: {', '.join(counts)} rows for {context.first}..{context.last} "
        f"({time.monotonic() - started:.1f}s); {check_summary(result)}"
    ]
