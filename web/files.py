"""Media files: upload, the file list, detail, edit, delete, and the raw content with range requests."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import FileResponse, Response

from jobs import dispatch
from repo.errors import Conflict, NotFound
from repo.media_files import FileDetail, FilePage, MediaFile, MediaFileRepository
from repo.notifications import NotificationRepository
from storage import layout
from storage.backend import LocalStorage
from web.endpoint import Ctx, Router
from web.ranges import ranged_response
from web.uploads import ReceivedUpload, move_into_storage, receive_upload

log = logging.getLogger("opentr.web.files")
router = Router("files")


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


class FileListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str | None = Field(default=None, max_length=20)
    tag: str | None = Field(default=None, max_length=100)
    collection: UUID | None = None
    q: str | None = Field(default=None, max_length=500)
    uploaded_from: datetime | None = None
    uploaded_to: datetime | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=1000)


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
    received: ReceivedUpload = await receive_upload(request, layout.incoming_dir(services.storage_dir), limit)
    return received


UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "transcript": {
                            "type": "string",
                            "format": "binary",
                            "description": "optional sidecar: WhisperX JSON, SRT or VTT",
                        },
                        **{name: {"type": "string"} for name in UploadFields.model_fields},
                    },
                }
            }
        },
    },
    "responses": {
        "409": {"description": "the same file was already uploaded"},
        "413": {"description": "the file is larger than the upload limit"},
        "503": {"description": "the job queue is unavailable"},
    },
}


@router.post("/api/files", body_parser=_receive, response=FileOut, status=201, openapi=UPLOAD_OPENAPI)
def upload(ctx: Ctx, body: ReceivedUpload) -> MediaFile:
    """Upload a media file (multipart `file`, optional `transcript` sidecar); processing starts after commit."""
    storage = ctx.services.storage
    stored: list[str] = []
    try:
        fields = UploadFields.model_validate(body.fields)
        actor = ctx.actor
        files = MediaFileRepository(ctx.conn)
        duplicate = files.find_duplicate(actor, body.media.sha256)
        if duplicate is not None:
            raise Conflict(f"this file was already uploaded as {duplicate.uuid}", "file")
        storage_path = layout.new_media_path(actor.id)
        move_into_storage(body.media, storage, storage_path)
        stored.append(storage_path)
        if body.sidecar is not None:
            move_into_storage(body.sidecar, storage, layout.sidecar_of(storage_path))
            stored.append(layout.sidecar_of(storage_path))
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
        for key in stored:
            storage.delete(key)
        raise
    redis = ctx.services.redis

    def enqueue() -> None:
        dispatch.enqueue_processing(redis, created.id, task_id)

    ctx.after_commit(enqueue)
    return files.get(actor, created.uuid)


@router.get("/api/files", query=FileListQuery, response=FilePageOut)
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


def stored_key(storage_path: str) -> str:
    """The storage key, refusing any stored path that would lead outside storage."""
    try:
        return layout.object_key(storage_path)
    except layout.OutsideStorage:
        raise NotFound("file content not found") from None


def stored_path(storage_dir: Path, storage_path: str) -> Path:
    """The file on disk, refusing any stored path that would resolve outside the storage directory."""
    try:
        return layout.resolve(storage_dir, storage_path)
    except layout.OutsideStorage:
        raise NotFound("file content not found") from None


@router.delete("/api/files/{uuid}", status=204)
def delete_file(ctx: Ctx) -> None:
    """Delete a file and everything about it; its stored media goes after the commit."""
    storage_path = MediaFileRepository(ctx.conn).delete(ctx.actor, ctx.uuid("uuid"))
    remove_after_commit(ctx, [storage_path])


def remove_after_commit(ctx: Ctx, storage_paths: list[str]) -> None:
    """Once the rows are gone for good, remove the stored media and its companions (sidecar, thumbnail) from the
    storage backend; a row pointing outside storage is a 404 and nothing is removed."""
    keys = [stored_key(p) for s in storage_paths for p in (s, *layout.companions(s))]
    storage = ctx.services.storage

    def remove() -> None:
        for key in keys:
            storage.delete(key)

    ctx.after_commit(remove)


CONTENT_OPENAPI = {
    "responses": {
        "200": {"description": "the media", "content": {"application/octet-stream": {"schema": {"type": "string"}}}},
        "206": {"description": "the requested byte range"},
        "416": {"description": "the range is outside the file"},
    }
}


@router.get("/api/files/{uuid}/content", openapi=CONTENT_OPENAPI)
def content(ctx: Ctx) -> Response:
    """The uploaded media; honours HTTP Range requests for seeking."""
    stored = MediaFileRepository(ctx.conn).storage_path_for(ctx.actor, ctx.uuid("uuid"))
    storage = ctx.services.storage
    if isinstance(storage, LocalStorage):
        path = stored_path(storage.root, stored.storage_path)
        if not path.is_file():
            raise NotFound("the stored media is missing; run `opentr` cleanup")
        return FileResponse(
            path, media_type=stored.content_type, filename=stored.filename, content_disposition_type="inline"
        )
    key = stored_key(stored.storage_path)
    try:
        size = storage.size(key)
    except FileNotFoundError:
        raise NotFound("the stored media is missing; run `opentr` cleanup") from None
    head = ctx.request.method == "HEAD"
    return ranged_response(storage, key, size, stored.content_type, stored.filename, ctx.request.headers, head)


THUMBNAIL_OPENAPI = {
    "responses": {
        "200": {"description": "a frame of the video", "content": {"image/jpeg": {"schema": {"type": "string"}}}},
        "404": {
            "description": "no such file of yours, or it has no thumbnail (audio, or not processed yet)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    }
}


@router.get("/api/files/{uuid}/thumbnail", openapi=THUMBNAIL_OPENAPI)
def thumbnail(ctx: Ctx) -> Response:
    """A JPEG frame of a video file (about 10% in), made while the file was processed."""
    media = MediaFileRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))
    if media.thumbnail_path is None:
        raise NotFound("this file has no thumbnail")
    try:
        jpeg = ctx.services.storage.read_bytes(stored_key(media.thumbnail_path))
    except FileNotFoundError:
        raise NotFound("the stored thumbnail is missing; reprocess the file") from None
    return Response(jpeg, media_type="image/jpeg")
