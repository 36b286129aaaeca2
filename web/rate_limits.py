"""Fixed-window rate limits in Redis: at most N requests per key per minute, else 429 with Retry-After.

A fixed window (one counter per key and minute, INCR + EXPIRE in one round trip) is the simplest limit that holds
across every web process: a burst at a window's edge may pass 2N in a short while, which is fine for what it
guards (public links: load, not secrets — their tokens cannot be guessed). When Redis is down the limit is not
applied (logged): a public page should not go dark because its bookkeeping did.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from redis import Redis
from redis.exceptions import RedisError

from web.errors import TooManyRequests

log = logging.getLogger("opentr.web.rate_limits")
WINDOW_SECONDS = 60


def key_part(value: str) -> str:
    """A value as a Redis key part: hashed, so a secret (a link's token) never lands in Redis and any text fits."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def check(redis: Redis, limits: list[tuple[str, int]], what: str, now: float | None = None) -> None:
    """Count one request against each (key, limit per minute); TooManyRequests (429, Retry-After: the seconds left
    in the window) when any is over its limit."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    keys = [f"opentr:rate:{key}:{window}" for key, _ in limits]
    try:
        pipe = redis.pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS + 1)
        counts = pipe.execute()[::2]
    except RedisError:
        log.warning("rate limits not applied: Redis is unavailable", exc_info=True)
        return
    if any(int(count) > limit for count, (_, limit) in zip(counts, limits, strict=True)):
        wait = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        raise TooManyRequests(
            f"too many requests for {what}; try again in {wait} s", headers={"Retry-After": str(wait)}
        )
