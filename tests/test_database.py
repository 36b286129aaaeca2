from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from config.settings import Settings
from repo.database import Database
from repo.errors import Unavailable


def _count(db: Database) -> int:
    with db.transaction() as conn:
        row = conn.execute("SELECT count(*) FROM tags").fetchone()
    assert row is not None
    return int(row[0])


def _all_returned(db: Database) -> bool:
    """Every connection is back in the pool; waits briefly, as the pool may still be opening one it was asked for."""
    deadline = time.monotonic() + 3
    while True:
        stats = db.stats()
        if stats.get("pool_available", 0) == stats.get("pool_size", -1):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def test_commit_on_success(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO tags (name) VALUES ('kept')")
    assert _count(db) == 1
    assert _all_returned(db)


def test_rollback_on_exception(db: Database) -> None:
    with pytest.raises(ZeroDivisionError), db.transaction() as conn:
        conn.execute("INSERT INTO tags (name) VALUES ('lost')")
        _ = 1 / 0
    assert _count(db) == 0
    assert _all_returned(db)


def test_nested_savepoint_rollback_keeps_the_outer_work(db: Database) -> None:
    with db.transaction() as outer:
        outer.execute("INSERT INTO tags (name) VALUES ('outer')")
        with pytest.raises(RuntimeError), db.transaction() as inner:
            assert inner is outer
            inner.execute("INSERT INTO tags (name) VALUES ('inner')")
            raise RuntimeError("undo the inner block only")
        with db.transaction() as inner_ok:
            inner_ok.execute("INSERT INTO tags (name) VALUES ('inner ok')")
    with db.transaction() as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM tags")}
    assert names == {"outer", "inner ok"}
    assert _all_returned(db)


def test_a_database_error_rolls_back_and_returns_the_connection(db: Database) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable), db.transaction() as conn:
        conn.execute("INSERT INTO tags (name) VALUES ('x')")
        conn.execute("SELECT * FROM no_such_table")
    assert _count(db) == 0
    with db.transaction() as conn:  # the returned connection is clean and usable
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert _all_returned(db)


def test_serialization_failure_is_retried(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute("CREATE TABLE counter (n int)")
        conn.execute("INSERT INTO counter VALUES (0)")
    both_read = threading.Barrier(2, timeout=10)
    attempts: list[int] = []

    def increment(conn: psycopg.Connection[Any]) -> None:
        attempts.append(1)
        row = conn.execute("SELECT n FROM counter").fetchone()
        assert row is not None
        if len(attempts) <= 2:
            both_read.wait()  # make the first two attempts overlap: one of them must fail to serialize
        conn.execute("UPDATE counter SET n = %s", [row[0] + 1])

    threads = [
        threading.Thread(target=db.run, args=(increment,), kwargs={"isolation": "serializable"}) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.transaction() as conn:
        assert conn.execute("SELECT n FROM counter").fetchone() == (2,)
    assert db.retries >= 1 and len(attempts) >= 3
    assert _all_returned(db)


def test_read_only_transaction_refuses_writes(db: Database) -> None:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), db.transaction(read_only=True) as conn:
        conn.execute("INSERT INTO tags (name) VALUES ('no')")


def test_pool_timeout_is_unavailable(fresh_url: str, settings: Settings) -> None:
    tight = settings.model_copy(update={"db_pool_timeout": 0.3})
    with Database(fresh_url, tight, min_size=1, max_size=1) as db, db.transaction():
        done: list[BaseException] = []

        def other_thread() -> None:
            try:
                with db.transaction():
                    pass
            except BaseException as exc:
                done.append(exc)

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert isinstance(done[0], Unavailable)


def test_statement_timeout_applies_to_every_connection(fresh_url: str, settings: Settings) -> None:
    quick = settings.model_copy(update={"db_statement_timeout": 100})
    with Database(fresh_url, quick) as db, db.transaction() as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("100ms",)
        assert conn.execute("SHOW application_name").fetchone() == ("opentr",)


def test_a_database_cannot_cross_a_fork(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "pid", -1)
    with pytest.raises(RuntimeError, match="fork"), db.transaction():
        pass
