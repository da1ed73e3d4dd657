"""The credential vault: sellers' refresh tokens, encrypted, in the state database.

Tokens are Fernet tokens (AES-128-CBC + HMAC-SHA256, `cryptography`) under the keys of
AMAZON_ASSETS_SECRET_KEY, newest first: the newest encrypts, every one decrypts, so a new key is
put in front, `amazon-assets vault rotate` re-encrypts every entry with it, and the old key is
dropped afterwards, without downtime. The vault lives where the quota buckets and the report
ledger live (`state.sqlite`, or PostgreSQL under AMAZON_ASSETS_STATE_URL), so every process that
runs against the same Amazon app sees the same tokens.

The same tables hold the OAuth `state` values the consent flow hands out (stored as hashes,
single use, ten minutes) and the accounts an admin disabled. Nothing here ever returns or logs a
token except `refresh_token`, which the Amazon clients call right before logging in.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from amazon_assets.sources.state import StateStore, open_state_store

SP_API, ADS_API = "SP_API", "ADS_API"
APIS = (SP_API, ADS_API)
ACTIVE, REVOKED = "active", "revoked"
STATE_SECONDS = 600.0  # a consent started more than ten minutes ago must start again
REAUTHORIZE_DAYS = 365  # Amazon expires a seller's authorization a year after it was given
REAUTHORIZE_WARNING_DAYS = 30


class VaultError(Exception):
    """The vault cannot do what was asked; the message is one sentence saying why."""


class StateRefused(VaultError):
    """An OAuth `state` that this server did not issue, was used already or has expired."""


@dataclass(frozen=True)
class VaultEntry:
    """What the vault says about one account's authorization of one API (never the token)."""

    account: str
    api: str
    partner_id: str | None
    authorized_at: float
    status: str
    status_detail: str | None

    @property
    def reauthorize_by(self) -> datetime:
        """When Amazon's yearly re-authorization is due."""
        return datetime.fromtimestamp(self.authorized_at, UTC) + timedelta(days=REAUTHORIZE_DAYS)

    def warning(self, now: datetime | None = None) -> str | None:
        """One sentence when the entry needs a person: revoked, or re-authorization due soon."""
        if self.status == REVOKED:
            return self.status_detail or f"the {self.api} authorization was revoked."
        left = self.reauthorize_by - (now or datetime.now(UTC))
        if left <= timedelta(days=REAUTHORIZE_WARNING_DAYS):
            return (
                f"the seller must authorize the {self.api} app again by "
                f"{self.reauthorize_by.date()} ({max(left.days, 0)} days left): open "
                f"/v1/amazon/authorize?account={self.account}"
                + ("&api=ads" if self.api == ADS_API else "")
                + "."
            )
        return None


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class CredentialVault:
    """Encrypted refresh tokens, OAuth states and disabled accounts in one state store."""

    def __init__(self, store: StateStore, keys: tuple[str, ...]) -> None:
        self.store = store
        self.keys = keys

    @classmethod
    def at(cls, location: str, keys: tuple[str, ...]) -> CredentialVault:
        return cls(open_state_store(location), keys)

    def _cipher(self) -> MultiFernet:
        if not self.keys:
            raise VaultError(
                "AMAZON_ASSETS_SECRET_KEY is not set, so the credential vault cannot encrypt or "
                "decrypt tokens; set it to a key from `amazon-assets vault new-key`."
            )
        return MultiFernet([Fernet(key) for key in self.keys])

    # -- tokens ----------------------------------------------------------------------------------

    def store_token(
        self, account: str, api: str, refresh_token: str, partner_id: str | None = None
    ) -> VaultEntry:
        """Keep `refresh_token` encrypted as the account's authorization of `api`."""
        ciphertext = self._cipher().encrypt(refresh_token.encode()).decode()
        now = time.time()
        with self.store.transaction() as connection:
            connection.execute(
                "INSERT INTO vault_credentials (account, api, token, partner_id, authorized_at, "
                "status, status_detail, updated_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?) "
                "ON CONFLICT (account, api) DO UPDATE SET token = excluded.token, "
                "partner_id = excluded.partner_id, authorized_at = excluded.authorized_at, "
                "status = excluded.status, status_detail = NULL, updated_at = excluded.updated_at",
                (account, api, ciphertext, partner_id, now, ACTIVE, now),
            )
        return VaultEntry(account, api, partner_id, now, ACTIVE, None)

    def refresh_token(self, account: str, api: str) -> tuple[str, VaultEntry] | None:
        """The account's stored refresh token and its entry, or None when it has none."""
        with self.store.connection() as connection:
            row = connection.execute(
                "SELECT token, partner_id, authorized_at, status, status_detail "
                "FROM vault_credentials WHERE account = ? AND api = ?",
                (account, api),
            ).fetchone()
        if row is None:
            return None
        try:
            token = self._cipher().decrypt(row[0].encode()).decode()
        except InvalidToken:
            raise VaultError(
                f"the stored {api} token of account {account!r} does not decrypt with any key of "
                "AMAZON_ASSETS_SECRET_KEY; put back the key it was stored with."
            ) from None
        return token, VaultEntry(account, api, *row[1:])

    def entries(self, account: str | None = None) -> list[VaultEntry]:
        """Every stored authorization (of `account`), without tokens."""
        sql = (
            "SELECT account, api, partner_id, authorized_at, status, status_detail "
            "FROM vault_credentials"
        )
        params: tuple[str, ...] = ()
        if account is not None:
            sql, params = sql + " WHERE account = ?", (account,)
        with self.store.connection() as connection:
            rows = connection.execute(sql + " ORDER BY account, api", params).fetchall()
        return [VaultEntry(*row) for row in rows]

    def mark_revoked(self, account: str, api: str, detail: str) -> None:
        """Amazon refused the stored token (invalid_grant): say so until it is replaced."""
        with self.store.transaction() as connection:
            connection.execute(
                "UPDATE vault_credentials SET status = ?, status_detail = ?, updated_at = ? "
                "WHERE account = ? AND api = ?",
                (REVOKED, detail, time.time(), account, api),
            )

    def rotate(self) -> int:
        """Re-encrypt every token with the newest key; the number of tokens rewritten."""
        cipher = self._cipher()
        with self.store.transaction() as connection:
            rows = connection.execute(
                "SELECT account, api, token FROM vault_credentials"
            ).fetchall()
            for account, api, token in rows:
                try:
                    rotated = cipher.rotate(token.encode()).decode()
                except InvalidToken:
                    raise VaultError(
                        f"the stored {api} token of account {account!r} does not decrypt with "
                        "any key of AMAZON_ASSETS_SECRET_KEY; nothing was rotated."
                    ) from None
                connection.execute(
                    "UPDATE vault_credentials SET token = ? WHERE account = ? AND api = ?",
                    (rotated, account, api),
                )
        return len(rows)

    # -- OAuth states ----------------------------------------------------------------------------

    def new_state(self, account: str, api: str) -> str:
        """A fresh unguessable `state` for one consent of `account` to `api`."""
        state = secrets.token_urlsafe(32)
        now = time.time()
        with self.store.transaction() as connection:
            connection.execute(
                "DELETE FROM vault_oauth_states WHERE created_at < ?", (now - 2 * STATE_SECONDS,)
            )
            connection.execute(
                "INSERT INTO vault_oauth_states (state_hash, account, api, created_at) "
                "VALUES (?, ?, ?, ?)",
                (_hash(state), account, api, now),
            )
        return state

    def take_state(self, state: str, api: str | None) -> str:
        """The account a `state` was issued for (for `api`, or any with None), once;
        StateRefused if forged, used or expired."""
        now = time.time()
        with self.store.transaction() as connection:
            row = connection.execute(
                "SELECT account, api, created_at, used_at FROM vault_oauth_states "
                "WHERE state_hash = ?",
                (_hash(state),),
            ).fetchone()
            if row is None or api not in (None, row[1]):
                raise StateRefused(
                    "the state parameter was not issued by this server; start again from "
                    "/v1/amazon/authorize."
                )
            account, _, created_at, used_at = row
            if used_at is not None:
                raise StateRefused(
                    "this authorization was already completed (the state parameter is single "
                    "use); start again from /v1/amazon/authorize."
                )
            connection.execute(
                "UPDATE vault_oauth_states SET used_at = ? WHERE state_hash = ?",
                (now, _hash(state)),
            )
        if now - created_at > STATE_SECONDS:
            raise StateRefused(
                "the authorization took longer than ten minutes and its state expired; start "
                "again from /v1/amazon/authorize."
            )
        return account

    # -- disabled accounts -----------------------------------------------------------------------

    def set_disabled(self, account: str, disabled: bool) -> None:
        with self.store.transaction() as connection:
            if disabled:
                connection.execute(
                    "INSERT INTO vault_disabled_accounts (account, disabled_at) VALUES (?, ?) "
                    "ON CONFLICT (account) DO NOTHING",
                    (account, time.time()),
                )
            else:
                connection.execute(
                    "DELETE FROM vault_disabled_accounts WHERE account = ?", (account,)
                )

    def disabled_accounts(self) -> set[str]:
        with self.store.connection() as connection:
            rows = connection.execute("SELECT account FROM vault_disabled_accounts").fetchall()
        return {row[0] for row in rows}


@cache
def _vault_at(location: str, keys: tuple[str, ...]) -> CredentialVault:
    return CredentialVault.at(location, keys)


def vault_for(state_location: str) -> CredentialVault:
    """The vault at a state location, with the keys of this process's environment (runs read
    the key from their environment, never from their configuration, so the UI never shows it)."""
    import os

    from amazon_assets.settings import secret_keys

    return _vault_at(str(state_location), secret_keys(os.environ))
