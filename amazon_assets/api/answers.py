"""From a service call to an HTTP answer: cache key, version, ETag, 304, cache, JSON.

The ETag is a hash of what the answer is about (resource, parameters, the caller's accounts,
the day) and the mart version behind it (api/changes.py), so every worker computes the same one
without reading the answer: `If-None-Match` is answered 304 before the cache or the mart is
touched.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
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


async def answer(
    request: Request,
    principal: Principal,
    *,
    resource: str,
    params: Mapping[str, Any],
    tables: Sequence[str],
    compute: Callable[[Scope], dict[str, Any]],
    days: tuple[date | None, date | None] = (None, None),
) -> Response:
    """Serve `compute(scope)` through the cache, keyed by `params` and versioned by the newest
    changes of `tables` over `days` (None: any day)."""
    state: ApiState = request.app.state.api
    day = today()
    scope = Scope(principal.accounts, day, state.settings.serving.settle_days)
    version: Version = state.changes.version(tables, *days)
    identity = dumps([resource, principal.scope_key, day, sorted(params.items())])
    key = f"{resource}:{hashlib.sha256(identity).hexdigest()[:40]}"
    etag = '"' + hashlib.sha256(identity + dumps(version)).hexdigest()[:32] + '"'
    conditional = request.method == "GET"
    if conditional and etag_matches(request.headers.get("if-none-match"), etag):
        state.metrics.not_modified.labels(resource).inc()
        return _not_modified(etag, "REVALIDATED")

    async def compute_answer() -> Answer:
        started = time.perf_counter()
        status, body = 200, b""
        try:
            payload = await run_in_threadpool(compute, scope)
            payload.setdefault("meta", {})["source"] = _source(
                state.reader, state.changes, tables[0], days
            )
            body = dumps(payload)
        except NotFound as error:
            status, body = 404, problem(404, "Not Found", str(error))
        except Ambiguous as error:
            status, body = 409, problem(409, "Conflict", str(error), accounts=error.accounts)
        except Invalid as error:
            status, body = 422, problem(422, "Unprocessable Content", str(error))
        finally:
            state.metrics.mart_query.labels(resource).observe(time.perf_counter() - started)
        return Answer(status, body, etag, version, time.time())

    cached, result = await state.cache.get(key, version, compute_answer)
    state.metrics.cache.labels(resource, result).inc()
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
