"""What counts as "the database is unavailable" for background work: a reason to wait, never a verdict on a job's
subject. Decided here once, for the run skeleton (workers/jobrun.py), recovery and the outbox dispatcher."""

from __future__ import annotations

import psycopg
from psycopg import errors as pg
from psycopg_pool import PoolTimeout

from repo.errors import Contention, Unavailable


def database_unavailable(exc: BaseException) -> bool:
    """The database could not serve the work just now (no pool connection within DB_POOL_TIMEOUT, a lost
    connection, an outage, a failover, contention that outlasted its retries), said by the pool, the driver or
    repo.errors, directly or as the explicit cause of what was raised. A statement timeout is not one: the same
    statement would time out again."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Unavailable):
            return not isinstance(seen.__cause__, pg.QueryCanceled)
        if isinstance(seen, pg.QueryCanceled):
            return False
        if isinstance(seen, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout | Contention):
            return True
        seen = seen.__cause__
    return False
