"""Sales and traffic for an agency: the app's 96 GET_SALES_AND_TRAFFIC_REPORT requests a day
shared by `--accounts` sellers, with and without Data Kiosk.

    python benchmarks/sales_and_traffic_budget.py [--accounts 20] [--asins 200] [--months 18]
                                                  [--days 2] [--history-speed 600]
                                                  [--refresh-speed 3600]
                                                  [--only history|refresh]

Everything runs for real against the sandbox (in this process, Amazon's quotas on) through
python-amazon-sp-api over HTTP, the client pacing itself from the state store:
1. history: every account's `--months` of child-ASIN-by-day history through Data Kiosk
   (`fetch_trends`: 30 ASINs per salesAndTrafficTrends query), accounts four at a time; each
   document is parsed into silver rows. Prints the sales-and-traffic requests per account next
   to the Reports-only path's one per day, and the simulated days until every account's history
   is in;
2. daily refresh: `--days` simulated days; each day every account's 7-day settling window is
   refreshed by Data Kiosk (child ASIN level) and the planner (`plan_day`) spends the Reports
   API's share of the app's 96 on the SKU level (the newest day and the day leaving the window),
   each request counted in the state store's budget (`SalesAndTrafficBudget.spend`) before it is
   made. Prints each day's budget used and left, and the 429s the sandbox answered (all
   operations, both parts).

The Reports-only figures (requests per account, days to complete a history) come from the same
planner on the same accounts, not from HTTP: 20 accounts' settling windows alone need 140 of the
96 requests a day, so no history day is ever served.

The clock speed trades real time for fidelity: the sandbox builds a 548-day, 30-ASIN document in
about two real seconds, which is `speed` simulated seconds; the history part runs slower (600x)
so that building documents does not dominate its simulated days.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from amazon_assets.parsers.data_kiosk import parse_sales_and_traffic_trends
from amazon_assets.resources.data_kiosk import fetch_trends
from amazon_assets.resources.sp_api import SpApiResource
from amazon_assets.sandbox import SandboxConfig, SandboxServer
from amazon_assets.settings import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN_PREFIX,
)
from amazon_assets.sources.quotas import Clock
from amazon_assets.sources.sales_and_traffic_budget import (
    DAILY_REQUESTS,
    REPORT_TYPE,
    SETTLING_DAYS,
    AccountNeeds,
    SalesAndTrafficBudget,
    history_days,
    kiosk_batches,
    plan_day,
    settling_requests,
    settling_window,
)
from amazon_assets.sources.state import open_state_store

SKU_DAILY = {"dateGranularity": "DAY", "asinGranularity": "SKU"}


def _accounts(n: int) -> tuple[str, ...]:
    return tuple(f"seller{i:02d}" for i in range(n))


def _sandbox(accounts: tuple[str, ...], asins: int, speed: float) -> SandboxServer:
    # About one SKU in ten shares its child ASIN with another: 1.1 SKUs per wanted ASIN.
    config = SandboxConfig(
        seed=7, accounts=accounts, skus_per_account=int(asins * 1.1) + 1, speed=speed
    )
    return SandboxServer(config, port=0).start()


def _resource(sandbox: SandboxServer, state: Path, account: str) -> SpApiResource:
    return SpApiResource(
        endpoint=sandbox.url,
        lwa_token_url=sandbox.token_url,
        refresh_token=SANDBOX_REFRESH_TOKEN_PREFIX + account,
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        state_path=str(state),
        clock_speed=sandbox.config.speed,
        source_label="sandbox",
        account=account,
    )


def _asins_of(sandbox: SandboxServer, account: str, n: int) -> list[str]:
    products = sandbox.app.marketplace.products(account)
    return sorted(set(products["asin"].to_list()))[:n]


def _throttled(sandbox: SandboxServer) -> int:
    return sum(sandbox.app.stats()["throttled"].values())


def history(args: argparse.Namespace, home: Path) -> dict[str, float]:
    accounts = _accounts(args.accounts)
    sandbox = _sandbox(accounts, args.asins, args.history_speed)
    try:
        state = home / "history.sqlite"
        last = sandbox.config.today - timedelta(days=1)
        first = last - timedelta(days=round(args.months * 365 / 12) - 1)
        clock = Clock(args.history_speed)
        requests: Counter[str] = Counter()
        rows: Counter[str] = Counter()
        quarantined = 0
        started, real_started = clock.now(), time.monotonic()

        def backfill(account: str) -> None:
            nonlocal quarantined
            resource = _resource(sandbox, state, account)
            for batch in kiosk_batches(_asins_of(sandbox, account, args.asins)):
                result = fetch_trends(resource, batch, first, last)
                requests[account] += result.requests.get("createQuery", 0)
                parsed = parse_sales_and_traffic_trends(
                    result.body,
                    query_id=result.query_id,
                    account=account,
                    data_start=first,
                    data_end=last,
                    asins=result.asins,
                    fetched_at=result.fetched_at,
                    settle_days=SETTLING_DAYS,
                    ingested_at=result.fetched_at,
                )
                rows[account] += parsed.facts.height
                quarantined += parsed.quarantine.height

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(backfill, accounts))
        simulated_days = (clock.now() - started) / 86_400
        days = (last - first).days + 1
        per_account = sum(requests.values()) / len(accounts)
        print(
            f"history ({len(accounts)} accounts x {args.asins} child ASINs, {first}..{last}: "
            f"{days} days, speed {args.history_speed:g}x)"
        )
        print(f"  Reports API only:  {days} requests per account (one per day)")
        print(
            f"  with Data Kiosk:   {per_account:g} requests per account "
            f"({per_account / days:.4f}x the Reports-only path; goal <= 0.05x), none of them "
            f"from the {DAILY_REQUESTS}-a-day {REPORT_TYPE} budget"
        )
        print(
            f"  every account's history in after {simulated_days:.2f} simulated days "
            f"({time.monotonic() - real_started:.0f} real seconds); {sum(rows.values()):,} "
            f"child-ASIN-day rows in silver, {quarantined} quarantined"
        )
        reports_only = plan_reports_only(accounts, first, last)
        print(f"  Reports API only, planned by the same planner: {reports_only}")
        return {"throttled": _throttled(sandbox)}
    finally:
        sandbox.stop()


def plan_reports_only(accounts: tuple[str, ...], first: date, last: date) -> str:
    """What the Reports API alone achieves: the planner run day after day, no HTTP."""
    needs = [
        AccountNeeds(a, settling_requests(last, False), history_days(first, last)) for a in accounts
    ]
    total = sum(len(n.history) + len(n.settling) for n in needs)
    days = 0
    while any(n.history for n in needs):
        plan = plan_day(needs)
        served = {(r.account, r.day) for r in plan.requests if r.purpose == "history"}
        if not served:
            return (
                f"the settling windows alone need {sum(len(n.settling) for n in needs)} "
                f"requests a day ({plan.settling_left_out} over the {DAILY_REQUESTS}), so no "
                f"history day is ever served; even with no refresh at all the {total:,} "
                f"requests would take {total / DAILY_REQUESTS:.0f} days"
            )
        needs = [
            AccountNeeds(
                n.account, n.settling, tuple(d for d in n.history if (n.account, d) not in served)
            )
            for n in needs
        ]
        days += 1
    return f"every account's history in after {days} days, settling windows refreshed daily"


def refresh(args: argparse.Namespace, home: Path) -> dict[str, float]:
    accounts = _accounts(args.accounts)
    sandbox = _sandbox(accounts, args.asins, args.refresh_speed)
    try:
        state = home / "refresh.sqlite"
        budget = SalesAndTrafficBudget(open_state_store(state), SANDBOX_CLIENT_ID)
        clock = Clock(args.refresh_speed)
        last = sandbox.config.today - timedelta(days=1)
        window = settling_window(last)
        print(
            f"daily refresh ({len(accounts)} accounts, settling window {window[-1]}..{window[0]}, "
            f"speed {args.refresh_speed:g}x)"
        )
        # Simulated Amazon days, counted from the start (the budget is per day).
        start, first_day = clock.now(), datetime.now(UTC).date()
        for day_index in range(args.days):
            today = first_day + timedelta(days=day_index)
            kiosk_days, reports = _refresh_day(sandbox, state, budget, args.asins, today)
            usage = budget.metadata(today)
            complete = all(kiosk_days[a] == SETTLING_DAYS and reports[a] == 2 for a in accounts)
            print(
                f"  {today}: Data Kiosk refreshed {sum(kiosk_days.values())} account-days "
                f"({sum(1 for a in accounts if kiosk_days[a] == SETTLING_DAYS)}/{len(accounts)} "
                f"windows whole), Reports API {sum(reports.values())} SKU-level days; budget "
                f"used {usage['sales_and_traffic_budget_used']}, left "
                f"{usage['sales_and_traffic_budget_left']} of {DAILY_REQUESTS}; every window "
                f"refreshed: {'yes' if complete else 'NO'}"
            )
            clock.sleep(start + (day_index + 1) * 86_400 - clock.now())  # the next day
        return {"throttled": _throttled(sandbox)}
    finally:
        sandbox.stop()


def _refresh_day(
    sandbox: SandboxServer, state: Path, budget: SalesAndTrafficBudget, asins: int, today: date
) -> tuple[Counter[str], Counter[str]]:
    """One day's refresh of every account: (days Data Kiosk refreshed, Reports requests made)."""
    accounts = sandbox.config.accounts
    last = sandbox.config.today - timedelta(days=1)
    window = settling_window(last)
    kiosk_days: Counter[str] = Counter()
    reports: Counter[str] = Counter()

    def kiosk(account: str) -> None:
        resource = _resource(sandbox, state, account)
        statuses = [
            fetch_trends(resource, batch, window[-1], window[0]).status
            for batch in kiosk_batches(_asins_of(sandbox, account, asins))
        ]
        kiosk_days[account] = len(window) if set(statuses) == {"DONE"} else 0

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(kiosk, accounts))
    needs = [AccountNeeds(a, settling_requests(last, True), ()) for a in accounts]
    plan = plan_day(needs, used_before=budget.used(today))

    def report(account: str) -> None:
        resource = _resource(sandbox, state, account)
        for request in (r for r in plan.requests if r.account == account):
            budget.spend(today, request)
            resource.fetch_report(REPORT_TYPE, request.day, request.day, SKU_DAILY)
            reports[account] += 1

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(report, accounts))
    return kiosk_days, reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--asins", type=int, default=200)
    parser.add_argument("--months", type=int, default=18)
    parser.add_argument("--days", type=int, default=2, help="simulated days of daily refresh")
    parser.add_argument("--history-speed", type=float, default=600.0)
    parser.add_argument("--refresh-speed", type=float, default=3600.0)
    parser.add_argument("--only", choices=("history", "refresh"), help="run one part")
    args = parser.parse_args()
    parts = [p for p in (history, refresh) if args.only in (None, p.__name__)]
    with tempfile.TemporaryDirectory() as directory:
        throttled = sum(part(args, Path(directory))["throttled"] for part in parts)
    print(f"429s answered by the sandbox (every operation, {len(parts)} part(s)): {throttled:g}")


if __name__ == "__main__":
    main()
