"""Who is alive, asked of PostgreSQL: a job owns its task through a session advisory lock.

`JobLease` opens a dedicated connection (not from the pool: a pooled connection is shared, recycled and reset) and
takes `pg_try_advisory_lock` on the task id before the job claims anything. It keeps that session for the job's
whole life; when the process dies the kernel closes the socket and PostgreSQL drops the lock at once, so recovery
(`pg_try_advisory_lock` succeeding) knows the owner is gone — on an immediate restart too, and never while a live
job sits in a two-hour step. When the worker's machine vanishes without closing the socket, TCP keepalive on both
ends (libpq's `keepalives_*` and the server's `tcp_keepalives_*`, set for this session) bounds how long the dead
session keeps the lock: `keepalive_idle + keepalive_interval * keepalive_count` seconds (30 s by default).

A watchdog thread pings the session; if it was lost (server restart, network cut) it reconnects and takes the
lock again. If recovery took it meanwhile, the job's next guarded write fails (the file names another task) and the
job stops as superseded; no two jobs can both finish one file.
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
    conn = psycopg.connect(url, autocommit=True, application_name=application_name, **keepalive_kwargs(settings))
    idle = settings.opentr_job_keepalive_seconds
    # The server's side of the same bound: without it a backend whose client vanished keeps its locks for the
    # kernel default (two hours). Ignored on Unix-domain sockets, where a dead peer is noticed at once anyway.
    conn.execute(f"SET tcp_keepalives_idle = {idle}")
    conn.execute(f"SET tcp_keepalives_interval = {max(1, idle // 2)}")
    conn.execute("SET tcp_keepalives_count = 3")
    return conn


class JobLease:
    """Holds the task's advisory lock for as long as the job runs (a context manager)."""

    def __init__(self, url: str, settings: Settings, task_id: str, check_every: float = 5.0) -> None:
        self.url, self.settings, self.task_id = url, settings, task_id
        self.check_every = check_every
        self._conn: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.lost = False

    def __enter__(self) -> JobLease:
        self._conn = open_lock_session(self.url, self.settings, f"opentr-job:{self.task_id}"[:63])
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
        if self._conn is not None:
            self._conn.close()  # ends the session, which releases the lock

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every):
            try:
                assert self._conn is not None
                self._conn.execute("SELECT 1")
                continue
            except Exception:
                log.warning("lease of %s: lock session lost; reconnecting", self.task_id)
            self._reacquire()
            if self.lost:
                return

    def _reacquire(self) -> None:
        while not self._stop.is_set():
            try:
                conn = open_lock_session(self.url, self.settings, f"opentr-job:{self.task_id}"[:63])
            except psycopg.Error:
                if self._stop.wait(1.0):
                    return
                continue
            if JobRepository(conn).try_lock(self.task_id):
                old, self._conn = self._conn, conn
                if old is not None:
                    old.close()
                log.info("lease of %s: lock taken again", self.task_id)
            else:  # recovery took it while we were away; the job's next guarded write tells it to stop
                conn.close()
                self.lost = True
                log.warning("lease of %s: taken over while the session was lost", self.task_id)
            return
