"""What every command shares: runs through Dagster, day ranges, the embedded sandbox, errors.

Each domain adds its own subcommands in `defs/<domain>/commands.py` with a `register` function
and, for `amazon-assets demo`, a `demo` function; `cli.py` only collects them.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from amazon_assets.partitions import ACCOUNTS, partition_key
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings

ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
DEFAULT_DEMO_SKUS = 200
DEFAULT_SANDBOX_SEED = 7
FAILURE_CLASS = "dagster._core.definitions.events.Failure"


class CommandError(RuntimeError):
    """A command failed for a reason the user can act on; printed as one sentence."""


# A command handler: (settings, parsed arguments) -> exit code.
Handler = Callable[[Settings, argparse.Namespace], int]


@dataclass(frozen=True)
class DemoContext:
    """What `amazon-assets demo` hands every domain: the days and the loaded definitions."""

    settings: Settings
    defs: dg.Definitions
    first: date
    last: date
    skus: int


# A domain's demo step: materializes its assets for the demo days and returns summary lines.
DemoStep = Callable[[DemoContext], list[str]]


def _ensure_registered(instance: dg.DagsterInstance, account: str) -> None:
    """Fail unless `account` is a registered seller account; the default account registers itself."""
    if instance.has_dynamic_partition(ACCOUNTS.name, account):
        return
    if account != DEFAULT_ACCOUNT:
        raise CommandError(
            f"account {account!r} is not registered: run `amazon-assets accounts add {account}` first."
        )
    instance.add_dynamic_partitions(ACCOUNTS.name, [account])


def sandbox_config(
    settings: Settings, seed: int, skus: int, quotas: bool, accounts: Sequence[str] = ()
):
    """The sandbox the commands start: the settings' clock speed, `skus` SKUs per account, the
    default account (first, so its data never changes) and `accounts`."""
    from amazon_assets.sandbox import SandboxConfig

    names = tuple(dict.fromkeys([DEFAULT_ACCOUNT, *accounts]))
    return SandboxConfig(
        seed=seed,
        accounts=names,
        skus_per_account=skus,
        speed=settings.sandbox_speed,
        quotas=quotas,
        # Each account sells where its settings say (SP_API_MARKETPLACE_IDS[_<ACCOUNT>]).
        account_marketplaces=tuple((name, settings.market(name).marketplace_ids) for name in names),
    )


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def embedded_sandbox(
    settings: Settings,
    skus: int = DEFAULT_DEMO_SKUS,
    seed: int = DEFAULT_SANDBOX_SEED,
    accounts: Sequence[str] = (),
) -> Iterator[None]:
    """Run the sandbox in this process while a command needs it (no credentials configured),
    serving the default account and `accounts`."""
    if not settings.runs_sandbox or _port_open(settings.sandbox_port):
        yield  # real Amazon, or a sandbox the user already runs
        return
    from amazon_assets.sandbox import SandboxServer

    with SandboxServer(
        sandbox_config(settings, seed, skus, quotas=True, accounts=accounts),
        port=settings.sandbox_port,
    ):
        yield


def day_range(days: int, end_date: date | None) -> tuple[date, date]:
    """The `days` days ending at `end_date` (default yesterday, UTC)."""
    if days < 1:
        raise CommandError("--days must be at least 1.")
    last = end_date or (date.today() - timedelta(days=1))
    return last - timedelta(days=days - 1), last


def add_day_range_options(parser: argparse.ArgumentParser, default_days: int = 7) -> None:
    """`--days N` ending at `--end-date`, or an explicit `--start D --end D`."""
    parser.add_argument(
        "--days", type=int, default=None, help=f"days ending at --end-date (default {default_days})"
    )
    parser.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=None,
        help="last day, YYYY-MM-DD (default: yesterday, UTC)",
    )
    parser.add_argument(
        "--start", type=date.fromisoformat, default=None, help="first day, YYYY-MM-DD"
    )
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="last day, YYYY-MM-DD")
    parser.set_defaults(default_days=default_days)


def days_from_arguments(args: argparse.Namespace) -> tuple[date, date]:
    """The day range a command was given by `add_day_range_options`."""
    if args.start or args.end:
        if args.days is not None or args.end_date is not None:
            raise CommandError("give either --start/--end or --days/--end-date, not both.")
        if not (args.start and args.end):
            raise CommandError("--start and --end go together.")
        if args.end < args.start:
            raise CommandError(f"--end {args.end} is before --start {args.start}.")
        return args.start, args.end
    return day_range(args.days or args.default_days, args.end_date)


def run_job(
    defs: dg.Definitions,
    job_name: str,
    first_key: str | None = None,
    last_key: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a job as one run in the instance; a partitioned one over [first_key, last_key]."""
    job = defs.resolve_job_def(job_name)
    partitions = job.partitions_def
    range_tags = {}
    if partitions is not None:
        if first_key is None or last_key is None:
            raise CommandError(f"{job_name} is partitioned: give the first and last day.")
        range_tags = {
            ASSET_PARTITION_RANGE_START_TAG: first_key,
            ASSET_PARTITION_RANGE_END_TAG: last_key,
        }
        with dg.DagsterInstance.get() as instance:
            keys = set(partitions.get_partition_keys(dynamic_partitions_store=instance))
        missing = [key for key in (first_key, last_key) if key not in keys]
        if missing:
            raise CommandError(
                f"{' and '.join(missing)} "
                f"{'is not a partition' if len(missing) == 1 else 'are not partitions'} of {job_name} "
                "(days run from AMAZON_ASSETS_START_DATE, 18 months back by default, to yesterday)."
            )
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            # The run's full log is in the instance (the UI). The terminal gets the summary below
            # and, on failure, one line per failed step: Dagster's console logger would print
            # every step failure with its stack trace.
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            tags={**range_tags, **(tags or {})},
            raise_on_error=False,
        )
    if not result.success:
        raise CommandError(
            f"run {result.run_id} failed: {'; '.join(failure_reasons(result)) or 'see its logs'} "
            "(the full log is in the Dagster UI: `make ui`)."
        )
    return result


