"""Who is calling: JWT bearer tokens (HS256, pyjwt) with a role and the accounts they may read.

Claims: `sub` (who), `role` (viewer < analyst < admin), `accounts` (seller accounts the token
may read; ["*"] means all and is reserved to admins), `iss`, `aud`, `iat`, `exp`, `jti` (the
rate limiter's key). A token names accounts, so an ASIN of another account answers 404 exactly
like one that does not exist: the API never says whether someone else has it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import jwt

AUDIENCE = "amazon-assets-api"
ALGORITHM = "HS256"
ALL_ACCOUNTS = "*"
# An account name as tokens, routes and the accounts page accept it.
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
MAX_TOKEN_DAYS = 366


class Role(StrEnum):
    """What a token may do; each role may do what the ones before it may."""

    viewer = "viewer"  # products, series, competitors, alerts, year over year
    analyst = "analyst"  # + batch reads and model predictions
    admin = "admin"  # + every account, and the operations endpoints

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class AuthError(ValueError):
    """The token is missing, malformed, expired or not ours; the message says which."""


@dataclass(frozen=True)
class Principal:
    """The caller a valid token names."""

    subject: str
    role: Role
    accounts: frozenset[str] | None  # None: every account (admin tokens with "*")
    token_id: str

    def may(self, role: Role) -> bool:
        return self.role.rank >= role.rank

    def may_read(self, account: str) -> bool:
        return self.accounts is None or account in self.accounts

    @property
    def scope_key(self) -> str:
        """The accounts as part of a cache key: answers differ by what the caller may see."""
        return ALL_ACCOUNTS if self.accounts is None else ",".join(sorted(self.accounts))


def _check_accounts(role: Role, accounts: Iterable[str]) -> list[str]:
    names = sorted(set(accounts))
    if not names:
        raise ValueError("a token needs at least one account (or '*' for an admin).")
    if ALL_ACCOUNTS in names:
        if role is not Role.admin or len(names) > 1:
            raise ValueError("'*' (every account) is for admin tokens only, on its own.")
        return names
    bad = [name for name in names if not ACCOUNT_NAME.match(name)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not an account name (letters, digits, space, _ . -).")
    return names


def mint_token(
    secret: str,
    issuer: str,
    subject: str,
    role: Role | str,
    accounts: Iterable[str],
    ttl_seconds: int,
    now: float | None = None,
) -> str:
    """A signed token for `subject` with `role` on `accounts`, valid for `ttl_seconds`."""
    role = Role(role)
    if not subject or len(subject) > 200:
        raise ValueError("the subject must be 1 to 200 characters.")
    if not 0 < ttl_seconds <= MAX_TOKEN_DAYS * 86400:
        raise ValueError(f"a token lives between 1 second and {MAX_TOKEN_DAYS} days.")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": subject,
        "role": role.value,
        "accounts": _check_accounts(role, accounts),
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, issuer: str, token: str) -> Principal:
    """The principal of a valid token; AuthError (one sentence, never the token) otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            leeway=30,
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("the token has expired.") from None
    except jwt.InvalidTokenError as error:
        raise AuthError(f"the token is not valid ({type(error).__name__}).") from None
    try:
        role = Role(claims.get("role"))
        accounts = _check_accounts(role, claims.get("accounts") or [])
    except ValueError as error:
        raise AuthError(f"the token's claims are not valid: {error}") from None
    return Principal(
        subject=str(claims["sub"]),
        role=role,
        accounts=None if accounts == [ALL_ACCOUNTS] else frozenset(accounts),
        token_id=str(claims.get("jti") or claims["sub"]),
    )


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer ...` header."""
    if not authorization:
        raise AuthError("an Authorization: Bearer token is required.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <token>'.")
    return token.strip()
