"""Read-your-writes with read replicas: the WAL position of a session's last write, kept in Redis by its token.

After a request that wrote commits (an API call or a page's form post: web/pipeline.py), the primary's WAL position
is stored under the digest of its token, the bearer token or the browser session's, for a little longer than a
replica may lag (`DB_REPLICA_MAX_LAG`); a read-only request with that token reads from a
replica only once that replica has replayed that far, and from the primary before. Keyed by token rather than by
user because the token is known before any database is asked (so the choice of server precedes the transaction);
another device of the same user signed in with another token may read up to `DB_REPLICA_MAX_LAG` behind.
"""

from __future__ import annotations

import hashlib
import logging

from redis import Redis
from redis.exceptions import RedisError

from repo.replicas import PRIMARY_ONLY

log = logging.getLogger("opentr.web.consistency")


def _key(token: str) -> str:
    return f"opentr:lsn:{hashlib.sha256(token.encode()).hexdigest()[:32]}"


def remember_write(redis: Redis, token: str, lsn: str, max_lag: float) -> None:
    try:
        redis.set(_key(token), lsn, ex=int(2 * max_lag) + 5)
    except RedisError:
        log.warning("could not record a write's WAL position; this session may briefly read older data")


def min_lsn(redis: Redis, token: str | None) -> str | None:
    """The position a replica must have replayed to serve this session; PRIMARY_ONLY when Redis cannot say."""
    if not token:
        return None
    try:
        value = redis.get(_key(token))
    except RedisError:
        return PRIMARY_ONLY
    return value.decode() if isinstance(value, bytes) else None
