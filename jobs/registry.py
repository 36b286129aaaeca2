"""Kinds of background job, each declared once, read by the web (to queue and enqueue) and by workers (to run,
dispatch and recover).

A `JobKind` holds everything about one kind of job that is not its code:

- `name`: the `task_type` of its task rows (and the prefix of their ids);
- `queue` and `timeout_seconds`: the RQ queue that carries it and how long one run may take;
- `function`: the dotted path of the worker function RQ imports and calls as `function(subject_id, task_id)`
  (written in `workers/` with the run skeleton of workers/jobrun.py, which claims the subject under the task's
  advisory-lock lease and keeps that lease for the whole run; the web never imports it);
- `subject`: what it works on (a `JobSubject`, repo/jobs.py): its own SQL tells the outbox dispatcher which tasks
  still wait for a job and tells recovery which ones claim a live owner;
- `recover`: what recovery does, in one transaction, with a task whose owner died. There is no default: a kind
  without a recovery action cannot be declared, so no task of it is ever silently closed with its subject left
  running;
- `progress`: the notification kind its outcome is shown under (repo/notifications.py; its progress on the way is
  announced live to the owner's pages, never stored as a notification).

`declare(kind)` adds it to the registry (two kinds with one name fail at import). Adding a kind is one declaration
(here in `jobs/`), its function (in `workers/`) and its subject's SQL; recovery and the dispatcher iterate the
registry, so they need no change.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from jobs.queues import ALL_QUEUES
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.jobs import JobSubject
from repo.tasks import TaskRepository

log = logging.getLogger("opentr.jobs")
DEAD_OWNER = "the worker running this job stopped"


@dataclass(frozen=True, slots=True)
class DeadJob:
    """A claimed task whose owner is gone (recovery holds its advisory lock); `subject_id` None: subject deleted."""

    task_id: str
    subject_id: int | None


class Outcome(StrEnum):
    REQUEUED = "requeued"  # queued again under a new task (enqueued after recovery's commit)
    GIVEN_UP = "given up"  # failed for good: its retries are spent
    CANCELLED = "cancelled"  # the user's cancellation, which the dead job had not finished
    FAILED = "failed"  # the subject ends failed, telling its owner to ask again
    CLOSED = "closed"  # the subject had moved on or is gone: only the task was left open
    # The owner was alive and ended the task between recovery's read of it and its lock: nothing was dead, nothing
    # is reported (a job of a second or less, such as an embedding without its model, ends in that window often).
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class Queued:
    """A task written in a transaction, to enqueue once that transaction has committed."""

    kind: JobKind
    subject_id: int
    task_id: str

    def enqueue(self, redis: Redis) -> bool:
        return self.kind.enqueue(redis, self.subject_id, self.task_id)


@dataclass(frozen=True, slots=True)
class Recovered:
    outcome: Outcome
    then: Queued | None = None


Recover = Callable[[Connection, DeadJob], Recovered]


@dataclass(frozen=True, kw_only=True)
class JobKind:
    name: str
    queue: str
    function: str
    subject: JobSubject
    recover: Recover
    progress: str
    timeout_seconds: int

    def __post_init__(self) -> None:
        where = f"job kind {self.name!r}"
        if not callable(self.recover):
            raise TypeError(f"{where}: recover must be a function (what recovery does when the owner died)")
        if self.queue not in ALL_QUEUES:
            raise ValueError(f"{where}: unknown queue {self.queue!r}; expected one of {ALL_QUEUES}")
        module, _, function = self.function.rpartition(".")
        if not module or not function.isidentifier():
            raise ValueError(f"{where}: function must be a dotted path such as 'workers.module.function'")
        if self.timeout_seconds <= 0:
            raise ValueError(f"{where}: timeout_seconds must be positive")

    def create_task(self, conn: Connection, user_id: int, media_file_id: int | None, task_id: str | None = None) -> str:
        """A pending task of this kind in the caller's transaction; returns its id (the RQ job id too)."""
        task_id = task_id or f"{self.name}-{uuid.uuid4().hex}"
        TaskRepository(conn).create(task_id, user_id, media_file_id, self.name)
        return task_id

    def enqueue(self, redis: Redis, subject_id: int, task_id: str) -> bool:
        """After the commit; False (and a warning) when Redis refused: the dispatcher enqueues it later.

        No RQ retries: a failed or lost job is found by recovery through its task row and advisory lock, which
        needs no scheduler process and no clock."""
        try:
            Queue(self.queue, connection=redis).enqueue(
                self.function,
                subject_id,
                task_id,
                job_id=task_id,
                job_timeout=self.timeout_seconds,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
            )
        except RedisError as exc:
            log.warning("could not enqueue %s (%s); the dispatcher will retry it", task_id, exc)
            return False
        return True


_declared: dict[str, JobKind] = {}


def declare(kind: JobKind) -> JobKind:
    """Register `kind`; another kind of the same name is an error at import."""
    existing = _declared.setdefault(kind.name, kind)
    if existing is not kind:
        raise ValueError(f"job kind {kind.name!r} is declared twice ({existing.function} and {kind.function})")
    return kind


def declared() -> tuple[JobKind, ...]:
    """Every kind declared in this process so far (import jobs.kinds first for the project's own)."""
    return tuple(_declared.values())


def close_task(conn: Connection, task_id: str) -> Recovered:
    """For a recovery action whose subject moved on or is gone: only the dead task is left to end."""
    with ignoring_gone():
        TaskRepository(conn).fail(task_id, DEAD_OWNER)
    return Recovered(Outcome.CLOSED)


@contextlib.contextmanager
def ignoring_gone() -> Iterator[None]:
    """For bookkeeping on rows that another actor may have moved on or deleted meanwhile."""
    with contextlib.suppress(Conflict, NotFound):
        yield
