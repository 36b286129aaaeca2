"""Transcript segments: bulk replacement by the workers (COPY, one transaction) and reads/edits by users.

Segments come in as `transcript.segments.Segment` (whoever made them) and are read as `TranscriptSegment`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from repo import access
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Invalid, NotFound, Stale
from repo.rows import Actor
from transcript.segments import Segment, TranscriptSegment

MAX_LABEL_LENGTH = 100


@dataclass(frozen=True, slots=True)
class TranscriptCounts:
    segments: int
    speakers: int


@dataclass(frozen=True, slots=True)
class SpeakerLabel:
    id: int
    label: str


@dataclass(frozen=True, slots=True)
class TranscriptVersion:
    """The file's id and its transcript's version: changes, in the same transaction, with anything the
    transcript route returns (a segment written, edited or deleted; a speaker renamed or merged)."""

    file_id: int
    version: int


@dataclass(frozen=True, slots=True)
class TranscriptDocument:
    """The transcript as the API's JSON array, and the version it was read at."""

    file_id: int
    version: int
    body: str


@dataclass(frozen=True, slots=True)
class _Id:
    id: int


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
_copy_segments = s.copy("segments.copy_segments", ("int8", "int8", "float8", "float8", "text", "uuid"))
_new_ids = s.many("segments.new_ids", _Id)
_copy_words = s.copy("segments.copy_words", ("int8", "json"))
_file_visible = s.scalar("segments.file_visible", bool)
_transcript = s.many("segments.transcript", TranscriptSegment)
_transcript_version = s.one_or_none("segments.transcript_version", TranscriptVersion)
_transcript_json = s.one_or_none("segments.transcript_json", TranscriptDocument)
_resolve_speaker = s.one_or_none("segments.resolve_speaker", SegmentSpeaker)
_update = s.one_or_none("segments.update", TranscriptSegment)
_segment = s.one_or_none("segments.segment", TranscriptSegment)
STALE_DETAIL = "the segment changed since you read it; nothing was saved"


@dataclass(frozen=True, slots=True)
class Checked:
    """Segments found fit to store: their distinct speaker labels in first-seen order, and each one's words as the
    JSON text its words row holds, UTF-8 (None: no row)."""

    labels: list[str]
    words: list[bytes | None]


def check(segments: Sequence[Segment]) -> Checked:
    """Segments checked before anything is written, their words encoded once; Invalid naming the first bad
    segment's index and field."""
    labels: dict[str, None] = {}
    words: list[bytes | None] = []
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
        try:
            words.append(seg.words_json())
        except ValueError as exc:
            raise Invalid(f"segment {index}: {exc}", "words") from None
    return Checked(list(labels), words)


def replace_speakers(conn: Connection, file_id: int, labels: list[str]) -> dict[str, int]:
    """First half of replacing a file's transcript: lock the file, delete its segments and the speakers whose
    label does not come back, ensure one speaker per label; returns label → speaker id."""
    owner_id = _lock_file_owner(conn, file_id=file_id)
    _delete_for_file(conn, file_id=file_id)
    _delete_unused_speakers(conn, file_id=file_id, labels=labels)
    speakers = _ensure_speakers(conn, file_id=file_id, user_id=owner_id, labels=labels)
    return {speaker.label: speaker.id for speaker in speakers}


def new_uuids(count: int) -> list[bytes]:
    """`count` segment uuids in UUIDv7's layout (RFC 9562): this millisecond's Unix time, version 7, 74 random bits.
    Made here, not by the column's gen_random_uuid() per row: that cost ~8 µs a row on the embedded PostgreSQL
    (built without OpenSSL, it reads /dev/urandom on each call), ~1.5 µs on Debian's; and keys of one moment are
    appended to the uuid index instead of landing on random pages of it (bench/README.md §4)."""
    head = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | 0b10 << 62
    noise = os.urandom(10 * count)
    found = []
    for at in range(0, 10 * count, 10):
        bits = int.from_bytes(noise[at : at + 10])
        found.append((head | (bits >> 62 & 0xFFF) << 64 | bits & _LOW_62).to_bytes(16))
    return found


