"""By hand, for README's Failover paragraph: the failover of tests/test_fault_failover.py with asynchronous
replication (PostgreSQL's default): how many acknowledged writes a crash loses, and the standby's flush lag under the
load. `python -m tests.failover_without_sync [runs]`; not a test (what it counts depends on timing, not on code).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from config.settings import Settings
from tests.fault_support import Load, SynchronousPair, serve_app, users_with_tokens, wait_until
from tests.test_fault_database import new_collection

CLIENTS = 16


def one_crash(home: Path) -> tuple[int, int, list[float]]:
    """(acknowledged writes lost, acknowledged writes, flush lag samples in ms)."""
    with SynchronousPair() as pair:
        with psycopg.connect(pair.primary.admin_url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")  # asynchronous, as by default
            conn.execute("SELECT pg_reload_conf()")
        pair.create_database("opentr_async")
        primary = pair.primary.url("opentr_async")
        settings = Settings(
            database_url=pair.url("opentr_async"),
            redis_url=f"unix://{home / 'no-redis.sock'}",
            opentr_home=home,
            db_pool_max=10,
            db_pool_timeout=2,
        )
        lags: list[float] = []
        with serve_app(settings) as app:
            load = Load(app.url, users_with_tokens(primary, CLIENTS), new_collection, "/api/collections")
            load.start()
            try:
                wait_until(lambda: load.successes_since(0) >= 2 * CLIENTS, 30, "the load to warm up")
                with psycopg.connect(pair.primary.admin_url, autocommit=True) as conn:
                    for _ in range(20):
                        row = conn.execute("SELECT extract(epoch FROM flush_lag) FROM pg_stat_replication").fetchone()
                        if row and row[0] is not None:
                            lags.append(float(row[0]) * 1000)
                        time.sleep(0.1)
                pair.crash_primary()
                pair.promote()
                time.sleep(2)
            finally:
                load.stop()
        created = [o.created for o in load.snapshot() if o.created]
        with psycopg.connect(pair.standby.url("opentr_async"), autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM collections WHERE uuid::text = ANY(%s)", [created]).fetchone()
        assert row is not None
        return len(created) - int(row[0]), len(created), lags


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as home:
        for run in range(runs):
            lost, acknowledged, lags = one_crash(Path(home))
            print(
                f"run {run + 1}: {lost} of {acknowledged} acknowledged writes lost; flush lag "
                f"median {statistics.median(lags):.1f} ms, at most {max(lags):.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
