"""`probe`: a kind of job declared only here, with its own SQL (tests/job_probe.sql) and its own table, to prove
that a kind is one declaration plus its function and its SQL: the project's dispatcher, run skeleton and recovery
handle it without knowing it exists (tests/test_job_registry.py). A worker learns of it by importing this module.

Its work waits until the test sets `released`, so the test can kill the worker while it runs. Its recovery runs it
again under a new task, as a stage re-run or an index update would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from jobs.queues import MEDIA
from jobs.registry import DEAD_OWNER, DeadJob, JobKind, Outcome, Queued, Recovered, close_task, declare
from repo import queries
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict
from repo.jobs import JobSubject
from repo.tasks import TaskRepository
from workers.jobrun import Failure, JobBody, JobRun, job_function

queries.load_outside(Path(__file__).with_suffix(".sql"), "job_probe")


@dataclass(frozen=True, slots=True)
class ProbeItem:
    id: int
    user_id: int
    task_id: str
    status: str


_start = s.rowcount("job_probe.start")
_released = s.scalar("job_probe.released", bool)
_finish = s.rowcount("job_probe.finish")
_lock = s.one_or_none("job_probe.lock", ProbeItem)
_requeue = s.rowcount("job_probe.requeue")


def _recover(conn: Connection, dead: DeadJob) -> Recovered:
    item = None if dead.subject_id is None else _lock(conn, id=dead.subject_id)
    if item is None or item.task_id != dead.task_id or item.status != "running":
        return close_task(conn, dead.task_id)
    TaskRepository(conn).fail(dead.task_id, DEAD_OWNER)
    task_id = PROBE.create_task(conn, item.user_id, None)
    _requeue(conn, id=item.id, task_id=task_id)
    return Recovered(Outcome.REQUEUED, Queued(PROBE, item.id, task_id))


PROBE = declare(
    JobKind(
        name="probe",
        queue=MEDIA,
        function="tests.job_probe.run_probe",
        subject=JobSubject("job_probe"),
        recover=_recover,
        progress="processing",
        timeout_seconds=300,
    )
)


class Probe(JobBody[int]):
    kind = PROBE

    def claim(self, run: JobRun, conn: Connection) -> int:
        if not _start(conn, id=run.subject_id, task_id=run.task_id):
            raise Conflict(f"probe item {run.subject_id} is not queued for {run.task_id}")
        return run.subject_id

    def work(self, run: JobRun, job: int) -> None:
        while True:
            with run.db.transaction() as conn:
                if _released(conn, id=job):
                    _finish(conn, id=job, task_id=run.task_id, status="done")
                    TaskRepository(conn).complete(run.task_id)
                    return
            time.sleep(0.05)

    def fail(self, run: JobRun, job: int, failure: Failure) -> None:
        with run.db.transaction() as conn:
            _finish(conn, id=job, task_id=run.task_id, status="failed")
            TaskRepository(conn).fail(run.task_id, failure.message)


run_probe = job_function(Probe())
