"""Sales and traffic for an agency through the assets: the app's 96 GET_SALES_AND_TRAFFIC_REPORT
requests a day shared by `--accounts` sellers, with and without Data Kiosk.

    python benchmarks/sales_and_traffic_budget.py [--accounts 20] [--asins 200] [--months 18]
                                                  [--days 2] [--speed 300] [--workers 2]
                                                  [--only history|refresh]

What it does, in a temporary directory (removed at the end unless --keep):
1. starts the sandbox in this process, Amazon's quotas on, its clock `--speed` simulated seconds
   per real second, with `--accounts` sellers of about 1.1 SKUs per wanted child ASIN;
2. in `--workers` child processes, runs the `amazon-assets` command a user types, with Data
   Kiosk on (AMAZON_ASSETS_DATA_KIOSK=1) and one home (lake, DuckDB, state store, Dagster
   instance) for all of them: `accounts add` for every seller, then
   history: `ingest business-reports --account A --start F --end E` for each account, the days
   of `--months` before its settling window (the bronze and silver business-reports assets, a
   Dagster run per account); prints the GET_SALES_AND_TRAFFIC_REPORT requests and the Data
   Kiosk queries per account (the sandbox's request log, the bronze asset's `calls_*` metadata)
   next to the Reports-only path, and the simulated days until every account's history is in;
   daily refresh: `--days` simulated days (the first at once if most of the current day is
   left, else from the next; the others from each day's start); each day every
   account's settling window (`ingest business-reports --account A --days 7`), the way the daily
   schedule's runs refresh it (AMAZON_ASSETS_REUSE_MINUTES=1: nothing of the day before is
   reused). Prints each day's budget used and left (the bronze asset's
   `sales_and_traffic_budget_*` metadata after the day's last run), the reports and queries the
   sandbox served, the windows refreshed, and the 429s the sandbox answered;
3. the Reports-only figures (requests per account, days until every history is in, the
   settling windows first) come from the planner the assets spend the budget by
   (`plan_day`), not from runs: at 96 requests a day they would take months of simulated time.

Each child process calls the command's own entry point (`amazon_assets.cli.main`) for its
accounts in turn, so it loads Dagster and the code location once, not once per account.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from business_reports_backfill import FOREIGN_VARIABLES, _free_port

from amazon_assets.sandbox import SandboxConfig, SandboxServer
from amazon_assets.sources.quotas import Clock
from amazon_assets.sources.sales_and_traffic_budget import (
    DAILY_REQUESTS,
    REPORT_TYPE,
    SETTLING_DAYS,
    AccountNeeds,
    amazon_day,
    history_days,
    plan_day,
    settling_requests,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
BUDGET_METADATA = ("used", "left", "settling", "history")
# A refresh run reuses what was fetched in the last real minute (the smallest the setting takes):
# less than a simulated day at any speed below 1440x, so each day's refresh fetches its window
# again, as the daily schedule's runs do (they reuse only what their own runs fetched).
REFRESH_REUSE_MINUTES = 1.0
# The first refresh starts at once if this much of the simulated day is left, else the next day.
START_NOW_SHARE = 0.6


@dataclass
class Command:
    """One `amazon-assets` command for one account, and what it left in the instance."""

    account: str
    argv: list[str]
    exit_code: int = -1
    seconds: float = 0.0
    metadata: dict[str, int] | None = None  # the bronze asset's numbers of the account's day


# -- the child: the command a user runs -------------------------------------------------------


def worker(commands: list[dict]) -> int:
    """Run each command through `amazon-assets`' entry point; after it, read the bronze asset's
    newest materialization of the command's last (account, day) from the instance."""
    import dagster as dg

    from amazon_assets.cli import main as amazon_assets
    from amazon_assets.defs.business_reports.spec import BUSINESS_REPORTS
    from amazon_assets.partitions import partition_key

    for command in commands:
        started = time.monotonic()
        code = amazon_assets(command["argv"])
        seconds = time.monotonic() - started
        metadata = None
        if command.get("day") and "DAGSTER_HOME" in os.environ:  # set by a command that ran
            with dg.DagsterInstance.get() as instance:
                key = partition_key(command["account"], date.fromisoformat(command["day"]))
                records = instance.fetch_materializations(
                    dg.AssetRecordsFilter(
                        asset_key=BUSINESS_REPORTS.bronze_key,
                        asset_partitions=[key],
                    ),
                    limit=1,
                ).records
                if records:
                    materialization = records[0].asset_materialization
                    metadata = {
                        name: value.value
                        for name, value in materialization.metadata.items()
                        if isinstance(value.value, int)
                    }
        print(json.dumps({"exit_code": code, "seconds": seconds, "metadata": metadata}), flush=True)
    return 0


