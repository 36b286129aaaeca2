"""The run skeleton every kind of job shares: lease, claim, work, and what a failure means, decided once.

`job_function(body)` turns a `JobBody` (one kind's claim, work and failure handling) into the function RQ calls as
`function(subject_id, task_id)`: the dotted path its declaration names (jobs/registry.py). Every run

1. takes the task's advisory-lock lease (workers/liveness.py) and keeps it to the end; a second copy of the job finds
   the lease taken and does nothing;
2. claims its subject and starts its task in one transaction (the body's `claim`, then the task: the lock order of
   sql/jobs.sql); a subject that no longer waits for this task ends the task `cancelled` and the run `skipped`;
3. runs the body's `work`, which must be safe to run again from its start with the same claim;
4. decides what an exception means:
   - the database unavailable (jobs/outages.py: no pool connection within DB_POOL_TIMEOUT, a lost connection, an
     outage, a failover, contention that outlasted its retries): never a verdict on the subject. The run waits until the
     database answers and its lease is held again, then runs `work` again from its start, spending none of the
     subject's retries. If another session took the lease meanwhile (recovery decided), the run stops;
   - the media storage unavailable (storage/backend.py's `StorageUnavailable`: the object store unreachable or
     failing after boto3's retries): not a verdict on the subject either. The run asks the store once every few
     seconds (`Storage.check`) and runs `work` again from its start when it answers, spending none of the
     subject's retries;
   - `JobSuperseded`: the subject moved on without this job; nothing more is written;
   - `JobCancelled`: the body's `cancelled` cleans up;
   - `JobFailed`, or an exception type the body lists in `expected` (bad input, a model missing, a provider
     refusing): the body's `fail` records it with its category and the run ends `failed`;
   - anything else: recorded the same way as `internal`, then re-raised so that RQ keeps the traceback.
   The claim and these writes are retried the same way while the database is unavailable.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from jobs.outages import database_unavailable
from jobs.registry import JobKind, ignoring_gone
from repo.database import Connection, Database
from repo.errors import Conflict, NotFound
from repo.notifications import NotificationRepository
from repo.rows import Actor
from repo.tasks import TaskRepository
from storage.backend import StorageUnavailable
from workers.context import JobContext, job_context
from workers.liveness import JobLease, LeaseTaken
from workers.steps import JobCancelled, JobSuperseded

log = logging.getLogger("opentr.jobs")
J = TypeVar("J")
T = TypeVar("T")
FIRST_WAIT_SECONDS, LONGEST_WAIT_SECONDS = 0.2, 2.0


class JobFailed(Exception):
    """The job cannot succeed with this input; `message` is what its owner is told."""

    def __init__(self, message: str, category: str = "input") -> None:
        super().__init__(message)
        self.message, self.category = message, category


@dataclass(frozen=True)
class Failure:
    category: str
    message: str
    error: BaseException


@dataclass
class JobRun:
    """One run of one kind of job: what its body reads and writes through."""

    kind: JobKind
    context: JobContext
    subject_id: int
    task_id: str
    lease: JobLease

    @property
    def db(self) -> Database:
        return self.context.db

    def notify(
        self,
        conn: Connection,
        user_id: int,
        title: str,
        message: str = "",
        *,
        kind: str | None = None,
        progress: float | None = None,
        media_file_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """A notification of this run's outcome, under the kind's declared kind unless told otherwise (its progress
        goes through `report`: live, not stored)."""
        NotificationRepository(conn).notify(
            user_id,
            kind or self.kind.progress,
            title,
            message,
            data={"task_id": self.task_id} if data is None else data,
            progress=progress,
            media_file_id=media_file_id,
            task_id=self.task_id,
        )

    def report(
        self, conn: Connection, user_id: int, progress: float, title: str, media_file_id: int | None = None
    ) -> None:
        """Progress: the task's fraction, announced live to the owner's pages, in the caller's transaction."""
        TaskRepository(conn).heartbeat(self.task_id, progress)
        NotificationRepository(conn).progress(user_id, title, progress, media_file_id, self.task_id)

    def durably(self, write: Callable[[], T]) -> T:
        """`write()`, run again after waiting for the database as long as the database is unavailable."""
        while True:
            try:
                return write()
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                self.wait_for_database(exc)

    def wait_for_database(self, cause: BaseException) -> None:
        """Return once the database answers and this run's lease is held again; JobSuperseded when another
        session took the lease meanwhile."""
        log.warning("%s: the database is unavailable (%s); waiting for it", self.task_id, _first_line(cause))

        def answers() -> bool:
            try:
                with self.db.transaction() as conn:
                    conn.execute("SELECT 1")
                held = self.lease.retake()
            except Exception as exc:
                if database_unavailable(exc):
                    return False
                raise
            if not held:
                raise JobSuperseded(f"{self.task_id} was taken over while the database was unavailable")
            return True

        _wait_until(answers)
        log.warning("%s: the database answers again; going on", self.task_id)

    def wait_for_storage(self, cause: StorageUnavailable) -> None:
        """Return once the media storage answers again (the database and this run's lease are untouched by its
        outage: the lease's session stays open meanwhile)."""
        log.warning("%s: %s; waiting for it", self.task_id, _first_line(cause))

        def answers() -> bool:
            try:
                self.context.storage.check()
            except StorageUnavailable:
                return False
            return True

        _wait_until(answers)
        log.warning("%s: the media storage answers again; going on", self.task_id)


def _wait_until(answers: Callable[[], bool]) -> None:
    """Ask `answers()` after 0.2 s, then at doubling intervals up to 2 s, until it says yes."""
    delay = FIRST_WAIT_SECONDS
    while True:
        time.sleep(delay)
        delay = min(delay * 2, LONGEST_WAIT_SECONDS)
        if answers():
            return


