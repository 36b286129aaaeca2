"""Import media from a URL: the request (checked against the SSRF guard, queued for a worker) and its progress.

The download itself runs in a worker (workers/url_import.py): a plain http(s) URL of an audio or video file, or a
page of a site yt-dlp knows (when yt-dlp is installed). The stored file then goes through processing like an upload.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from jobs import dispatch
from outbound.addresses import BlockedUrl, check_url
from repo.errors import Conflict
from repo.url_imports import UrlImport, UrlImportRepository
from web.endpoint import Ctx, Router
from web.fields import URL, worded

router = Router("files")


class UrlImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        min_length=1,
        max_length=2000,
        pattern=worded(f"^{URL}$", "an http:// or https:// address like https://example.com/talk.mp3"),
        description="an http(s) URL of a media file or a video page",
    )


class UrlImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    url: str
    status: str = Field(description="pending → downloading → completed | failed")
    progress: float
    bytes_received: int
    bytes_total: int | None
    file_uuid: UUID | None = Field(description="the imported file, once downloaded")
    error_message: str | None
    task_id: str = Field(description="follow the job at /api/tasks/{task_id}")
    created_at: datetime
    updated_at: datetime


@router.post("/api/files/from-url", body=UrlImportIn, response=UrlImportOut, status=202)
def import_from_url(ctx: Ctx, body: UrlImportIn) -> UrlImport:
    """Download media from a URL in the background; the file then appears in your library and is processed."""
    services = ctx.services
    url = body.url.strip()
    try:
        check_url(url, services.settings.url_allowance)
    except BlockedUrl as exc:
        # well-formed, but a host this deployment does not fetch from (or none at all): not a malformed value
        raise Conflict(f"url: {exc}", "url") from None
    redis = services.require_redis()  # no queue, no import
    created = dispatch.queue_url_import(ctx.conn, ctx.actor.id, url)

    def enqueue() -> None:
        dispatch.enqueue_url_import(redis, created.id, created.task_id)

    ctx.after_commit(enqueue)
    return created


@router.get("/api/files/from-url/{import_uuid}", response=UrlImportOut)
def get_url_import(ctx: Ctx) -> UrlImport:
    """An import's progress; `file_uuid` names the file once it is downloaded."""
    return UrlImportRepository(ctx.conn).get(ctx.actor, ctx.uuid("import_uuid"))
