"""The safelist: the only GraphQL documents the API executes.

Each file in `queries/` is one operation; its id is the sha256 of the file's bytes
(`sha256sum amazon_assets/api/graphql/queries/*.graphql`). A client sends the id, never the
query text: arbitrary queries (and their cost) cannot reach the mart.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

_HASH_LENGTH = 64


@cache
def safelist() -> dict[str, str]:
    """sha256 hex -> query text, for every file in queries/."""
    queries = {}
    for entry in files("amazon_assets.api.graphql").joinpath("queries").iterdir():
        if entry.name.endswith(".graphql"):
            text = entry.read_bytes()
            queries[hashlib.sha256(text).hexdigest()] = text.decode("utf-8")
    return queries


def persisted_id(body: dict) -> str | None:
    """The persisted query's id a request names: Apollo's
    `extensions.persistedQuery.sha256Hash`, or a top-level `id`."""
    extensions = body.get("extensions")
    if isinstance(extensions, dict):
        persisted = extensions.get("persistedQuery")
        if isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
            return persisted["sha256Hash"].lower()
    identifier = body.get("id")
    return identifier.lower() if isinstance(identifier, str) else None


def is_sha256(value: str) -> bool:
    return len(value) == _HASH_LENGTH and all(c in "0123456789abcdef" for c in value)
