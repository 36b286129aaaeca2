"""Job ownership (session advisory locks) and job subjects: the queries behind the outbox dispatcher and recovery.

See sql/jobs.sql for why a lock, not a heartbeat, tells whether a job's owner is alive, and for the lock order
that jobs and recovery share.

A `JobSubject` is what a kind of job works on (a media file, a summary, a URL import), declared next to its
domain's other bindings. Its SQL lives in the domain's own file as two queries, each taking the kind's name as
`%(task_type)s` (a subject may serve several kinds) and a `%(limit)s`, and answering `task_id, subject_id`:

- `jobs_waiting :many`: pending tasks of the kind whose subject still waits for them (the outbox dispatcher
  enqueues those RQ does not hold);
- `jobs_claimed :many`: work of the kind that claims a live owner (recovery takes each one's advisory lock to see
  whether that owner died). `subject_id` is NULL when the subject is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from repo import statements as s
from repo.database import Connection


@dataclass(frozen=True, slots=True)
class WaitingJob:
    task_id: str
    subject_id: int


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    task_id: str
    subject_id: int | None


class JobSubject:
    """The two queries of `<namespace>.sql` that find a subject's waiting and claimed work (module docstring)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._waiting = s.many(f"{namespace}.jobs_waiting", WaitingJob)
        self._claimed = s.many(f"{namespace}.jobs_claimed", ClaimedJob)

    def waiting(self, conn: Connection, task_type: str, limit: int = 500) -> list[WaitingJob]:
        return self._waiting(conn, task_type=task_type, limit=limit)

    def claimed(self, conn: Connection, task_type: str, limit: int = 500) -> list[ClaimedJob]:
        return self._claimed(conn, task_type=task_type, limit=limit)

    def __repr__(self) -> str:
        return f"JobSubject({self.namespace!r})"


_try_lock = s.scalar("jobs.try_lock", bool)
_unlock = s.scalar("jobs.unlock", bool)


class JobRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def try_lock(self, task_id: str) -> bool:
        """Take the task's ownership lock for this session; False when another live session holds it."""
        return bool(_try_lock(self.conn, task_id=task_id))

    def unlock(self, task_id: str) -> bool:
        return bool(_unlock(self.conn, task_id=task_id))
