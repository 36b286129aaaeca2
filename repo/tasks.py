"""Background tasks (one row per job): written by workers, read by their owners through /api/tasks.

Workers address a task by its job id and act for the system; every status change is a guarded UPDATE and a
refused one raises Conflict. Users see only their own tasks (an admin sees all in the explicit all-files view);
another user's task is NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from repo import cursor as keyset
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Invalid
from repo.rows import Actor

STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
OPEN_STATUSES = ("pending", "in_progress")
CURSOR_KIND = "tasks"


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    user_id: int
    media_file_id: int | None
    file_uuid: UUID | None
    task_type: str
    status: str
    progress: float
    error_message: str | None
    heartbeat_at: datetime | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class TaskPage:
    items: list[Task]
    next_cursor: str | None


_create = s.one("tasks.create", Task)
_start = s.one_or_none("tasks.start", Task)
_heartbeat = s.rowcount("tasks.heartbeat")
_finish = s.one_or_none("tasks.finish", Task)
_get = s.one("tasks.get", Task)
_list_page = s.many("tasks.list_page", Task)
_acting_user = s.scalar("tasks.acting_user", int)


def _moved(task: Task | None, task_id: str, allowed: tuple[str, ...]) -> Task:
    if task is None:
        raise Conflict(f"task {task_id} is not {' or '.join(allowed)} (or does not exist)", "status")
    return task


class TaskRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, task_id: str, user_id: int, media_file_id: int | None, task_type: str) -> Task:
        """A pending task; Conflict when the job id is taken, Invalid for an unknown user or file or a type that is
        not a lowercase name. Which types exist is the job registry's business (jobs/registry.py: a kind's `name`),
        not the schema's: a kind is declared once, and a newer release's kind needs no migration."""
        return _create(self.conn, task_id=task_id, user_id=user_id, media_file_id=media_file_id, task_type=task_type)

    def start(self, task_id: str) -> Task:
        task = _start(self.conn, task_id=task_id, from_statuses=["pending"])
        return _moved(task, task_id, ("pending",))

    def heartbeat(self, task_id: str, progress: float) -> bool:
        """Records progress; False once the task is no longer running (completed, failed, cancelled): stop."""
        return _heartbeat(self.conn, task_id=task_id, progress=progress) > 0

    def complete(self, task_id: str) -> Task:
        return self._finish(task_id, "completed", None)

    def fail(self, task_id: str, message: str) -> Task:
        return self._finish(task_id, "failed", message)

    def cancel(self, task_id: str) -> Task:
        return self._finish(task_id, "cancelled", None)

    def _finish(self, task_id: str, status: str, error_message: str | None) -> Task:
        task = _finish(
            self.conn,
            task_id=task_id,
            status=status,
            error_message=error_message,
            from_statuses=list(OPEN_STATUSES),
        )
        return _moved(task, task_id, OPEN_STATUSES)

    def acting_user(self, task_id: str, *, file_owner: bool) -> int:
        """Whom a job of this task acts for: its file's owner (`file_owner`, when it has a file), else the user who
        started it. NotFound when the task is gone. Read it as the system: nobody acts yet."""
        return _acting_user(self.conn, task_id=task_id, file_owner=file_owner)

    def get(self, actor: Actor, task_id: str) -> Task:
        return _get(self.conn, task_id=task_id, **actor.scope())

    def list(self, actor: Actor, *, status: str | None = None, limit: int = 50, cursor: str | None = None) -> TaskPage:
        """The actor's tasks, newest first; limit is clamped to 1..200."""
        if status is not None and status not in STATUSES:
            raise Invalid(f"unknown status {status!r}", "status")
        after = keyset.decode(CURSOR_KIND, cursor, str)
        size = keyset.clamp_limit(limit)
        rows = _list_page(
            self.conn,
            status=status,
            after_time=after.at if after else None,
            after_id=after.key if after else None,
            limit=size + 1,
            **actor.scope(),
        )
        items, next_cursor = keyset.split_page(rows, size, CURSOR_KIND, lambda t: (t.created_at, t.id))
        return TaskPage(items, next_cursor)
