"""Media files: upload, the file list, detail, edit, delete, and the raw content with range requests."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.responses import FileResponse, JSONResponse, Response

from jobs import dispatch
from repo import library
from repo.diarization import MAX_SPEAKERS, DiarizationRepository, SpeakerHints
from repo.errors import Conflict, NotFound
from repo.file_processing import FileProcessingRepository
from repo.library import FilterValues, LibraryFilter, SortKey
from repo.media_files import FileDetail, FilePage, MediaFile, MediaFileRepository
from repo.notifications import NotificationRepository
from storage import layout
from storage.backend import LocalStorage
from web import content_disposition
from web.endpoint import Ctx, Router, refuse_nul
from web.errors import Unprocessable, UnsupportedMediaType
from web.fields import Cursor, QueryDateTime
from web.openapi import NO_NUL
from web.ranges import ranged_response
from web.uploads import (
    SIDECAR_FIELD,
    ReceivedTranscript,
    ReceivedUpload,
    move_into_storage,
    receive_transcript,
    receive_upload,
)

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
    warnings: list[str] = Field(
        description="what to know about the transcript, e.g. a transcript file whose speech runs past the recording"
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


def _split(value: str | None) -> list[str] | None:
    return [part for part in value.split(",") if part.strip()] if value else None


_STATUS = "(?:" + "|".join(library.STATUSES) + ")"
# Statuses, comma-separated, spaces around them allowed, empty items ignored: the document states the names.
STATUS_LIST = f"^ *(?:{_STATUS} *)?(?:, *(?:{_STATUS} *)?)*$"
# At most MAX_TAGS names, comma-separated (no NUL); `tag` adds one, so together they are checked by the handler.
TAG_LIST = f"^[^,\\u0000]*(?:,[^,\\u0000]*){{0,{library.MAX_TAGS - 1}}}$"


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
        )


class FileListQuery(LibraryQuery):
    q: str | None = Field(default=None, max_length=500, description="in the filename, title or description")
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


# A form field is text: "3" is a count, an empty field is no hint; nothing else (not " 3", "3.0" or "03"), so
# that the server takes exactly what the document's pattern allows.
SPEAKER_COUNT_PATTERN = "^([1-9][0-9]?|100)?$"


def _speaker_count(value: object) -> object:
    if isinstance(value, str):
        if not re.fullmatch(SPEAKER_COUNT_PATTERN, value):
            raise ValueError(f"a whole number from 1 to {MAX_SPEAKERS}, or empty")
        return int(value) if value else None
    return value


SpeakerCount = Annotated[
    Annotated[int, Field(ge=1, le=MAX_SPEAKERS, strict=False)] | None, BeforeValidator(_speaker_count)
]


class UploadFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=500)
    author: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=10_000)
    language: str | None = Field(default=None, max_length=20)
    source_url: str | None = Field(default=None, max_length=2000)
    # for diarization (repo.diarization.SpeakerHints): the exact count, or a range
    min_speakers: SpeakerCount = None
    max_speakers: SpeakerCount = None
    num_speakers: SpeakerCount = None


async def _receive(request: Any) -> ReceivedUpload:
    services = request.app.state.services
    services.require_redis()  # no queue, no upload: answer 503 before storing anything
    limit = services.settings.opentr_max_upload_mb * 1024 * 1024
    received: ReceivedUpload = await receive_upload(request, layout.incoming_dir(services.storage_dir), limit)
    return received


def _text_part(name: str) -> dict[str, Any]:
    """A text part of the upload form, with the bounds UploadFields enforces."""
    if name.endswith("_speakers"):
        return {"type": "string", "pattern": SPEAKER_COUNT_PATTERN, "description": "speaker count hint (1 to 100)"}
    schema = UploadFields.model_json_schema()["properties"][name]
    text: dict[str, Any] = next(s for s in schema.get("anyOf", [schema]) if s.get("type") == "string")
    return {**text, "pattern": NO_NUL}


ONE_PART = {"type": ["string", "number", "boolean", "object"], "contentMediaType": "application/octet-stream"}
SIDECAR_FORMATS = "a transcript file: WhisperX JSON, SRT or WebVTT"
SIDECAR_PART = {**ONE_PART, "description": SIDECAR_FORMATS}
# Its bytes are read whatever the part's type says (the format is recognised by content), so one part of bytes.
SIDECAR_ENCODING = {"contentType": "application/octet-stream"}
DUPLICATE_OPENAPI = {
    "description": "the same recording is already yours (`existing_uuid`, `existing_url`, and `Location`), or "
    "concurrent changes collided: try again (Retry-After)",
    "headers": {
        "Location": {"description": "the existing file in the API", "schema": {"type": "string"}},
        "Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}},
    },
    "content": {
        "application/json": {
            "schema": {
                "allOf": [
                    {"$ref": "#/components/schemas/Error"},
                    {
                        "type": "object",
                        "properties": {
                            "existing_uuid": {"type": "string", "format": "uuid"},
                            "existing_url": {"type": "string", "description": "the existing file's page"},
                        },
                    },
                ]
            }
        }
    },
}
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
                        "file": {
                            **ONE_PART,
                            "not": {"const": ""},
                            "description": "the recording; any name (filename* too), any type: its content decides",
                        },
                        SIDECAR_FIELD: {**SIDECAR_PART, "description": f"optional: {SIDECAR_FORMATS}"},
                        **{name: _text_part(name) for name in UploadFields.model_fields},
                    },
                },
                "encoding": {"file": {"contentType": "audio/*, video/*"}, SIDECAR_FIELD: SIDECAR_ENCODING},
            }
        },
    },
    "responses": {"409": DUPLICATE_OPENAPI},
}
# A transcript attached while a job works on the file would race it; a file still waiting is simply re-queued.
RUNNING = ("processing", "cancelling")
WAITING = ("pending", "queued")


def duplicate(existing: MediaFile) -> JSONResponse:
    """409 naming and linking the file these bytes were already uploaded as (the upload page links to it)."""
    name = existing.title or existing.filename
    return JSONResponse(
        {
            "detail": f"this file was already uploaded as “{name}” ({existing.uuid})",
            "field": "file",
            "existing_uuid": str(existing.uuid),
            "existing_url": f"/files/{existing.uuid}",
        },
        status_code=409,
        headers={"Location": f"/api/files/{existing.uuid}"},
    )


def queue_after_commit(ctx: Ctx, file_id: int, owner_id: int) -> str:
    """The file's processing task, written now; the job is enqueued once the transaction has committed."""
    task_id = dispatch.queue_processing(ctx.conn, file_id, owner_id)
    redis = ctx.services.redis

    def enqueue() -> None:
        dispatch.enqueue_processing(redis, file_id, task_id)

    ctx.after_commit(enqueue)
    return task_id


