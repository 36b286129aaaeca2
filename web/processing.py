"""A file's processing: status, cancel, retry, reprocess, and the owner's stuck files."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from jobs import dispatch
from repo.media_files import FileState, MediaFile, MediaFileRepository
from web.endpoint import Ctx, Router
from web.files import FileOut

router = Router("processing")


class FileStateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    filename: str
    status: str
    progress: float
    active_task_id: str | None
    task_started_at: datetime | None
    task_last_update: datetime | None
    cancellation_requested: bool
    retry_count: int
    max_retries: int
    recovery_attempts: int
    last_error_message: str | None
    error_category: str | None
    updated_at: datetime


class StuckQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    older_than_seconds: int = Field(default=1800, ge=0, le=30 * 24 * 3600)
    limit: int = Field(default=100, ge=1, le=500)


@router.get("/api/files/management/stuck", query=StuckQuery, response=list[FileStateOut])
def stuck(ctx: Ctx, query: StuckQuery) -> list[FileState]:
    """The user's files whose processing has not moved for a while."""
    return MediaFileRepository(ctx.conn).stuck_for(
        ctx.actor, older_than_seconds=query.older_than_seconds, limit=query.limit
    )


@router.get("/api/files/{uuid}/status", response=FileStateOut)
def status(ctx: Ctx) -> FileState:
    """Processing state and progress."""
    return MediaFileRepository(ctx.conn).state(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/files/{uuid}/cancel", response=FileOut)
def cancel(ctx: Ctx) -> MediaFile:
    """Stop processing: at once when queued, at the worker's next step when running."""
    return MediaFileRepository(ctx.conn).request_cancel(ctx.actor, ctx.uuid("uuid"))


def _requeue(ctx: Ctx, moved: MediaFile) -> MediaFile:
    ctx.services.require_redis()
    task_id = dispatch.queue_processing(ctx.conn, moved.id, moved.user_id)
    redis = ctx.services.redis

    def enqueue() -> None:
        dispatch.enqueue_processing(redis, moved.id, task_id)

    ctx.after_commit(enqueue)
    return MediaFileRepository(ctx.conn).get(ctx.actor, moved.uuid)


@router.post("/api/files/{uuid}/retry", response=FileOut)
def retry(ctx: Ctx) -> MediaFile:
    """Process a failed or cancelled file again (counts against its retry budget)."""
    return _requeue(ctx, MediaFileRepository(ctx.conn).retry(ctx.actor, ctx.uuid("uuid")))


@router.post("/api/files/{uuid}/reprocess", response=FileOut)
def reprocess(ctx: Ctx) -> MediaFile:
    """Process a file again from scratch; its transcript is replaced when the job finishes."""
    return _requeue(ctx, MediaFileRepository(ctx.conn).reprocess(ctx.actor, ctx.uuid("uuid")))
