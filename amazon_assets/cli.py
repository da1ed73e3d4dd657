"""`amazon-assets`: every command runs Dagster (recorded in the instance), never goes around it."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import dagster as dg

from amazon_assets import interrupts
from amazon_assets.api import commands as api_commands
from amazon_assets.commands import (
    DEFAULT_DEMO_SKUS,
    DEFAULT_SANDBOX_SEED,
    CommandError,
    CommandInterrupted,
    DemoContext,
    DemoStep,
    RunFailedError,
    day_range,
    embedded_sandbox,
    exclusive_lock,
    fail_orphaned_runs,
    in_run,
    lighten_dagster_bookkeeping,
    sandbox_config,
    set_verbose,
)
from amazon_assets.defs.advertising import commands as advertising_commands
from amazon_assets.defs.business_reports import commands as business_reports_commands
from amazon_assets.defs.mart import commands as mart_commands
from amazon_assets.defs.ml import commands as ml_commands
from amazon_assets.defs.product_signals import commands as product_signals_commands
from amazon_assets.defs.seller_history import commands as seller_history_commands
from amazon_assets.errors import exception_sentence, exception_traceback
from amazon_assets.event_log import event_logs_directory
from amazon_assets.settings import ConfigError, Settings

DEFAULT_DEMO_DAYS = 7
INSTANCE_LOCK_FILE = ".instance.lock"
# The embedded instance: SQLite storage in DAGSTER_HOME (its event log stores a batch of
# materializations at once: amazon_assets.event_log), no server, no telemetry; our clients'
# warnings (retries, FATAL cooldowns) go to the run's log in the UI, not to the terminal.
_EMBEDDED_DAGSTER_YAML = """\
event_log_storage:
  module: amazon_assets.event_log
  class: BatchedSqliteEventLogStorage
  config:
    base_dir: {event_logs}
telemetry:
  enabled: false
python_logs:
  managed_python_loggers: [amazon_assets]
  python_log_level: WARNING
"""
# The embedded dagster.yaml of homes made before the batched event log.
_EARLIER_EMBEDDED_DAGSTER_YAML = """\
telemetry:
  enabled: false
python_logs:
  managed_python_loggers: [amazon_assets]
  python_log_level: WARNING
