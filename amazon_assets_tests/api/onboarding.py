"""A platform to connect accounts to: the sandbox, `amazon-assets api` and (for runs) the Dagster
webserver and daemon, each a real process over real HTTP, with one environment."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.fernet import Fernet

from amazon_assets.api.auth import mint_token
from amazon_assets.sandbox import SandboxServer
from amazon_assets_tests.api.server import ApiServer, clean_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "onboarding-secret-" + "s" * 40
ISSUER = "amazon-assets-onboarding"
HISTORY_DAYS = 3


@dataclass
class Platform:
    root: Path
    sandbox: SandboxServer
    env: dict[str, str]
    api: ApiServer | None = None
    webserver_url: str | None = None
    logs: list[Path] = field(default_factory=list)

    def token(self, role: str = "admin", *accounts: str) -> str:
        return mint_token(SECRET, ISSUER, "tester", role, accounts or ("*",), 3600)

    def headers(self, role: str = "admin", *accounts: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, *accounts)}"}

    @property
    def secret_key(self) -> str:
        return self.env["AMAZON_ASSETS_SECRET_KEY"]

    @property
    def state_path(self) -> str:
        return str(Path(self.env["AMAZON_ASSETS_HOME"]) / "state.sqlite")


def platform_environment(root: Path, sandbox: SandboxServer, webserver_port: int) -> dict[str, str]:
    home = root / "home"
    return clean_environment(
        {
            "AMAZON_ASSETS_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "AMAZON_ASSETS_SANDBOX_PORT": str(sandbox.port),
            "AMAZON_ASSETS_SANDBOX_SPEED": str(sandbox.config.speed),
            "AMAZON_ASSETS_START_DATE": (date.today() - timedelta(days=HISTORY_DAYS)).isoformat(),
            "AMAZON_ASSETS_SECRET_KEY": Fernet.generate_key().decode(),
            "AMAZON_ASSETS_JWT_SECRET": SECRET,
            "AMAZON_ASSETS_JWT_ISSUER": ISSUER,
            "AMAZON_ASSETS_API_RATE_LIMIT": "100/second",
            "DAGSTER_WEBSERVER_URL": f"http://127.0.0.1:{webserver_port}",
        }
    )


def start_dagster(
    platform: Platform, processes: Callable[..., subprocess.Popen], port: int
) -> None:
    """The webserver and the daemon on the platform's instance; back when the code is loaded."""
    for name, command in (
        ("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)]),
        ("daemon", [str(BIN / "dagster-daemon"), "run"]),
    ):
        log = platform.root / f"{name}.log"
        platform.logs.append(log)
        processes(
            [*command, "-w", str(REPO_ROOT / "workspace.yaml")],
            env=platform.env,
            cwd=REPO_ROOT,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
    platform.webserver_url = f"http://127.0.0.1:{port}"
    query = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(f"{platform.webserver_url}/graphql", json={"query": query}).json()
            entries = answer["data"]["workspaceOrError"]["locationEntries"]
            if entries and entries[0]["loadStatus"] == "LOADED":
                return
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    raise RuntimeError("the Dagster webserver did not load the code location in 180 s")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def consent(
    platform: Platform,
    account: str,
    *,
    seller: str | None = None,
    api: str = "sp",
    decision: str = "allow",
    role: str = "admin",
) -> str:
    """Authorize -> Amazon's consent page -> the seller's answer: the callback URL to open."""
    assert platform.api is not None
    started = httpx.get(
        f"{platform.api.url}/v1/amazon/authorize",
        params={"account": account, "api": api},
        headers=platform.headers(role),
    )
    assert started.status_code == 302, started.text
    page = started.headers["location"]
    assert page.startswith(platform.sandbox.url)
    answered = httpx.post(page, data={"decision": decision, "seller": seller or account})
    assert answered.status_code == 302, answered.text
    callback = answered.headers["location"]
    assert callback.startswith(f"{platform.api.url}/v1/amazon/oauth-callback?")
    return callback