# -- the parent: the sandbox and the figures ---------------------------------------------------


def _environment(home: Path, sandbox: SandboxServer, reuse_minutes: float | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_VARIABLES}
    env.pop("DAGSTER_HOME", None)  # the command's embedded instance, in the home
    env.update(
        AMAZON_ASSETS_HOME=str(home),
        SP_API_ENDPOINT=sandbox.endpoint,
        SP_API_LWA_TOKEN_URL=sandbox.token_url,
        AMAZON_ASSETS_SANDBOX_PORT=str(sandbox.port),
        AMAZON_ASSETS_SANDBOX_SPEED=repr(sandbox.config.speed),
        AMAZON_ASSETS_DATA_KIOSK="1",
        PYTHONUNBUFFERED="1",
    )
    if reuse_minutes is not None:
        env["AMAZON_ASSETS_REUSE_MINUTES"] = repr(reuse_minutes)
    return env


def run_commands(commands: list[Command], env: dict, workers: int) -> None:
    """The commands in `workers` child processes (accounts dealt round-robin), in parallel."""
    shares = [commands[i::workers] for i in range(workers) if commands[i::workers]]
    children = []
    for share in shares:
        payload = [
            {"account": c.account, "argv": c.argv, "day": _last_day_argument(c.argv)} for c in share
        ]
        children.append(
            subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(payload)],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for share, child in zip(shares, children, strict=True):
        out, err = child.communicate()
        results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        if child.returncode != 0 or len(results) != len(share):
            raise RuntimeError(f"a worker failed (exit {child.returncode}):\n{err[-3000:]}")
        for command, result in zip(share, results, strict=True):
            command.exit_code = result["exit_code"]
            command.seconds = result["seconds"]
            command.metadata = result["metadata"]
        if any(c.exit_code != 0 for c in share):
            # The command's one sentence per failure (its log is in the instance).
            for line in err.splitlines():
                if line.startswith("amazon-assets:"):
                    print(f"    {line}")


def _last_day_argument(argv: list[str]) -> str | None:
    for option in ("--end", "--end-date"):
        if option in argv:
            return argv[argv.index(option) + 1]
    return None


def _accounts(n: int) -> tuple[str, ...]:
    return tuple(f"seller{i:02d}" for i in range(n))


def _reports_per_account(sandbox: SandboxServer) -> Counter[str]:
    counts: Counter[str] = Counter()
    for (account, report_type, _), entry in sandbox.app.requests_by_report().items():
        if report_type == REPORT_TYPE:
            counts[account] += entry["createReport"]
    return counts


def _calls(sandbox: SandboxServer) -> Counter[str]:
    return Counter(sandbox.app.stats()["calls"])


def _throttled(sandbox: SandboxServer) -> Counter[str]:
    return Counter(sandbox.app.stats()["throttled"])


