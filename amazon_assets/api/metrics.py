"""Prometheus metrics at /metrics: requests and latency per route (prometheus-fastapi-
instrumentator), cache results, mart query time, mart changes seen, rate-limited requests.

With several workers (`amazon-assets api --workers N`) the CLI sets PROMETHEUS_MULTIPROC_DIR,
so /metrics sums every worker, whichever answers.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_fastapi_instrumentator import Instrumentator

_QUERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ApiMetrics:
    """The API's own metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.cache = Counter(
            "amazon_assets_api_cache_results",
            "Answers by how the cache served them (HIT, STALE, MISS, STALE-ERROR, BYPASS).",
            ["resource", "result"],
            registry=self.registry,
        )
        self.mart_query = Histogram(
            "amazon_assets_api_mart_query_seconds",
            "Time to compute an answer from the mart (cache misses and revalidations).",
            ["resource"],
            buckets=_QUERY_BUCKETS,
            registry=self.registry,
        )
        self.mart_changes = Counter(
            "amazon_assets_api_mart_changes",
            "Mart table writes this worker has seen (each invalidates the answers reading it).",
            ["table"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "amazon_assets_api_rate_limited",
            "Requests refused with 429.",
            registry=self.registry,
        )
        self.not_modified = Counter(
            "amazon_assets_api_not_modified",
            "Requests answered 304 from the ETag alone.",
            ["resource"],
            registry=self.registry,
        )

    def instrument(self, app: FastAPI) -> None:
        """Per-route request counts and latency histograms, and the /metrics endpoint."""
        Instrumentator(
            should_group_status_codes=False,
            excluded_handlers=["/metrics"],
            registry=self.registry,
        ).instrument(app, latency_lowr_buckets=_QUERY_BUCKETS).expose(
            app, endpoint="/metrics", include_in_schema=False
        )
