"""`amazon-assets`: every command runs Dagster (recorded in the instance), never goes around it."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from amazon_assets.settings import ConfigError, Settings

ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
DEFAULT_DEMO_DAYS = 7
DEFAULT_DEMO_SKUS = 200


class CommandError(RuntimeError):
    """A command failed for a reason the user can act on; printed as one sentence."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amazon-assets",
        description="Amazon seller data platform on Dagster: ingest, sandbox, demo.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="run the Amazon-compatible sandbox server")
    sandbox.add_argument(
        "--port", type=int, default=None, help="port (default: AMAZON_ASSETS_SANDBOX_PORT)"
    )
    _sandbox_options(sandbox)

    ingest = commands.add_parser("ingest", help="materialize a source for a range of days")
    ingest.add_argument("source", choices=["business-reports"])
    ingest.add_argument("--days", type=int, default=7, help="number of days ending at --end-date")
    ingest.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=None,
        help="last day, YYYY-MM-DD (default: yesterday, UTC)",
    )

    demo = commands.add_parser("demo", help="sandbox + the whole asset graph for the last N days")
    demo.add_argument("--days", type=int, default=DEFAULT_DEMO_DAYS)
    demo.add_argument(
        "--asins", type=int, default=DEFAULT_DEMO_SKUS, help="SKUs in the sandbox account"
    )

    ui = commands.add_parser(
        "ui", help="open the Dagster UI (starts the sandbox when no credentials)"
    )
    ui.add_argument("--port", type=int, default=3000)
    _sandbox_options(ui)
    return parser


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7, help="synthetic marketplace seed")
    parser.add_argument("--asins", type=int, default=DEFAULT_DEMO_SKUS, help="SKUs per account")
    parser.add_argument("--no-quotas", action="store_true", help="switch Amazon's quotas off")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        if args.command == "sandbox":
            return _run_sandbox(settings, args)
        if args.command == "ingest":
            return _run_ingest(settings, args)
        if args.command == "demo":
            return _run_demo(settings, args)
        if args.command == "ui":
            return _run_ui(settings, args)
    except (ConfigError, CommandError) as error:
        print(f"amazon-assets: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _sandbox_config(settings: Settings, seed: int, skus: int, quotas: bool):
    from amazon_assets.sandbox import SandboxConfig

    return SandboxConfig(
        seed=seed, skus_per_account=skus, speed=settings.sandbox_speed, quotas=quotas
    )


def _run_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.sandbox.server import serve

    port = args.port or settings.sandbox_port
    print(
        f"sandbox: Amazon-compatible marketplace on http://127.0.0.1:{port} "
        f"(clock x{settings.sandbox_speed:g}, quotas {'off' if args.no_quotas else 'on'})"
    )
    serve(_sandbox_config(settings, args.seed, args.asins, not args.no_quotas), port)
    return 0


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def embedded_sandbox(
    settings: Settings, skus: int = DEFAULT_DEMO_SKUS, seed: int = 7
) -> Iterator[None]:
    """Run the sandbox in this process while a command needs it (no credentials configured)."""
    if not settings.uses_sandbox or _port_open(settings.sandbox_port):
        yield  # real Amazon, or a sandbox the user already runs
        return
    from amazon_assets.sandbox import SandboxServer

    with SandboxServer(
        _sandbox_config(settings, seed, skus, quotas=True), port=settings.sandbox_port
    ):
        yield


def day_range(days: int, end_date: date | None) -> tuple[date, date]:
    """The `days` days ending at `end_date` (default yesterday, UTC)."""
    if days < 1:
        raise CommandError("--days must be at least 1.")
    last = end_date or (date.today() - timedelta(days=1))
    return last - timedelta(days=days - 1), last


def run_job(defs: dg.Definitions, job_name: str, first: date, last: date) -> str:
    """Run a partitioned job over [first, last] as one run recorded in the Dagster instance."""
    job = defs.resolve_job_def(job_name)
    partitions = job.partitions_def
    keys = partitions.get_partition_keys() if partitions else []
    if keys and (first.isoformat() < keys[0] or last.isoformat() > keys[-1]):
        raise CommandError(
            f"days {first}..{last} fall outside the partitions {keys[0]}..{keys[-1]} "
            "(set AMAZON_ASSETS_START_DATE for older history)."
        )
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
            },
            raise_on_error=False,
        )
    if not result.success:
        failures = [
            event.step_key or ""
            for event in result.all_events
            if event.event_type_value == "STEP_FAILURE"
        ]
        raise CommandError(
            f"run {result.run_id} failed in {', '.join(failures) or 'the run'}; "
            "open the Dagster UI (`make ui`) for the logs."
        )
    return result.run_id


def _run_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.definitions import BUSINESS_REPORTS_JOB, defs

    first, last = day_range(args.days, args.end_date)
    with embedded_sandbox(settings):
        started = time.monotonic()
        run_job(defs, BUSINESS_REPORTS_JOB, first, last)
    print(
        f"business-reports: {first}..{last} loaded in {time.monotonic() - started:.1f}s "
        f"from {settings.source_label}"
    )
    return 0


def _run_demo(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.definitions import BUSINESS_REPORTS_JOB, defs
    from amazon_assets.resources.warehouse import warehouse_from_settings

    first, last = day_range(args.days, None)
    print(
        f"demo: {settings.source_label} source, {args.asins} SKUs, {first}..{last}, "
        f"home {settings.home}"
    )
    started = time.monotonic()
    with embedded_sandbox(settings, skus=args.asins):
        run_job(defs, BUSINESS_REPORTS_JOB, first, last)
    elapsed = time.monotonic() - started
    _, warehouse = warehouse_from_settings(settings)
    table = warehouse.table(settings.bigquery_dataset, "fact_business_reports_us")
    summary = warehouse.query(
        f"select count(*) as rows, count(distinct msku) as skus, sum(units_ordered) as units, "
        f"sum(ordered_product_sales) as sales from {table} "
        f"where report_date between '{first}' and '{last}'"
    ).row(0, named=True)
    print(
        f"loaded {summary['rows']} rows for {summary['skus']} SKUs over {args.days} days "
        f"into {table}: {summary['units']} units, ${summary['sales']} ordered product sales "
        f"({elapsed:.1f}s)"
    )
    print(
        f"bronze documents: {settings.gcs_bucket and 'gs://' + settings.gcs_bucket or settings.lake_root}"
    )
    print("open the Dagster UI on it:  make ui   (then http://127.0.0.1:3000)")
    return 0


def _run_ui(settings: Settings, args: argparse.Namespace) -> int:
    repo_root = Path(__file__).resolve().parent.parent
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(repo_root / "workspace.yaml"),
        "-p",
        str(args.port),
    ]
    with embedded_sandbox(settings, skus=args.asins, seed=args.seed):
        print(f"Dagster UI on http://127.0.0.1:{args.port} (instance {os.environ['DAGSTER_HOME']})")
        return subprocess.call(command, cwd=repo_root)


if __name__ == "__main__":
    sys.exit(main())
