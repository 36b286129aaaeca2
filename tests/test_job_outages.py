"""What background work counts as "the database is unavailable" (jobs/outages.py; the run skeleton of
workers/jobrun.py waits and runs the job again): never a verdict on its subject. Errors made by a real server and a
real pool."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg

from config.settings import Settings
from jobs.outages import database_unavailable
from repo.database import Database
from repo.errors import Contention, Invalid, NotFound, Unavailable


def test_a_pool_that_cannot_hand_out_a_connection_is_unavailable(fresh_url: str, settings: Settings) -> None:
    tight = settings.model_copy(update={"db_pool_min": 0, "db_pool_max": 1, "db_pool_timeout": 0.2})
    with Database(fresh_url, tight) as db, db.pool.connection(), pytest.raises(Unavailable) as raised:
        db.run(lambda conn: conn.execute("SELECT 1"))  # the one connection is taken
    assert database_unavailable(raised.value)


def test_a_lost_connection_is_unavailable(fresh_url: str) -> None:
    with psycopg.connect(fresh_url, autocommit=True) as victim, psycopg.connect(fresh_url, autocommit=True) as admin:
        pid = victim.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(psycopg.OperationalError) as raised:
            victim.execute("SELECT 1")
    assert database_unavailable(raised.value)


def test_a_statement_timeout_is_not_an_outage(db: Database) -> None:
    """The same statement would time out again: waiting for the database would wait forever."""
    with pytest.raises(pg.QueryCanceled) as raised, db.transaction() as conn:
        conn.execute("SET LOCAL statement_timeout = 50")
        conn.execute("SELECT pg_sleep(1)")
    assert not database_unavailable(raised.value)
    translated = Unavailable("the database took too long to answer")  # what repo/statements.py makes of it
    translated.__cause__ = raised.value
    assert not database_unavailable(translated)


def test_contention_waits_and_the_subjects_own_errors_do_not() -> None:
    assert database_unavailable(Contention("the data changed concurrently; try again"))
    assert not database_unavailable(Invalid("start_time is out of range", "start_time"))
    assert not database_unavailable(NotFound("file not found"))
    wrapped = RuntimeError("engine failed")
    wrapped.__cause__ = Unavailable("the database connection was lost")
    assert database_unavailable(wrapped)  # raised from it, e.g. by a progress callback inside an engine
