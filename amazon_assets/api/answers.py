"""From a service call to an HTTP answer: cache key, version, ETag, 304, cache, JSON.

The ETag is a hash of what the answer is about (resource, parameters, the caller's accounts,
the day) and the mart version behind it (api/changes.py), so every worker computes the same one
without reading the answer: `If-None-Match` is answered 304 before the cache or the mart is
touched.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from amazon_assets.api.auth import Principal
from amazon_assets.api.cache import Answer, AnswerCache
from amazon_assets.api.changes import ChangeLog, Version
from amazon_assets.api.mart import MartReader
from amazon_assets.api.metrics import ApiMetrics
from amazon_assets.api.ratelimit import TokenRateLimiter
from amazon_assets.api.reads import Read
from amazon_assets.api.services.common import Ambiguous, Invalid, NotFound, Scope
from amazon_assets.settings import Settings

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
# Clients (and the edge proxy) may keep answers but must ask again, with the ETag, each time.
CACHE_CONTROL = "private, no-cache"


@dataclass
class ApiState:
    """What the app holds for its lifetime (app.state.api)."""

    settings: Settings
    reader: MartReader
    changes: ChangeLog
    cache: AnswerCache
    limiter: TokenRateLimiter
    metrics: ApiMetrics
    signing_key: str


def json_default(value: Any) -> Any:
    """JSON for what the mart returns beyond orjson's types: money stays exact, as a string."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, default=json_default, option=orjson.OPT_NON_STR_KEYS)


def problem(status: int, title: str, detail: str, **extra: Any) -> bytes:
    """An RFC 9457 problem document."""
    return dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    )


def today() -> date:
    return datetime.now(UTC).date()


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


def _source(reader: MartReader, changes: ChangeLog, table: str, days: tuple) -> dict[str, Any]:
    """The mart materialization behind an answer: the newest write of its main table."""
    change = changes.latest(table, *days)
    return {
        "store": reader.kind,
        "table": table,
        "change_id": change.change_id if change else 0,
        "run_id": change.run_id if change else None,
        "written_at": change.written_at if change else None,
    }


@dataclass(frozen=True)
class Keyed:
    """Where an answer lives in the cache and its ETag, from what it is about and its version."""

    scope: Scope
    version: Version
    key: str
    etag: str


def keyed(state: ApiState, principal: Principal, read: Read) -> Keyed:
    """The scope, version, cache key and ETag of an answer (the same on every worker)."""
    day = today()
    scope = Scope(principal.accounts, day, state.settings.serving.settle_days)
    version: Version = state.changes.version(read.tables, *read.days)
    identity = dumps([read.resource, principal.scope_key, day, sorted(read.params.items())])
    key = f"{read.resource}:{hashlib.sha256(identity).hexdigest()[:40]}"
    etag = '"' + hashlib.sha256(identity + dumps(version)).hexdigest()[:32] + '"'
    return Keyed(scope, version, key, etag)


async def cached_answer(
    state: ApiState,
    principal: Principal,
    read: Read,
    compute: Callable[[Scope], Awaitable[dict[str, Any]]] | None = None,
    where: Keyed | None = None,
) -> tuple[Answer, str]:
    """`read` served through the cache: the answer (status, JSON body, ETag) and how the cache
    served it (HIT, MISS, ...). REST routes, GraphQL and the dashboard all read through here, so
    an answer is computed once per mart version whichever of them asks. `compute` replaces the
    read's own blocking service call (which runs in the thread pool) by an awaitable."""
    where = where or keyed(state, principal, read)

    async def compute_answer() -> Answer:
        started = time.perf_counter()
        status, body = 200, b""
        try:
            if compute is None:
                assert read.compute is not None, f"{read.resource} needs a compute function"
                payload = await run_in_threadpool(read.compute, state.reader, where.scope)
            else:
                payload = await compute(where.scope)
            payload.setdefault(read.meta_key, {})["source"] = _source(
                state.reader, state.changes, read.tables[0], read.days
            )
            body = dumps(payload)
        except NotFound as error:
            status, body = 404, problem(404, "Not Found", str(error))
        except Ambiguous as error:
            status, body = 409, problem(409, "Conflict", str(error), accounts=error.accounts)
        except Invalid as error:
            status, body = 422, problem(422, "Unprocessable Content", str(error))
        finally:
            state.metrics.mart_query.labels(read.resource).observe(time.perf_counter() - started)
        return Answer(status, body, where.etag, where.version, time.time())

    cached, result = await state.cache.get(where.key, where.version, compute_answer)
    state.metrics.cache.labels(read.resource, result).inc()
    return cached, result


async def answer(request: Request, principal: Principal, read: Read) -> Response:
    """Serve `read` over HTTP through the cache: 304 from the ETag alone when it matches,
    else the cached or computed answer with its ETag."""
    state: ApiState = request.app.state.api
    where = keyed(state, principal, read)
    conditional = request.method == "GET"
    if conditional and etag_matches(request.headers.get("if-none-match"), where.etag):
        state.metrics.not_modified.labels(read.resource).inc()
        return _not_modified(where.etag, "REVALIDATED")
    cached, result = await cached_answer(state, principal, read, where=where)
    if (
        conditional
        and cached.status == 200
        and etag_matches(request.headers.get("if-none-match"), cached.etag)
    ):
        return _not_modified(cached.etag, result)
    headers = {"X-Cache": result, "Vary": "Authorization"}
    if conditional and cached.status == 200:
        headers |= {"ETag": cached.etag, "Cache-Control": CACHE_CONTROL}
    else:
        headers["Cache-Control"] = "no-store"
    media_type = JSON if cached.status == 200 else PROBLEM_JSON
    return Response(cached.body, cached.status, headers=headers, media_type=media_type)


def _not_modified(etag: str, result: str) -> Response:
    return Response(
        status_code=304,
        headers={
            "ETag": etag,
            "Cache-Control": CACHE_CONTROL,
            "Vary": "Authorization",
            "X-Cache": result,
        },
    )
