"""Media files: upload, the file list, detail, edit, delete, and the raw content with range requests."""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import FileResponse

from repo.errors import Conflict, NotFound
from repo.media_files import FileDetail, FilePage, MediaFile, MediaFileRepository
from repo.notifications import NotificationRepository
from web.endpoint import Ctx, Router, refuse_nul
from web.errors import UnsupportedMediaType
from web.fields import Cursor, QueryDateTime
from web.openapi import NO_NUL
from web.uploads import ReceivedUpload, move_into_storage, receive_upload
from workers import dispatch

log = logging.getLogger("opentr.web.files")
router = Router("files")
SIDECAR_SUFFIX = ".transcript"


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    filename: str
    title: str | None
    author: str | None
    description: str | None
    language: str | None
    source_url: str | None
    is_public: bool
    status: str
    progress: float
    file_size: int
    content_type: str
    file_hash: str | None
    duration: float | None
    upload_time: datetime
    completed_at: datetime | None
    media_format: str | None
    codec: str | None
    frame_rate: float | None
    resolution_width: int | None
    resolution_height: int | None
    audio_channels: int | None
    audio_sample_rate: int | None
    audio_bit_depth: int | None
    has_waveform: bool
    retry_count: int
    max_retries: int
    last_error_message: str | None
    error_category: str | None
    summary_status: str | None
    updated_at: datetime


class SpeakerBriefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    label: str
    display_name: str | None
    verified: bool


class CollectionRefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    name: str


class FileDetailOut(FileOut):
    speakers: list[SpeakerBriefOut]
    tags: list[str]
    collections: list[CollectionRefOut]
    comments_count: int
    segment_count: int


class FileListItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    filename: str
    title: str | None
    status: str
    progress: float
    duration: float | None
    file_size: int
    content_type: str
    language: str | None
    upload_time: datetime
    completed_at: datetime | None
    summary_status: str | None
    tags: list[str]
    speaker_count: int
    segment_count: int


class FilePageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    items: list[FileListItemOut]
    next_cursor: str | None


FileStatus = Literal["pending", "queued", "processing", "completed", "error", "cancelling", "cancelled", "orphaned"]


class FileListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: FileStatus | None = None
    tag: str | None = Field(default=None, max_length=100)
    collection: UUID | None = None
    q: str | None = Field(default=None, max_length=500)
    uploaded_from: QueryDateTime | None = None
    uploaded_to: QueryDateTime | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Cursor | None = None


class FileUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=500)
    author: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=10_000)
    language: str | None = Field(default=None, max_length=20)
    is_public: bool | None = None


class UploadFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=500)
    author: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=10_000)
    language: str | None = Field(default=None, max_length=20)
    source_url: str | None = Field(default=None, max_length=2000)


async def _receive(request: Any) -> ReceivedUpload:
    services = request.app.state.services
    services.require_redis()  # no queue, no upload: answer 503 before storing anything
    limit = services.settings.opentr_max_upload_mb * 1024 * 1024
    received: ReceivedUpload = await receive_upload(request, services.storage_dir / "incoming", limit)
    return received


def _text_part(name: str) -> dict[str, Any]:
    """A text part of the upload form, with the bounds UploadFields enforces."""
    schema = UploadFields.model_json_schema()["properties"][name]
    text: dict[str, Any] = next(s for s in schema.get("anyOf", [schema]) if s.get("type") == "string")
    return {**text, "pattern": NO_NUL}


ONE_PART = {"type": ["string", "number", "boolean", "object"], "contentMediaType": "application/octet-stream"}
UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "additionalProperties": False,
                    "properties": {
                        # A file part is one part of bytes, whatever they spell ("false" is a 5-byte file): any
                        # value but a list (several parts) and, for the media, "" (an empty file).
                        "file": {**ONE_PART, "not": {"const": ""}},
                        "transcript": {
                            **ONE_PART,
                            "description": "optional sidecar: WhisperX JSON, SRT or VTT",
                        },
                        **{name: _text_part(name) for name in UploadFields.model_fields},
                    },
                },
                "encoding": {"file": {"contentType": "audio/*, video/*"}},
            }
        },
    },
}


