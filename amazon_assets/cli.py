"""`amazon-assets`: every command runs Dagster (recorded in the instance), never goes around it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from amazon_assets.api import commands as api_commands
from amazon_assets.commands import (
    DEFAULT_DEMO_SKUS,
    DEFAULT_SANDBOX_SEED,
    CommandError,
    DemoContext,
    DemoStep,
    day_range,
    embedded_sandbox,
    sandbox_config,
)
from amazon_assets.defs.advertising import commands as advertising_commands
from amazon_assets.defs.business_reports import commands as business_reports_commands
from amazon_assets.defs.mart import commands as mart_commands
from amazon_assets.defs.ml import commands as ml_commands
from amazon_assets.defs.product_signals import commands as product_signals_commands
from amazon_assets.defs.seller_history import commands as seller_history_commands
from amazon_assets.settings import ConfigError, Settings

DEFAULT_DEMO_DAYS = 7
# Each domain's commands, in the order the demo runs them.
DOMAINS = (
    business_reports_commands,
    seller_history_commands,
    product_signals_commands,
    advertising_commands,
    mart_commands,
    ml_commands,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amazon-assets",
        description="Amazon seller data platform on Dagster: ingest, sandbox, demo.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="run the Amazon-compatible sandbox server")
    sandbox.add_argument(
        "--port", type=int, default=None, help="default AMAZON_ASSETS_SANDBOX_PORT"
    )
    _sandbox_options(sandbox)
    sandbox.set_defaults(handler=_run_sandbox)

    ingest = commands.add_parser("ingest", help="materialize one source for a range of days")
    sources = ingest.add_subparsers(dest="source", required=True)

    demo = commands.add_parser("demo", help="sandbox + the whole asset graph for the last N days")
    demo.add_argument("--days", type=int, default=DEFAULT_DEMO_DAYS)
    demo.add_argument("--asins", type=int, default=DEFAULT_DEMO_SKUS, help="SKUs in the sandbox")
    demo.set_defaults(handler=_run_demo)

    ui = commands.add_parser("ui", help="the Dagster UI (starts the sandbox when no credentials)")
    ui.add_argument("--port", type=int, default=3000)
    _sandbox_options(ui)
    ui.set_defaults(handler=_run_ui)

    for domain in DOMAINS:
        domain.register(commands, sources)
    api_commands.register(commands)
    return parser


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=DEFAULT_SANDBOX_SEED, help="marketplace seed")
    parser.add_argument("--asins", type=int, default=DEFAULT_DEMO_SKUS, help="SKUs per account")
    parser.add_argument("--no-quotas", action="store_true", help="switch Amazon's quotas off")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        _prepare_dagster_home(settings)
        return args.handler(settings, args)
    except (ConfigError, CommandError) as error:
        print(f"amazon-assets: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _prepare_dagster_home(settings: Settings) -> None:
    """Use (and create) the embedded Dagster home unless DAGSTER_HOME points elsewhere."""
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        # Embedded default: SQLite storage in this directory, no server, no telemetry.
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # Dagster's beta/supersession notices are for developers, not for command-line users.
    for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
        warnings.filterwarnings("ignore", category=category)


def _run_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.sandbox.server import serve

    serve(
        sandbox_config(settings, args.seed, args.asins, not args.no_quotas),
        args.port or settings.sandbox_port,
    )
    return 0


def _run_demo(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.definitions import defs

    first, last = day_range(args.days, None)
    print(
        f"demo: {settings.source_label} source, {args.asins} SKUs, {first}..{last}, "
        f"home {settings.home}"
    )
    context = DemoContext(settings=settings, defs=defs, first=first, last=last, skus=args.asins)
    started = time.monotonic()
    with embedded_sandbox(settings, skus=args.asins):
        for domain in DOMAINS:
            step: DemoStep = domain.demo
            for line in step(context):
                print(line)
    lake = f"gs://{settings.gcs_bucket}" if settings.gcs_bucket else settings.lake_root
    print(f"done in {time.monotonic() - started:.1f}s; bronze documents in {lake}")
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
