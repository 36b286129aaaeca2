"""Translations of a file's transcript by the requester's LLM (workers/translation_job.py): requested, listed,
read side by side with the transcript, exported as subtitles or text in the translated language, re-done after the
transcript was edited.

A translation is an LLM run of kind `translation` (web/llm_runs.py follows, cancels and deletes every run); its
`stale` says the transcript changed since it was read. Exports reuse web/exports.py's renderings with the
translated text in place of the original and the segments' own times.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from jobs import llm_runs as run_jobs
from repo import access
from repo.errors import Conflict
from repo.llm_runs import LlmRun, LlmRunRepository
from repo.media_files import MediaFile, MediaFileRepository
from repo.translations import KIND, TranslationRepository
from transcript.segments import TranscriptSegment
from web import exports
from web.audit_trail import audit
from web.content_disposition import download_name, header
from web.endpoint import Ctx, Router
from web.llm_runs import RUN_RAISES, Language, LlmRunDetailOut, LlmRunOut, RunRequestIn, request_run, requester_config
from web.llm_runs import run_out as llm_run_out

router = Router("translations")
TextFormat = Literal["srt", "vtt", "txt"]


class TranslationRequestIn(RunRequestIn):
    language: Language = Field(description="the language to translate into (ISO 639-1, one Whisper knows)")


class RedoIn(RunRequestIn):
    """Default: the configuration the translation was made with, when it is yours and still there; else your active
    one."""


class TranslatedSegmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    segment_uuid: UUID
    start_time: float
    end_time: float
    speaker_name: str | None
    original: str
    translated: str | None = Field(description="null: the segment was added after the translation was made")


class TranslationOut(BaseModel):
    run: LlmRunDetailOut
    segments: list[TranslatedSegmentOut]


class TranslationExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: TextFormat = "srt"
    speakers: bool = Field(default=True, description="speaker names")


@router.post(
    "/api/files/{uuid}/translations", body=TranslationRequestIn, response=LlmRunOut, status=202, raises=RUN_RAISES
)
def request_translation(ctx: Ctx, body: TranslationRequestIn) -> LlmRunOut:
    """Translate the file's transcript into `language` with your LLM (named, else your active configuration)."""
    return request_run(ctx, "translation", body.llm_config_uuid, language=body.language)


@router.get("/api/files/{uuid}/translations", response=list[LlmRunOut])
def list_translations(ctx: Ctx) -> list[LlmRunOut]:
    """The file's translations, newest first: language, state, costs, whether the transcript changed since."""
    MediaFileRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))  # 404 when unseen, not an empty list
    runs = LlmRunRepository(ctx.conn).list_for_file(ctx.actor, ctx.uuid("uuid"), KIND)
    return [llm_run_out(ctx, run) for run in runs]


@router.get("/api/translations/{uuid}", response=TranslationOut)
def get_translation(ctx: Ctx) -> TranslationOut:
    """A translation beside the transcript: each segment's times, speaker, original and translated text."""
    translations = TranslationRepository(ctx.conn)
    run = translations.run(ctx.actor, ctx.uuid("uuid"))
    detail = LlmRunDetailOut.model_validate(llm_run_out(ctx, run, detail=True).model_dump())
    rows = translations.side_by_side(ctx.actor, run.uuid) if run.status == "completed" else []
    return TranslationOut(run=detail, segments=[TranslatedSegmentOut.model_validate(row) for row in rows])


EXPORT_OPENAPI = {
    "responses": {
        "200": {
            "description": "the translation as a download",
            "content": {exports.MEDIA_TYPES[fmt]: {"schema": {"type": "string"}} for fmt in ("srt", "vtt", "txt")},
        }
    }
}


def completed(ctx: Ctx, uuid: UUID) -> LlmRun:
    run = TranslationRepository(ctx.conn).run(ctx.actor, uuid)
    if run.status != "completed":
        raise Conflict(f"the translation is {run.status}; it can be exported once it has completed", "status")
    return run


def export_name(title: str | None, filename: str, language: str, fmt: str) -> str:
    """`会議.ja.srt`: the transcript export's name, the language before the extension."""
    return download_name(title, filename, f"{language}.{fmt}")


def rendered(ctx: Ctx, run: LlmRun, file: MediaFile, query: TranslationExportQuery) -> bytes:
    """The translation through the transcript export's own renderings: the segments' times and speakers, the
    translated text (segments added since the translation have none and are left out)."""
    segments = [
        TranscriptSegment(
            row.segment_uuid, row.start_time, row.end_time, row.translated, None, None, None, row.speaker_name
        )
        for row in TranslationRepository(ctx.conn).side_by_side(ctx.actor, run.uuid)
        if row.translated is not None
    ]
    options = exports.ExportOptions(format=query.format, speakers=query.speakers, timestamps=True)
    return exports.render(exports.Transcript(file, segments, None), options)


@router.get(
    "/api/translations/{uuid}/export",
    query=TranslationExportQuery,
    openapi=EXPORT_OPENAPI,
    raises=(Conflict,),
)
def export_translation(ctx: Ctx, query: TranslationExportQuery) -> Response:
    """Download a completed translation as SRT, WebVTT or text with the original timings, named after the file and
    the language (`会議.ja.srt`); 409 until it has completed."""
    run = completed(ctx, ctx.uuid("uuid"))
    file = MediaFileRepository(ctx.conn).get_by_id(run.media_file_id)
    body = rendered(ctx, run, file, query)
    audit(
        ctx,
        "export.transcript",
        object_type="file",
        object_id=file.uuid,
        details={"format": query.format, "translation": str(run.uuid), "language": run.language},
    )
    name = export_name(file.title, file.filename, run.language or "translation", query.format)
    return Response(
        body,
        media_type=exports.MEDIA_TYPES[query.format],
        headers={"Content-Disposition": header("attachment", name, "translation")},
    )


@router.post("/api/translations/{uuid}/redo", body=RedoIn, response=LlmRunOut, status=202, raises=RUN_RAISES)
def redo_translation(ctx: Ctx, body: RedoIn) -> LlmRunOut:
    """Translate the transcript again into the same language (after it was edited): a new translation is queued;
    the old one stays listed until deleted."""
    return redo(ctx, ctx.uuid("uuid"), body.llm_config_uuid)


def redo(ctx: Ctx, run_uuid: UUID, named: UUID | None) -> LlmRunOut:
    """A new translation like `run_uuid` (its file, its language), queued for the caller, an editor of the file."""
    ctx.services.require_redis()
    run = TranslationRepository(ctx.conn).run(ctx.actor, run_uuid)
    access.require(ctx.conn, ctx.actor, access.EDITOR, file_id=run.media_file_id)  # 403 before asking for a config
    config_id = redo_config(ctx, run, named)
    new, queued = run_jobs.queue_run(
        ctx.conn, ctx.actor, "translation", run.media_file_id, config_id, language=run.language
    )
    redis = ctx.services.redis

    def enqueue() -> None:
        run_jobs.enqueue(redis, queued)

    ctx.after_commit(enqueue)
    return llm_run_out(ctx, new)


def redo_config(ctx: Ctx, run: LlmRun, named: UUID | None) -> int:
    """The configuration a redo uses: the named one, else the run's own when it is the caller's and still there,
    else the caller's active one (409 naming llm_config_uuid when there is none)."""
    if named is None and run.user_id == ctx.actor.id and run.llm_configuration_id is not None:
        return run.llm_configuration_id
    return requester_config(ctx, named).id