def history(args, sandbox: SandboxServer, home: Path) -> dict[str, int]:
    accounts = _accounts(args.accounts)
    clock = Clock(sandbox.config.speed)
    last = sandbox.config.today - timedelta(days=1)
    first = last - timedelta(days=round(args.months * 365 / 12) - 1)
    history_last = last - timedelta(days=SETTLING_DAYS)
    days = (last - first).days + 1
    env = _environment(home, sandbox, reuse_minutes=None)
    reports_before, calls_before = _reports_per_account(sandbox), _calls(sandbox)
    commands = [
        Command(
            account,
            ["ingest", "business-reports", "--account", account]
            + ["--start", first.isoformat(), "--end", history_last.isoformat()],
        )
        for account in accounts
    ]
    started, real_started = clock.now(), time.monotonic()
    run_commands(commands, env, args.workers)
    simulated_days = (clock.now() - started) / 86_400
    reports = _reports_per_account(sandbox) - reports_before
    calls = _calls(sandbox) - calls_before
    done = [c for c in commands if c.exit_code == 0]
    queries = [(c.metadata or {}).get("calls_createQuery", 0) for c in done]
    per_account = calls["createQuery"] / len(accounts)
    print(
        f"history ({len(accounts)} accounts x {args.asins} child ASINs, {first}..{history_last}: "
        f"the {days - SETTLING_DAYS} days before each {SETTLING_DAYS}-day settling window of "
        f"{days} days; clock {sandbox.config.speed:g}x, {args.workers} workers)"
    )
    print(
        f"  runs succeeded: {len(done)}/{len(accounts)} (`amazon-assets ingest business-reports`,"
        f" one Dagster run per account, {sum(c.seconds for c in commands) / len(commands):.0f} "
        f"real seconds each on average)"
    )
    print(
        f"  with Data Kiosk:   {REPORT_TYPE} requests per account: "
        f"{sum(reports.values()) / len(accounts):g}; Data Kiosk queries per account: "
        f"{per_account:g} (sandbox log), {min(queries, default=0)}..{max(queries, default=0)} "
        f"(bronze metadata calls_createQuery)"
    )
    complete = "every account's" if len(done) == len(accounts) else f"{len(done)} accounts'"
    print(
        f"  {complete} history in after {simulated_days:.2f} simulated days "
        f"({time.monotonic() - real_started:.0f} real seconds)"
    )
    print(f"  Reports API only (the planner, no runs): {plan_reports_only(accounts, first, last)}")
    return {"days": days, "reports": sum(reports.values()), "queries": calls["createQuery"]}


def plan_reports_only(accounts: tuple[str, ...], first: date, last: date) -> str:
    """What the Reports API alone achieves: the planner run day after day, no HTTP."""
    needs = [
        AccountNeeds(a, settling_requests(last, False), history_days(first, last)) for a in accounts
    ]
    per_account = len(needs[0].history) + len(needs[0].settling)
    total = sum(len(n.history) + len(n.settling) for n in needs)
    days = 0
    while any(n.history for n in needs):
        plan = plan_day(needs)
        served = {(r.account, r.day) for r in plan.requests if r.purpose == "history"}
        if not served:
            return (
                f"{per_account} requests per account; the settling windows alone need "
                f"{sum(len(n.settling) for n in needs)} requests a day ({plan.settling_left_out} "
                f"over the {DAILY_REQUESTS}), so no history day is ever served; with no refresh "
                f"at all the {total:,} requests would take {total / DAILY_REQUESTS:.0f} days"
            )
        needs = [
            AccountNeeds(
                n.account, n.settling, tuple(d for d in n.history if (n.account, d) not in served)
            )
            for n in needs
        ]
        days += 1
    return (
        f"{per_account} requests per account; every history in after {days} days, settling "
        "windows refreshed daily"
    )