_LOW_62 = (1 << 62) - 1


class SegmentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def replace_transcript(self, file_id: int, segments: Sequence[Segment]) -> TranscriptCounts:
        """Make `segments` the file's only transcript, atomically: other transactions see all-old or all-new.

        Speakers whose label comes back keep their row (and so their name, profile and matches); the rest are
        deleted. Used by workers, so there is no actor: the caller already owns the job for `file_id`.
        """
        checked = check(segments)
        with self.conn.transaction():
            speaker_ids = replace_speakers(self.conn, file_id, checked.labels)
            rows = (
                (
                    file_id,
                    None if seg.speaker_label is None else speaker_ids[seg.speaker_label],
                    seg.start_time,
                    seg.end_time,
                    seg.text,
                    uuid,
                )
                for seg, uuid in zip(segments, new_uuids(len(segments)), strict=True)
            )
            written = _copy_segments(self.conn, rows)
            if any(words is not None for words in checked.words):
                # Read back rather than reserved before: one index scan instead of a nextval() round trip per row.
                ids = [row.id for row in _new_ids(self.conn, file_id=file_id)]
                if len(ids) != written:  # only if a writer skipped the file's lock: refuse rather than mismatch
                    raise Conflict(f"the file gained segments while its transcript was written ({len(ids)}, {written})")
                pairs = zip(ids, checked.words, strict=True)
                _copy_words(self.conn, ((segment_id, words) for segment_id, words in pairs if words is not None))
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

    def transcript_version(self, actor: Actor, file_uuid: UUID) -> TranscriptVersion:
        """The transcript's current version (one index lookup, no segment read); NotFound for another's file."""
        found = _transcript_version(self.conn, file_uuid=file_uuid, **actor.scope())
        if found is None:
            raise NotFound("file not found")
        return found

    def transcript_json(
        self, actor: Actor, file_uuid: UUID, *, from_time: float | None = None, to_time: float | None = None
    ) -> TranscriptDocument:
        """transcript() as a JSON array of the same fields, encoded by PostgreSQL in one query (for the API), with
        the version it was read at. `from_time`/`to_time` keep the segments overlapping [from_time, to_time)."""
        found = _transcript_json(self.conn, file_uuid=file_uuid, from_time=from_time, to_time=to_time, **actor.scope())
        if found is None:
            raise NotFound("file not found")
        return found

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
        if_versions: list[int] | None = None,
    ) -> TranscriptSegment:
        """Edit a segment; None leaves a field as it is. With `if_versions` (the versions an If-Match allows) the
        edit happens only while the segment is at one of them, checked by the UPDATE itself; Stale, with the
        stored segment, when it has moved on."""
        found = _resolve_speaker(
            self.conn, file_uuid=file_uuid, segment_uuid=segment_uuid, speaker_uuid=speaker_uuid, **actor.scope()
        )
        if found is None:
            access.require(self.conn, actor, access.EDITOR, file_uuid=file_uuid)  # 404 unseen, 403 below editor
            raise NotFound("segment not found")
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
        updated = _update(
            self.conn,
            file_uuid=file_uuid,
            segment_uuid=segment_uuid,
            text=text,
            speaker_id=speaker_id,
            start_time=start_time,
            end_time=end_time,
            if_versions=if_versions,
            **actor.scope(),
        )
        if updated is None:
            access.require(self.conn, actor, access.EDITOR, file_uuid=file_uuid)
            current = self.segment(actor, file_uuid, segment_uuid)
            raise Stale(STALE_DETAIL, current, current.version)
        return updated

    def segment(self, actor: Actor, file_uuid: UUID, segment_uuid: UUID) -> TranscriptSegment:
        found = _segment(self.conn, file_uuid=file_uuid, segment_uuid=segment_uuid, **actor.scope())
        if found is None:
            raise NotFound("segment not found")
        return found

    def _require_file(self, actor: Actor, file_uuid: UUID) -> None:
        if not _file_visible(self.conn, file_uuid=file_uuid, **actor.scope()):
            raise NotFound("media file not found")
