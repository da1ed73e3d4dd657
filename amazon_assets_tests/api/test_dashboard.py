"""The dashboard in a real browser: Debian's chromium driven by playwright against
`amazon-assets api` (the pages are part of its app) on the planted PostgreSQL mart.

Chromium is required, not optional: `.ci/run` installs it, and without it these tests fail.
Screenshots of every page go to a temporary directory (printed), never into the repository.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from amazon_assets.api.auth import mint_token
from amazon_assets_tests.api.conftest import ISSUER, SECRET, bearer
from amazon_assets_tests.api.market import ACME, GLOBEX, RIVALS, units

CHROMIUM = Path("/usr/bin/chromium")
# 2026-11-26 (a Thursday) is compared with 2025-11-27 by weekday, with 2025-11-26 by date.
KNOWN_DAY = date(2026, 11, 26)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists() or shutil.which("chromium"), (
        "Debian's chromium is missing: apt-get install -y chromium (.ci/run does)."
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("dashboard-screenshots")
    print(f"dashboard screenshots in {directory}")
    return directory


class Session:
    """A signed-in browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Browser, base: str, token: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page: Page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(f"{base}/dashboard/")
        assert "/dashboard/login" in self.page.url  # no cookie yet: the sign-in form
        self.page.fill("textarea[name=token]", token)
        self.page.click("button:has-text('Sign in')")
        self.page.wait_for_url(f"{base}/dashboard/")

    def open(self, path: str) -> int:
        response = self.page.goto(f"{self.base}{path}")
        assert response is not None
        if response.status == 200:
            self.page.wait_for_load_state("networkidle")
        return response.status

    def figure(self, chart: str) -> list[dict[str, Any]]:
        """The traces plotly drew in #chart-<chart>."""
        return self.page.evaluate(
            "id => document.getElementById(id).data.map(t => ({name: t.name, x: t.x, y: t.y}))",
            f"chart-{chart}",
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def analyst(browser: Browser, pg_api) -> Iterator[Session]:
    """One signed-in analyst of acme for the module (signing in is the slow part)."""
    session = Session(
        browser, pg_api.url, mint_token(SECRET, ISSUER, "analyst", "analyst", ["acme"], 3600)
    )
    yield session
    session.close()


def _has_data(trace: dict[str, Any]) -> bool:
    return len(trace["x"]) > 0 and any(value is not None for value in trace["y"])


def test_every_page_renders_with_charts_and_no_console_errors(analyst, screenshots) -> None:
    assert analyst.open("/dashboard/") == 200
    sales = analyst.figure("account-acme")
    assert [trace["name"] for trace in sales] == ["sales", "ad spend", "TACoS"]
    assert _has_data(sales[0])
    assert analyst.page.locator("table.freshness td", has_text="business reports").count() == 1
    assert analyst.page.locator("table.alerts", has_text=ACME[0]).count() == 1  # yesterday's
    assert analyst.page.locator("table.predictions td", has_text="Kitchen").count() >= 1
    analyst.page.screenshot(path=screenshots / "overview.png", full_page=True)

    assert analyst.open(f"/dashboard/products/{ACME[0]}") == 200
    for chart in ("price", "bsr", "units_ordered", "sessions", "conversion", "rating"):
        assert _has_data(analyst.figure(chart)[0]), chart
    analyst.page.screenshot(path=screenshots / "product.png", full_page=True)

    assert analyst.open(f"/dashboard/products/{ACME[0]}/competitors") == 200
    prices = analyst.figure("price")
    assert [trace["name"] for trace in prices] == [f"{ACME[0]} (own)", *RIVALS]
    assert all(_has_data(trace) for trace in prices)
    analyst.page.screenshot(path=screenshots / "competitors.png", full_page=True)

    assert analyst.open("/dashboard/alerts?since=2026-01-01") == 200
    rows = analyst.page.locator("table.alerts tr")
    assert rows.count() == 1 + 3  # header and acme's three alerts, not globex's
    analyst.page.screenshot(path=screenshots / "alerts.png", full_page=True)
    assert analyst.errors == []


@pytest.mark.parametrize(
    "align, year_ago", [("weekday", date(2025, 11, 27)), ("date", date(2025, 11, 26))]
)
def test_last_years_line_is_where_the_api_puts_it(analyst, pg_api, token, align, year_ago) -> None:
    first, last = "2026-11-01", "2026-11-30"
    status = analyst.open(f"/dashboard/products/{ACME[1]}?from={first}&to={last}&align={align}")
    assert status == 200
    this_year, last_year = analyst.figure("units_ordered")
    assert last_year["name"] == f"last year (by {align})"
    api = httpx.get(
        f"{pg_api.url}/v1/products/{ACME[1]}/yoy",
        params={"from": first, "to": last, "align": align, "fields": "units_ordered"},
        headers=bearer(token("viewer", "acme")),
        timeout=30,
    ).json()
    api_days = {row["report_date"]: row for row in api["data"]["series"]}
    charted = dict(zip(last_year["x"], last_year["y"], strict=True))
    assert set(charted) == set(api_days)
    for day, row in api_days.items():
        assert charted[day] == row["units_ordered"]["year_ago"], day
    known = api_days[KNOWN_DAY.isoformat()]
    assert known["year_ago_date"] == year_ago.isoformat()
    assert charted[KNOWN_DAY.isoformat()] == units(1, year_ago)
    assert dict(zip(this_year["x"], this_year["y"], strict=True))[KNOWN_DAY.isoformat()] == units(
        1, KNOWN_DAY
    )
    assert analyst.errors == []


def test_a_viewer_cannot_open_another_accounts_product(browser, pg_api, token) -> None:
    viewer = Session(browser, pg_api.url, token("viewer", "globex"))
    try:
        assert viewer.open(f"/dashboard/products/{GLOBEX[0]}") == 200
        assert viewer.open(f"/dashboard/products/{ACME[0]}") == 404
        assert "not in your accounts" in viewer.page.content()
        assert viewer.open(f"/dashboard/products/{ACME[0]}/competitors") == 404
        # A viewer sees no predictions (analyst role), and says so instead of failing.
        assert viewer.open("/dashboard/") == 200
        assert "Predictions need the analyst role" in viewer.page.content()
    finally:
        viewer.close()


def test_pages_need_a_valid_token(pg_api) -> None:
    with httpx.Client(base_url=pg_api.url, timeout=30) as client:
        anonymous = client.get(f"/dashboard/products/{ACME[0]}")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/dashboard/login?next=")
        refused = client.post("/dashboard/login", data={"token": "not-a-token"})
        assert refused.status_code == 401 and "not valid" in refused.text
        assert "set-cookie" not in refused.headers