"""
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
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show runs' logs and, on failure, the full error chain with tracebacks",
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
    """Run one command; a failure ends in one sentence naming its cause (exit 1, or 2 for bad
    arguments, configuration or a refused credential), a traceback only with --verbose; SIGTERM and SIGINT stop it
    within seconds (exit 143 and 130)."""
    args = _parser().parse_args(argv)
    set_verbose(args.verbose)
    lighten_dagster_bookkeeping()
    previous = _handle_stop_signals()
    try:
        settings = Settings.from_env()
        prepare_dagster_home(settings)
        return args.handler(settings, args)
    except CommandInterrupted as stopped:
        print(f"amazon-assets: {stopped}", file=sys.stderr)
        _exit_now_if_threads_linger(stopped.exit_code)
        return stopped.exit_code
    except (ConfigError, CommandError) as error:
        if args.verbose and isinstance(error, RunFailedError):
            print(error.traceback(), file=sys.stderr)
        print(f"amazon-assets: {error}", file=sys.stderr)
        return error.exit_code if isinstance(error, RunFailedError) else 2
    except Exception as error:
        if args.verbose:
            print(exception_traceback(error), file=sys.stderr)
        print(f"amazon-assets: {exception_sentence(error)}", file=sys.stderr)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _exit_now_if_threads_linger(code: int) -> None:
    """A run that did not end within the grace period leaves threads (a retry wait, a request)
    that Python would wait for at exit: leave without them, the run is already marked canceled."""
    lingering = [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and thread.is_alive() and not thread.daemon
    ]
    if lingering:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _handle_stop_signals() -> dict[int, Any]:
    """SIGTERM and SIGINT request a stop (`interrupts`); outside a run they also unwind the
    command at once. Returns the handlers they replace."""

    def stop(signum: int, frame: FrameType | None) -> None:
        first = not interrupts.signal_received()
        # In a run the main thread only watches the run's thread (`run_until_stopped`), which
        # marks the run canceling and then wakes the waits; anywhere else, unwind now.
        if in_run():
            interrupts.note_signal(signum)
            return
        interrupts.request_stop(signum)
        if first and threading.current_thread() is threading.main_thread():
            raise CommandInterrupted(signum)

    return {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}


def embedded_dagster_yaml(dagster_home: Path) -> str:
    """The embedded instance's dagster.yaml for the Dagster home `dagster_home`.

    The event log's directory is written out: Dagster resolves no path against the file's own
    place, and one read from DAGSTER_HOME would fail in tools that open a home by its path.
    """
    return _EMBEDDED_DAGSTER_YAML.format(event_logs=json.dumps(event_logs_directory(dagster_home)))


def _is_embedded_dagster_yaml(text: str) -> bool:
    """Whether a dagster.yaml is one this program wrote, unedited: an earlier version, or the
    current one for a home that has moved since."""
    if text == _EARLIER_EMBEDDED_DAGSTER_YAML:
        return True
    written = re.search(r"^    base_dir: (.*)$", text, re.MULTILINE)
    return bool(written) and text == _EMBEDDED_DAGSTER_YAML.format(event_logs=written[1])


def prepare_dagster_home(settings: Settings) -> None:
    """Use (and create) the embedded Dagster home unless DAGSTER_HOME points elsewhere, create
    or upgrade its storage safely, and fail the runs of commands that died.

    Two commands starting together on a new home would both create and stamp Dagster's SQLite
    storage (alembic then finds two heads and every later command fails): the first creation
    happens under an exclusive file lock, so the second waits and finds it made.
    """
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    # Dagster's beta/supersession notices are for developers, not for command-line users.
    for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
        warnings.filterwarnings("ignore", category=category)
    with exclusive_lock(home / INSTANCE_LOCK_FILE):
        # Written on a new home; rewritten (an edited file is left alone) on a home made by an
        # earlier version or moved since.
        config, wanted = home / "dagster.yaml", embedded_dagster_yaml(home)
        current = config.read_text() if config.exists() else None
        if current != wanted and (current is None or _is_embedded_dagster_yaml(current)):
            config.write_text(wanted)
        with dg.DagsterInstance.get() as instance:
            # Touch every storage: the first use creates its tables and stamps their version.
            instance.get_runs(limit=1)
            instance.event_log_storage.get_asset_records([])
            instance.schedule_storage.all_instigator_state()
    with dg.DagsterInstance.get() as instance:
        for run_id in fail_orphaned_runs(instance):
            print(
                f"amazon-assets: run {run_id[:8]} of a command that was killed is marked failed",
                file=sys.stderr,
            )


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
    print(f"done in {time.monotonic() - started:.1f}s")
    for line in storage_lines(settings):
        print(line)
    print("open the Dagster UI on it:  make ui   (then http://127.0.0.1:3000)")
    return 0


def storage_lines(settings: Settings) -> list[str]:
    """Where the demo's data is: the lake, the warehouse, the mart, Dagster's own storage."""
    from amazon_assets.resources.postgres import describe_database

    lake = f"gs://{settings.gcs_bucket}" if settings.gcs_bucket else settings.lake_root
    if settings.uses_bigquery:
        silver = f"BigQuery dataset {settings.gcp_project}.{settings.bigquery_dataset}"
    else:
        silver = f"DuckDB {settings.warehouse_path} (schema {settings.bigquery_dataset})"
    if settings.database_url:
        mart = f"PostgreSQL {describe_database(settings.database_url)} (schemas mart, features)"
    else:
        mart = f"DuckDB {settings.warehouse_path} (schemas mart, features)"
    return [
        f"  bronze documents: {lake}",
        f"  silver facts:     {silver}",
        f"  mart, features:   {mart}",
        f"  Dagster runs:     {os.environ['DAGSTER_HOME']}",
    ]


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
