"""Exports of transcripts: one file as txt, json, csv, srt or vtt, or several files as one zip, streamed.

Options: speaker names, timestamps, and the file's comments (txt, json, csv; vtt as NOTE blocks; SRT has no place
for them). Subtitles are split into readable cues (transcript/subtitles.py). The download is named after the title
(or the file's name) in whatever script it is written (web/content_disposition.py); so are zip entries, which
zipfile marks as UTF-8.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from repo.comments import Comment, CommentRepository
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.media_files import MediaFile, MediaFileRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from transcript import subtitles
from transcript.segments import TranscriptSegment
from web.audit_trail import audit
from web.content_disposition import download_name, header
from web.endpoint import Ctx, Router

router = Router("exports")
Format = Literal["txt", "json", "csv", "srt", "vtt"]
MEDIA_TYPES: dict[str, str] = {
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "srt": "application/x-subrip",
    "vtt": "text/vtt; charset=utf-8",
}
MAX_ZIP_FILES = 100


class ExportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Format = "txt"
    speakers: bool = Field(default=True, description="speaker names")
    timestamps: bool = Field(default=True, description="segment times (txt, json, csv)")
    comments: bool = Field(default=False, description="the file's comments (txt, json, csv; vtt as NOTE blocks)")


class ZipExportIn(ExportOptions):
    file_uuids: list[UUID] = Field(min_length=1, max_length=MAX_ZIP_FILES)


class ExportFileOut(BaseModel):
    uuid: UUID
    filename: str
    title: str | None
    duration: float | None
    language: str | None


class ExportSegmentOut(BaseModel):
    start_time: float | None
    end_time: float | None
    speaker: str | None
    text: str


class ExportCommentOut(BaseModel):
    timestamp: float | None
    author: str
    text: str
    created_at: datetime


class TranscriptExportOut(BaseModel):
    """The json export."""

    file: ExportFileOut
    segments: list[ExportSegmentOut]
    comments: list[ExportCommentOut] | None = Field(description="null unless comments were asked for")


@dataclass(frozen=True)
class Transcript:
    file: MediaFile
    segments: list[TranscriptSegment]
    comments: list[Comment] | None


def read(conn: Connection, actor: Actor, file_uuid: UUID, options: ExportOptions) -> Transcript:
    file = MediaFileRepository(conn).get(actor, file_uuid)
    segments = SegmentRepository(conn).transcript(actor, file_uuid)
    comments = CommentRepository(conn).list_for_file(actor, file_uuid) if options.comments else None
    return Transcript(file, segments, comments)


def _name(file: MediaFile, extension: str) -> str:
    return download_name(file.title, file.filename, extension)


def _clock(seconds: float) -> str:
    return subtitles.timestamp(seconds, ".")[:8]


def _speaker(segment: TranscriptSegment, options: ExportOptions) -> str | None:
    return segment.speaker_name if options.speakers else None


def render(transcript: Transcript, options: ExportOptions) -> bytes:
    fmt = options.format
    if fmt == "json":
        return _json(transcript, options).model_dump_json(indent=2).encode()
    if fmt == "csv":
        return _csv(transcript, options).encode()
    if fmt == "txt":
        return _txt(transcript, options).encode()
    cues = subtitles.readable_cues(map(subtitles.Cue.of, transcript.segments), show_speaker=options.speakers)
    if fmt == "srt":
        return "".join(subtitles.srt(cues)).encode()
    notes = [
        f"{_clock(c.timestamp) + ' ' if c.timestamp is not None else ''}{c.author_name}: {c.text}"
        for c in transcript.comments or []
    ]
    return "".join(subtitles.vtt(cues, notes)).encode()


def _json(transcript: Transcript, options: ExportOptions) -> TranscriptExportOut:
    file = transcript.file
    return TranscriptExportOut(
        file=ExportFileOut(
            uuid=file.uuid, filename=file.filename, title=file.title, duration=file.duration, language=file.language
        ),
        segments=[
            ExportSegmentOut(
                start_time=s.start_time if options.timestamps else None,
                end_time=s.end_time if options.timestamps else None,
                speaker=_speaker(s, options),
                text=s.text,
            )
            for s in transcript.segments
        ],
        comments=None
        if transcript.comments is None
        else [
            ExportCommentOut(timestamp=c.timestamp, author=c.author_name, text=c.text, created_at=c.created_at)
            for c in transcript.comments
        ],
    )


def _csv(transcript: Transcript, options: ExportOptions) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    with_kind = transcript.comments is not None
    header = ["kind"] if with_kind else []
    header += ["start_time", "end_time"] if options.timestamps else []
    header += ["speaker"] if options.speakers else []
    writer.writerow([*header, "text"])
    for s in transcript.segments:
        row: list[object] = ["segment"] if with_kind else []
        row += [f"{s.start_time:.3f}", f"{s.end_time:.3f}"] if options.timestamps else []
        row += [s.speaker_name or ""] if options.speakers else []
        writer.writerow([*row, s.text])
    for c in transcript.comments or []:
        at = "" if c.timestamp is None else f"{c.timestamp:.3f}"
        row = ["comment"]
        row += [at, at] if options.timestamps else []
        row += [c.author_name] if options.speakers else []
        writer.writerow([*row, c.text])
    return out.getvalue()


def _txt(transcript: Transcript, options: ExportOptions) -> str:
    file = transcript.file
    lines = [file.title or file.filename, ""]
    for s in transcript.segments:
        prefix = f"[{_clock(s.start_time)}] " if options.timestamps else ""
        speaker = _speaker(s, options)
        lines.append(f"{prefix}{speaker + ': ' if speaker else ''}{' '.join(s.text.split())}")
    if transcript.comments:
        lines += ["", "Comments", ""]
        for c in transcript.comments:
            at = f"[{_clock(c.timestamp)}] " if c.timestamp is not None and options.timestamps else ""
            lines.append(f"{at}{c.author_name}: {' '.join(c.text.split())}")
    return "\n".join(lines) + "\n"


def _json_export_schema() -> dict[str, object]:
    # The same schema the generator derives from `response=`, which also registers the nested models.
    schema = TranscriptExportOut.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    schema.pop("$defs", None)
    return schema


EXPORT_OPENAPI = {
    "responses": {
        "200": {
            "description": "the transcript as a download (json: the schema below)",
            "content": {
                **{media: {"schema": {"type": "string"}} for fmt, media in MEDIA_TYPES.items() if fmt != "json"},
                "application/json": {"schema": _json_export_schema()},
            },
        }
    }
}


@router.get("/api/files/{uuid}/export", query=ExportOptions, response=TranscriptExportOut, openapi=EXPORT_OPENAPI)
def export_file(ctx: Ctx, query: ExportOptions) -> Response:
    """Download a file's transcript as txt, json, csv, srt or vtt, named after its title."""
    transcript = read(ctx.conn, ctx.actor, ctx.uuid("uuid"), query)
    recorded(ctx, transcript.file.uuid, query)
    return Response(
        render(transcript, query),
        media_type=MEDIA_TYPES[query.format],
        headers={"Content-Disposition": header("attachment", _name(transcript.file, query.format), "transcript")},
    )


