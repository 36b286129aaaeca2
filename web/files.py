"""Media files: the list, detail, edit, delete, and the raw content with range requests (uploads: file_uploads)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from repo import library
from repo.errors import Conflict, NotFound, Stale
from repo.library import FilterValues, LibraryFilter, SortKey
from repo.media_files import FileDetail, FilePage, MediaFileRepository, StoredContent
from storage import layout
from storage.backend import LocalStorage
from web import content_disposition, preconditions
from web.audit_trail import audit
from web.choices import ChoicesOut, file_choices
from web.endpoint import Ctx, Router
from web.fields import Cursor, QueryDateTime, worded
from web.ranges import ranged_response

log = logging.getLogger("opentr.web.files")
router = Router("files")


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    filename: str
    title: str | None
    author: str | None
    description: str | None
    language: str | None = Field(description="the spoken language's code: given at upload, or detected (see below)")
    language_detected: bool = Field(
        description="true when the speech engine detected `language`; false when it was given, or none is known"
    )
    language_probability: float | None = Field(description="how sure the engine was of the language it detected")
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
    warnings: list[str] = Field(
        description="what to know about the transcript, e.g. a transcript file whose speech runs past the recording"
    )
    version: int = Field(
        description='counts edits of the descriptive fields; the ETag is `"v<version>"`, to send back as If-Match'
    )


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
    choices: ChoicesOut = Field(description="how the file is processed; a re-run repeats these unless changed")


@dataclass(frozen=True)
class _DetailWithChoices:
    """A file's detail and its choices, read as one object by the response model."""

    detail: FileDetail
    choices: ChoicesOut

    def __getattr__(self, name: str) -> Any:
        return getattr(self.detail, name)


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
    owner_name: str = Field(description="whose file it is: their name, else their address")
    my_role: Literal["owner", "editor", "commenter", "viewer"] = Field(description="what you may do with it")


class FilePageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    items: list[FileListItemOut]
    next_cursor: str | None


def _split(value: str | None) -> list[str] | None:
    return [part for part in value.split(",") if part.strip()] if value else None


_STATUS = "(?:" + "|".join(library.STATUSES) + ")"
# Statuses, comma-separated, spaces around them allowed, empty items ignored: the document states the names.
STATUS_LIST = worded(
    f"^ *(?:{_STATUS} *)?(?:, *(?:{_STATUS} *)?)*$", f"one or several of {', '.join(library.STATUSES)}, comma-separated"
)
# At most MAX_TAGS names, comma-separated (no NUL); `tag` adds one, so together they are checked by the handler.
TAG_LIST = worded(
    f"^[^,\\u0000]*(?:,[^,\\u0000]*){{0,{library.MAX_TAGS - 1}}}$", f"at most {library.MAX_TAGS} tags, comma-separated"
)


