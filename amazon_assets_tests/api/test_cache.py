"""The answer cache on its real backends (process memory and the shared Redis)."""

import asyncio
import time
import uuid

import pytest
from cashews import Cache

from amazon_assets.api.cache import HIT, MISS, STALE, STALE_ERROR, Answer, AnswerCache
from amazon_assets.api.mart import MartUnavailable

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def backend_url(request) -> str:
    if request.param == "redis":
        return f"{REDIS_URL}?suppress=false&pickle_type=null"
    return "mem://?size=100"


def run_with(url: str, scenario) -> None:
    """Run `scenario(backend)` in a fresh event loop with the backend opened and closed in it."""

    async def main() -> None:
        backend = Cache()
        backend.setup(url)
        try:
            await scenario(backend)
        finally:
            await backend.close()

    asyncio.run(main())


class Source:
    """Computes answers, counting calls; can be made slow or unavailable."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.delay = 0.0

    def compute(self, version):
        async def run() -> Answer:
            self.calls += 1
            await asyncio.sleep(self.delay)
            if self.fail:
                raise MartUnavailable("down")
            body = f"computed {self.calls}".encode()
            return Answer(200, body, f'"{version}"', version, time.time())

        return run


def test_versions_hits_staleness_and_errors(backend_url: str) -> None:
    async def scenario(backend) -> None:
        cache = AnswerCache(backend, f"aa_test_{uuid.uuid4().hex}", ttl=0.2, max_stale=60)
        source = Source()
        first, how = await cache.get("k", (1,), source.compute((1,)))
        assert (first.body, how) == (b"computed 1", MISS)
        assert (await cache.get("k", (1,), source.compute((1,))))[1] == HIT
        # A newer mart version: recomputed at once, not served stale.
        second, how = await cache.get("k", (2,), source.compute((2,)))
        assert (second.body, how) == (b"computed 2", MISS)
        # Past the TTL: the stored answer now, a fresh one computed behind it.
        await asyncio.sleep(0.25)
        stale, how = await cache.get("k", (2,), source.compute((2,)))
        assert (stale.body, how) == (b"computed 2", STALE)
        await asyncio.sleep(0.05)
        fresh, how = await cache.get("k", (2,), source.compute((2,)))
        assert (fresh.body, how) == (b"computed 3", HIT)
        # The mart down: the last answer, even of an older version; nothing cached: the error.
        source.fail = True
        served, how = await cache.get("k", (3,), source.compute((3,)))
        assert (served.body, how) == (b"computed 3", STALE_ERROR)
        with pytest.raises(MartUnavailable):
            await cache.get("other", (3,), source.compute((3,)))
        await cache.close()

    run_with(backend_url, scenario)


def test_concurrent_misses_compute_once(backend_url: str) -> None:
    async def scenario(backend) -> None:
        prefix = f"aa_test_{uuid.uuid4().hex}"
        # Two caches on one backend stand for two workers sharing Redis (or one process).
        workers = [AnswerCache(backend, prefix, ttl=60, max_stale=60) for _ in range(2)]
        source = Source()
        source.delay = 0.2
        results = await asyncio.gather(
            *(workers[i % 2].get("k", (1,), source.compute((1,))) for i in range(40))
        )
        assert source.calls == 1
        assert {answer.body for answer, _ in results} == {b"computed 1"}
        assert [how for _, how in results].count(MISS) == 1

    run_with(backend_url, scenario)
