"""Uploads: a recording (`POST /api/files`, with an optional transcript file and its processing choices: speech
model, language, task, vocabulary, speaker counts, diarization, summary; web/choices.py) and a
transcript file for an existing file (`PUT /api/files/{uuid}/transcript`).

Both stream their parts to the spool (web/uploads.py) before the transaction starts, then move them into storage
inside it; whatever is refused leaves nothing behind. The same recording uploaded twice is a 409 that names and
links the file already there. A transcript file attached to a file re-processes it with that file, through the same
queueing as an upload (jobs/dispatch.py): how a file that failed (no speech model) is fixed in place.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from jobs import dispatch
from repo.diarization import DiarizationRepository
from repo.errors import Conflict, NotFound
from repo.file_processing import FileProcessingRepository
from repo.media_files import MediaFile, MediaFileRepository
from repo.notifications import NotificationRepository
from repo.processing_choices import ProcessingChoicesRepository
from storage import layout
from storage.backend import StorageUnavailable
from transcript.speakers import MAX_SPEAKERS, SpeakerHints
from web import choices
from web.endpoint import Ctx, Router, refuse_nul
from web.errors import InsufficientStorage, Unprocessable, UnsupportedMediaType
from web.files import FileOut
from web.openapi import NO_NUL
from web.uploads import (
    SIDECAR_FIELD,
    ReceivedTranscript,
    ReceivedUpload,
    move_into_storage,
    receive_transcript,
    receive_upload,
)

router = Router("files")
log = logging.getLogger("opentr.web")


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
    source_url: str | None = Field(default=None, max_length=2000)
    # for diarization (transcript.speakers.SpeakerHints): the exact count, or a range
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


# One part of bytes, whatever a generator meant by it: a JSON null arrives as the 4 bytes "null", a number as its
# digits, an object, or a list holding anything but strings, as its JSON. A list of strings is as many parts as it has
# strings (the multipart encoder's way): two or more is a part sent twice, refused; none is no part at all. Spelt
# as the values allowed (Schemathesis cannot generate from a `not` of this shape).
_AS_JSON = {"type": "array", "contains": {"not": {"type": "string"}}}
ONE_PART = {
    "anyOf": [
        {"type": ["string", "number", "boolean", "object", "null"]},
        _AS_JSON,
        {"type": "array", "items": {"type": "string"}, "maxItems": 1},
    ],
    "contentMediaType": "application/octet-stream",
}
# A part that must be there and hold something: not several, not absent ([]), not empty ("" or [""]).
FILLED_PART = {
    "anyOf": [
        {"type": ["number", "boolean", "object", "null"]},
        {"type": "string", "minLength": 1},
        _AS_JSON,
        {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "maxItems": 1},
    ],
    "contentMediaType": "application/octet-stream",
}
SIDECAR_FORMATS = "a transcript file: WhisperX JSON, SRT or WebVTT"
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


def multipart_body(required: str, properties: dict[str, Any], encoding: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a multipart form with exactly these parts."""
    schema = {"type": "object", "required": [required], "additionalProperties": False, "properties": properties}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema, "encoding": encoding}}}


UPLOAD_OPENAPI = {
    "requestBody": multipart_body(
        "file",
        {
            # A file part is one part of bytes, whatever they spell ("false" is a 5-byte file).
            "file": {
                **FILLED_PART,
                "description": "the recording; any name (filename* too), any type: its content decides",
            },
            SIDECAR_FIELD: {**ONE_PART, "description": f"optional: {SIDECAR_FORMATS}"},
            **{name: _text_part(name) for name in UploadFields.model_fields},
            **choices.FORM_PARTS,
        },
        {"file": {"contentType": "audio/*, video/*"}, SIDECAR_FIELD: SIDECAR_ENCODING},
    ),
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
    raises=(UnsupportedMediaType, InsufficientStorage),
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
        given = choices.form_choices(body.fields)
        fields = UploadFields.model_validate({k: v for k, v in body.fields.items() if k not in choices.FORM_PARTS})
        hints = choices.hints(fields.model_dump(include=set(choices.HINTS)), SpeakerHints())
        chosen = choices.resolve(ctx, ctx.actor, choices.defaults(ctx, ctx.actor), given)
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
            language=chosen.language,
            **fields.model_dump(exclude=set(SpeakerHints.__dataclass_fields__)),
        )
        DiarizationRepository(ctx.conn).set_hints(created.id, hints)
        ProcessingChoicesRepository(ctx.conn).store(created.id, chosen)
        task_id = queue_after_commit(ctx, created.id, actor.id)
        # A step, not an outcome: the library shows the file waiting; the notification comes when it is done.
        NotificationRepository(ctx.conn).progress(
            actor.id, "uploaded; processing starts shortly", None, created.id, task_id
        )
    except BaseException:
        body.discard()
        for key in stored:
            try:
                storage.delete(key)
            except StorageUnavailable as exc:  # the store went away between the two parts: cleanup finds it
                log.warning("could not remove %s after a refused upload (%s); `opentr cleanup` will", key, exc)
        raise
    return files.get(actor, created.uuid)


async def _receive_transcript(request: Any) -> ReceivedTranscript:
    services = request.app.state.services
    services.require_redis()  # no queue, no re-processing: answer 503 before storing anything
    received: ReceivedTranscript = await receive_transcript(request, layout.incoming_dir(services.storage_dir))
    return received


ATTACH_OPENAPI = {
    "requestBody": multipart_body(
        SIDECAR_FIELD,
        {SIDECAR_FIELD: {**FILLED_PART, "description": SIDECAR_FORMATS}},
        {SIDECAR_FIELD: SIDECAR_ENCODING},
    ),
}


@router.put(
    "/api/files/{uuid}/transcript",
    body_parser=_receive_transcript,
    response=FileOut,
    openapi=ATTACH_OPENAPI,
    raises=(InsufficientStorage,),
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
        state = files.state_to_edit(actor, file_uuid)  # an editor's change: 403 for viewers and commenters
        current = FileProcessingRepository(ctx.conn).lock_state(state.id)  # until commit
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
        NotificationRepository(ctx.conn).progress(
            moved.user_id, "transcript file attached; processing starts shortly", None, moved.id, task_id
        )
        # Last, so that a refusal above leaves the file's earlier transcript file as it was.
        move_into_storage(body.sidecar, ctx.services.storage, layout.sidecar_of(moved.storage_path))
    except BaseException:
        body.discard()
        raise
    return files.get(actor, file_uuid)