@router.post(
    "/api/files",
    body_parser=_receive,
    response=FileOut,
    status=201,
    openapi=UPLOAD_OPENAPI,
    raises=(UnsupportedMediaType,),
)
def upload(ctx: Ctx, body: ReceivedUpload) -> MediaFile | Response:
    """Upload a media file (multipart `file`, optional `transcript` file); processing starts after commit.

    The file's name may be in any script (raw UTF-8 as browsers send it, or `filename*=`); a name over 255
    characters is shortened, keeping its extension. Whatever type the part declares, its content must be audio or
    video (415 otherwise). The same bytes uploaded again are a 409 naming and linking the existing file."""
    storage = ctx.services.storage
    stored: list[str] = []
    try:
        refuse_nul(body.fields, "body")
        fields = UploadFields.model_validate(body.fields)
        low, high = fields.min_speakers, fields.max_speakers
        if low is not None and high is not None and low > high:
            # Not expressible in the form's schema: a conflict between two values, not a malformed one.
            raise Conflict("min_speakers: must not exceed max_speakers", "min_speakers")
        hints = SpeakerHints(fields.min_speakers, fields.max_speakers, fields.num_speakers)
        actor = ctx.actor
        files = MediaFileRepository(ctx.conn)
        existing = files.find_duplicate(actor, body.media.sha256)
        if existing is not None:
            body.discard()
            return duplicate(existing)
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
            **fields.model_dump(exclude=set(SpeakerHints.__dataclass_fields__)),
        )
        DiarizationRepository(ctx.conn).set_hints(created.id, hints)
        task_id = queue_after_commit(ctx, created.id, actor.id)
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
    return files.get(actor, created.uuid)


async def _receive_transcript(request: Any) -> ReceivedTranscript:
    services = request.app.state.services
    services.require_redis()  # no queue, no re-processing: answer 503 before storing anything
    received: ReceivedTranscript = await receive_transcript(request, layout.incoming_dir(services.storage_dir))
    return received


ATTACH_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [SIDECAR_FIELD],
                    "additionalProperties": False,
                    "properties": {SIDECAR_FIELD: {**SIDECAR_PART, "not": {"const": ""}}},
                },
                "encoding": {SIDECAR_FIELD: SIDECAR_ENCODING},
            }
        },
    },
}


@router.put(
    "/api/files/{uuid}/transcript",
    body_parser=_receive_transcript,
    response=FileOut,
    openapi=ATTACH_OPENAPI,
)
def attach_transcript(ctx: Ctx, body: ReceivedTranscript) -> MediaFile:
    """Attach a transcript file (multipart `transcript`: WhisperX JSON, SRT or WebVTT) to one of your files and
    process the file again with it, replacing its transcript: how a file that failed (no speech model, say) is
    fixed in place. A file still waiting in the queue is queued again with it; 409 while it is being processed."""
    actor, file_uuid = ctx.actor, ctx.uuid("uuid")
    try:
        extra = next(iter(body.fields), None)
        if extra is not None:
            raise Unprocessable(f"{extra}: not a field of this form; send only `{SIDECAR_FIELD}`", extra)
        files = MediaFileRepository(ctx.conn)
        current = FileProcessingRepository(ctx.conn).lock_state(files.state(actor, file_uuid).id)  # until commit
        if current is None:
            raise NotFound("file not found")
        if current.status in RUNNING:
            raise Conflict(
                f"the file is {current.status}; attach the transcript once processing has finished, "
                "or cancel processing first",
                "status",
            )
        if current.status in WAITING:
            # Its job has not started: it is cancelled (that job then finds nothing to do) and a new one queued.
            files.request_cancel(actor, file_uuid)
        moved = files.reprocess(actor, file_uuid)
        task_id = queue_after_commit(ctx, moved.id, moved.user_id)
        NotificationRepository(ctx.conn).notify(
            moved.user_id,
            "upload",
            f"Transcript attached to {moved.filename}",
            f"{body.sidecar.filename} will be used; processing will start shortly.",
            data={"file_uuid": str(moved.uuid)},
            media_file_id=moved.id,
            task_id=task_id,
        )
        # Last, so that a refusal above leaves the file's earlier transcript file as it was.
        move_into_storage(body.sidecar, ctx.services.storage, layout.sidecar_of(moved.storage_path))
    except BaseException:
        body.discard()
        raise
    return files.get(actor, file_uuid)


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
    """What the library can be filtered by: tags, speakers and profiles with file counts, duration and date bounds."""
    return library.filter_values(ctx.conn, ctx.actor)


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
    """The uploaded media; honours HTTP Range requests for seeking."""
    stored = MediaFileRepository(ctx.conn).storage_path_for(ctx.actor, ctx.uuid("uuid"))
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
