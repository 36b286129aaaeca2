"""Background tasks (one per job) of the signed-in user: a page of them, or one by its job id."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.errors import Invalid, NotFound
from repo.tasks import Task, TaskPage, TaskRepository
from web.endpoint import Ctx, Router
from web.fields import Cursor

router = Router("tasks")
MAX_TASK_ID_LENGTH = 200
TaskStatus = Literal["pending", "in_progress", "completed", "failed", "cancelled"]


class TaskQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: TaskStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Cursor | None = None


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    task_id: str = Field(validation_alias="id", description="the job id; read it back at /api/tasks/{task_id}")
    file_uuid: UUID | None
    task_type: str
    status: str
    progress: float
    error_message: str | None
    heartbeat_at: datetime | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class TaskPageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    items: list[TaskOut]
    next_cursor: str | None


@router.get("/api/tasks", query=TaskQuery, response=TaskPageOut, raises=(NotFound,))
def list_tasks(ctx: Ctx, query: TaskQuery) -> TaskPage:
    """Your tasks, newest first."""
    return TaskRepository(ctx.conn).list(ctx.actor, status=query.status, limit=query.limit, cursor=query.cursor)


@router.get(
    "/api/tasks/{id}",
    response=TaskOut,
    params={"id": {"type": "string", "minLength": 1, "maxLength": MAX_TASK_ID_LENGTH}},
)
def get_task(ctx: Ctx) -> Task:
    """One task, by its job id."""
    task_id = str(ctx.request.path_params.get("id", ""))
    if not 1 <= len(task_id) <= MAX_TASK_ID_LENGTH:
        raise Invalid(f"id: a task id has 1 to {MAX_TASK_ID_LENGTH} characters", "id")
    return TaskRepository(ctx.conn).get(ctx.actor, task_id)
