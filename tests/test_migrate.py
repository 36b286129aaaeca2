from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import psycopg
import pytest

from repo import schema

ALL = [m.id for m in schema.read_migrations()]  # every migration, in the order they apply


def _opentr(url: str, *args: str, home: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": _as_url(url), "OPENTR_HOME": home}
    return subprocess.Popen(
        [sys.executable, "-m", "opentr_cli", *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _as_url(conninfo: str) -> str:
    """The CLI reads DATABASE_URL as a URL; turn a conninfo string back into one."""
    return schema.to_url(conninfo)


def test_migrate_applies_the_baseline_then_nothing(empty_url: str) -> None:
    assert schema.migrate(empty_url, say=lambda _: None) == ALL
    assert schema.migrate(empty_url, say=lambda _: None) == []
    assert all(applied for _, applied in schema.status(empty_url))


def test_two_concurrent_migrations_one_applies_the_other_waits(empty_url: str, tmp_path: object) -> None:
    with psycopg.connect(empty_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [schema.MIGRATION_LOCK_KEY])
        procs = [_opentr(empty_url, "db", "migrate", "--no-backup", home=str(tmp_path)) for _ in range(2)]
        # Both are seen trying the lock by the server itself (not after a guessed sleep: a loaded machine may
        # take seconds to start a Python process).
        deadline = time.monotonic() + 90
        while _waiting_for_the_lock(holder) < 2:
            assert all(p.poll() is None for p in procs), "both must wait for the lock"
            assert time.monotonic() < deadline, "the two migrators never both waited for the lock"
            time.sleep(0.1)
        holder.execute("SELECT pg_advisory_unlock(%s)", [schema.MIGRATION_LOCK_KEY])
        outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    last_lines = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert last_lines == [f"applied {len(ALL)} migration(s)", "nothing to migrate: the schema is up to date"]
    assert all("waiting for its lock" in out for out, _ in outputs)


def _waiting_for_the_lock(conn: psycopg.Connection[Any]) -> int:
    """How many other sessions have tried the migration lock (and, as this one holds it, been refused)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND query LIKE '%%pg_try_advisory_lock%%'"
    ).fetchone()
    return int(row[0]) if row else 0


def test_lock_dies_with_the_connection_that_held_it(empty_url: str) -> None:
    holder = psycopg.connect(empty_url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", [schema.MIGRATION_LOCK_KEY])
    holder.close()
    assert schema.migrate(empty_url, say=lambda _: None, lock_timeout=5) == ALL


def test_migrate_gives_up_after_the_lock_timeout(empty_url: str) -> None:
    with psycopg.connect(empty_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [schema.MIGRATION_LOCK_KEY])
        with pytest.raises(schema.MigrationLockTimeout):
            schema.migrate(empty_url, say=lambda _: None, lock_timeout=0.5)


def test_baseline_on_an_init_sql_database_leaves_nothing_to_migrate(empty_url: str) -> None:
    schema.build_from_init_sql(empty_url)
    assert schema.baseline(empty_url) == ALL
    assert schema.migrate(empty_url, say=lambda _: None) == []


def test_migrate_takes_a_backup_first(empty_url: str, tmp_path: object) -> None:
    proc = _opentr(empty_url, "db", "migrate", home=str(tmp_path))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "backup written to" in out
    backups = list((__import__("pathlib").Path(str(tmp_path)) / "backups").glob("*.dump"))
    assert len(backups) == 1 and backups[0].stat().st_size > 0


def test_a_failing_migration_changes_nothing(empty_url: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    migrations = Path(str(tmp_path)) / "migrations"
    migrations.mkdir()
    (migrations / "0001_ok.sql").write_text("CREATE TABLE first_table (id int);")
    (migrations / "0002_broken.sql").write_text("CREATE TABLE second_table (id int);\nSELECT no_such_column FROM x;")
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", migrations)
    with pytest.raises(psycopg.Error):
        schema.migrate(empty_url, say=lambda _: None)
    with psycopg.connect(empty_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert "first_table" in tables and "second_table" not in tables
    assert [applied for _, applied in schema.status(empty_url)] == [True, False]


def test_concurrent_migrate_calls_in_threads(empty_url: str) -> None:
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(schema.migrate(empty_url, say=lambda _: None))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 0, len(ALL)]
