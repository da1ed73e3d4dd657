"""POST /graphql: persisted queries only (the safelist in api/graphql/queries/).

A request names a safelisted query by its sha256 (Apollo's `extensions.persistedQuery`, or
`id`) with its variables; query text is refused, and so is an unknown hash. The answer is cached
like a REST answer (keyed by the query, its variables and the caller's accounts, versioned by the
mart) and says in `extensions.mart_queries` how many mart queries computing it took.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from amazon_assets.api.answers import JSON, ApiState, cached_answer, dumps
from amazon_assets.api.auth import Principal
from amazon_assets.api.graphql.persisted import is_sha256, persisted_id, safelist
from amazon_assets.api.graphql.schema import Context, loaders, schema
from amazon_assets.api.mart import MartUnavailable, counting_queries
from amazon_assets.api.reads import Read
from amazon_assets.api.schemas import problems
from amazon_assets.api.security import viewer
from amazon_assets.api.services.common import (
    ALERTS,
    COMPARISON,
    MART,
    PREDICTIONS,
    SCORES,
    TRACKED,
    Scope,
)

router = APIRouter(tags=["graphql"])
# A persisted query may read any of these: a write to one invalidates its cached answers.
GRAPHQL_TABLES = (MART, TRACKED, ALERTS, SCORES, PREDICTIONS, COMPARISON)


def _refused(status: int, code: str, message: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(dumps(body), status, media_type=JSON, headers={"Cache-Control": "no-store"})


@router.post(
    "/graphql",
    summary="GraphQL, persisted queries only",
    responses={
        400: {
            "description": "Not a persisted query of the safelist (GraphQL errors).",
            "content": {JSON: {"schema": {"type": "object"}}},
        },
        **problems(401, 429, 503),
    },
)
async def graphql(request: Request, principal: Annotated[Principal, Depends(viewer)]) -> Response:
    """Run a safelisted query: `{"extensions": {"persistedQuery": {"version": 1, "sha256Hash":
    "<sha256 of the file in amazon_assets/api/graphql/queries/>"}}, "variables": {...}}`."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _refused(400, "BAD_REQUEST", "the body is not JSON.")
    if not isinstance(body, dict):
        return _refused(400, "BAD_REQUEST", "the body must be a JSON object.")
    if body.get("query"):
        return _refused(
            400,
            "PERSISTED_QUERY_REQUIRED",
            "only persisted queries are served: send extensions.persistedQuery.sha256Hash of a "
            "query in the safelist, not query text.",
        )
    query_id = persisted_id(body)
    if query_id is None or not is_sha256(query_id):
        return _refused(
            400, "PERSISTED_QUERY_REQUIRED", "name a persisted query by its sha256 (64 hex digits)."
        )
    query = safelist().get(query_id)
    if query is None:
        return _refused(
            400, "PERSISTED_QUERY_NOT_FOUND", f"{query_id} is not a query of the safelist."
        )
    variables = body.get("variables") or {}
    operation = body.get("operationName")
    if not isinstance(variables, dict) or not isinstance(operation, str | None):
        return _refused(400, "BAD_REQUEST", "variables must be an object, operationName a string.")
    state: ApiState = request.app.state.api

    async def execute(scope: Scope) -> dict[str, Any]:
        context = Context(principal, scope, state.reader, **loaders(state.reader, scope))
        with counting_queries() as count:
            result = await schema.execute(
                query, variable_values=variables, context_value=context, operation_name=operation
            )
        for error in result.errors or ():
            if isinstance(error.original_error, MartUnavailable):
                raise error.original_error  # served stale from the cache, or 503
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        payload["extensions"] = {"mart_queries": count[0]}
        return payload

    read = Read(
        "graphql",
        {"id": query_id, "variables": variables, "operation": operation},
        GRAPHQL_TABLES,
        meta_key="extensions",
    )
    answer, result = await cached_answer(state, principal, read, compute=execute)
    return Response(
        answer.body,
        answer.status,
        media_type=JSON,
        headers={"X-Cache": result, "Vary": "Authorization", "Cache-Control": "no-store"},
    )
