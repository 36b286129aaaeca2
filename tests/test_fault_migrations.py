"""Concurrent migrations from real `opentr db migrate` processes, and a migrator SIGKILLed while it holds the lock.

Three processes race for the advisory lock on one empty database: exactly one applies the migrations, the other two
find nothing to do, and the schema equals the one sql/init_db.sql builds. A migrator killed in the middle of a
(deliberately slow, via OPENTR_MIGRATIONS_DIR) migration leaves no stale lock: its backend notices the lost client
within a second (client_connection_check_interval), rolls back and releases the lock, so the next migrate proceeds at
once instead of waiting for the dead one's statement to end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from repo import schema

LOCK_CLASSID, LOCK_OBJID = schema.MIGRATION_LOCK_KEY >> 32, schema.MIGRATION_LOCK_KEY & 0xFFFFFFFF
SLOW_SECONDS = 30
ALL = [m.id for m in schema.read_migrations()]  # the project's migrations, in the order they apply


def _migrate(url: str, home: Path, *args: str, migrations: Path | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "OPENTR_MIGRATIONS_DIR")}
    env |= {"DATABASE_URL": schema.to_url(url), "OPENTR_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    if migrations is not None:
        env["OPENTR_MIGRATIONS_DIR"] = str(migrations)
    return subprocess.Popen(
        [sys.executable, "-m", "opentr_cli", "db", "migrate", "--no-backup", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.1)


def _scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def lock_holders(conn: psycopg.Connection[Any]) -> int:
    """Sessions holding the migration lock in this database."""
    return int(
        _scalar(
            conn,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            f"AND classid = {LOCK_CLASSID} AND objid = {LOCK_OBJID} AND objsubid = 1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
    )


def lock_waiters(conn: psycopg.Connection[Any]) -> int:
    """Other sessions of this database whose last statement was the migrator's try-lock (they poll it)."""
    return int(
        _scalar(
            conn,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query LIKE 'SELECT pg_try_advisory_lock%'",
        )
    )


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[int, str, str]]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, out, err))
    return results


def _kill_all(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("start", ["together", "released-at-once"])
def test_three_migrator_processes_exactly_one_applies(
    empty_url: str, server_url: str, tmp_path: Path, start: str
) -> None:
    """`together`: three processes started at the same moment. `released-at-once`: all three are first made to wait
    on the lock (held here), which is then released, so that they race for it within one polling interval."""
    procs: list[subprocess.Popen[str]] = []
    try:
        with psycopg.connect(empty_url, autocommit=True) as watcher:
            if start == "released-at-once":
                watcher.execute("SELECT pg_advisory_lock(%s)", [schema.MIGRATION_LOCK_KEY])
            procs = [_migrate(empty_url, tmp_path / f"home{i}") for i in range(3)]
            if start == "released-at-once":
                _wait_for(lambda: lock_waiters(watcher) == 3, 90, "all three migrators to wait on the lock")
                watcher.execute("SELECT pg_advisory_unlock(%s)", [schema.MIGRATION_LOCK_KEY])
            results = _finish(procs)
    finally:
        _kill_all(procs)

    assert [code for code, _, _ in results] == [0, 0, 0], results
    last_lines = sorted(out.strip().splitlines()[-1] for _, out, _ in results)
    assert last_lines == [
        f"applied {len(ALL)} migration(s)",
        "nothing to migrate: the schema is up to date",
        "nothing to migrate: the schema is up to date",
    ], results
    if start == "released-at-once":
        assert all("waiting for its lock" in out for _, out, _ in results), results
    with psycopg.connect(empty_url) as conn:
        applied = conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc, migration_id")
        assert [row[0] for row in applied] == ALL
        assert lock_holders(conn) == 0
    with schema.temporary_database(server_url, "opentr_fault_reference") as reference:
        schema.build_from_init_sql(reference)
        assert schema.schema_dump(empty_url) == schema.schema_dump(reference)


@pytest.mark.slow
def test_a_migrator_killed_while_holding_the_lock_leaves_no_stale_lock(empty_url: str, tmp_path: Path) -> None:
    slow = tmp_path / "slow-migrations"
    slow.mkdir()
    (slow / "0001_slow.sql").write_text(f"CREATE TABLE half_done (id int);\nSELECT pg_sleep({SLOW_SECONDS});\n")
    victim = _migrate(empty_url, tmp_path / "home", migrations=slow)
    procs = [victim]
    try:
        with psycopg.connect(empty_url, autocommit=True) as watcher:

            def sleeping() -> bool:
                running = _scalar(
                    watcher,
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
                )
                return bool(running) and lock_holders(watcher) == 1

            _wait_for(sleeping, 90, "the slow migration to run under the lock")
            victim.send_signal(signal.SIGKILL)
            victim.communicate(timeout=30)
            killed_at = time.monotonic()

            _wait_for(lambda: lock_holders(watcher) == 0, 5, "the dead migrator's lock to go")
            released_after = time.monotonic() - killed_at
            successor = _migrate(empty_url, tmp_path / "home", "--lock-timeout", "5")
            procs.append(successor)
            [(code, out, err)] = _finish([successor])
            finished_after = time.monotonic() - killed_at
            assert code == 0, out + err
            assert "waiting for its lock" not in out, "the lock was free: the next migrate did not wait"
            assert out.strip().splitlines()[-1] == f"applied {len(ALL)} migration(s)"
            assert finished_after < SLOW_SECONDS / 2, f"the successor finished {finished_after:.1f} s after the kill"
            print(
                f"\nlock released {released_after:.2f} s after SIGKILL; next migrate done after {finished_after:.2f} s"
            )
            tables = {r[0] for r in watcher.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            assert "half_done" not in tables, "the killed migration was rolled back"
            applied = watcher.execute("SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc, migration_id")
            assert [row[0] for row in applied] == ALL, "the killed migration was not recorded"
            assert lock_holders(watcher) == 0
    finally:
        _kill_all(procs)


def test_the_migrations_directory_can_be_overridden(empty_url: str, tmp_path: Path) -> None:
    other = tmp_path / "other-migrations"
    other.mkdir()
    (other / "0001_only.sql").write_text("CREATE TABLE only_here (id int);")
    [(code, out, err)] = _finish([_migrate(empty_url, tmp_path / "home", migrations=other)])
    assert code == 0, err
    assert "[1/1] applying 0001_only" in out
    with psycopg.connect(empty_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert "only_here" in tables and "users" not in tables