def recorded(ctx: Ctx, file_uuid: UUID, options: ExportOptions, *, archive: bool = False) -> None:
    """An export of a transcript on the audit trail (`export.transcript`): which file, in what format."""
    details: dict[str, object] = {"format": options.format, "comments": options.comments}
    if archive:
        details["archive"] = True
    audit(ctx, "export.transcript", object_type="file", object_id=file_uuid, details=details)


class _Sink(io.RawIOBase):
    """Collects what zipfile writes, so the archive goes out as it is made (zipfile handles unseekable output)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        chunk = bytes(data)  # type: ignore[call-overload]
        self.chunks.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, extension = name.rpartition(".")
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem} ({n}){dot}{extension}"
    taken.add(candidate)
    return candidate


ZIP_OPENAPI = {
    "responses": {"200": {"description": "a zip", "content": {"application/zip": {"schema": {"type": "string"}}}}}
}


@router.post("/api/files/export", body=ZipExportIn, in_transaction=False, openapi=ZIP_OPENAPI)
def export_zip(ctx: Ctx, body: ZipExportIn) -> StreamingResponse:
    """Several transcripts as one zip, one entry per file, streamed; 409 unless every file is yours.

    Each file is read in its own short transaction while the archive is being sent, so a large export holds
    neither a connection nor the whole archive in memory.
    """
    actor, db = ctx.actor, ctx.services.db
    uuids = list(dict.fromkeys(body.file_uuids))
    with db.transaction() as conn:
        files = MediaFileRepository(conn)
        for file_uuid in uuids:
            try:
                files.get(actor, file_uuid)
            except NotFound:
                raise Conflict(f"file {file_uuid} not found", "file_uuids") from None
    for file_uuid in uuids:  # written once the archive is accepted, before it streams (Ctx.record)
        recorded(ctx, file_uuid, body, archive=True)

    def archive() -> Iterator[bytes]:
        sink, taken = _Sink(), set[str]()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for file_uuid in uuids:
                try:
                    # The generator runs after the pipeline's block: it declares its actor itself.
                    with db.acting(actor), db.transaction() as conn:
                        transcript = read(conn, actor, file_uuid, body)
                except NotFound:
                    continue  # deleted since the request was accepted
                zf.writestr(_unique(_name(transcript.file, body.format), taken), render(transcript, body))
                yield sink.take()
        yield sink.take()

    stamp = datetime.now().strftime("%Y-%m-%d")
    return StreamingResponse(
        archive(),
        media_type="application/zip",
        headers={"Content-Disposition": header("attachment", f"transcripts-{stamp}.zip")},
    )
