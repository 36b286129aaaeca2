"""Job ownership (session advisory locks) and the queries behind the outbox dispatcher and recovery.

See sql/jobs.sql for why a lock, not a heartbeat, tells whether a job's owner is alive, and for the lock order
that jobs and recovery share.
"""

from __future__ import annotations

from dataclasses import dataclass

from repo import statements as s
from repo.database import Connection


@dataclass(frozen=True, slots=True)
class DispatchableJob:
    task_id: str
    task_type: str
    subject_id: int


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    task_id: str
    task_type: str
    media_file_id: int | None
    summary_id: int | None


_try_lock = s.scalar("jobs.try_lock", bool)
_unlock = s.scalar("jobs.unlock", bool)
_dispatchable = s.many("jobs.dispatchable", DispatchableJob)
_claimed = s.many("jobs.claimed", ClaimedJob)


class JobRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def try_lock(self, task_id: str) -> bool:
        """Take the task's ownership lock for this session; False when another live session holds it."""
        return bool(_try_lock(self.conn, task_id=task_id))

    def unlock(self, task_id: str) -> bool:
        return bool(_unlock(self.conn, task_id=task_id))

    def dispatchable(self, limit: int = 500) -> list[DispatchableJob]:
        return _dispatchable(self.conn, limit=limit)

    def claimed(self, limit: int = 500) -> list[ClaimedJob]:
        return _claimed(self.conn, limit=limit)
