"""A planted mart in a throwaway PostgreSQL database, and the API serving it (real Redis)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
import redis

from amazon_assets.api.auth import mint_token
from amazon_assets.settings import Settings
from amazon_assets_tests.api.market import FIRST_DAY, market_tables, plant_mart, yesterday
from amazon_assets_tests.api.server import ApiServer
from amazon_assets_tests.fixtures.postgres import SERVER_URL

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "test-secret-" + "s" * 40
ISSUER = "amazon-assets-tests"
# Generous: the tests that exhaust it send this many requests with one token.
RATE_LIMIT_PER_MINUTE = 300


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    """A key prefix of our own on the shared Redis; its keys are deleted afterwards."""
    prefix = f"aa_test_{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


@pytest.fixture(scope="session")
def pg_env(tmp_path_factory: pytest.TempPathFactory, redis_prefix: str) -> Iterator[dict[str, str]]:
    """Environment of a PostgreSQL mart (a fresh database) with Redis, for a whole session."""
    name = f"amazon_assets_api_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{SERVER_URL}/test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    home = tmp_path_factory.mktemp("api-pg-home")
    yield {
        "AMAZON_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "DATABASE_URL": f"{SERVER_URL}/{name}",
        "REDIS_URL": REDIS_URL,
        "AMAZON_ASSETS_REDIS_PREFIX": redis_prefix,
        "AMAZON_ASSETS_JWT_SECRET": SECRET,
        "AMAZON_ASSETS_JWT_ISSUER": ISSUER,
        "AMAZON_ASSETS_API_RATE_LIMIT": f"{RATE_LIMIT_PER_MINUTE}/minute",
        "AMAZON_ASSETS_API_CACHE_TTL": "2",
        # Every past day is settled, so year-over-year pairs on known past dates are served.
        "AMAZON_ASSETS_SETTLE_DAYS": "0",
        # No Dagster webserver: refreshes and backfills the contract test asks for answer 400.
        "DAGSTER_WEBSERVER_URL": "http://127.0.0.1:9",
    }
    with psycopg.connect(f"{SERVER_URL}/test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_api(pg_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """`amazon-assets api` over the planted PostgreSQL mart, two workers, Redis cache."""
    settings = Settings.from_env(pg_env)
    assert plant_mart(settings, market_tables(), FIRST_DAY, yesterday()).success
    log = tmp_path_factory.mktemp("api-pg-log") / "api.log"
    with ApiServer(pg_env, log, workers=2) as server:
        yield server


@pytest.fixture
def token() -> Callable[..., str]:
    """Mint a token signed with the test secret: token("viewer", "acme")."""

    def make(role: str = "viewer", *accounts: str, subject: str = "tester") -> str:
        return mint_token(SECRET, ISSUER, subject, role, accounts or ("acme",), 3600)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
