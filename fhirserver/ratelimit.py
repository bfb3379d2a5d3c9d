"""Rate limits per client in Redis (seed section 8): a fixed one-minute window.

One round trip per request (INCR and EXPIRE NX in one pipeline). Without Redis, or
while Redis fails, requests are not limited: a limiter must never be the reason a
clinician's read fails. A client is its authenticated user once SMART arrives, until
then its address.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from fhirserver.outcomes import Category, FhirError, Issue


class RateLimiter:
    def __init__(self, client: aioredis.Redis | None, per_minute: int) -> None:
        self.client = client if per_minute > 0 else None
        self.per_minute = per_minute
        self._paused_until = 0.0

    async def check(self, client_id: str) -> None:
        """Raise 429 with Retry-After when `client_id` is over its limit this minute."""
        if self.client is None or time.monotonic() < self._paused_until:
            return
        now = time.time()
        window = int(now // 60)
        key = f"fhir:rl:{client_id}:{window}"
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                count, _ = await pipe.incr(key).expire(key, 61, nx=True).execute()
        except RedisError:
            self._paused_until = time.monotonic() + 1.0
            return
        if count > self.per_minute:
            retry = max(1, int((window + 1) * 60 - now))
            raise FhirError(Category.TOO_MANY, [Issue(
                "throttled", f"More than {self.per_minute} requests in one minute from this client; "
                f"retry in {retry} s", "HTTP-RATE-LIMIT")], {"Retry-After": str(retry)})