def failure_reasons(result: dg.ExecuteInProcessResult) -> list[str]:
    """One line per failed step: the step and the last line of its error."""
    reasons = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = getattr(event.event_specific_data, "error", None)
            message = (error.message.strip().splitlines() or [""])[-1] if error else ""
            if error is not None and error.cls_name == "Failure":
                # A dg.Failure's description is already the sentence for the user.
                message = error.message.strip().removeprefix(f"{FAILURE_CLASS}: ").strip()
            reasons.append(f"{event.step_key}: {message}".rstrip(": "))
    return reasons


def check_summary(result: dg.ExecuteInProcessResult) -> str:
    """'N of M checks passed', naming the ones that did not."""
    checks = result.get_asset_check_evaluations()
    failed = sorted({c.check_name for c in checks if not c.passed})
    suffix = f"; not passed: {', '.join(failed)} (details in the UI)" if failed else ""
    return f"{len(checks) - len(failed)} of {len(checks)} checks passed{suffix}"


def run_account_job(
    defs: dg.Definitions,
    job_name: str,
    account: str,
    first: date | None = None,
    last: date | None = None,
    tags: Mapping[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a job for one registered seller account (the default account registers itself): over
    the account's days [first, last] for a job on account x day, else its account partition."""
    with dg.DagsterInstance.get() as instance:
        _ensure_registered(instance, account)
    if first is None or last is None:
        return run_job(defs, job_name, account, account, tags=tags)
    return run_job(
        defs, job_name, partition_key(account, first), partition_key(account, last), tags=tags
    )


def ingest_days_handler(job_name: str, label: str) -> Handler:
    """A command handler running `job_name` over the days given on the command line."""

    def ingest(settings: Settings, args: argparse.Namespace) -> int:
        from amazon_assets.definitions import defs

        first, last = days_from_arguments(args)
        started = time.monotonic()
        with embedded_sandbox(settings):
            result = run_job(defs, job_name, first.isoformat(), last.isoformat())
        print(
            f"{label}: {first}..{last} loaded in {time.monotonic() - started:.1f}s "
            f"from {settings.source_label}; {check_summary(result)}"
        )
        return 0

    return ingest
