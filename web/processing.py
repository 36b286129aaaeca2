"""A file's processing: status, cancel, retry, reprocess (with changed choices), a re-run of one stage, and the
owner's stuck files. Choices are checked (web/choices.py) before anything is stored or queued."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from jobs import dispatch
from repo.diarization import DiarizationRepository
from repo.errors import Conflict
from repo.file_processing import FileProcessingRepository
from repo.media_files import FileState, MediaFile, MediaFileRepository
from repo.processing_choices import ProcessingChoicesRepository
from repo.rows import Actor
from transcript.choices import Choices, MediaStage, Stage
from transcript.speakers import SpeakerHints
from web import choices
from web.choices import ChoicesIn
from web.endpoint import JSON_BODY_LIMIT, Ctx, Router, integral_as_int, is_json, read_body, refuse_nul
from web.errors import ApiError, Unprocessable, UnsupportedMediaType
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


async def _optional_choices(request: Request) -> ChoicesIn | None:
    """A JSON body of choices, or none at all (an empty body: the stored choices, unchanged)."""
    raw = await read_body(request, JSON_BODY_LIMIT)
    if not raw.strip():
        return None
    if not is_json(request.headers.get("content-type")):
        raise UnsupportedMediaType("body: send it as application/json", "body")
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError("body: not valid JSON", "body") from None
    if not isinstance(data, dict):
        raise Unprocessable("body: expected a JSON object", "body")
    refuse_nul(data, "body")
    return ChoicesIn.model_validate_json(json.dumps(integral_as_int(data)), strict=True)


REPROCESS_OPENAPI = {
    "requestBody": {
        "required": False,
        "description": "optional: choices to change (left out: the file's stored choices)",
        "content": {"application/json": {"schema": ChoicesIn.model_json_schema()}},
    }
}


@router.post(
    "/api/files/{uuid}/reprocess",
    body_parser=_optional_choices,
    response=FileOut,
    openapi=REPROCESS_OPENAPI,
    raises=(UnsupportedMediaType,),
)
def reprocess(ctx: Ctx, body: ChoicesIn | None) -> MediaFile:
    """Process a file again from scratch, with its stored processing choices and any the body changes (a field
    left out keeps its stored value; null goes back to the default); its transcript is replaced when the job
    finishes."""
    given = {} if body is None else body.model_dump(exclude_unset=True)
    state = MediaFileRepository(ctx.conn).state_to_edit(ctx.actor, ctx.uuid("uuid"))
    chosen, hints = _choices(ctx, state, given)
    moved = MediaFileRepository(ctx.conn).reprocess(ctx.actor, state.uuid)
    _store(ctx, state, chosen, hints, None)
    return _requeue(ctx, moved)


class RerunIn(ChoicesIn):
    """One stage to redo, keeping the rest, with any choices to change (as for reprocess)."""

    stage: Stage = Field(
        description="transcription (the transcript and its speakers, no automatic summary), diarization (the kept "
        "text split between speakers afresh), speakers (the stored voices matched against your profiles again), "
        "summary (a new summary of the kept transcript)"
    )


NEEDS_TRANSCRIPT = ("diarization", "speakers", "summary")
WAITING = ("pending", "queued")  # a file whose job has not started: a re-run takes its place
MISSING_TRANSCRIPT = {"diarization": "diarize", "speakers": "match speakers in", "summary": "summarise"}


@router.post("/api/files/{uuid}/rerun", body=RerunIn, response=FileOut, status=202)
def rerun(ctx: Ctx, body: RerunIn) -> MediaFile:
    """Redo one stage of a file's processing and keep the rest: the transcript's segments stay as they are for a
    re-run of the summary or of speaker matching, its text for a re-run of diarization. A file still waiting in the
    queue is queued again for the stage. 409 when the stage's input is missing (no transcript yet; no stored voices
    for speaker matching) or the file is being processed."""
    return run_stage(ctx, ctx.uuid("uuid"), body.stage, body.model_dump(exclude_unset=True, exclude={"stage"}))


def run_stage(ctx: Ctx, file_uuid: UUID, stage: Stage, given: dict[str, Any]) -> MediaFile:
    """Queue a re-run of `stage` with the file's choices changed by `given` (checked first: a refusal stores and
    queues nothing). The JSON route and the file page's form both come here."""
    files = MediaFileRepository(ctx.conn)
    state = files.state_to_edit(ctx.actor, file_uuid)  # a re-run is an editor's (403 for viewers, commenters)
    chosen, hints = _choices(ctx, state, given)
    inputs = ProcessingChoicesRepository(ctx.conn).stage_inputs(state.id)
    if stage in NEEDS_TRANSCRIPT and inputs.segments == 0:
        raise Conflict(
            f"stage: the file has no transcript to {MISSING_TRANSCRIPT[stage]}; re-run the transcription first "
            "(stage `transcription`)",
            "stage",
        )
    if stage == "speakers" and inputs.voices == 0:
        raise Conflict(
            "stage: no voices are stored for this file's speakers (diarization did not run); re-run diarization "
            "first (stage `diarization`)",
            "stage",
        )
    if stage == "summary":
        keep = ProcessingChoicesRepository(ctx.conn).for_job(state.id).stage  # a queued stage re-run stays queued
        _store(ctx, state, chosen, hints, keep)
        _queue_summary(ctx, state, chosen)
        return files.get(ctx.actor, state.uuid)
    current = FileProcessingRepository(ctx.conn).lock_state(state.id)  # until commit: no job claims it meanwhile
    if current is not None and current.status in WAITING:
        # Its job has not started: it is cancelled (that job then finds nothing to do) and the re-run queued.
        files.request_cancel(ctx.actor, state.uuid)
    moved = files.reprocess(ctx.actor, state.uuid)
    _store(ctx, state, chosen, hints, stage)
    return _requeue(ctx, moved)


def _choices(ctx: Ctx, state: FileState, given: dict[str, Any]) -> tuple[Choices, SpeakerHints]:
    """The file's stored choices (its owner's defaults when it has none) changed by `given`, checked."""
    owner = Actor(state.user_id)
    stored = ProcessingChoicesRepository(ctx.conn).for_job(state.id).choices
    base = stored if stored is not None else choices.defaults(ctx, owner)
    return choices.resolve(ctx, owner, base, given), choices.hints(given, choices.stored_hints(ctx, state.id))


def _store(ctx: Ctx, state: FileState, chosen: Choices, hints: SpeakerHints, stage: MediaStage | None) -> None:
    ProcessingChoicesRepository(ctx.conn).store(state.id, chosen, stage)
    DiarizationRepository(ctx.conn).set_hints(state.id, hints)


def _queue_summary(ctx: Ctx, state: FileState, chosen: Choices) -> None:
    ctx.services.require_redis()
    summary_id, task_id = dispatch.queue_summary(ctx.conn, state.user_id, state.id, chosen.summary_prompt_id)
    redis = ctx.services.redis

    def enqueue() -> None:
        dispatch.enqueue_summary(redis, summary_id, task_id)

    ctx.after_commit(enqueue)
