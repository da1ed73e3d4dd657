"""What every Amazon client here shares: credentials, backoff with jitter, secret redaction.

The SP-API and Ads API resources both retry 429/5xx/timeouts the same way and must never let a
refresh token, client secret or access token reach a log line or an error message.
"""

from __future__ import annotations

import logging
import random
import re
import zlib
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import dagster as dg

from amazon_assets.settings import (
    DEFAULT_ACCOUNT,
    SANDBOX_REFRESH_TOKEN_PREFIX,
    ApiSettings,
    env_suffix,
)

BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 300.0
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Login-with-Amazon access tokens (Atza|...) and refresh tokens (Atzr|...).
_AMAZON_TOKEN = re.compile(r"Atz[ar]\|[^\s'\",&}]+")


def backoff_seconds(
    attempt: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS
) -> float:
    """Exponential backoff with full jitter (simulated seconds before retry number `attempt`)."""
    # Full jitter spreads concurrent clients apart after a shared 429 (AWS architecture blog).
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with each secret and anything shaped like an LWA token replaced by ***."""
    # Longest first: a secret containing another must not leave a tail behind.
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return _AMAZON_TOKEN.sub("***", text)


def quiet_loggers(prefixes: Iterable[str]) -> None:
    """Raise the loggers under `prefixes` to WARNING (client libraries log tokens at DEBUG)."""
    prefixes = tuple(prefixes)
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in prefixes:
            logging.getLogger(name).setLevel(logging.WARNING)
    for name in prefixes:
        logging.getLogger(name).setLevel(logging.WARNING)


def resolve_secret(value: str, variable: str, error: Callable[[str], Exception]) -> str:
    """Resolve a credential that may be a `dg.EnvVar` (used outside a Dagster run)."""
    if isinstance(value, dg.EnvVar):
        resolved = value.get_value()
        if not resolved:
            raise error(f"{value.env_var_name} is not set; set it to the {variable}.")
        return resolved
    return value


def describe_range(start: date, end: date) -> str:
    """A day or a range of days as people write it."""
    return str(start) if start == end else f"{start} to {end}"


def gzip_is_complete(body: bytes) -> bool:
    """True when `body` is a complete gzip stream (every member ends and its CRC matches)."""
    if not body:
        return False
    data = body
    try:
        while data:
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = data
            while not decompressor.eof:
                # Bounded output per step: checking a document never holds it all inflated.
                produced = decompressor.decompress(chunk, 1 << 24)
                chunk = decompressor.unconsumed_tail
                if not produced and not chunk:
                    break
            if not decompressor.eof:
                return False
            data = decompressor.unused_data
    except zlib.error:
        return False
    return True


def login_credentials(api: ApiSettings, variable_prefix: str, account: str) -> dict[str, Any]:
    """refresh_token, client_id, client_secret for `account`: plain in the sandbox, else EnvVars.

    Against Amazon they stay environment variables so the Dagster UI shows names, never values;
    a second seller's token is `<PREFIX>_REFRESH_TOKEN_<ACCOUNT>` (python-amazon-sp-api's
    convention), the app's id and secret are shared.
    """
    if api.is_sandbox:
        return {
            "refresh_token": SANDBOX_REFRESH_TOKEN_PREFIX + account,
            "client_id": api.credentials.client_id,
            "client_secret": api.credentials.client_secret,
        }
    return {
        "refresh_token": dg.EnvVar(refresh_token_variable(variable_prefix, account)),
        "client_id": dg.EnvVar(f"{variable_prefix}_CLIENT_ID"),
        "client_secret": dg.EnvVar(f"{variable_prefix}_CLIENT_SECRET"),
    }


def refresh_token_variable(variable_prefix: str, account: str) -> str:
    """`<PREFIX>_REFRESH_TOKEN` for the default account, `<PREFIX>_REFRESH_TOKEN_<ACCOUNT>` else."""
    suffix = "" if account == DEFAULT_ACCOUNT else f"_{env_suffix(account)}"
    return f"{variable_prefix}_REFRESH_TOKEN{suffix}"


def account_refresh_token(refresh_token: Any, variable_prefix: str, account: str) -> Any:
    """The refresh token of `account` for a resource holding another account's `refresh_token`:
    the sandbox's token of that account, else its environment variable (see login_credentials)."""
    if isinstance(refresh_token, str) and refresh_token.startswith(SANDBOX_REFRESH_TOKEN_PREFIX):
        return SANDBOX_REFRESH_TOKEN_PREFIX + account
    return dg.EnvVar(refresh_token_variable(variable_prefix, account))


def masked_secrets(args: Iterable[tuple[str | None, Any]]) -> Iterable[tuple[str | None, Any]]:
    """A pydantic repr with the refresh token and client secret hidden (EnvVars show their name)."""
    for name, value in args:
        if name in ("refresh_token", "client_secret") and not isinstance(value, dg.EnvVar):
            yield name, "***"
        else:
            yield name, value


def resolve_login(
    resource: Any, error: Callable[[str], Exception], variable_prefix: str
) -> tuple[str, str, str, bool]:
    """The resource's refresh token, client id and client secret as plain strings, and whether
    the token came from the credential vault.

    The environment variable wins; without it (or in the sandbox) the account's token stored by
    the consent flow is used. A disabled account or a revoked stored token raises `error`.
    """
    from amazon_assets.sources.vault import REVOKED, VaultError, vault_for

    account, refresh_token = resource.account, resource.refresh_token
    vault = vault_for(resource.state_path)
    if account in vault.disabled_accounts():
        raise error(
            f"account {account!r} is disabled; enable it with POST /v1/accounts/{account}/enable."
        )
    unset = isinstance(refresh_token, dg.EnvVar) and not refresh_token.get_value()
    sandbox = isinstance(refresh_token, str) and refresh_token.startswith(
        SANDBOX_REFRESH_TOKEN_PREFIX
    )
    from_vault = False
    if unset or sandbox or not refresh_token:
        try:
            stored = vault.refresh_token(account, variable_prefix)
        except VaultError as refusal:
            raise error(str(refusal)) from None
        if stored is not None:
            refresh_token, entry = stored
            if entry.status == REVOKED:
                raise error(entry.warning() or "the stored authorization was revoked.")
            if warning := entry.warning():  # Amazon's yearly re-authorization is near
                logging.getLogger(__name__).warning(f"account {account!r}: {warning}")
            from_vault = True
        elif not sandbox:
            raise error(
                f"{refresh_token_variable(variable_prefix, account)} is not set and account "
                f"{account!r} has no stored authorization; set it to the seller's LWA refresh "
                f"token or connect the account at /v1/amazon/authorize?account={account}."
            )
    return (
        resolve_secret(refresh_token, "seller's LWA refresh token", error),
        resolve_secret(resource.client_id, "LWA client id of the app", error),
        resolve_secret(resource.client_secret, "LWA client secret of the app", error),
        from_vault,
    )
