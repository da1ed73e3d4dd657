"""What every command shares: runs through Dagster, day ranges, the embedded sandbox, errors.

Each domain adds its own subcommands in `defs/<domain>/commands.py` with a `register` function
and, for `amazon-assets demo`, a `demo` function; `cli.py` only collects them.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.execution.execution_result import ExecutionResult
from dagster._core.utils import make_new_run_id
from dagster._utils.error import SerializableErrorInfo

from amazon_assets import interrupts
from amazon_assets.errors import cause_sentence
from amazon_assets.event_log import run_snapshot
from amazon_assets.partitions import ACCOUNTS, PLANNED_EVENTS_TAG, partition_key
from amazon_assets.settings import DEFAULT_ACCOUNT, Settings
from amazon_assets.sources.refusals import REFUSED_CREDENTIAL_METADATA

ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
RUN_HOST_TAG = "amazon_assets/host"
RUN_PID_TAG = "amazon_assets/pid"
RUN_PROCESS_START_TAG = "amazon_assets/process_start"
# A stopped run has this long to end by itself before the command marks it canceled and exits.
STOP_GRACE_SECONDS = 10.0
# The terminal's share of a run's log: nothing by default (a failure is summed up in one
# sentence, the whole log is in the UI), INFO and up with --verbose.
_console = {"log_level": "CRITICAL"}
_runs_in_progress: list[str] = []
EVENT_BATCH_SIZE = 200
# Dagster's switch for PLANNED_EVENTS_TAG (read when it creates a run).
_PARTITION_SUBSET_VARIABLE = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
# Executors that run a job inside this process with `execute_in_process`.
IN_PROCESS_EXECUTORS = ("multi_or_in_process_executor", "in_process", "multiprocess")
CODE_LOCATION_MODULE = "amazon_assets.definitions"
_UNFINISHED = (
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
DEFAULT_DEMO_SKUS = 200
DEFAULT_SANDBOX_SEED = 7


class CommandError(RuntimeError):
    """A command failed for a reason the user can act on; printed as one sentence."""


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
    default account (first, so its data never changes) and `accounts`; it also serves any other
    account a client names (one registered after it started, e.g. under `amazon-assets ui`)."""
    from amazon_assets.sandbox import SandboxConfig

    names = tuple(dict.fromkeys([DEFAULT_ACCOUNT, *accounts]))
    return SandboxConfig(
        seed=seed,
        accounts=names,
        skus_per_account=skus,
        speed=settings.sandbox_speed,
        quotas=quotas,
        admit_any_account=True,
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
    return day_range(args.default_days if args.days is None else args.days, args.end_date)


def run_job(
    defs: dg.Definitions,
    job_name: str,
    first_key: str | None = None,
    last_key: str | None = None,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, Any] | None = None,
) -> ExecutionResult:
    """Run a job as one run in the instance; a partitioned one over [first_key, last_key].

    A failed run raises `RunFailedError`, whose message is the innermost cause; SIGTERM or
    SIGINT ends the run within seconds, marked canceled, and raises `CommandInterrupted`.
    """
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
    config = {"loggers": {"console": {"config": dict(_console)}}, **(run_config or {})}
    all_tags = {**range_tags, **(tags or {}), **process_tags()}
    with dg.DagsterInstance.get() as instance:
        per_asset = job.tags.get(PLANNED_EVENTS_TAG) == "per_asset" and partitions is not None
        with _planned_events_per_asset(per_asset):
            if job.executor_def.name in IN_PROCESS_EXECUTORS:
                run_id = make_new_run_id()
                with run_snapshot(instance):
                    result = run_until_stopped(
                        instance,
                        run_id,
                        lambda: job.execute_in_process(
                            instance=instance,
                            run_id=run_id,
                            run_config=config,
                            tags=all_tags,
                            raise_on_error=False,
                        ),
                    )
            else:
                result = _run_on_executor(instance, job_name, config, all_tags)
        if per_asset and not result.success:
            record_unmaterialized_partitions(instance, job, result, first_key, last_key)
    if not result.success:
        raise RunFailedError(result)
    return result


@contextlib.contextmanager
def _planned_events_per_asset(enabled: bool) -> Iterator[None]:
    """Dagster reads this switch when it creates a run (see PLANNED_EVENTS_TAG)."""
    if not enabled:
        yield
        return
    previous = os.environ.get(_PARTITION_SUBSET_VARIABLE)
    os.environ[_PARTITION_SUBSET_VARIABLE] = "true"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[_PARTITION_SUBSET_VARIABLE]
        else:
            os.environ[_PARTITION_SUBSET_VARIABLE] = previous


