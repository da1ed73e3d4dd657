"""Benchmark: a 30-day business-reports backfill for 1,000 SKUs, launched the way the UI does.

    python benchmarks/business_reports_backfill.py [--skus 1000] [--days 30] [--speed 1e6]
                                                   [--timeout 900] [--no-baseline] [--keep]
                                                   [--verbose]

What it does, all in temporary directories (removed at the end unless --keep):
1. starts the sandbox in this process (quotas off, clock `--speed` simulated seconds per real
   second, so pacing and report polling cost next to nothing);
2. starts `dagster-daemon run` and `dagster-webserver` on the repository's workspace.yaml
   against a fresh Dagster instance (DAGSTER_HOME), their code locations pointed at the sandbox
   through SP_API_ENDPOINT / SP_API_LWA_TOKEN_URL / AMAZON_ASSETS_SANDBOX_SPEED;
3. submits the backfill of bronze/business_reports + silver/fact_business_reports_us (and
   its multi-asset siblings silver/quarantine_business_reports_us and
   silver/business_reports_day_status_us) for the last `--days`
   days (ending yesterday, UTC) with the webserver's GraphQL `launchPartitionBackfill`
   mutation, what the UI's "Materialize" dialog sends, and lets the daemon execute it
   (BackfillPolicy, queued run coordinator, default run launcher);
4. polls the backfill until it finishes, sampling VmHWM of every process that appeared under
   the daemon and the webserver after the submission, code servers excepted (the run workers,
   their step processes and helpers), then counts the runs in the instance and checks that
   DuckDB holds every SKU row of the bronze documents;
5. for contrast, runs the same days as one in-process run (`execute_in_process` with the
   partition-range tags, as `amazon-assets ingest business-reports` does, through
   `amazon_assets.commands.run_job`) in a child process.

Peak RSS of run workers is sampled (/proc every 0.1 s), so a short-lived spike can be missed;
the benchmark process hosts only the sandbox (it never imports Dagster).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASET = "amazon_econ"  # the default BIGQUERY_DATASET: the DuckDB schema of silver
SILVER_TABLE = "fact_business_reports_us"
QUARANTINE_TABLE = "quarantine_business_reports_us"
DAY_STATUS_TABLE = "business_reports_day_status_us"
# The whole business_reports_job selection: the silver multi-asset cannot be subset.
ASSET_KEYS = [
    ["bronze", "business_reports"],
    ["silver", SILVER_TABLE],
    ["silver", QUARANTINE_TABLE],
    ["silver", DAY_STATUS_TABLE],
]
ACCOUNT = "default"
BRONZE_DIR = Path(f"amazon/reports/business/us/account={ACCOUNT}")
# Variables that would point the code location away from the sandbox or the embedded default.
FOREIGN_VARIABLES = (
    "SP_API_REFRESH_TOKEN",
    "SP_API_CLIENT_ID",
    "SP_API_CLIENT_SECRET",
    "SP_API_AWS_ACCESS_KEY",
    "SP_API_AWS_SECRET_KEY",
    "SP_API_REGION",
    "GOOGLE_CLOUD_PROJECT",
    "BIGQUERY_DATASET",
    "GCS_BUCKET",
    "DATABASE_URL",
    "DAGSTER_PG_URL",
    "AMAZON_ASSETS_START_DATE",
)
TERMINAL_BACKFILL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
INSTANCE_YAML = "telemetry:\n  enabled: false\n"
MIB = 1024 * 1024
# Command lines of Dagster code servers: infrastructure, not run workers.
CODE_SERVER_MARKERS = (" api grpc", " code-server ", " code_server ")

LOCATION_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""
LAUNCH_MUTATION = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""
BACKFILL_QUERY = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      numPartitions
      error { message }
      runs { runId status creationTime startTime endTime }
    }
    ... on Error { message }
  }
}
"""
RUNS_COUNT_QUERY = """
query { runsOrError { __typename ... on Runs { count } ... on Error { message } } }
"""