class LibraryQuery(BaseModel):
    """The library's filters, shared by the file list and search; several values are comma-separated."""

    model_config = ConfigDict(extra="forbid")
    status: str | None = Field(
        default=None, max_length=200, pattern=STATUS_LIST, description="one or several statuses, comma-separated"
    )
    tag: str | None = Field(default=None, max_length=100, description="one tag (its name may hold a comma)")
    tags: str | None = Field(
        default=None, max_length=2000, pattern=TAG_LIST, description="several tags (at most 20), comma-separated"
    )
    tags_mode: Literal["all", "any"] = Field(default="all", description="files with all the tags, or any of them")
    collection: UUID | None = None
    speaker: str | None = Field(default=None, max_length=200, description="a speaker's shown name or a profile's name")
    profile_uuid: UUID | None = Field(default=None, description="files where this speaker profile speaks")
    duration_min: float | None = Field(default=None, ge=0, allow_inf_nan=False, description="seconds, inclusive")
    duration_max: float | None = Field(default=None, ge=0, allow_inf_nan=False, description="seconds, inclusive")
    uploaded_from: QueryDateTime | None = Field(default=None, description="inclusive")
    uploaded_to: QueryDateTime | None = Field(default=None, description="exclusive")
    recorded_from: QueryDateTime | None = Field(default=None, description="recording date, inclusive")
    recorded_to: QueryDateTime | None = Field(default=None, description="recording date, exclusive")
    media_type: Literal["audio", "video"] | None = None
    transcript: str | None = Field(default=None, max_length=200, description="web-search syntax, in the transcript")
    shared: Literal["me", "mine"] | None = Field(
        default=None, description="me: only files others shared with you; mine: only your own"
    )
    topic: str | None = Field(
        default=None, max_length=200, description="files with a topic of this label (case does not matter)"
    )

    def library_filter(self) -> LibraryFilter:
        """The filter; Conflict naming the field for a combination the schema cannot state."""
        if self.duration_min is not None and self.duration_max is not None and self.duration_min > self.duration_max:
            raise Conflict("duration_min is above duration_max", "duration_min")
        tags = [*(_split(self.tags) or ()), *([self.tag] if self.tag is not None else [])]
        if len({t.strip() for t in tags if t.strip()}) > library.MAX_TAGS:
            raise Conflict(f"at most {library.MAX_TAGS} tags with tag and tags together", "tag")
        return LibraryFilter(
            statuses=_split(self.status),
            tags=tags or None,
            tags_any=self.tags_mode == "any",
            collection=self.collection,
            speaker=self.speaker,
            profile_uuid=self.profile_uuid,
            duration_min=self.duration_min,
            duration_max=self.duration_max,
            uploaded_from=self.uploaded_from,
            uploaded_to=self.uploaded_to,
            recorded_from=self.recorded_from,
            recorded_to=self.recorded_to,
            media_type=self.media_type,
            transcript=self.transcript,
            shared=self.shared,
            topic=self.topic,
        )


class FileListQuery(LibraryQuery):
    q: str | None = Field(
        default=None, max_length=500, description="in the filename, title, description or a topic's label"
    )
    sort: SortKey = "upload_time"
    order: Literal["asc", "desc"] | None = Field(default=None, description="default: titles A→Z, others descending")
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Cursor | None = None


class NameCountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    file_count: int


class ProfileCountOut(NameCountOut):
    uuid: UUID


class FilterValuesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    file_count: int
    tags: list[NameCountOut]
    topics: list[NameCountOut] = Field(description="the labels of the files' topics (alike but for case: one)")
    speakers: list[NameCountOut]
    profiles: list[ProfileCountOut]
    statuses: list[NameCountOut]
    media_types: list[NameCountOut]
    duration_min: float | None
    duration_max: float | None
    uploaded_first: datetime | None
    uploaded_last: datetime | None
    recorded_first: datetime | None
    recorded_last: datetime | None


class FileUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=500)
    author: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=10_000)
    language: str | None = Field(default=None, max_length=20)
    is_public: bool | None = None


@router.get("/api/files", query=FileListQuery, response=FilePageOut, raises=(NotFound,))
def list_files(ctx: Ctx, query: FileListQuery) -> FilePage:
    """Your files, filtered and sorted (newest first by default), with tags and counts; keyset pages via `cursor`."""
    return MediaFileRepository(ctx.conn).list_page(
        ctx.actor,
        filters=query.library_filter(),
        q=query.q,
        sort=query.sort,
        descending=None if query.order is None else query.order == "desc",
        limit=query.limit,
        cursor=query.cursor,
    )


@router.get("/api/files/filters", response=FilterValuesOut)
def filter_values(ctx: Ctx) -> FilterValues:
    """What the library can be filtered by: tags, topics, speakers and profiles with file counts, duration and date
    bounds."""
    return library.filter_values(ctx.conn, ctx.actor)


