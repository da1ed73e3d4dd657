"""Shared fixtures: each lives in its own module under fixtures/ and is registered here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

pytest_plugins = [
    "amazon_assets_tests.fixtures.environment",
    "amazon_assets_tests.fixtures.sandbox",
    "amazon_assets_tests.fixtures.gcs",
    "amazon_assets_tests.fixtures.postgres",
    "amazon_assets_tests.fixtures.processes",
]


def _start_rank(item: pytest.Item) -> int:
    if item.get_closest_marker("longest"):
        return 0
    return 1 if item.get_closest_marker("slow") else 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a `longest` test first, then files holding a `slow` one, then the rest;
    within each group, files with more tests first (xdist's own order).

    `make test` hands whole files to its two workers in this order (`--dist loadfile
    --no-loadscope-reorder`): the files that take minutes start at once, the short ones fill in
    behind them, and both workers finish together. (xdist's order alone started the one-test
    files that take minutes last.)
    """
    rank: dict[Path, int] = {}
    tests: Counter[Path] = Counter(item.path for item in items)
    for item in items:
        rank[item.path] = min(rank.get(item.path, 2), _start_rank(item))
    # Stable: a file's tests stay together, in their order.
    items.sort(key=lambda item: (rank[item.path], -tests[item.path]))