class BenchmarkError(RuntimeError):
    """The benchmark could not produce its figures; the message says why."""


# -- processes and memory ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_proc(pid: int, name: str) -> str | None:
    try:
        return (Path("/proc") / str(pid) / name).read_text()
    except OSError:
        return None


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process on the machine."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read_proc(int(entry.name), "stat")
        if stat:
            # The command name (field 2) may hold spaces; the fields after its ')' do not.
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendants(roots: set[int], parents: dict[int, int] | None = None) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in (parents or _parents()).items():
        children.setdefault(parent, []).append(pid)
    found, stack = set(), list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _memory_kib(pid: int) -> tuple[int, int] | None:
    """(VmHWM, VmRSS) of a live process in KiB."""
    status = _read_proc(pid, "status")
    if not status:
        return None
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0])
    if len(values) < 2:
        return None  # a zombie: its memory is gone
    return values["VmHWM"], values["VmRSS"]


@dataclass
class WorkerSampler:
    """Samples every process that appears under `roots` after `start()`: the run workers."""

    roots: set[int]
    interval: float = 0.1
    peaks_kib: dict[int, int] = field(default_factory=dict)
    commands: dict[int, str] = field(default_factory=dict)
    parents: dict[int, int] = field(default_factory=dict)
    peak_total_kib: int = 0
    _existing: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._existing = _descendants(self.roots) | self.roots
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        total = 0
        parents = _parents()
        for pid in _descendants(self.roots, parents) - self._existing:
            if pid not in self.commands:
                command = (_read_proc(pid, "cmdline") or "").replace("\0", " ").strip()
                if not command:
                    continue  # gone already, or a zombie
                self.commands[pid] = command
                self.parents[pid] = parents.get(pid, 0)
            if any(marker in self.commands[pid] for marker in CODE_SERVER_MARKERS):
                continue  # a code server (re)started by the daemon or webserver, not a run
            memory = _memory_kib(pid)
            if memory is None:
                continue
            hwm, rss = memory
            self.peaks_kib[pid] = max(hwm, self.peaks_kib.get(pid, 0))
            total += rss
        self.peak_total_kib = max(self.peak_total_kib, total)


class Service:
    """A Dagster process (daemon, webserver) in its own session, logging to a file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with everything it spawned
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchmarkError(
                f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to its whole process group (code servers, run workers), SIGKILL after 30 s."""
        for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if self.process.poll() is not None and not _group_alive(self.process.pid):
                    return
                time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- GraphQL ----------------------------------------------------------------------------------


def _graphql(client: httpx.Client, query: str, variables: dict | None = None) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    if response.status_code >= 500 or not response.content:
        raise BenchmarkError(
            f"GraphQL answered HTTP {response.status_code}: {response.text[:2000]}"
        )
    body = response.json()
    if body.get("errors"):
        raise BenchmarkError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def _wait_for_location(client: httpx.Client, services: list[Service], deadline: float) -> None:
    """Until the webserver answers and its code location has loaded."""
    while True:
        for service in services:
            service.check_alive()
        if time.monotonic() > deadline:
            raise BenchmarkError("The webserver's code location did not load in time.")
        try:
            data = _graphql(client, LOCATION_QUERY)
        except (httpx.HTTPError, ValueError):
            time.sleep(0.5)
            continue
        entries = data["workspaceOrError"].get("locationEntries") or []
        if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
            for entry in entries:
                loaded = entry["locationOrLoadError"] or {}
                if loaded.get("__typename") == "PythonError":
                    raise BenchmarkError(
                        f"Code location {entry['name']} failed to load: {loaded['message']}"
                    )
            return
        time.sleep(0.5)