def refresh(args, sandbox: SandboxServer, home: Path) -> list[dict[str, int]]:
    accounts = _accounts(args.accounts)
    clock = Clock(sandbox.config.speed)
    env = _environment(home, sandbox, reuse_minutes=REFRESH_REUSE_MINUTES)
    last = sandbox.config.today - timedelta(days=1)
    window = f"{last - timedelta(days=SETTLING_DAYS - 1)}..{last}"
    # The budget counts Amazon's (simulated) UTC day: the first refresh starts now if most of
    # the current day is left (the history spent none of it), else at the next day.
    now = clock.now()
    boundary = (now // 86_400 + 1) * 86_400
    first = now if boundary - now >= START_NOW_SHARE * 86_400 else boundary
    starts = [first] + [(first // 86_400 + i) * 86_400 for i in range(1, args.days)]
    print(
        f"daily refresh ({len(accounts)} accounts, settling window {window}, clock "
        f"{sandbox.config.speed:g}x: a simulated day is {86_400 / sandbox.config.speed:.0f} real "
        "seconds)"
    )
    days = []
    for index, start in enumerate(starts):
        clock.sleep(start - clock.now())
        start = max(start, clock.now())  # a day that ran late starts the next one late
        today = amazon_day(clock)
        day_end = (start // 86_400 + 1) * 86_400
        reports_before, calls_before = _reports_per_account(sandbox), _calls(sandbox)
        throttled_before = _throttled(sandbox)
        commands = [
            Command(
                account,
                ["ingest", "business-reports", "--account", account, "--days", "7"]
                + ["--end-date", last.isoformat()],
            )
            for account in accounts
        ]
        run_commands(commands, env, args.workers)
        ended = clock.now()
        reports = _reports_per_account(sandbox) - reports_before
        calls = _calls(sandbox) - calls_before
        throttled = _throttled(sandbox) - throttled_before
        refreshed = [c for c in commands if c.exit_code == 0]
        newest = max(
            (c.metadata for c in refreshed if c.metadata),
            key=lambda m: m.get("sales_and_traffic_budget_used", 0),
            default={},
        )
        budget = {k: newest.get(f"sales_and_traffic_budget_{k}") for k in BUDGET_METADATA}
        print(
            f"  day {index + 1}: windows refreshed {len(refreshed)}/{len(accounts)}; "
            f"{REPORT_TYPE} {sum(reports.values())} ({_spread(reports, accounts)} per account), "
            f"Data Kiosk queries {calls['createQuery']}; budget used {budget['used']} (settling "
            f"{budget['settling']}, history {budget['history']}), left {budget['left']} of "
            f"{DAILY_REQUESTS}; 429s {sum(throttled.values())}"
            f"{' ' + str(dict(throttled)) if throttled else ''}; took "
            f"{(ended - start) / 3600:.1f} simulated hours of the "
            f"{(day_end - start) / 3600:.1f} left in the day"
            f"{'' if amazon_day(clock) == today else ' (PAST THE DAY: the next one started)'}"
        )
        days.append(
            {
                "refreshed": len(refreshed),
                "reports": sum(reports.values()),
                "queries": calls["createQuery"],
                "throttled": sum(throttled.values()),
                "in_day": amazon_day(clock) == today,
            }
        )
    return days


def _spread(counts: Counter[str], accounts: tuple[str, ...]) -> str:
    values = [counts[a] for a in accounts]
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}..{max(values)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--asins", type=int, default=200)
    parser.add_argument("--months", type=int, default=18)
    parser.add_argument("--days", type=int, default=2, help="simulated days of daily refresh")
    parser.add_argument("--speed", type=float, default=300.0, help="sandbox clock speed")
    parser.add_argument("--workers", type=int, default=2, help="child processes running commands")
    parser.add_argument("--only", choices=("history", "refresh"), help="run one part")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))
    accounts = _accounts(args.accounts)
    root = Path(tempfile.mkdtemp(prefix="amazon-assets-bench-"))
    # About one SKU in ten shares its child ASIN with another: 1.1 SKUs per wanted ASIN.
    config = SandboxConfig(
        seed=7,
        accounts=accounts,
        skus_per_account=int(args.asins * 1.1) + 1,
        speed=args.speed,
        today=datetime.now(UTC).date(),
    )
    try:
        with SandboxServer(config, port=_free_port()) as sandbox:
            home = root / "home"
            home.mkdir()
            register = [Command(a, ["accounts", "add", a]) for a in accounts]
            run_commands(register, _environment(home, sandbox, None), 1)
            backfill = history(args, sandbox, home) if args.only in (None, "history") else None
            days = refresh(args, sandbox, home) if args.only in (None, "refresh") else []
            throttled = sum(_throttled(sandbox).values())
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if backfill and days:
        reports = (backfill["reports"] + days[0]["reports"]) / len(accounts)
        queries = (backfill["queries"] + days[0]["queries"]) / len(accounts)
        print(
            f"{args.months} months of every account complete (history, then the first day's "
            f"settling window), per account: {reports:g} {REPORT_TYPE} + {queries:g} Data Kiosk "
            f"queries = {reports + queries:g} requests, {(reports + queries) / backfill['days']:.3f}x"
            f" the Reports-only path's {backfill['days']} (goal <= 0.05x)"
        )
    if days:
        every = all(d["refreshed"] == len(accounts) and d["in_day"] for d in days)
        print(
            f"every account's settling window refreshed within its day on each of {len(days)} "
            f"days: {'yes' if every else 'NO'}"
        )
    print(f"429s answered by the sandbox (every operation, the whole benchmark): {throttled}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
