"""The ASGI app: `create_app()` under `amazon-assets api` or any ASGI server
(`uvicorn --factory amazon_assets.api.app:create_app`).

Everything configurable comes from the one settings object. Later parts of the product (accounts
and operations, dashboard, GraphQL) add routers to this app and reuse its auth, cache and
services.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from cashews import Cache
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from amazon_assets.api.answers import PROBLEM_JSON, ApiState, problem
from amazon_assets.api.cache import AnswerCache
from amazon_assets.api.changes import ChangeLog, ChangeWatcher
from amazon_assets.api.logs import request_id
from amazon_assets.api.mart import MartUnavailable, open_reader
from amazon_assets.api.metrics import ApiMetrics
from amazon_assets.api.ratelimit import TokenRateLimiter
from amazon_assets.api.routes import (
    accounts,
    alerts,
    amazon,
    competitions,
    graphql,
    products,
    reports,
    system,
)
from amazon_assets.dashboard import routes as dashboard
from amazon_assets.settings import Settings

log = logging.getLogger("amazon_assets.api")
access_log = logging.getLogger("amazon_assets.api.access")
# Answers kept in process memory without Redis (LRU beyond this many).
MEMORY_CACHE_ENTRIES = 50_000
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
}


def cache_backend(settings: Settings) -> Cache:
    """cashews on Redis (errors raised, so the cache can step aside) or in process memory."""
    backend = Cache()
    if settings.serving.redis_url:
        # Values are our own bytes: stored as they are, never unpickled from Redis.
        backend.setup(
            settings.serving.redis_url, suppress=False, socket_timeout=1.0, pickle_type="null"
        )
    else:
        backend.setup(f"mem://?size={MEMORY_CACHE_ENTRIES}")
    return backend


def create_app(settings: Settings | None = None) -> FastAPI:
    """The product API over the mart of `settings` (default: the environment)."""
    settings = settings or Settings.from_env()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serving = settings.serving
        reader = await asyncio.to_thread(open_reader, settings)
        backend = cache_backend(settings)
        changes = ChangeLog()
        app.state.api = ApiState(
            settings=settings,
            reader=reader,
            changes=changes,
            cache=AnswerCache(
                backend, f"{serving.redis_prefix}:api", serving.cache_ttl, serving.cache_max_stale
            ),
            limiter=TokenRateLimiter(serving.rate_limit, serving.redis_url, serving.redis_prefix),
            metrics=metrics,
            signing_key=settings.jwt_signing_key(),
        )
        watcher = ChangeWatcher(
            reader,
            changes,
            serving.change_poll_seconds,
            serving.redis_url,
            serving.mart_changes_channel,
            on_change=lambda news: [metrics.mart_changes.labels(c.table).inc() for c in news],
        )
        try:
            await watcher.refresh()
        except MartUnavailable as error:
            log.warning(
                "mart unavailable at start; serving 503 until it is back",
                extra={"error": str(error)},
            )
        watcher.start()
        log.info(
            "product API ready",
            extra={"mart": reader.kind, "cache": "redis" if serving.redis_url else "memory"},
        )
        try:
            yield
        finally:
            await watcher.stop()
            if (operations := getattr(app.state, "operations", None)) is not None:
                operations.close()
            await app.state.api.cache.close()
            await backend.close()
            reader.close()

    app = FastAPI(
        title="amazon-assets product API",
        version=version("amazon-assets"),
        summary="The mart over HTTP: products, series, competitors, alerts, predictions.",
        lifespan=lifespan,
    )
    app.add_middleware(RequestContext)

    @app.exception_handler(HTTPException)
    async def http_problem(request: Request, error: HTTPException) -> Response:
        title = _TITLES.get(
            error.status_code, "Too Many Requests" if error.status_code == 429 else "Error"
        )
        return Response(
            problem(error.status_code, title, str(error.detail)),
            error.status_code,
            headers=dict(error.headers or {}),
            media_type=PROBLEM_JSON,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_problem(request: Request, error: RequestValidationError) -> Response:
        errors = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg", "")}
            for item in error.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return Response(
            problem(422, "Unprocessable Content", detail, errors=errors),
            422,
            media_type=PROBLEM_JSON,
        )

    @app.exception_handler(MartUnavailable)
    async def mart_unavailable(request: Request, error: MartUnavailable) -> Response:
        return Response(
            problem(503, "Service Unavailable", f"{error}; no earlier answer is cached."),
            503,
            headers={"Retry-After": "5"},
            media_type=PROBLEM_JSON,
        )

    for module in (products, reports, competitions, alerts, graphql, system, amazon, accounts):
        app.include_router(module.router)
    dashboard.install(app)
    metrics.instrument(app)
    return app


class RequestContext:
    """Request id (the caller's X-Request-ID if sane, else a new one) on the response and on
    every log record of the request, and one JSON access record per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        current = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(current)
        started = time.perf_counter()
        status, cache = 500, None

        async def send_with_id(message: Message) -> None:
            nonlocal status, cache
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                cache = dict(headers).get(b"x-cache")
                headers.append((b"x-request-id", current.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": getattr(route, "path", None),
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "cache": cache.decode() if cache else None,
                    # Set by the auth dependency (request.state lives in scope["state"]).
                    "subject": (scope.get("state") or {}).get("subject"),
                },
            )
            request_id.reset(token)
