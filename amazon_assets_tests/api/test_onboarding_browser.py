"""Done when: in Debian's chromium (playwright), the accounts page connects an account through the
sandbox's consent page and shows every source of its onboarding backfill (seller history, sales
and traffic, product signals) reach 100 %, while the backfill the onboarding sensor launched runs
in a real Dagster daemon and shows in `/v1/jobs` with its account, sources and days; a WebSocket
client sees the same progress; no log, event log or database holds a token in clear afterwards."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from amazon_assets.defs.seller_history.assets import SOURCE_NAMES
from amazon_assets.sandbox import SandboxConfig, SandboxServer
from amazon_assets.sources.vault import CredentialVault
from amazon_assets_tests.api.onboarding import (
    HISTORY_DAYS,
    Platform,
    platform_environment,
    start_dagster,
)
from amazon_assets_tests.api.server import ApiServer, free_port

CHROMIUM = "/usr/bin/chromium"
PROGRESS_TIMEOUT_MS = 600_000
# What the onboarding sensor backfills (with HISTORY_DAYS days, all in sales and traffic's
# settling window; product signals the newest day).
ONBOARDED = [*SOURCE_NAMES, "business_reports", "product_signals"]


@pytest.fixture
def running_platform(tmp_path: Path, processes) -> Iterator[Platform]:
    config = SandboxConfig(seed=7, accounts=("default", "acme"), skus_per_account=8, speed=3600.0)
    with SandboxServer(config, port=0) as sandbox:
        webserver_port = free_port()
        # One process per run, not per step: minutes less of code loading on 2 cores.
        env = {
            **platform_environment(tmp_path, sandbox, webserver_port),
            "AMAZON_ASSETS_EXECUTOR": "in_process",
        }
        platform = Platform(tmp_path, sandbox, env)
        with ApiServer(env, tmp_path / "api.log") as api:  # prepares the Dagster home first
            platform.api = api
            platform.logs.append(api.log_path)
            start_dagster(platform, processes, webserver_port)
            yield platform


def collect_progress(platform: Platform, account: str, events: list[dict]) -> threading.Thread:
    """A WebSocket client recording every progress event of `account` until the stream ends."""
    url = platform.api.url.replace("http://", "ws://") + f"/v1/accounts/{account}/progress/ws"

    def listen() -> None:
        with connect(url, additional_headers=platform.headers(), open_timeout=30) as socket:
            for message in socket:
                events.append(json.loads(message))

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.longest  # every source's onboarding backfill in the daemon: minutes
@pytest.mark.timeout(900)  # three servers to start and a backfill in the daemon on a busy machine
def test_connect_account_in_the_browser_and_watch_its_history_arrive(
    running_platform: Platform,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # CI installs chromium (.ci/run); a missing browser is a failure, never a skip.
    assert shutil.which("chromium") or Path(CHROMIUM).exists(), "chromium is not installed"
    platform = running_platform
    api, headers = platform.api.url, platform.headers()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{api}/accounts")
        page.fill("input[name=token]", platform.token("admin"))
        page.click("button:has-text('Sign in')")
        page.fill("input[name=account]", "acme")
        page.click("button:has-text('Connect Amazon account')")
        expect(page.locator("h1")).to_contain_text("Authorize this application")
        page.select_option("select[name=seller]", "acme")
        page.click("button[value=allow]")
        page.wait_for_url(f"{api}/accounts?connected=acme&api=sp")
        expect(page.locator(".notice")).to_contain_text("Connected acme")

        # The onboarding sensor launches acme's backfill; /v1/jobs lists it.
        job = _wait_for(lambda: _jobs(platform, "acme"), "the onboarding backfill", 180)[0]
        days = f"{date.today() - timedelta(days=HISTORY_DAYS)}..{date.today() - timedelta(days=1)}"
        assert (job["account"], job["operation"], job["days"]) == ("acme", "onboarding", days)
        assert job["sources"] == ONBOARDED
        assert job["source_days"]["product_signals"] == days[-10:] + ".." + days[-10:]
        assert job["source_days"]["orders"] == job["source_days"]["business_reports"] == days
        one = httpx.get(f"{api}/v1/jobs/{job['id']}", headers=headers)
        assert one.status_code == 200 and one.json()["sources"] == ONBOARDED
        events: list[dict] = []
        listener = collect_progress(platform, "acme", events)

        page.reload()
        progress = page.locator('tr[data-account="acme"] .progress')
        expect(progress).to_contain_text("100 % (done)", timeout=PROGRESS_TIMEOUT_MS)
        detail = page.locator('tr[data-account="acme"] .sources')
        for source in ONBOARDED:
            total = 2 if source == "product_signals" else 2 * HISTORY_DAYS
            expect(detail).to_contain_text(f"{source} {total}/{total} done")
        browser.close()

    listener.join(timeout=60)
    kinds = [event["event"] for event in events]
    assert kinds[-1] == "complete", kinds
    final = events[-1]["data"]
    assert final["percentage"] == 100.0 and final["status"] == "done"
    assert [s["source"] for s in final["sources"]] == ONBOARDED
    for source in final["sources"]:
        assert source["current"] == source["total"]
        assert set(source) >= {"source", "report_type", "current", "total", "status", "percentage"}
    report_types = {s["source"]: s["report_type"] for s in final["sources"]}
    assert report_types["orders"] == "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
    assert report_types["business_reports"] == "GET_SALES_AND_TRAFFIC_REPORT"

    # The daemon closes the backfill on its next pass after the last run.
    finished = _wait_for(
        lambda: next(
            (
                j
                for j in _jobs(platform, "acme")
                if j["id"] == job["id"] and j["status"] != "REQUESTED"
            ),
            None,
        ),
        "the backfill to close",
        120,
    )
    assert finished["status"] == "COMPLETED_SUCCESS", finished
    assert set(finished["runs"]) == {"SUCCESS"}
    assert finished["days"] == final["first_day"] + ".." + final["last_day"]

    # A backfill over the API: each source its own days (product signals the newest one), in
    # one Dagster backfill. That the daemon runs such a backfill to the end is proven above; its
    # runs would only re-derive what the onboarding stored (a minute of daemon passes), so the
    # test reads what the API asked Dagster for instead.
    launched = httpx.post(
        f"{api}/v1/accounts/acme/backfill",
        headers=headers,
        json={"sources": ["orders", "product_signals"]},
        timeout=60,
    )
    assert launched.status_code == 202, launched.text
    again = launched.json()
    assert (again["operation"], again["sources"], again["days"]) == (
        "backfill",
        ["orders", "product_signals"],
        days,
    )
    assert again["source_days"] == {
        "orders": days,
        "product_signals": days[-10:] + ".." + days[-10:],
    }
    listed = httpx.get(f"{api}/v1/jobs/{again['id']}", headers=headers).json()
    assert listed["source_days"] == again["source_days"]
    # Progress follows the newest job: its two sources, each over its own days, already stored.
    progress = httpx.get(f"{api}/v1/accounts/acme/progress", headers=headers).json()
    assert [(s["source"], s["current"], s["total"]) for s in progress["sources"]] == [
        ("orders", 2 * HISTORY_DAYS, 2 * HISTORY_DAYS),
        ("product_signals", 2, 2),
    ]

    # The token is in the vault; nowhere else in clear.
    vault = CredentialVault.at(platform.state_path, (platform.secret_key,))
    token, _ = vault.refresh_token("acme", "SP_API")
    files = [*platform.logs, *(p for p in platform.root.rglob("*") if p.is_file())]
    assert len(files) > 10
    leaks = [str(p) for p in files if token.encode() in _bytes_of(p)]
    assert leaks == []


def _jobs(platform: Platform, account: str) -> list[dict]:
    answer = httpx.get(
        f"{platform.api.url}/v1/jobs", params={"account": account}, headers=platform.headers()
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["jobs"]


def _wait_for(find: Callable[[], Any], what: str, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := find()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(1)
    return found


def _bytes_of(path: Path) -> bytes:
    """A file's bytes; nothing for one the running daemon removed meanwhile (a SQLite WAL,
    checkpointed into its database file, which is read too)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