@router.get("/api/files/{uuid}", response=FileDetailOut)
def get_file(ctx: Ctx) -> Response:
    """One file with its speakers, tags, collections, counts and processing choices; the ETag is its version."""
    detail = MediaFileRepository(ctx.conn).detail(ctx.actor, ctx.uuid("uuid"))
    found = _DetailWithChoices(detail, file_choices(ctx.conn, ctx.actor, detail.uuid, detail.id))
    return preconditions.with_etag(FileDetailOut, found, detail.version)


@router.put("/api/files/{uuid}", body=FileUpdateIn, response=FileOut, openapi=preconditions.openapi(FileOut))
def update_file(ctx: Ctx, body: FileUpdateIn) -> Response:
    """Edit a file's descriptive fields (absent fields stay as they are). With If-Match (the ETag you read) only if
    nobody edited them meanwhile, else 412 with the current file; without it, the last write wins."""
    try:
        updated = MediaFileRepository(ctx.conn).update(
            ctx.actor, ctx.uuid("uuid"), if_versions=preconditions.if_match(ctx), **body.model_dump()
        )
    except Stale as exc:
        return preconditions.stale_response(FileOut, exc)
    return preconditions.with_etag(FileOut, updated, updated.version)


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
    file_uuid = ctx.uuid("uuid")
    storage_path = MediaFileRepository(ctx.conn).delete(ctx.actor, file_uuid)
    audit(ctx, "file.delete", object_type="file", object_id=file_uuid)
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
def content(ctx: Ctx) -> Response:
    """The uploaded media; honours HTTP Range requests for seeking. A download or a playback (a request from the
    first byte) is recorded as `export.media`; the further ranges a player buffers are not."""
    file_uuid = ctx.uuid("uuid")
    stored = MediaFileRepository(ctx.conn).storage_path_for(ctx.actor, file_uuid)
    if from_the_start(ctx.request):
        ranged = ctx.request.headers.get("range")
        audit(ctx, "export.media", object_type="file", object_id=file_uuid, details={"range": ranged} if ranged else {})
    return media_response(ctx, stored)


def from_the_start(request: Request) -> bool:
    """A GET of the media from its first byte: a download (no Range) or a player starting (`bytes=0-`). The audit
    trail records these, one per playback or download, and not each range a player buffers after."""
    if request.method != "GET":
        return False
    ranged = request.headers.get("range", "").replace(" ", "").lower()
    return not ranged or ranged.startswith("bytes=0-")


def media_response(ctx: Ctx, stored: StoredContent) -> Response:
    """The stored media of a file, with HTTP Range (and HEAD) from local storage or object storage alike; the file
    page's player and a public link's player both use it."""
    storage = ctx.services.storage
    if isinstance(storage, LocalStorage):
        path = stored_path(storage.root, stored.storage_path)
        if not path.is_file():
            raise NotFound("the stored media is missing; run `opentr` cleanup")
        disposition = content_disposition.header("inline", stored.filename)
        return FileResponse(path, media_type=stored.content_type, headers={"Content-Disposition": disposition})
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
            "description": "no such file of yours",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
        "409": {
            "description": "the file has no thumbnail (audio, or not processed yet)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    }
}


@router.get("/api/files/{uuid}/thumbnail", openapi=THUMBNAIL_OPENAPI)
def thumbnail(ctx: Ctx) -> Response:
    """A JPEG frame of a video file (about 10% in), made while the file was processed."""
    media = MediaFileRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))
    # The path's file exists: a missing thumbnail is its state (audio, not processed yet), not a missing resource.
    if media.thumbnail_path is None:
        raise Conflict("this file has no thumbnail (audio, or not processed yet)")
    try:
        jpeg = ctx.services.storage.read_bytes(stored_key(media.thumbnail_path))
    except FileNotFoundError:
        raise Conflict("the stored thumbnail is missing; reprocess the file") from None
    return Response(jpeg, media_type="image/jpeg")
