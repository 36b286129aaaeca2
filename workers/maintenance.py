"""Periodic work every worker does: recovery of dead jobs, the outbox dispatcher, and queueing the retention run.

It runs in a thread of `opentr worker`'s supervising process, at start and every `OPENTR_MAINTENANCE_SECONDS`,
independent of any RQ job or scheduler (a job that re-schedules itself is lost with its id or with Redis). Several
workers may run it at the same moment: recovery decides each task under its advisory lock and re-reads it under a
row lock, and dispatching twice only enqueues a copy that finds nothing to do.

Outages are states, not errors: one log line when the database or Redis goes away, one when it is back. After a
database outage, recovery resumes `LEASE_RETAKE_SECONDS` later: the outage ended the live jobs' lock sessions too,
and each takes its lock again within that time (workers/liveness.py), so a job that waited the outage out is not
mistaken for a dead one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from redis import Redis

from config.settings import Settings
from jobs.dispatch import dispatch_pending
from jobs.queues import redis_connection
from jobs.retention import enqueue_retention, queue_retention
from repo.database import Database
from workers.liveness import LEASE_RETAKE_SECONDS, open_lock_session
from workers.recovery import RecoveryReport, recover

log = logging.getLogger("opentr.maintenance")


class Maintenance:
    def __init__(self, settings: Settings, database_url: str, redis_url: str) -> None:
        self.settings, self.database_url, self.redis_url = settings, database_url, redis_url
        self.db = Database(database_url, settings, application_name="opentr-maintenance", min_size=0, max_size=2)
        self._session: psycopg.Connection[Any] | None = None
        self._down: dict[str, str] = {}
        self._recover_after = 0.0  # time.monotonic(); after an outage, live jobs take their locks again first
        # The first retention run comes one interval after the start: a worker in a restart loop must not start a
        # deletion pass each time (`opentr retention run` runs one at once). The database then keeps the interval
        # across all workers (jobs/retention.py).
        self._retention_after = time.monotonic() + settings.opentr_retention_interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def run_once(self) -> RecoveryReport | None:
        """One pass; never raises (a worker must outlive its database and its Redis)."""
        self.passes += 1
        redis = redis_connection(self.redis_url)
        report: RecoveryReport | None = None
        try:
            if "database" in self._down or time.monotonic() < self._recover_after:
                with self.db.transaction() as conn:
                    conn.execute("SELECT 1")  # is it back? Recovery waits one pass more (see _available)
            else:
                report = recover(self.db, self._lock_session(), redis)
            self._available("database")
        except Exception as exc:
            self._unavailable("database", exc)
            return None
        try:
            dispatch_pending(self.db, redis)
            if time.monotonic() >= self._retention_after:
                self.queue_retention(redis)
            self._available("redis")
        except Exception as exc:
            self._unavailable("redis" if "redis" in type(exc).__module__ else "database", exc)
        return report

    def queue_retention(self, redis: Redis) -> bool:
        """Queue a retention run when none waits or runs and the last is OPENTR_RETENTION_INTERVAL_SECONDS old
        (jobs/retention.py); True when one was queued. A Redis refusal leaves it to the dispatcher."""
        with self.db.acting_as_system(), self.db.transaction() as conn:
            queued = queue_retention(conn, self.settings.opentr_retention_interval_seconds)
        enqueue_retention(redis, queued)
        return queued is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="opentr-maintenance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._drop_session()
        self.db.close()

    def _loop(self) -> None:
        self.run_once()
        while not self._stop.wait(self.settings.opentr_maintenance_seconds):
            self.run_once()

    def _lock_session(self) -> psycopg.Connection[Any]:
        if self._session is None or self._session.closed:
            self._session = open_lock_session(self.db.direct_url, self.settings, "opentr-maintenance-locks")
        return self._session

    def _drop_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _unavailable(self, what: str, exc: Exception) -> None:
        if what == "database":
            # Whichever step noticed it (the dispatcher too), the lock session went with the server: keeping it
            # would fail the first recovery after the outage and start the wait for live jobs' locks over.
            self._drop_session()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if what not in self._down:
            log.warning("maintenance: %s unavailable (%s); retrying every %g s", what, reason, self._interval)
        self._down[what] = reason

    def _available(self, what: str) -> None:
        if self._down.pop(what, None) is None:
            return
        if what == "database":
            # The outage ended every session, the live jobs' lock sessions too: until each job has taken its lock
            # again, its task would look dead, and recovering it would spend one of its file's retries on an
            # outage. A live job does so within LEASE_RETAKE_SECONDS of the database answering.
            self._recover_after = time.monotonic() + LEASE_RETAKE_SECONDS
            log.warning("maintenance: database available again; recovery resumes in %g s", LEASE_RETAKE_SECONDS)
        else:
            log.warning("maintenance: %s available again", what)

    @property
    def _interval(self) -> float:
        return self.settings.opentr_maintenance_seconds