def record_unmaterialized_partitions(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    result: ExecutionResult,
    first_key: str | None,
    last_key: str | None,
) -> int:
    """Per-partition planned events, after a failed run, for each (asset, partition) of the run
    that was not materialized: Dagster marks those partitions failed in the UI (it counts a
    partition failed when a failed run planned it and did not materialize it)."""
    from dagster._core.definitions.partitions.context import partition_loading_context
    from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent

    if job.partitions_def is None or first_key is None or last_key is None:
        return 0
    with partition_loading_context(dynamic_partitions_store=instance):
        keys = job.partitions_def.get_partition_keys_in_range(
            dg.PartitionKeyRange(first_key, last_key)
        )
    done = {
        (event.asset_key, event.partition)
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    }
    recorded = 0
    for asset_key in sorted(job.asset_layer.selected_asset_keys):
        for key in keys:
            if (asset_key, key) in done:
                continue
            event = DagsterEvent.build_asset_materialization_planned_event(
                job.name,
                None,  # type: ignore[arg-type]  # not tied to one step: the run planned it
                AssetMaterializationPlannedData(asset_key, partition=key),
            )
            instance.report_dagster_event(event, result.run_id, logging.DEBUG)
            recorded += 1
    return recorded


def _run_on_executor(
    instance: dg.DagsterInstance,
    job_name: str,
    run_config: Mapping[str, Any],
    tags: Mapping[str, str],
) -> ExecutionResult:
    """Run a job on its own executor (Celery): this process orchestrates, workers that load the
    code location by module run the steps, so the job is loaded from there too."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.execution.api import execute_run

    repository = ReconstructableRepository.for_module(
        CODE_LOCATION_MODULE, "defs", working_directory=os.getcwd()
    )
    recon_job = repository.get_reconstructable_job(job_name)
    job = recon_job.get_definition()
    run = instance.create_run_for_job(
        job_def=job, run_config=run_config, tags=tags, job_code_origin=recon_job.get_python_origin()
    )
    return run_until_stopped(
        instance, run.run_id, lambda: execute_run(recon_job, run, instance, raise_on_error=False)
    )


def set_verbose(verbose: bool) -> None:
    """Show runs' logs (INFO and up) and our libraries' warnings on the terminal, or not."""
    _console["log_level"] = "INFO" if verbose else "CRITICAL"
    logger = logging.getLogger("amazon_assets")
    logger.handlers = [logging.StreamHandler() if verbose else logging.NullHandler()]
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


def run_until_stopped(
    instance: dg.DagsterInstance, run_id: str, execute: Callable[[], ExecutionResult]
) -> ExecutionResult:
    """`execute()` in a worker thread while this (main) thread watches for a stop request.

    Dagster's in-process execution turns a signal inside a step into a retry of that step (a
    minute later) when the asset has a retry policy; off the main thread it leaves signals to
    us. On a signal the run is marked canceling, then our waits raise `StopRequested` (never
    retried), so the run ends in seconds; if it has not after STOP_GRACE_SECONDS it is marked canceled
    and the command leaves it behind.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = execute()
        except BaseException as error:  # handed to the main thread
            outcome["error"] = error

    worker = threading.Thread(target=target, name=f"run-{run_id[:8]}", daemon=True)
    _runs_in_progress.append(run_id)
    try:
        worker.start()
        deadline = None
        while worker.is_alive():
            worker.join(0.1)
            if interrupts.signal_received() and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_SECONDS
                # Canceling first, then wake the waits: the run, failing its step, must find
                # itself canceled rather than failed.
                _mark_run(instance, run_id, canceling=True)
                interrupts.request_stop()
            if deadline is not None and time.monotonic() > deadline:
                break
    finally:
        _runs_in_progress.remove(run_id)
    if interrupts.signal_received():
        _mark_run(instance, run_id, canceling=False)
        raise CommandInterrupted(interrupts.stop_signal() or signal.SIGTERM, run_id)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def lighten_dagster_bookkeeping() -> None:
    """Store the events of a multi-partition output in batches: Dagster's PostgreSQL event log
    writes a batch in one statement (its SQLite event log stores them one by one either way)."""
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))


def in_run() -> bool:
    """Whether this process's main thread is watching a run (`run_until_stopped`)."""
    return bool(_runs_in_progress)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (created if missing) across processes.

    The operating system releases it when the process dies, so a killed holder never blocks the
    next command.
    """
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mark_run(instance: dg.DagsterInstance, run_id: str, canceling: bool) -> None:
    """Canceling while the run winds down; canceled if it did not finish by itself."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return
    message = f"{interrupts.stop_signal_name()} received by the command running this run"
    if canceling:
        if run.status != dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceling(run, message=message)
    else:
        instance.report_run_canceled(run, message=message)


