"""A redis-server of a test's own, for the journey, isolation, hostile-input and secrets tests.

The session's test Redis may be one database that other pytest sessions on the machine flush and run burst workers
against (under an external REDIS_URL): they would take or drop this test's jobs, and a job this test enqueues could be
run by a worker on another database. A server of the test's own holds only its jobs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tests.fault_support import ThrowawayRedis


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """Start redis-server on a unix socket in a new temporary directory; yield its URL; stop it and remove the dir."""
    with ThrowawayRedis() as redis:
        yield redis.url
