"""Will the planned processes' pools fit in the server's `max_connections`? Checked once at start.

Each web process holds up to DB_POOL_MAX pooled connections plus one LISTEN session; each job process up to two
pooled ones plus one lease session per running job; a worker supervisor two for maintenance plus its lock session.
A deployment that plans more than the server has free gets a warning naming the numbers, not a refusal: other
machines' processes are invisible from here, and the pools only grow to their maximum under load. Behind a
transaction pooler the server's limit applies to the pooler's server connections instead, so nothing is checked.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from config.settings import Settings

WEB_EXTRA = 1  # the LISTEN session of live notifications
JOB_POOL = 2  # workers/context.py
JOB_EXTRA = 1  # the lease session of the running job
MAINTENANCE = 3  # its pool of two and its lock session


def web_connections(settings: Settings, processes: int) -> int:
    return processes * (settings.db_pool_max + WEB_EXTRA)


def worker_connections(processes: int) -> int:
    return MAINTENANCE + processes * (JOB_POOL + JOB_EXTRA)


def check(url: str, settings: Settings, planned: int, what: str, say: Callable[[str], None]) -> str | None:
    """The warning said (also returned) when `planned` connections exceed what the server has free, else None."""
    if settings.behind_pooler:
        return None
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT current_setting('max_connections')::int,"
                " current_setting('superuser_reserved_connections')::int,"
                " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int"
            ).fetchone()
    except psycopg.Error:
        return None  # the start-up's own connection checks report an unreachable server
    assert row is not None
    limit, reserved, in_use = row
    free = limit - reserved - in_use
    if planned <= free:
        return None
    message = (
        f"{what} may open {planned} PostgreSQL connections, but max_connections={limit} leaves {free} free "
        f"({reserved} reserved for superusers, {in_use} in use): lower DB_POOL_MAX or the process count, raise "
        "max_connections, or put PgBouncer in front (DATABASE_DIRECT_URL)"
    )
    say(message)
    return message
