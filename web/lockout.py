"""Guessing made slow: failed attempts counted per account in Redis; from the fifth failure on, the account is locked
for a doubling interval (1 s, 2 s, 4 s ... up to 15 min), so guessing is slow no matter how many clients try.

Passwords (`scope="login"`, keyed by the typed e-mail address) and second-factor codes (`scope="second_factor"`,
keyed by the account, once its password is known) are counted apart, each with the same rule: the one cannot lock
the other out, and a person who knows the password still cannot try every code.
"""

from __future__ import annotations

import contextlib
import hashlib

from redis import Redis
from redis.exceptions import RedisError

from web.errors import ServiceUnavailable, TooManyRequests

FREE_FAILURES = 5
MAX_LOCK_SECONDS = 900
_WHAT = {"login": "every password is refused", "second_factor": "every code is refused"}


def _keys(subject: str, scope: str = "login") -> tuple[str, str]:
    digest = hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]
    return f"opentr:{scope}:failures:{digest}", f"opentr:{scope}:locked:{digest}"


def check_not_locked(redis: Redis, username: str, *, scope: str = "login") -> None:
    _, locked = _keys(username, scope)
    try:
        ttl = int(redis.pttl(locked))
    except RedisError as exc:
        raise ServiceUnavailable("sign-in is unavailable while Redis is down") from exc
    if ttl > 0:
        seconds = max(1, (ttl + 999) // 1000)
        what = "sign-ins" if scope == "login" else "codes"
        raise TooManyRequests(
            f"too many failed {what} for this account: for the next {seconds} s {_WHAT.get(scope, 'all')}, "
            "the right one too; wait, then try again",
            headers={"Retry-After": str(seconds)},
        )


def record_failure(redis: Redis, username: str, *, scope: str = "login") -> int:
    """Count a failed attempt; the seconds the account is now locked for (0: not locked)."""
    failures_key, locked = _keys(username, scope)
    try:
        failures = int(redis.incr(failures_key))
        redis.expire(failures_key, 24 * 3600)
        if failures >= FREE_FAILURES:
            seconds = min(2 ** (failures - FREE_FAILURES), MAX_LOCK_SECONDS)
            redis.set(locked, "1", ex=seconds)
            return int(seconds)
    except RedisError as exc:
        raise ServiceUnavailable("sign-in is unavailable while Redis is down") from exc
    return 0


def clear_failures(redis: Redis, username: str, *, scope: str = "login") -> None:
    with contextlib.suppress(RedisError):  # the counter expires on its own
        redis.delete(*_keys(username, scope))