class JobBody(ABC, Generic[J]):
    """One kind's code: `claim`, `work`, `fail` (`started` to announce it, `cancelled` for kinds a user can cancel)."""

    kind: ClassVar[JobKind]
    expected: ClassVar[Mapping[type[Exception], str]] = {}  # failures of the input, by category
    # Row-level security: the run acts for its file's owner (its profiles, its settings), or, when False or the
    # task has no file, for the user who started the task (a summary uses its requester's LLM configuration).
    acts_as_file_owner: ClassVar[bool] = True

    @abstractmethod
    def claim(self, run: JobRun, conn: Connection) -> J:
        """Take the subject for this run in the claim's transaction (the task starts after it); raise Conflict or
        NotFound when it no longer waits for this task."""

    def started(self, run: JobRun, conn: Connection, job: J) -> None:
        """In the claim's transaction once the task has started: say so (notifications come last in the lock
        order)."""

    @abstractmethod
    def work(self, run: JobRun, job: J) -> None:
        """Everything after the claim, to the subject's final state; it may be run again from its start."""

    @abstractmethod
    def fail(self, run: JobRun, job: J, failure: Failure) -> None:
        """Record the failure on the subject and end the task `failed` (its own transaction)."""

    def cancelled(self, run: JobRun, job: J) -> None:
        raise NotImplementedError(f"{self.kind.name} jobs cannot be cancelled")

    def failure(self, exc: Exception) -> Failure:
        if isinstance(exc, JobFailed):
            return Failure(exc.category, exc.message, exc)
        category = next((c for kind, c in self.expected.items() if isinstance(exc, kind)), "internal")
        return Failure(category, str(exc) or type(exc).__name__, exc)


def job_function(body: JobBody[Any]) -> Callable[[int, str], str]:
    """The function RQ calls for `body.kind`; assign it to the name the declaration's `function` path ends with."""
    module, _, name = body.kind.function.rpartition(".")

    def run_job(subject_id: int, task_id: str) -> str:
        return run(body, subject_id, task_id)

    run_job.__module__, run_job.__name__, run_job.__qualname__ = module, name, name
    run_job.__doc__ = f"Run one `{body.kind.name}` job (workers/jobrun.py)."
    run_job.kind = body.kind  # type: ignore[attr-defined]
    return run_job


def run(body: JobBody[J], subject_id: int, task_id: str) -> str:
    context = job_context()
    try:
        with JobLease(context.database_url, context.settings, task_id) as lease:
            job_run = JobRun(body.kind, context, subject_id, task_id, lease)
            try:
                actor = job_run.durably(lambda: _acting_user(body, job_run))
            except NotFound:
                return _run(body, job_run)  # the task is gone: the claim finds that out, as the system
            with context.db.acting(actor):
                return _run(body, job_run)
    except LeaseTaken:
        log.info("%s: another live copy of this job owns it; nothing to do", task_id)
        return "skipped"


def _run(body: JobBody[J], run: JobRun) -> str:
    try:
        job = run.durably(lambda: _claim(body, run))
    except (Conflict, NotFound):
        run.durably(lambda: _cancel_task(run))
        log.info("%s: %s %s is not waiting for this job; nothing to do", run.task_id, body.kind.name, run.subject_id)
        return "skipped"
    except JobSuperseded:
        return "superseded"
    while True:
        try:
            body.work(run, job)
            return "completed"
        except JobSuperseded:
            log.info("%s: %s %s moved on without this job", run.task_id, body.kind.name, run.subject_id)
            return "superseded"
        except JobCancelled:
            return _after(run, lambda: body.cancelled(run, job), "cancelled")
        except Exception as exc:
            outage = _storage_outage(exc)
            if outage is not None:
                run.wait_for_storage(outage)
                log.warning("%s: running the %s job again after the storage came back", run.task_id, body.kind.name)
                continue
            if not database_unavailable(exc):
                return _failed(body, run, job, exc)
            try:
                run.wait_for_database(exc)
            except JobSuperseded:
                return "superseded"
            log.warning("%s: running the %s job again after the database came back", run.task_id, body.kind.name)


def _acting_user(body: JobBody[J], run: JobRun) -> Actor:
    """Whom the run acts for (row-level security: it sees what that user sees), read as the system."""
    with run.db.acting_as_system(), run.db.transaction() as conn:
        return Actor(TaskRepository(conn).acting_user(run.task_id, file_owner=body.acts_as_file_owner))


def _claim(body: JobBody[J], run: JobRun) -> J:
    with run.db.transaction() as conn:
        job = body.claim(run, conn)
        TaskRepository(conn).start(run.task_id)
        body.started(run, conn, job)
        return job


def _cancel_task(run: JobRun) -> None:
    with run.db.transaction() as conn, ignoring_gone():
        TaskRepository(conn).cancel(run.task_id)


def _failed(body: JobBody[J], run: JobRun, job: J, exc: Exception) -> str:
    failure = body.failure(exc)
    log.warning("%s failed (%s): %s", run.task_id, failure.category, failure.message)
    outcome = _after(run, lambda: body.fail(run, job, failure), "failed")
    if failure.category == "internal":
        raise exc  # RQ keeps the traceback; the subject already says what went wrong
    return outcome


def _after(run: JobRun, write: Callable[[], None], outcome: str) -> str:
    try:
        run.durably(write)
    except JobSuperseded:
        return "superseded"
    return outcome


def _storage_outage(exc: BaseException) -> StorageUnavailable | None:
    """The StorageUnavailable behind `exc` (itself, or its explicit cause), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StorageUnavailable):
            return seen
        seen = seen.__cause__
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