@router.post(
    "/api/files",
    body_parser=_receive,
    response=FileOut,
    status=201,
    openapi=UPLOAD_OPENAPI,
    raises=(UnsupportedMediaType,),
)
def upload(ctx: Ctx, body: ReceivedUpload) -> MediaFile:
    """Upload a media file (multipart `file`, optional `transcript` sidecar); processing starts after commit."""
    storage = ctx.services.storage_dir
    try:
        refuse_nul(body.fields, "body")
        fields = UploadFields.model_validate(body.fields)
        actor = ctx.actor
        files = MediaFileRepository(ctx.conn)
        duplicate = files.find_duplicate(actor, body.media.sha256)
        if duplicate is not None:
            raise Conflict(f"this file was already uploaded as {duplicate.uuid}", "file")
        storage_path = move_into_storage(body.media, storage, actor.id)
        if body.sidecar is not None:
            os.replace(body.sidecar.path, storage / (storage_path + SIDECAR_SUFFIX))
            body.sidecar.path = storage / (storage_path + SIDECAR_SUFFIX)
        created = files.create(
            actor,
            filename=body.media.filename,
            storage_path=storage_path,
            file_size=body.media.size,
            content_type=body.media.content_type,
            file_hash=body.media.sha256,
            **fields.model_dump(),
        )
        task_id = dispatch.queue_processing(ctx.conn, created.id, actor.id)
        NotificationRepository(ctx.conn).notify(
            actor.id,
            "upload",
            f"Uploaded {created.filename}",
            "Processing will start shortly.",
            data={"file_uuid": str(created.uuid)},
            media_file_id=created.id,
            task_id=task_id,
        )
    except BaseException:
        body.discard()
        raise
    redis = ctx.services.redis

    def enqueue() -> None:
        dispatch.enqueue_processing(redis, created.id, task_id)

    ctx.after_commit(enqueue)
    return files.get(actor, created.uuid)


@router.get("/api/files", query=FileListQuery, response=FilePageOut, raises=(NotFound,))
def list_files(ctx: Ctx, query: FileListQuery) -> FilePage:
    """The user's files, newest first, with tags and counts; keyset pages via `cursor`."""
    return MediaFileRepository(ctx.conn).list_page(ctx.actor, **query.model_dump())


@router.get("/api/files/{uuid}", response=FileDetailOut)
def get_file(ctx: Ctx) -> FileDetail:
    """One file with its speakers, tags, collections and counts."""
    return MediaFileRepository(ctx.conn).detail(ctx.actor, ctx.uuid("uuid"))


@router.put("/api/files/{uuid}", body=FileUpdateIn, response=FileOut)
def update_file(ctx: Ctx, body: FileUpdateIn) -> MediaFile:
    """Edit a file's descriptive fields (absent fields stay as they are)."""
    return MediaFileRepository(ctx.conn).update(ctx.actor, ctx.uuid("uuid"), **body.model_dump())


def stored_path(storage_dir: Path, storage_path: str) -> Path:
    """The file on disk, refusing any stored path that would resolve outside the storage directory."""
    root = storage_dir.resolve()
    path = (root / storage_path).resolve()
    if root not in path.parents:
        raise NotFound("file content not found")
    return path


@router.delete("/api/files/{uuid}", status=204)
def delete_file(ctx: Ctx) -> None:
    """Delete a file and everything about it; its stored media goes after the commit."""
    storage_path = MediaFileRepository(ctx.conn).delete(ctx.actor, ctx.uuid("uuid"))
    path = stored_path(ctx.services.storage_dir, storage_path)

    def remove() -> None:
        for leftover in (path, path.with_name(path.name + SIDECAR_SUFFIX)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    ctx.after_commit(remove)


CONTENT_OPENAPI = {
    "responses": {
        "200": {
            "description": "the media, of the type it was uploaded as",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in ("audio/*", "video/*", "application/octet-stream")
            },
        },
        "206": {"description": "the requested byte range"},
        "416": {"description": "the range is outside the file"},
    }
}


@router.get("/api/files/{uuid}/content", openapi=CONTENT_OPENAPI)
def content(ctx: Ctx) -> FileResponse:
    """The uploaded media; honours HTTP Range requests for seeking."""
    stored = MediaFileRepository(ctx.conn).storage_path_for(ctx.actor, ctx.uuid("uuid"))
    path = stored_path(ctx.services.storage_dir, stored.storage_path)
    if not path.is_file():
        raise NotFound("the stored media is missing; run `opentr` cleanup")
    return FileResponse(
        path, media_type=stored.content_type, filename=stored.filename, content_disposition_type="inline"
    )
