"""Refused credentials: permanent failures, said in one sentence, never retried.

Login with Amazon answers `invalid_grant` (the refresh token is wrong, expired, revoked or was
issued to another app), `invalid_client` (the app's id or secret is wrong) or
`unauthorized_client` (the app may not use this grant); the SP-API and the Ads API answer 401 or
403 when the seller has not authorized the app or the app lacks the role a call needs. None of
these gets better by asking again: the clients raise `CredentialRefused` at once (after logging in
a second time for a 401/403, since an access token can expire between login and call), assets
turn it into a `dg.Failure` that neither the step's retry policy nor the instance's run retries
repeat, and the command line prints its one sentence. 429, 5xx and timeouts stay retryable.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg

from amazon_assets.settings import DEFAULT_ACCOUNT
from amazon_assets.sources.retry import TRANSIENT_STATUSES, refresh_token_variable

# Run tag read when a failed run is considered for an automatic retry (run_retries in
# dagster.yaml): "false" makes a run that failed in a step final. Dagster's RETRY_ON_ASSET_OR_OP_
# FAILURE_TAG, spelled out because it lives in a private module.
NO_RUN_RETRY_TAG = "dagster/retry_on_asset_or_op_failure"
# Failure metadata key marking a step that failed on a refused credential (exit 2 in the CLI).
REFUSED_CREDENTIAL_METADATA = "refused_credential"
# Error codes of a 401 that python-amazon-sp-api does not map to an exception class of its own.
UNAUTHORIZED_CODES = frozenset({"Unauthorized", "AccessDenied", "InvalidAccessToken"})
F = TypeVar("F", bound=Callable[..., Any])


class CredentialRefused(Exception):
    """Amazon refused a credential; the message is one sentence naming what to fix."""

    def __init__(self, message: str, *, account: str, variables: tuple[str, ...]) -> None:
        super().__init__(message)
        self.account = account
        self.variables = variables


def missing_credential(account: str) -> Callable[[str], CredentialRefused]:
    """The error `resolve_login` raises for an unset credential variable (permanent too)."""
    return functools.partial(CredentialRefused, account=account, variables=())


def _variables(prefix: str, account: str) -> tuple[str, str, str]:
    return (
        refresh_token_variable(prefix, account),
        f"{prefix}_CLIENT_ID",
        f"{prefix}_CLIENT_SECRET",
    )


def _account(account: str) -> str:
    return "the default account" if account == DEFAULT_ACCOUNT else f"account {account!r}"


def login_refusal(
    prefix: str,
    account: str,
    status: int,
    error_code: str | None,
    description: str | None,
    *,
    state_path: str | None = None,
) -> CredentialRefused | None:
    """The refusal a Login-with-Amazon error answer means, or None when it is worth retrying.

    With `state_path` the refresh token came from the credential vault: an `invalid_grant`
    marks its entry revoked, so the accounts page and API say so until it is reconnected.
    """
    if status in TRANSIENT_STATUSES or status >= 500:
        return None
    token, client_id, client_secret = _variables(prefix, account)
    said = f"{error_code or f'HTTP {status}'}: {(description or '').strip() or 'no description'}"
    if error_code == "invalid_grant" and state_path is not None:
        from amazon_assets.sources.vault import vault_for

        message = (
            f"Login with Amazon refused the stored {prefix.replace('_', '-')} authorization of "
            f"{_account(account)} ({said}); the seller revoked it or it expired, so connect the "
            f"account again at /v1/amazon/authorize?account={account}."
        )
        vault_for(state_path).mark_revoked(account, prefix, message)
        return CredentialRefused(message, account=account, variables=())
    if error_code == "invalid_grant":
        message = (
            f"Login with Amazon refused the refresh token in {token} for {_account(account)} "
            f"({said}); it is wrong, expired, revoked or belongs to another app, so authorize "
            f"the app for the seller again and set {token} to the new refresh token."
        )
        variables: tuple[str, ...] = (token,)
    elif error_code == "invalid_client":
        message = (
            f"Login with Amazon refused the app credentials {client_id} and {client_secret} "
            f"({said}); set them to the LWA client id and secret of the registered app."
        )
        variables = (client_id, client_secret)
    elif error_code == "unauthorized_client":
        message = (
            f"Login with Amazon refused the app in {client_id} for {_account(account)} "
            f"({said}); the refresh token in {token} was not issued to this app, so set "
            f"{client_id} and {client_secret} to the app the seller authorized, or authorize "
            f"this app and set {token} to its refresh token."
        )
        variables = (client_id, token)
    else:
        message = (
            f"Login with Amazon refused the credentials of {_account(account)} ({said}); check "
            f"{token}, {client_id} and {client_secret}."
        )
        variables = (token, client_id, client_secret)
    return CredentialRefused(message, account=account, variables=variables)


def api_refusal(
    api: str, prefix: str, account: str, operation: str, status: int | str, detail: str
) -> CredentialRefused:
    """A 401/403 that logging in again did not cure: the seller or the app lacks a permission."""
    token = refresh_token_variable(prefix, account)
    return CredentialRefused(
        f"The {api} refused {operation} for {_account(account)} with {status} "
        f"({detail.strip() or 'no detail'}) after a fresh login; the seller behind {token} has "
        "not authorized this app or the app lacks the role this call needs, so authorize it "
        f"again (with that role) and set {token} to the new refresh token.",
        account=account,
        variables=(token,),
    )


def _failure(context: dg.AssetExecutionContext, error: CredentialRefused) -> dg.Failure:
    context.instance.add_run_tags(context.run_id, {NO_RUN_RETRY_TAG: "false"})
    return dg.Failure(
        description=str(error),
        metadata={
            REFUSED_CREDENTIAL_METADATA: True,
            "account": error.account,
            "variables": dg.MetadataValue.text(", ".join(error.variables) or "none"),
        },
        allow_retries=False,
    )


def refusals_fail_permanently(compute: F) -> F:
    """Decorate an asset's compute function: a refused credential fails it for good.

    `allow_retries=False` stops the step's RetryPolicy; the run tag stops the instance's
    automatic run retries (the production dagster.yaml enables them) for this run. Goes below
    `@dg.asset`, which reads the function's signature through the wrapper.
    """
    if inspect.isgeneratorfunction(compute):

        @functools.wraps(compute)
        def generator(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
            try:
                yield from compute(context, *args, **kwargs)
            except CredentialRefused as error:
                raise _failure(context, error) from None

        return generator  # type: ignore[return-value]

    @functools.wraps(compute)
    def function(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
        try:
            return compute(context, *args, **kwargs)
        except CredentialRefused as error:
            raise _failure(context, error) from None

    return function  # type: ignore[return-value]
