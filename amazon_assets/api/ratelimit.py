"""Per-token rate limits (`limits`, sliding window counters): Redis-backed when REDIS_URL is set,
so every worker and server counts against one budget; in-process otherwise.

A limiter failure (Redis down) lets the request through and is logged: the API stays up.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

log = logging.getLogger("amazon_assets.api")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds until the window that refused has room again
    limit: str = ""


class TokenRateLimiter:
    """Checks every configured limit (e.g. 20/second and 1200/minute) for one key."""

    def __init__(self, limits: str, redis_url: str | None, prefix: str) -> None:
        self.items: list[RateLimitItem] = parse_many(limits)
        storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix=f"{prefix}:ratelimit")
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, key: str) -> Decision:
        try:
            for item in self.items:
                if not await self.limiter.hit(item, key):
                    stats = await self.limiter.get_window_stats(item, key)
                    wait = max(1, math.ceil(stats.reset_time - time.time()))
                    return Decision(False, min(wait, item.get_expiry()), str(item))
        except Exception as error:
            log.warning("rate limiter unavailable; request allowed", extra={"error": str(error)})
        return Decision(True)
