"""The product API as its users run it: `amazon-assets api` in its own process, real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from amazon_assets_tests.fixtures.environment import AMAZON_VARIABLES

_STARTUP_SECONDS = 120.0
API_VARIABLES = (
    "REDIS_URL",
    "AMAZON_ASSETS_REDIS_PREFIX",
    "AMAZON_ASSETS_JWT_SECRET",
    "AMAZON_ASSETS_JWT_ISSUER",
    "AMAZON_ASSETS_API_RATE_LIMIT",
    "AMAZON_ASSETS_API_CACHE_TTL",
    "AMAZON_ASSETS_API_CACHE_MAX_STALE",
    "AMAZON_ASSETS_API_POLL_SECONDS",
    "AMAZON_ASSETS_SETTLE_DAYS",
    "PROMETHEUS_MULTIPROC_DIR",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without Amazon, cloud or API variables, plus `extra`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in AMAZON_VARIABLES and name not in API_VARIABLES
    }
    return {**env, **extra}


class ApiServer:
    """`amazon-assets api` on a free loopback port; its log (JSON lines) in `log_path`."""

    def __init__(self, env: Mapping[str, str], log_path: Path, workers: int = 1) -> None:
        self.env = clean_environment(env)
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.process: subprocess.Popen | None = None

    def start(self) -> ApiServer:
        command = [sys.executable, "-m", "amazon_assets.cli", "api", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + _STARTUP_SECONDS
        while True:
            if self.process.poll() is not None or "Application startup failed" in self.log():
                self.stop()
                raise RuntimeError(f"the API did not start:\n{self.log()}")
            try:
                httpx.get(f"{self.url}/health", timeout=2.0)
                return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the API did not answer within {_STARTUP_SECONDS}s:\n{self.log()}"
                )
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The whole session: with --workers, uvicorn's children too.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
