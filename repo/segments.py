"""Transcript segments: bulk replacement by the workers (COPY, one transaction) and reads/edits by users."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Invalid, NotFound
from repo.rows import Actor

MAX_LABEL_LENGTH = 100


@dataclass(frozen=True, slots=True)
class NewSegment:
    """A segment as an engine produced it, before it has a row."""

    start_time: float
    end_time: float
    text: str
    speaker_label: str | None = None
    words: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    uuid: UUID
    start_time: float
    end_time: float
    text: str
    words: list[dict[str, Any]] | None
    speaker_uuid: UUID | None
    speaker_label: str | None
    speaker_name: str | None


@dataclass(frozen=True, slots=True)
class TranscriptCounts:
    segments: int
    speakers: int


@dataclass(frozen=True, slots=True)
class SpeakerLabel:
    id: int
    label: str


@dataclass(frozen=True, slots=True)
class JsonDocument:
    body: str


@dataclass(frozen=True, slots=True)
class SegmentSpeaker:
    segment_id: int
    speaker_id: int | None
    start_time: float
    end_time: float
    duration: float | None


# Times from another tool may overshoot the probed duration a little (frame rounding, a trailing cue).
DURATION_TOLERANCE_SECONDS = 1.0
_lock_file_owner = s.scalar("segments.lock_file_owner", int)
_delete_for_file = s.rowcount("segments.delete_for_file")
_delete_unused_speakers = s.rowcount("segments.delete_unused_speakers")
_ensure_speakers = s.many("segments.ensure_speakers", SpeakerLabel)
_copy_segments = s.copy("segments.copy_segments")
_file_visible = s.scalar("segments.file_visible", bool)
_transcript = s.many("segments.transcript", TranscriptSegment)
_transcript_json = s.one_or_none("segments.transcript_json", JsonDocument)
_resolve_speaker = s.one("segments.resolve_speaker", SegmentSpeaker)
_update = s.one("segments.update", TranscriptSegment)
_count_for_file = s.scalar("segments.count_for_file", int)


def validate(segments: Sequence[NewSegment]) -> list[str]:
    """The distinct speaker labels in first-seen order; Invalid naming the first bad segment's index."""
    labels: dict[str, None] = {}
    seen: set[tuple[float, float, str]] = set()
    for index, seg in enumerate(segments):
        if not (math.isfinite(seg.start_time) and math.isfinite(seg.end_time)):
            raise Invalid(f"segment {index}: times must be finite numbers", "start_time")
        if seg.start_time < 0:
            raise Invalid(f"segment {index}: start_time must not be negative", "start_time")
        if seg.end_time < seg.start_time:
            raise Invalid(f"segment {index}: end_time must not be before start_time", "end_time")
        if "\x00" in seg.text:
            raise Invalid(f"segment {index}: text must not contain NUL characters", "text")
        if seg.words is not None and not isinstance(seg.words, list):
            raise Invalid(f"segment {index}: words must be a list", "words")
        if seg.speaker_label is not None and not 1 <= len(seg.speaker_label) <= MAX_LABEL_LENGTH:
            raise Invalid(
                f"segment {index}: speaker_label must have 1 to {MAX_LABEL_LENGTH} characters", "speaker_label"
            )
        identity = (seg.start_time, seg.end_time, seg.text)
        if identity in seen:
            raise Invalid(f"segment {index}: repeats an earlier segment (same times and text)", "segments")
        seen.add(identity)
        if seg.speaker_label is not None:
            labels[seg.speaker_label] = None
    return list(labels)


class SegmentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def replace_transcript(self, file_id: int, segments: Sequence[NewSegment]) -> TranscriptCounts:
        """Make `segments` the file's only transcript, atomically: other transactions see all-old or all-new.

        Speakers whose label comes back keep their row (and so their name, profile and matches); the rest are
        deleted. Used by workers, so there is no actor: the caller already owns the job for `file_id`.
        """
        labels = validate(segments)
        with self.conn.transaction():
            owner_id = _lock_file_owner(self.conn, file_id=file_id)
            _delete_for_file(self.conn, file_id=file_id)
            _delete_unused_speakers(self.conn, file_id=file_id, labels=labels)
            speakers = _ensure_speakers(self.conn, file_id=file_id, user_id=owner_id, labels=labels)
            speaker_ids = {speaker.label: speaker.id for speaker in speakers}
            rows = (
                (
                    file_id,
                    None if seg.speaker_label is None else speaker_ids[seg.speaker_label],
                    seg.start_time,
                    seg.end_time,
                    seg.text,
                    None if seg.words is None else Jsonb(seg.words),
                )
                for seg in segments
            )
            written = _copy_segments(self.conn, rows)
        return TranscriptCounts(segments=written, speakers=len(speaker_ids))

    def transcript(self, actor: Actor, file_uuid: UUID) -> list[TranscriptSegment]:
        """The file's segments in time order; [] for a visible file without a transcript.

        One query in the usual case; only an empty result costs a second, cheap existence query that tells an
        empty transcript from a file the actor may not see.
        """
        found = _transcript(self.conn, file_uuid=file_uuid, **actor.scope())
        if not found:
            self._require_file(actor, file_uuid)
        return found

    def transcript_json(self, actor: Actor, file_uuid: UUID) -> str:
        """transcript() as a JSON array of the same fields, encoded by PostgreSQL in one query (for the API)."""
        found = _transcript_json(self.conn, file_uuid=file_uuid, **actor.scope())
        if found is None:
            raise NotFound("file not found")
        return found.body

    def stream_transcript(self, actor: Actor, file_uuid: UUID, batch: int = 2000) -> Iterator[TranscriptSegment]:
        """Like transcript(), through a server-side cursor; needs an open transaction.

        The file is checked before this returns (NotFound is raised here, not on the first next()), so a caller
        can decide on its response before it starts streaming.
        """
        self._require_file(actor, file_uuid)
        return _transcript.stream(self.conn, batch=batch, file_uuid=file_uuid, **actor.scope())

    def update_segment(
        self,
        actor: Actor,
        file_uuid: UUID,
        segment_uuid: UUID,
        *,
        text: str | None = None,
        speaker_uuid: UUID | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
    ) -> TranscriptSegment:
        found = _resolve_speaker(
            self.conn, file_uuid=file_uuid, segment_uuid=segment_uuid, speaker_uuid=speaker_uuid, **actor.scope()
        )
        if speaker_uuid is not None and found.speaker_id is None:
            raise Conflict("the speaker is not a speaker of this file", "speaker_uuid")
        for name, value in (("start_time", start_time), ("end_time", end_time)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise Invalid(f"{name}: must be a finite number of seconds, not negative", name)
        start = found.start_time if start_time is None else start_time
        end = found.end_time if end_time is None else end_time
        # Each time is valid on its own (the API bounds it); these refusals depend on the stored segment and file,
        # so they are conflicts with that state (409), naming the field.
        if end < start:
            field = "end_time" if end_time is not None else "start_time"
            raise Conflict(f"{field}: the segment would end ({end:g} s) before it starts ({start:g} s)", field)
        if found.duration is not None:
            limit = found.duration + DURATION_TOLERANCE_SECONDS
            for name, value in (("start_time", start_time), ("end_time", end_time)):
                if value is not None and value > limit:
                    raise Conflict(f"{name}: after the end of the recording ({found.duration:g} s)", name)
        speaker_id = found.speaker_id
        return _update(
            self.conn,
            file_uuid=file_uuid,
            segment_uuid=segment_uuid,
            text=text,
            speaker_id=speaker_id,
            start_time=start_time,
            end_time=end_time,
            **actor.scope(),
        )

    def segment_count(self, file_id: int) -> int:
        return _count_for_file(self.conn, file_id=file_id)

    def _require_file(self, actor: Actor, file_uuid: UUID) -> None:
        if not _file_visible(self.conn, file_uuid=file_uuid, **actor.scope()):
            raise NotFound("media file not found")