def process_tags() -> dict[str, str]:
    """Tags naming the process that runs a run, so a later command can tell it died."""
    return {
        RUN_HOST_TAG: socket.gethostname(),
        RUN_PID_TAG: str(os.getpid()),
        RUN_PROCESS_START_TAG: process_start(os.getpid()) or "",
    }


def process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, Linux), None if it does not exist.

    With the pid it identifies a process even after the pid is reused.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc: only whether the pid exists can be known
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "unknown"
    # Field 22; the command name (field 2) may hold spaces, so count after its closing paren.
    return stat[stat.rindex(")") + 2 :].split()[19]


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the unfinished runs of commands on this host whose process is gone.

    A command killed with SIGKILL (or a crashed machine) cannot finish its run; without this the
    instance would show it STARTED forever. Returns the ids of the runs marked failed.
    """
    host = socket.gethostname()
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=list(_UNFINISHED), tags={RUN_HOST_TAG: host})
    )
    failed = []
    for run in runs:
        pid = run.tags.get(RUN_PID_TAG, "")
        if not pid.isdigit():
            continue
        started = process_start(int(pid))
        recorded = run.tags.get(RUN_PROCESS_START_TAG) or "unknown"
        if started is not None and (started == recorded or "unknown" in (started, recorded)):
            continue  # still running
        instance.report_run_failed(
            run,
            message=f"The command that ran this run (pid {pid} on {host}) is gone: it was "
            "killed or crashed before the run could finish.",
        )
        failed.append(run.run_id)
    return failed


class RunFailedError(CommandError):
    """A run failed; the message is the innermost cause of each failed step."""

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result
        # A refused credential is fixed in the configuration, like a bad variable: exit 2.
        self.exit_code = 2 if refused_credential(result) else 1
        reasons = failure_reasons(result) or ["see its log in the Dagster UI"]
        super().__init__(
            f"{'; '.join(reasons)} (run {result.run_id[:8]}; full log: `amazon-assets ui`)"
        )

    def traceback(self) -> str:
        """Every failed step's full error chain, for --verbose."""
        return "\n".join(
            f"{step}:\n{error.to_string()}" for step, error in failure_errors(self.result)
        )


class CommandInterrupted(Exception):
    """SIGTERM or SIGINT stopped a command; it exits with 128 + the signal's number."""

    def __init__(self, signum: int, run_id: str | None = None) -> None:
        self.signum = int(signum)
        self.run_id = run_id
        name = signal.Signals(self.signum).name
        marked = f"; run {run_id[:8]} marked canceled" if run_id else ""
        super().__init__(f"stopped by {name}{marked}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def refused_credential(result: ExecutionResult) -> bool:
    """Whether a step failed because Amazon refused a credential (sources.refusals)."""
    return any(
        event.event_type_value == "STEP_FAILURE"
        and REFUSED_CREDENTIAL_METADATA
        in getattr(getattr(event.event_specific_data, "user_failure_data", None), "metadata", {})
        for event in result.all_events
    )


def failure_errors(result: ExecutionResult) -> list[tuple[str, SerializableErrorInfo]]:
    """(step or "run", error) for each failed step; the run's own error if no step failed."""
    errors = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                errors.append((event.step_key or "step", error))
    if not errors:
        for event in result.all_events:
            error = getattr(event.event_specific_data, "error", None)
            if event.event_type_value == "PIPELINE_FAILURE" and error is not None:
                errors.append(("run", error))
    return errors


def failure_reasons(result: ExecutionResult) -> list[str]:
    """One sentence per cause: the steps that failed of it and its innermost error (a refused
    credential fails every step of a job that asks Amazon alike: said once)."""
    steps: dict[str, list[str]] = {}
    for step, error in failure_errors(result):
        named = steps.setdefault(cause_sentence(error), [])
        if (step := step.replace("__", "/")) not in named:
            named.append(step)
    return [f"{', '.join(named)}: {cause}" for cause, named in steps.items()]


def check_summary(result: ExecutionResult) -> str:
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
) -> ExecutionResult:
    """Run a job for one registered seller account (the default account registers itself): over
    the account's days [first, last] for a job on account x day, else its account partition."""
    with dg.DagsterInstance.get() as instance:
        _ensure_registered(instance, account)
    if first is None or last is None:
        return run_job(defs, job_name, account, account, tags=tags)
    return run_job(
        defs, job_name, partition_key(account, first), partition_key(account, last), tags=tags
    )
