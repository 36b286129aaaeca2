"""A file's transcript: segments with speaker names, segment edits, subtitles, the waveform."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from repo.media_files import MediaFileRepository
from repo.segments import SegmentRepository, TranscriptSegment
from web import subtitles
from web.endpoint import Ctx, Router
from web.fields import Seconds

router = Router("transcripts")


class SegmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    start_time: float
    end_time: float
    text: str
    words: list[dict[str, Any]] | None
    speaker_uuid: UUID | None
    speaker_label: str | None
    speaker_name: str | None


class SegmentUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, min_length=1, max_length=20_000)
    speaker_uuid: UUID | None = None
    start_time: Seconds | None = Field(default=None, description="seconds; within the file's duration")
    end_time: Seconds | None = Field(default=None, description="seconds; not before start_time")


class SubtitleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["srt", "vtt"] = "srt"


class WaveformOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    waveform_data: list[float] | dict[str, Any] | None


@router.get("/api/files/{uuid}/transcript", response=list[SegmentOut])
def transcript(ctx: Ctx) -> Response:
    """Every segment in time order, with its speaker's name."""
    body = SegmentRepository(ctx.conn).transcript_json(ctx.actor, ctx.uuid("uuid"))
    return Response(body, media_type="application/json")  # the shape of list[SegmentOut], encoded by the database


@router.put("/api/files/{uuid}/transcript/segments/{segment_uuid}", body=SegmentUpdateIn, response=SegmentOut)
def update_segment(ctx: Ctx, body: SegmentUpdateIn) -> TranscriptSegment:
    """Correct a segment's text, times or speaker."""
    return SegmentRepository(ctx.conn).update_segment(
        ctx.actor, ctx.uuid("uuid"), ctx.uuid("segment_uuid"), **body.model_dump()
    )


SUBTITLE_OPENAPI = {
    "responses": {
        "200": {
            "description": "SRT or WebVTT text",
            "content": {
                "application/x-subrip": {"schema": {"type": "string"}},
                "text/vtt": {"schema": {"type": "string"}},
            },
        }
    }
}


@router.get("/api/files/{uuid}/subtitles", query=SubtitleQuery, openapi=SUBTITLE_OPENAPI)
def subtitles_file(ctx: Ctx, query: SubtitleQuery) -> Response:
    """The transcript as SRT or WebVTT subtitles."""
    file_uuid = ctx.uuid("uuid")
    cues = SegmentRepository(ctx.conn).transcript(ctx.actor, file_uuid)
    render = subtitles.srt if query.format == "srt" else subtitles.vtt
    media_type = "application/x-subrip" if query.format == "srt" else "text/vtt"
    return Response(
        "".join(render(cues)),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{file_uuid}.{query.format}"'},
    )


@router.get("/api/files/{uuid}/waveform", response=WaveformOut)
def waveform(ctx: Ctx) -> Any:
    """Peaks for drawing the player's waveform (null until processing computed them)."""
    return MediaFileRepository(ctx.conn).waveform(ctx.actor, ctx.uuid("uuid"))
