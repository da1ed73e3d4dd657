"""Shared fixtures: each lives in its own module under fixtures/ and is registered here."""

pytest_plugins = [
    "amazon_assets_tests.fixtures.environment",
    "amazon_assets_tests.fixtures.sandbox",
    "amazon_assets_tests.fixtures.gcs",
    "amazon_assets_tests.fixtures.postgres",
    "amazon_assets_tests.fixtures.processes",
]
