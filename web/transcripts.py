"""A file's transcript: segments with speaker names, segment edits, subtitles, the waveform."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from jobs import dispatch
from repo.errors import Conflict, Stale
from repo.media_files import MediaFileRepository
from repo.segments import SegmentRepository
from transcript import subtitles
from web import content_disposition, preconditions
from web.body_cache import BodyCache, Encoded, accepts_gzip, etag_matches
from web.endpoint import Ctx, Router
from web.fields import Seconds

router = Router("transcripts")


class SegmentOut(BaseModel):
    """A stored segment (`transcript.segments.TranscriptSegment`, field for field), with its speaker's uuid, label
    and the name it is shown with (the display name, else the label)."""

    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    start_time: float
    end_time: float
    text: str
    words: list[dict[str, Any]] | None
    speaker_uuid: UUID | None
    speaker_label: str | None
    speaker_name: str | None
    version: int = Field(description='counts its edits; its ETag is `"v<version>"`, to send back as If-Match')


class SegmentUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, min_length=1, max_length=20_000)
    speaker_uuid: UUID | None = None
    start_time: Seconds | None = Field(default=None, description="seconds; within the file's duration")
    end_time: Seconds | None = Field(default=None, description="seconds; not before start_time")


class TranscriptQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_time: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="only segments that end at or after this second"
    )
    to_time: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="only segments that start before this second"
    )


class SubtitleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["srt", "vtt"] = "srt"


class WaveformOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    waveform_data: list[float] | dict[str, Any] | None


# Whole transcripts of this process, by file and version (web/body_cache.py): 128 MB holds ~100 transcripts of
# 1,000 segments with word timings as raw JSON, ~400 gzipped.
TRANSCRIPTS = BodyCache(128 * 1024 * 1024)


def _bound(seconds: float | None) -> str:
    return "" if seconds is None else repr(seconds)


def _send(ctx: Ctx, file_uuid: UUID | None, version: int, body: Encoded, etag: str) -> Response:
    """The body in the form the client accepts; a whole transcript's gzip form, once made, replaces its raw form
    in the cache."""
    headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": "private, no-cache"}
    if body.compressible() and accepts_gzip(ctx.request.headers.get("accept-encoding", "")):
        packed = body.as_gzip()
        if file_uuid is not None and packed is not body:
            TRANSCRIPTS.put(file_uuid, version, packed)
        headers["Content-Encoding"] = "gzip"
        return Response(packed.gzipped, media_type="application/json", headers=headers)
    return Response(body.as_raw().raw, media_type="application/json", headers=headers)


@router.get("/api/files/{uuid}/transcript", query=TranscriptQuery, response=list[SegmentOut])
def transcript(ctx: Ctx, query: TranscriptQuery) -> Response:
    """Every segment in time order, with its speaker's name; `from_time`/`to_time` keep the segments that overlap
    [from_time, to_time), so that a player can load what it shows first. The ETag changes with any edit of the
    transcript or its speakers: send it back as If-None-Match to get 304 Not Modified."""
    if query.from_time is not None and query.to_time is not None and query.to_time <= query.from_time:
        # Not expressible in the schema: a conflict between the two values, not a malformed one.
        raise Conflict("to_time must be after from_time", "to_time")
    segments, file_uuid = SegmentRepository(ctx.conn), ctx.uuid("uuid")
    whole = query.from_time is None and query.to_time is None
    window = "" if whole else f";{_bound(query.from_time)}-{_bound(query.to_time)}"
    current = segments.transcript_version(ctx.actor, file_uuid)
    etag = f'W/"{current.file_id}.{current.version}{window}"'
    if etag_matches(ctx.request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers={"ETag": etag, "Vary": "Accept-Encoding"})
    # Keyed by the file's uuid, not its id: a database rebuilt under a running server (`opentr reset dev`, tests)
    # starts ids and versions again, never a random uuid.
    if whole and (cached := TRANSCRIPTS.get(file_uuid, current.version)) is not None:
        return _send(ctx, file_uuid, current.version, cached, etag)
    # The shape of list[SegmentOut], encoded by the database, read with the version it belongs to (an edit may
    # have committed since the lookup above).
    document = segments.transcript_json(ctx.actor, file_uuid, from_time=query.from_time, to_time=query.to_time)
    body = Encoded(raw=document.body.encode())
    if whole:
        TRANSCRIPTS.put(file_uuid, document.version, body)
    etag = f'W/"{document.file_id}.{document.version}{window}"'
    return _send(ctx, file_uuid if whole else None, document.version, body, etag)


def embed_again_after_commit(ctx: Ctx, file_uuid: UUID) -> None:
    """After an edit of the file's transcript (a segment's text, times or speaker; speakers merged): its passages
    for search by meaning are made again by a job (jobs/embeddings.py), queued in this transaction (none when one
    is pending already) and enqueued once it has committed. The one place the web asks for it."""
    file_id = SegmentRepository(ctx.conn).transcript_version(ctx.actor, file_uuid).file_id
    queued = dispatch.queue_embedding(ctx.conn, file_id)
    if queued is not None:
        redis = ctx.services.redis

        def enqueue() -> None:
            dispatch.enqueue_embedding(redis, queued)  # Redis refusing: the dispatcher enqueues it later

        ctx.after_commit(enqueue)


@router.get("/api/files/{uuid}/transcript/segments/{segment_uuid}", response=SegmentOut)
def get_segment(ctx: Ctx) -> Response:
    """One segment, with its version as the ETag (send it back as If-Match when you edit it)."""
    found = SegmentRepository(ctx.conn).segment(ctx.actor, ctx.uuid("uuid"), ctx.uuid("segment_uuid"))
    return preconditions.with_etag(SegmentOut, found, found.version)


@router.put(
    "/api/files/{uuid}/transcript/segments/{segment_uuid}",
    body=SegmentUpdateIn,
    response=SegmentOut,
    openapi=preconditions.openapi(SegmentOut),
)
def update_segment(ctx: Ctx, body: SegmentUpdateIn) -> Response:
    """Correct a segment's text, times or speaker. With If-Match (the ETag you read) the edit happens only if nobody
    changed the segment meanwhile, else 412 with the current segment; without it, the last write wins."""
    try:
        updated = SegmentRepository(ctx.conn).update_segment(
            ctx.actor,
            ctx.uuid("uuid"),
            ctx.uuid("segment_uuid"),
            if_versions=preconditions.if_match(ctx),
            **body.model_dump(),
        )
    except Stale as exc:
        return preconditions.stale_response(SegmentOut, exc)
    embed_again_after_commit(ctx, ctx.uuid("uuid"))
    return preconditions.with_etag(SegmentOut, updated, updated.version)


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
    file = MediaFileRepository(ctx.conn).get(ctx.actor, file_uuid)
    cues = map(subtitles.Cue.of, SegmentRepository(ctx.conn).transcript(ctx.actor, file_uuid))
    render = subtitles.srt if query.format == "srt" else subtitles.vtt
    media_type = "application/x-subrip" if query.format == "srt" else "text/vtt"
    name = content_disposition.download_name(file.title, file.filename, query.format)
    return Response(
        "".join(render(cues)),
        media_type=media_type,
        headers={"Content-Disposition": content_disposition.header("attachment", name, "subtitles")},
    )


@router.get("/api/files/{uuid}/waveform", response=WaveformOut)
def waveform(ctx: Ctx) -> Any:
    """Peaks for drawing the player's waveform (null until processing computed them)."""
    return MediaFileRepository(ctx.conn).waveform(ctx.actor, ctx.uuid("uuid"))
