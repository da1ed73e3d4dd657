"""Run the sandbox: in-process for tests (`with SandboxServer(config) as sandbox:`) or blocking (CLI)."""

from __future__ import annotations

import socket
import threading
import time
from datetime import date
from typing import Any

import uvicorn

from amazon_assets.sandbox.app import SandboxApp
from amazon_assets.sandbox.config import SandboxConfig
from amazon_assets.sandbox.faults import Faults
from amazon_assets.sandbox.marketplace import Marketplace
from amazon_assets.sandbox.seller_history import SellerHistory
from amazon_assets.sources.quotas import Clock


class _ThreadServer(uvicorn.Server):
    """uvicorn without signal handlers: the hosting process keeps control of Ctrl-C."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        pass


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: SandboxApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app.asgi,
        host=host,
        port=port,
        log_config=None,  # leave the host process's logging alone
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )


class SandboxServer:
    """An Amazon-compatible server on a background thread; port 0 picks a free port."""

    def __init__(
        self, config: SandboxConfig | None = None, port: int = 0, host: str = "127.0.0.1"
    ) -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self._requested_port = port
        self.app = SandboxApp(self.config)
        self._server: _ThreadServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port: int | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._thread is not None:
            return self
        self._socket = _bind(self.host, self._requested_port)
        self.port = self._socket.getsockname()[1]
        self.app.base_url = self.url
        self._server = _ThreadServer(_uvicorn_config(self.app, self.host, self.port))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"amazon-assets-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The sandbox did not start on {self.host}:{self.port}.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("The sandbox has not been started.")
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """Base URL of the SP-API (SP_API_ENDPOINT)."""
        return self.url

    @property
    def token_url(self) -> str:
        """Login-with-Amazon token URL (SP_API_LWA_TOKEN_URL)."""
        return self.url + "/auth/o2/token"

    # -- state for tests ----------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self.app.faults

    @property
    def marketplace(self) -> Marketplace:
        return self.app.marketplace

    @property
    def clock(self) -> Clock:
        return self.app.clock

    @property
    def seller_history(self) -> SellerHistory:
        """Truth of the seller-history documents and financial events (orders, ledger, ...)."""
        return SellerHistory.of(self.app.marketplace)

    def calls(self, operation: str) -> int:
        """How many requests of `operation` arrived (throttled and failed ones included)."""
        return self.app.calls(operation)

    def throttled(self, operation: str) -> int:
        """How many requests of `operation` were answered 429 (503 SlowDown for downloads)."""
        return self.app.throttled(operation)

    def reports(self) -> list[dict[str, Any]]:
        """Every report created so far, as Amazon's report objects, oldest first."""
        store = self.app.store
        return [store.to_json(r) for r in sorted(store.all(), key=lambda r: int(r.report_id))]

    def requests_by_report(self) -> dict[tuple[str, str, date], dict[str, int]]:
        """Per (account, report type, first day): createReport and getReportDocument requests."""
        return self.app.requests_by_report()

    def stats(self) -> dict[str, Any]:
        return self.app.stats()

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "not started"
        return f"SandboxServer({where}, {self.config!r})"


def serve(config: SandboxConfig | None = None, port: int = 8765, host: str = "127.0.0.1") -> None:
    """Serve the sandbox until interrupted (Ctrl-C); used by `amazon-assets sandbox --port N`."""
    config = config or SandboxConfig()
    app = SandboxApp(config)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    app.base_url = f"http://{host}:{bound}"
    server = uvicorn.Server(_uvicorn_config(app, host, bound))
    print(  # noqa: T201 - the CLI's one line of output
        f"Amazon sandbox listening on {app.base_url} (token URL {app.base_url}/auth/o2/token, "
        f"speed {config.speed:g}x, accounts {', '.join(config.accounts)})",
        flush=True,
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
