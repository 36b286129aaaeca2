"""Issue 25: PgBouncer (Debian's, transaction mode) restarted while 20 clients write and read through it.

The app under uvicorn has DATABASE_URL on the pooler and DATABASE_DIRECT_URL on the server (README: Deploying at
scale). A restart drops every client and server connection at once: requests meanwhile get 503 with Retry-After
(never 500, never a hang), then every request succeeds again; every write that got a 2xx is stored; the pool is
idle again afterwards and PostgreSQL holds no session of the database busy or idle in a transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from config.settings import Settings
from repo import schema
from tests.fault_support import serve_app, wait_until
from tests.scale_support import PgBouncer
from tests.test_fault_database import check_phase, check_writes_and_pool, outage, run_load

pytestmark = pytest.mark.slow


@pytest.fixture
def bouncer(fresh_url: str) -> Iterator[PgBouncer]:
    with PgBouncer(fresh_url) as pooler:
        yield pooler


def _sessions(conninfo: str) -> dict[str, int]:
    """Every other session on this database (the pooler's server connections, the app's LISTEN), by state."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1"
        ).fetchall()
    return {state: int(count) for state, count in rows}


def test_a_pgbouncer_restart_under_load_costs_503s_only_and_leaves_no_stuck_pool(
    fresh_url: str, bouncer: PgBouncer, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=bouncer.url(schema.database_name(fresh_url)),
        database_direct_url=schema.to_url(fresh_url),
        # Redis plays no part in these routes: a socket nobody listens on keeps the test off any real Redis.
        redis_url=f"unix://{tmp_path / 'no-redis.sock'}",
        opentr_home=tmp_path / "home",
        db_pool_min=2,
        db_pool_max=10,
        db_pool_timeout=2,
    )
    with serve_app(settings) as app:
        load = run_load(app, fresh_url)
        try:
            before = app.pool_stats()
            restarted = time.monotonic()
            phase = outage("pgbouncer restart", app, load, bouncer.restart, lambda: None, 0.0)
            restart_seconds = phase.up_at - restarted
        finally:
            load.stop()
        check_phase(phase, expect_failures=True)
        check_writes_and_pool(fresh_url, app, load, before)
        assert bouncer.logins(schema.database_name(fresh_url)) > 0, "the requests went through the pooler"

        settled = wait_until(
            lambda: (s := app.pool_stats())["requests_waiting"] == 0 and s["pool_available"] == s["pool_size"],
            10,
            "the pool to be idle again",
        )
        sessions = _sessions(fresh_url)
        assert set(sessions) <= {"idle"}, f"sessions busy or left in a transaction after the restart: {sessions}"
    print(f"pgbouncer restart took {restart_seconds:.2f} s; the pool was idle {settled:.2f} s after the load stopped")
