"""What the accounts and operations routes share: the vault and the Dagster instance.

Opened on first use, not at start: the product API also runs where nobody connects accounts
(no DAGSTER_HOME, no secret key), and then these routes are the only ones that say so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import dagster as dg
from fastapi import Request

from amazon_assets.settings import Settings
from amazon_assets.sources.state import StateStore
from amazon_assets.sources.vault import CredentialVault


@dataclass
class Operations:
    settings: Settings
    vault: CredentialVault
    _instance: dg.DagsterInstance | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self) -> StateStore:
        return self.vault.store

    def instance(self) -> dg.DagsterInstance:
        """The Dagster instance of DAGSTER_HOME (the one the daemon and webserver use)."""
        with self._lock:
            if self._instance is None:
                self._instance = dg.DagsterInstance.get()
            return self._instance

    def close(self) -> None:
        if self._instance is not None:
            self._instance.dispose()


def operations(request: Request) -> Operations:
    """The app's Operations, made on first use."""
    app = request.app
    ops = getattr(app.state, "operations", None)
    if ops is None:
        settings = app.state.api.settings
        keys = settings.oauth.secret_keys if settings.oauth else ()
        ops = Operations(settings, CredentialVault.at(settings.state_location, keys))
        app.state.operations = ops
    return ops