def _launch_backfill(client: httpx.Client, days: list[str]) -> str:
    params = {
        "assetSelection": [{"path": key} for key in ASSET_KEYS],
        "partitionNames": [f"{ACCOUNT}|{day}" for day in days],  # (account, day) partitions
        "title": "benchmark: business reports backfill",
    }
    result = _graphql(client, LAUNCH_MUTATION, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BenchmarkError(
            f"launchPartitionBackfill answered {result['__typename']}: {result.get('message')}"
        )
    return result["backfillId"]


def _wait_for_backfill(
    client: httpx.Client, backfill_id: str, services: list[Service], deadline: float
) -> dict:
    while True:
        for service in services:
            service.check_alive()
        backfill = _graphql(client, BACKFILL_QUERY, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill["__typename"] != "PartitionBackfill":
            raise BenchmarkError(f"Backfill {backfill_id}: {backfill.get('message')}")
        if backfill["status"] in TERMINAL_BACKFILL:
            return backfill
        if time.monotonic() > deadline:
            raise BenchmarkError(
                f"Backfill {backfill_id} still {backfill['status']} at the time limit."
            )
        time.sleep(0.5)


# -- the warehouse ----------------------------------------------------------------------------


def _silver_summary(home: Path, first: date, last: date) -> dict:
    import duckdb

    path = home / "warehouse.duckdb"
    if not path.exists():
        return {"rows": 0, "days": 0, "skus": 0}
    with duckdb.connect(str(path), read_only=True) as connection:
        rows, days, skus = connection.execute(
            f"select count(*), count(distinct report_date), count(distinct msku) "
            f'from "{DATASET}"."{SILVER_TABLE}" where report_date between ? and ?',
            [first, last],
        ).fetchone()
    return {"rows": rows, "days": days, "skus": skus}


def _bronze_documents(home: Path) -> tuple[int, int]:
    """(documents, SKU rows in them): what silver must hold, row for row."""
    paths = list((home / "lake" / BRONZE_DIR).glob("run_date=*/report_id=*/part-000.json.gz"))
    rows = sum(
        len(json.loads(gzip.decompress(path.read_bytes())).get("salesAndTrafficByAsin") or [])
        for path in paths
    )
    return len(paths), rows


# -- the benchmark ----------------------------------------------------------------------------


def _environment(home: Path, dagster_home: Path, sandbox, speed: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_VARIABLES}
    env.update(
        AMAZON_ASSETS_HOME=str(home),
        DAGSTER_HOME=str(dagster_home),
        SP_API_ENDPOINT=sandbox.endpoint,
        SP_API_LWA_TOKEN_URL=sandbox.token_url,
        AMAZON_ASSETS_SANDBOX_PORT=str(sandbox.port),
        AMAZON_ASSETS_SANDBOX_SPEED=repr(speed),
        PYTHONUNBUFFERED="1",
    )
    return env


def _instance_home(root: Path, name: str) -> tuple[Path, Path]:
    home = root / name
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
    return home, dagster_home


def _run_backfill(root: Path, sandbox, args, keys: list[str], deadline: float) -> dict:
    home, dagster_home = _instance_home(root, "backfill")
    env = _environment(home, dagster_home, sandbox, args.speed)
    workspace = str(REPO_ROOT / "workspace.yaml")
    # Business reports are on (account, day) partitions: the account is registered first, with
    # the onboarding sensor stopped so it does not backfill the account's seller history beside.
    for command in (
        ["-m", "dagster", "sensor", "stop", "seller_account_onboarding", "-w", workspace],
        ["-m", "amazon_assets.cli", "accounts", "add", ACCOUNT],
    ):
        subprocess.run(
            [sys.executable, *command], cwd=REPO_ROOT, env=env, check=True, capture_output=True
        )
    port = _free_port()
    services: list[Service] = []
    sampler: WorkerSampler | None = None
    try:
        services.append(
            Service(
                "daemon",
                [sys.executable, "-m", "dagster._daemon", "run", "-w", workspace],
                env,
                root,
            )
        )
        services.append(
            Service(
                "webserver",
                [sys.executable, "-m", "dagster_webserver", "-w", workspace]
                + ["-h", "127.0.0.1", "-p", str(port)],
                env,
                root,
            )
        )
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            _wait_for_location(client, services, deadline)
            # Let the daemon's own code server come up too before the clock starts.
            time.sleep(2)
            sampler = WorkerSampler(roots={service.pid for service in services})
            sampler.start()
            started = time.monotonic()
            submitted_at = time.time()
            backfill_id = _launch_backfill(client, keys)
            backfill = _wait_for_backfill(client, backfill_id, services, deadline)
            wall = time.monotonic() - started
            done_at = time.time()
            sampler.stop()
            sampler.sample()
            runs_total = _graphql(client, RUNS_COUNT_QUERY)["runsOrError"]["count"]
    except BaseException:
        for service in services:
            print(f"--- {service.name} log (tail) ---\n{service.log_tail()}", file=sys.stderr)
        raise
    finally:
        if sampler is not None:
            sampler.stop()
        for service in services:
            service.stop()
    runs = sorted(backfill["runs"], key=lambda run: run["creationTime"] or 0)
    timed = [run for run in runs if run["startTime"] and run["endTime"]]
    return {
        "status": backfill["status"],
        "error": (backfill.get("error") or {}).get("message"),
        "wall": wall,
        "runs_total": runs_total,
        "runs": runs,
        "run_seconds": [run["endTime"] - run["startTime"] for run in timed],
        "first_start": min(run["startTime"] for run in timed) - submitted_at if timed else None,
        "last_end": done_at - max(run["endTime"] for run in timed) if timed else None,
        "processes": [
            (sampler.peaks_kib[pid], pid, sampler.parents.get(pid, 0), sampler.commands[pid])
            for pid in sorted(sampler.peaks_kib, key=sampler.peaks_kib.get, reverse=True)
        ],
        "worker_peaks_kib": sorted(sampler.peaks_kib.values(), reverse=True),
        "worker_total_kib": sampler.peak_total_kib,
        "silver": _silver_summary(home, date.fromisoformat(keys[0]), date.fromisoformat(keys[-1])),
        "bronze_documents": _bronze_documents(home),
    }


def _run_baseline(root: Path, sandbox, args, keys: list[str], deadline: float) -> dict:
    home, dagster_home = _instance_home(root, "baseline")
    env = _environment(home, dagster_home, sandbox, args.speed)
    command = [sys.executable, str(Path(__file__).resolve()), "--baseline-child"]
    command += ["--first", keys[0], "--last", keys[-1]]
    try:
        child = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=max(1.0, deadline - time.monotonic()),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchmarkError("The in-process baseline run did not finish in time.") from None
    lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        raise BenchmarkError(f"The in-process baseline failed:\n{child.stderr[-3000:]}")
    result = json.loads(lines[-1])
    result["silver"] = _silver_summary(
        home, date.fromisoformat(keys[0]), date.fromisoformat(keys[-1])
    )
    return result


def baseline_child(first: str, last: str) -> int:
    """In a child process: the same days as one in-process run, then its own figures as JSON."""
    from amazon_assets.commands import run_account_job
    from amazon_assets.definitions import defs
    from amazon_assets.defs.business_reports.commands import BUSINESS_REPORTS_JOB

    started = time.monotonic()
    first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
    run_id = run_account_job(defs, BUSINESS_REPORTS_JOB, ACCOUNT, first_day, last_day).run_id
    wall = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"run_id": run_id, "wall": wall, "peak_kib": peak_kib}))
    return 0


