"""Recovery: work whose owner died (process killed, machine gone) ends as its kind's declaration says.

A claimed task's owner is alive exactly while it holds the task's advisory lock (workers/liveness.py), so recovery
asks PostgreSQL with `pg_try_advisory_lock`: taken → the owner is dead (or finished between the two reads; the
guarded re-read inside the transaction tells) and this recovery alone now decides that task; refused → a live job
or another worker's recovery has it, and it is left alone. No threshold, no clock: a job inside a two-hour step is
never touched, and a job killed a moment ago is recovered at once.

Which tasks claim an owner, and what happens to one whose owner died, is each kind's business (jobs/registry.py:
its subject's `jobs_claimed` SQL, its `recover` action); this module only iterates the registry. A task of a kind
this process does not declare (a newer release's, during a rolling upgrade) is never read, so never closed.

Each task is recovered in its own transaction (its action takes row locks in the order of sql/jobs.sql), and a
failure there, or in one kind's SQL, is logged and skipped: recovery never crashes the worker that runs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from redis import Redis
from redis.exceptions import RedisError

from jobs.kinds import all_kinds
from jobs.outages import database_unavailable
from jobs.registry import DEAD_OWNER, DeadJob, JobKind, Outcome, Recovered
from repo.database import Database
from repo.jobs import ClaimedJob, JobRepository

__all__ = ["DEAD_OWNER", "RecoveryReport", "recover"]
log = logging.getLogger("opentr.recovery")


@dataclass(frozen=True)
class RecoveredTask:
    kind: str
    task_id: str
    subject_id: int | None
    outcome: Outcome

    def __str__(self) -> str:
        return f"{self.kind} {self.task_id} {self.outcome}"


@dataclass
class RecoveryReport:
    recovered: list[RecoveredTask] = field(default_factory=list)
    errors: int = 0

    def __bool__(self) -> bool:
        return bool(self.recovered)

    def __str__(self) -> str:
        failed = f"; {self.errors} could not be recovered (see above)" if self.errors else ""
        return ", ".join(str(task) for task in self.recovered) + failed

    def subjects(self, outcome: Outcome) -> list[int]:
        return [t.subject_id for t in self.recovered if t.outcome == outcome and t.subject_id is not None]

    @property
    def requeued(self) -> list[int]:
        return self.subjects(Outcome.REQUEUED)

    @property
    def closed_tasks(self) -> list[str]:
        """Every dead task this pass ended (whatever became of its subject)."""
        return [t.task_id for t in self.recovered]


def recover(db: Database, lock_session: psycopg.Connection[Any], redis: Redis | None) -> RecoveryReport:
    """One pass over every claimed task of every declared kind; `lock_session` is an autocommit connection of the
    caller's own. Raises only when the database (or the lock session) is unavailable as a whole."""
    report = RecoveryReport()
    locks = JobRepository(lock_session)
    for kind, job in _claimed(db, report):
        if not locks.try_lock(job.task_id):
            continue
        try:
            done = _recover(db, kind, job)
        except Exception as exc:  # one bad row must not stop recovery of the others, nor the worker
            report.errors += 1
            log.warning("recovery of %s failed: %s: %s", job.task_id, type(exc).__name__, exc)
            continue
        finally:
            locks.unlock(job.task_id)
        if done.outcome is Outcome.FINISHED:
            continue
        report.recovered.append(RecoveredTask(kind.name, job.task_id, job.subject_id, done.outcome))
        if done.then is not None and redis is not None:
            try:
                done.then.enqueue(redis)
            except RedisError:  # the task row is pending: the dispatcher enqueues it when Redis is back
                log.info("recovery: %s waits for Redis", done.then.task_id)
    if report or report.errors:
        log.warning("recovery: %s", report)
    return report


def _claimed(db: Database, report: RecoveryReport) -> list[tuple[JobKind, ClaimedJob]]:
    claimed: list[tuple[JobKind, ClaimedJob]] = []
    with db.transaction() as conn:
        for kind in all_kinds():
            try:
                with conn.transaction():  # a savepoint: one kind's broken SQL leaves the others readable
                    claimed.extend((kind, job) for job in kind.subject.claimed(conn, kind.name))
            except Exception as exc:
                if database_unavailable(exc):
                    raise  # the database itself is away: the caller says so once
                report.errors += 1
                log.warning("recovery: cannot read %s jobs: %s: %s", kind.name, type(exc).__name__, exc)
    return claimed


def _recover(db: Database, kind: JobKind, job: ClaimedJob) -> Recovered:
    with db.transaction() as conn:
        return kind.recover(conn, DeadJob(job.task_id, job.subject_id))
