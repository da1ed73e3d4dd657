"""Cached answers: stale-while-revalidate on mart versions, a lock against stampedes, stale on error.

Storage is cashews' backend: Redis when REDIS_URL is set (shared by every worker and server),
in-process memory otherwise. The policy is ours, because freshness depends on the mart's
version and not only on time:

- same version, younger than AMAZON_ASSETS_API_CACHE_TTL: a hit;
- same version, older: served at once (stale), one worker recomputes it in the background;
- older version (the mart was rewritten) or nothing stored: recomputed by one caller holding
  the key's lock (in this worker: one task; across workers: a Redis lock); callers that do not
  get the lock are served the previous answer, or wait for the lock holder's;
- the mart unreachable: the last answer is served (stale-error) for up to
  AMAZON_ASSETS_API_CACHE_MAX_STALE seconds, else the error propagates (503).
A Redis failure never fails a request: the answer is computed without the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from amazon_assets.api.changes import Version
from amazon_assets.api.mart import MartUnavailable

log = logging.getLogger("amazon_assets.api")

HIT, STALE, MISS, STALE_ERROR, BYPASS = "HIT", "STALE", "MISS", "STALE-ERROR", "BYPASS"
_LOCK_SECONDS = 30.0  # longer than any computation; a crashed holder's lock expires
_WAIT_STEP_SECONDS = 0.01


@dataclass(frozen=True)
class Answer:
    """A computed response: status, JSON body, its ETag, the version it was computed at."""

    status: int
    body: bytes
    etag: str
    version: Version
    created: float

    def encode(self) -> bytes:
        head = orjson.dumps([self.status, self.etag, list(self.version), self.created])
        return head + b"\n" + self.body

    @classmethod
    def decode(cls, raw: bytes) -> Answer:
        head, _, body = raw.partition(b"\n")
        status, etag, version, created = orjson.loads(head)
        return cls(status, body, etag, tuple(version), created)

    def newer_than(self, version: Version) -> bool:
        """Computed at a later version than `version` (another worker saw a change first)."""
        return (
            len(self.version) == len(version)
            and self.version != version
            and all(mine >= theirs for mine, theirs in zip(self.version, version, strict=True))
        )


Compute = Callable[[], Awaitable[Answer]]
Record = Callable[[str], None]


class AnswerCache:
    """Stale-while-revalidate over a cashews backend (see the module docstring)."""

    def __init__(
        self, backend, prefix: str, ttl: float, max_stale: float, record: Record | None = None
    ) -> None:
        self.backend = backend
        self.prefix = prefix
        self.ttl = ttl
        self.max_stale = max_stale
        self.record = record or (lambda result: None)
        self._inflight: dict[str, asyncio.Future[Answer]] = {}
        self._background: set[asyncio.Task] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}:answer:{key}"

    async def _load(self, key: str) -> Answer | None:
        try:
            raw = await self.backend.get(self._key(key))
        except Exception as error:
            log.warning("cache read failed", extra={"error": type(error).__name__})
            return None
        return None if raw is None else Answer.decode(raw)

    async def _store(self, key: str, answer: Answer) -> None:
        try:
            await self.backend.set(self._key(key), answer.encode(), expire=self.max_stale)
        except Exception as error:
            log.warning("cache write failed", extra={"error": type(error).__name__})

    async def get(self, key: str, version: Version, compute: Compute) -> tuple[Answer, str]:
        """The answer for `key` at `version` and how it was served (HIT, STALE, MISS...)."""
        stored = await self._load(key)
        now = time.time()
        if stored is not None and (stored.version == version or stored.newer_than(version)):
            if now - stored.created < self.ttl:
                return self._served(stored, HIT)
            self._revalidate_in_background(key, version, compute)
            return self._served(stored, STALE)
        try:
            return await self._compute_once(key, version, compute, stored)
        except MartUnavailable:
            if stored is not None and now - stored.created < self.max_stale:
                return self._served(stored, STALE_ERROR)
            raise

    def _served(self, answer: Answer, result: str) -> tuple[Answer, str]:
        self.record(result)
        return answer, result

    async def _compute_once(
        self, key: str, version: Version, compute: Compute, stored: Answer | None
    ) -> tuple[Answer, str]:
        """One computation per key in this worker; the others await it."""
        inflight = self._inflight.get(key)
        if inflight is not None:
            if stored is not None:
                return self._served(stored, STALE)
            return self._served(await asyncio.shield(inflight), HIT)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            answer, result = await self._compute_locked(key, version, compute, stored)
            future.set_result(answer)
            return answer, result
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._inflight[key]

    async def _compute_locked(
        self, key: str, version: Version, compute: Compute, stored: Answer | None
    ) -> tuple[Answer, str]:
        """Across workers: the lock holder computes; the others serve stale or wait for it."""
        lock_key, token = self._key(key) + ":lock", uuid.uuid4().hex
        try:
            locked = await self.backend.set_lock(lock_key, token, expire=_LOCK_SECONDS)
        except Exception:
            locked = None  # no shared cache: compute here
        if locked is False:
            if stored is not None:
                return self._served(stored, STALE)
            # Wait for the holder's answer while it holds the lock (it expires if the holder
            # dies); compute here only if it let go without storing one.
            deadline = time.monotonic() + _LOCK_SECONDS
            while time.monotonic() < deadline:
                await asyncio.sleep(_WAIT_STEP_SECONDS)
                # Lock first, answer second: the holder stores before it lets go.
                held = await self._held(lock_key)
                waited = await self._load(key)
                if waited is not None and (waited.version == version or waited.newer_than(version)):
                    return self._served(waited, HIT)
                if not held:
                    break
        try:
            answer = await compute()
            await self._store(key, answer)
            return self._served(answer, MISS)
        finally:
            if locked:
                with contextlib.suppress(Exception):  # else it expires
                    await self.backend.unlock(lock_key, token)

    async def _held(self, lock_key: str) -> bool:
        try:
            return bool(await self.backend.exists(lock_key))
        except Exception:
            return False

    def _revalidate_in_background(self, key: str, version: Version, compute: Compute) -> None:
        if key in self._inflight:
            return

        async def revalidate() -> None:
            try:
                await self._compute_once(key, version, compute, None)
            except Exception as error:
                log.warning("background revalidation failed", extra={"error": str(error)})

        task = asyncio.create_task(revalidate())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