def _mib(kib: float) -> str:
    return f"{kib * 1024 / MIB:,.0f} MiB"


def _self_peak_kib() -> int:
    memory = _memory_kib(os.getpid())
    return memory[0] if memory else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skus", type=int, default=1000, help="SKUs in the sandbox account")
    parser.add_argument("--days", type=int, default=30, help="days ending yesterday (UTC)")
    parser.add_argument(
        "--speed", type=float, default=1e6, help="sandbox clock: simulated seconds per second"
    )
    parser.add_argument("--timeout", type=float, default=900, help="give up after (seconds)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the in-process run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--verbose", action="store_true", help="list every run worker process")
    parser.add_argument("--baseline-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first", help=argparse.SUPPRESS)
    parser.add_argument("--last", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_child:
        return baseline_child(args.first, args.last)

    from amazon_assets.sandbox import SandboxConfig, SandboxServer

    deadline = time.monotonic() + args.timeout
    today = datetime.now(UTC).date()
    last = today - timedelta(days=1)
    keys = [(last - timedelta(days=i)).isoformat() for i in range(args.days - 1, -1, -1)]
    root = Path(tempfile.mkdtemp(prefix="amazon-assets-bench-"))
    config = SandboxConfig(skus_per_account=args.skus, quotas=False, speed=args.speed, today=today)
    try:
        with SandboxServer(config, port=_free_port()) as sandbox:
            print(
                f"backfill: {args.skus} SKUs x {args.days} days ({keys[0]}..{keys[-1]}), "
                f"sandbox quotas off, clock x{args.speed:g}; dagster-daemon + dagster-webserver, "
                "launchPartitionBackfill over GraphQL",
                flush=True,
            )
            backfill = _run_backfill(root, sandbox, args, keys, deadline)
            sandbox_peak_kib = _self_peak_kib()
            baseline = None
            if not args.no_baseline:
                baseline = _run_baseline(root, sandbox, args, keys, deadline)
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    silver = backfill["silver"]
    statuses = sorted({run["status"] for run in backfill["runs"]})
    peaks = backfill["worker_peaks_kib"]
    print(f"SKUs in the sandbox account:          {args.skus}")
    print(f"days backfilled:                      {args.days}")
    print(f"backfill status:                      {backfill['status']}")
    if backfill["error"]:
        print(f"backfill error:                       {backfill['error']}")
    print(
        f"Dagster runs launched:                {len(backfill['runs'])} "
        f"({', '.join(statuses) or 'none'}; {backfill['runs_total']} runs in the instance)"
    )
    print(
        f"rows loaded (silver):                 {silver['rows']:,} rows, "
        f"{silver['days']} days, {silver['skus']} distinct SKUs"
    )
    documents, document_rows = backfill["bronze_documents"]
    print(f"bronze documents:                     {documents} ({document_rows:,} SKU rows)")
    print(f"wall time (submit -> backfill done):  {backfill['wall']:.1f} s")
    if backfill["run_seconds"]:
        durations = " + ".join(f"{seconds:.1f}" for seconds in backfill["run_seconds"])
        print(
            f"  of which runs executing:            {durations} s "
            f"(first run started {backfill['first_start']:.1f} s after submit; backfill marked "
            f"done {backfill['last_end']:.1f} s after the last run ended)"
        )
    print(
        f"peak RSS of one run worker process:   {_mib(peaks[0]) if peaks else 'n/a'} "
        f"(largest of {len(peaks)} processes under the run launcher, sampled: "
        f"{', '.join(_mib(kib) for kib in peaks[:4]) or 'none'}, ...)"
    )
    print(f"peak RSS of run workers, summed:      {_mib(backfill['worker_total_kib'])}")
    print(f"peak RSS of the sandbox process:      {_mib(sandbox_peak_kib)}")
    if baseline is not None:
        print(
            f"baseline, one in-process run:         {baseline['wall']:.1f} s, peak RSS "
            f"{_mib(baseline['peak_kib'])}, {baseline['silver']['rows']:,} rows, "
            f"{baseline['silver']['days']} days, {baseline['silver']['skus']} SKUs"
        )
    if args.verbose:
        print("run worker processes (peak, pid, parent, command):")
        for kib, pid, parent, command in backfill["processes"]:
            print(f"  {_mib(kib):>9} {pid:>7} {parent:>7} {command[:110]}")
    ok = (
        backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS")
        and silver["days"] == args.days
        and silver["rows"] == document_rows > 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
