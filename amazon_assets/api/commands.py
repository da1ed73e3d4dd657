"""`amazon-assets api` (serve the product API), `amazon-assets token` (mint a bearer token) and
`amazon-assets vault` (keys of the credential vault)."""

from __future__ import annotations

import argparse
import logging.config
import os
import shutil
import sys

from amazon_assets.commands import CommandError
from amazon_assets.settings import Settings

DEFAULT_PORT = 8000


def register(commands: argparse._SubParsersAction) -> None:
    api = commands.add_parser("api", help="serve the product API over the mart (uvicorn)")
    dashboard = commands.add_parser(
        "dashboard",
        help="serve the seller dashboard: the product API app, its pages under /dashboard/",
    )
    for parser, handler in ((api, serve_api), (dashboard, serve_dashboard)):
        parser.add_argument(
            "--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)"
        )
        parser.add_argument("--port", type=int, default=DEFAULT_PORT)
        parser.add_argument("--workers", type=int, default=1, help="worker processes (cores)")
        parser.add_argument(
            "--log-level", default="info", choices=["debug", "info", "warning", "error"]
        )
        parser.set_defaults(handler=handler)

    token = commands.add_parser("token", help="mint a bearer token for the product API")
    token.add_argument("--subject", required=True, help="who the token is for (in logs)")
    token.add_argument("--role", choices=["viewer", "analyst", "admin"], default="viewer")
    token.add_argument(
        "--account",
        action="append",
        required=True,
        dest="accounts",
        help="an account it may read (repeat; '*' for every account, admin only)",
    )
    token.add_argument("--days", type=float, default=30.0, help="how long it is valid")
    token.set_defaults(handler=mint)

    vault = commands.add_parser("vault", help="the credential vault of connected accounts")
    actions = vault.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "new-key", help="print a new key for AMAZON_ASSETS_SECRET_KEY (put it first)"
    ).set_defaults(handler=new_key)
    actions.add_parser(
        "rotate", help="re-encrypt every stored token with the newest key"
    ).set_defaults(handler=rotate_keys)
    actions.add_parser("list", help="stored authorizations (never the tokens)").set_defaults(
        handler=list_vault
    )


def serve_dashboard(settings: Settings, args: argparse.Namespace) -> int:
    """The same app as `amazon-assets api` (one process serves both): the pages read through
    the API's services, cache and tokens."""
    print(
        f"dashboard on http://{args.host}:{args.port}/dashboard/ (sign in with a token from "
        "`amazon-assets token`)",
        file=sys.stderr,
    )
    return serve_api(settings, args)


def serve_api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from amazon_assets.api.logs import log_config

    if not 1 <= args.port <= 65535:
        raise CommandError(f"--port must be between 1 and 65535; got {args.port}.")
    if args.workers < 1:
        raise CommandError(f"--workers must be at least 1; got {args.workers}.")
    if args.workers > 1:
        # Each worker is a process: Prometheus counters go to files summed by /metrics.
        directory = settings.home / "prometheus"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    config = log_config(args.log_level.upper())
    logging.config.dictConfig(config)
    logging.getLogger("amazon_assets.api").info(
        f"product API on http://{args.host}:{args.port} (docs at /docs)",
        extra={
            "workers": args.workers,
            "mart": "postgres" if settings.database_url else "duckdb",
            "cache": "redis" if settings.serving.redis_url else "memory",
        },
    )
    uvicorn.run(
        "amazon_assets.api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=config,
        access_log=False,
        server_header=False,
        # A worker answers the supervisor's pings once it has imported the app: on a busy
        # machine that takes longer than uvicorn's default 5 s.
        timeout_worker_healthcheck=60,
    )
    return 0


def mint(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.api.auth import mint_token

    try:
        token = mint_token(
            settings.jwt_signing_key(),
            settings.serving.jwt_issuer,
            args.subject,
            args.role,
            args.accounts,
            int(args.days * 86400),
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    print(token)
    print(
        f"token for {args.subject}: {args.role} on {', '.join(sorted(set(args.accounts)))}, "
        f"valid {args.days:g} day(s); send it as 'Authorization: Bearer <token>'.",
        file=sys.stderr,
    )
    return 0


def new_key(settings: Settings, args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
    print(
        "put it first in AMAZON_ASSETS_SECRET_KEY (comma-separated, newest first), restart, run "
        "`amazon-assets vault rotate`, then drop the old key.",
        file=sys.stderr,
    )
    return 0


def _vault(settings: Settings):  # noqa: ANN202 - CredentialVault, imported lazily
    from amazon_assets.sources.vault import CredentialVault

    keys = settings.oauth.secret_keys if settings.oauth else ()
    return CredentialVault.at(settings.state_location, keys)


def rotate_keys(settings: Settings, args: argparse.Namespace) -> int:
    from amazon_assets.sources.vault import VaultError

    try:
        count = _vault(settings).rotate()
    except VaultError as error:
        raise CommandError(str(error)) from None
    print(f"{count} stored token(s) re-encrypted with the newest key; older keys can go.")
    return 0


def list_vault(settings: Settings, args: argparse.Namespace) -> int:
    for entry in _vault(settings).entries():
        warning = entry.warning()
        print(
            f"{entry.account}\t{entry.api}\t{entry.status}\treauthorize by "
            f"{entry.reauthorize_by.date()}" + (f"\t{warning}" if warning else "")
        )
    return 0
