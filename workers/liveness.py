"""Who is alive, asked of PostgreSQL: a job owns its task through a session advisory lock.

`JobLease` opens a dedicated connection (not from the pool: a pooled connection is shared, recycled and reset) and
takes `pg_try_advisory_lock` on the task id before the job claims anything. It keeps that session for the job's
whole life; when the process dies the kernel closes the socket and PostgreSQL drops the lock at once, so recovery
(`pg_try_advisory_lock` succeeding) knows the owner is gone — on an immediate restart too, and never while a live
job sits in a two-hour step. When the worker's machine vanishes without closing the socket, TCP keepalive on both
ends (libpq's `keepalives_*` and the server's `tcp_keepalives_*`, set for this session) bounds how long the dead
session keeps the lock: `keepalive_idle + keepalive_interval * keepalive_count` seconds (30 s by default).

A watchdog thread pings the session every `LEASE_CHECK_SECONDS`; if it was lost (server restart, failover, network
cut) it reconnects and takes the lock again, and a job waiting out a database outage does the same before it goes on
(workers/jobrun.py). If recovery took it meanwhile, the job stops as superseded (or its next guarded write fails:
the file names another task); no two jobs can both finish one file.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg

from config.settings import Settings
from repo.jobs import JobRepository

log = logging.getLogger("opentr.liveness")


class LeaseTaken(Exception):
    """Another live session holds this task: a second copy of the job (or recovery deciding its fate)."""


def keepalive_kwargs(settings: Settings) -> dict[str, Any]:
    """libpq keepalives: the client notices a dead server. The server side is set per session in `_connect`."""
    idle = settings.opentr_job_keepalive_seconds
    interval = max(1, idle // 2)
    return {
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": 3,
        "connect_timeout": 10,
    }


def open_lock_session(url: str, settings: Settings, application_name: str) -> psycopg.Connection[Any]:
    # A standby takes advisory locks too, without conflicting with the primary's: with a failover pair in the URL
    # a lock session there would let recovery run a live job twice. Only the writable host will do.
    conn = psycopg.connect(
        url,
        autocommit=True,
        application_name=application_name,
        target_session_attrs="read-write",
        **keepalive_kwargs(settings),
    )
    idle = settings.opentr_job_keepalive_seconds
    # The server's side of the same bound: without it a backend whose client vanished keeps its locks for the
    # kernel default (two hours). Ignored on Unix-domain sockets, where a dead peer is noticed at once anyway.
    conn.execute(f"SET tcp_keepalives_idle = {idle}")
    conn.execute(f"SET tcp_keepalives_interval = {max(1, idle // 2)}")
    conn.execute("SET tcp_keepalives_count = 3")
    return conn


LEASE_CHECK_SECONDS = 1.0  # how often a lease asks whether its session still answers
# How long a live job may need to take its lock again once the database is back (a check, then a reconnect).
# Maintenance gives it that long after an outage before recovery may take the lock (workers/maintenance.py).
LEASE_RETAKE_SECONDS = 3 * LEASE_CHECK_SECONDS + 2.0


class JobLease:
    """Holds the task's advisory lock for as long as the job runs (a context manager)."""

    def __init__(self, url: str, settings: Settings, task_id: str, check_every: float = LEASE_CHECK_SECONDS) -> None:
        self.url, self.settings, self.task_id = url, settings, task_id
        self.check_every = check_every
        self._conn: psycopg.Connection[Any] | None = None
        self._session = threading.Lock()  # the watchdog and the job both use the session
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.lost = False
        self._session_lost = False  # said once per loss in the log

    def __enter__(self) -> JobLease:
        self._conn = self._connect()
        if not JobRepository(self._conn).try_lock(self.task_id):
            self._conn.close()
            raise LeaseTaken(f"task {self.task_id} is owned by another live session")
        self._watchdog = threading.Thread(target=self._watch, name=f"lease-{self.task_id}", daemon=True)
        self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=self.check_every + 15)
        with self._session:
            if self._conn is not None:
                self._conn.close()  # ends the session, which releases the lock

    def retake(self) -> bool:
        """True when this job holds its lock: its session answers, or the session was lost and the lock is taken
        again on a new one. False once another session holds it (recovery took it while the session was lost).
        Raises psycopg.OperationalError while the database cannot be reached."""
        with self._session:
            if self.lost:
                return False
            try:
                assert self._conn is not None
                self._conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                if not self._session_lost:
                    log.warning("lease of %s: lock session lost; taking the lock again", self.task_id)
                self._session_lost = True
            conn = self._connect()
            if not JobRepository(conn).try_lock(self.task_id):
                conn.close()
                self.lost = True
                log.warning("lease of %s: taken over while the session was lost", self.task_id)
                return False
            old, self._conn, self._session_lost = self._conn, conn, False
            if old is not None:
                old.close()
            log.info("lease of %s: lock taken again", self.task_id)
            return True

    def _connect(self) -> psycopg.Connection[Any]:
        return open_lock_session(self.url, self.settings, f"opentr-job:{self.task_id}"[:63])

    def _watch(self) -> None:
        """A job in a long step that writes nothing still takes its lock again soon after an outage; if recovery
        took it meanwhile, the job's next guarded write fails (the subject names another task) and it stops."""
        while not self._stop.wait(self.check_every):
            try:
                if not self.retake():
                    return
            except psycopg.Error:
                continue  # the database is still away: ask again at the next check
