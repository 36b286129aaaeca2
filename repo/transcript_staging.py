"""A running job's transcript, staged segment batch by segment batch, then published in one short transaction.

An engine on a CPU can take an hour: its segments are written as they come (each batch its own short transaction,
COPY), keyed by the job's task, and nothing of the file is locked meanwhile. `publish` makes them the file's only
transcript atomically (readers see all-old or all-new) and deletes them from staging; a job that dies leaves rows
that no reader sees, deleted by the file's next run. So "exactly one transcript" holds across crashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from repo import statements as s
from repo.database import Connection
from repo.segments import TranscriptCounts, check, replace_speakers
from transcript.segments import Segment, words_from_json


@dataclass(frozen=True, slots=True)
class _Staged:
    """A staging row: a segment with its words as stored JSON."""

    start_time: float
    end_time: float
    text: str
    speaker_label: str | None
    words: list[dict[str, Any]] | None

    def segment(self) -> Segment:
        return Segment(self.start_time, self.end_time, self.text, self.speaker_label, words_from_json(self.words))


@dataclass(frozen=True, slots=True)
class _Outline:
    """A staging row without its words."""

    start_time: float
    end_time: float
    text: str
    speaker_label: str | None

    def segment(self) -> Segment:
        return Segment(self.start_time, self.end_time, self.text, self.speaker_label)


@dataclass(frozen=True, slots=True)
class _Label:
    label: str


_stage = s.copy("transcript_staging.stage", ("text", "int4", "float8", "float8", "text", "text", "json"))
_staged = s.many("transcript_staging.staged", _Staged)
_staged_outline = s.many("transcript_staging.staged_outline", _Outline)
_staged_labels = s.many("transcript_staging.staged_labels", _Label)
_publish = s.rowcount("transcript_staging.publish")
_publish_words = s.rowcount("transcript_staging.publish_words")
_clear = s.rowcount("transcript_staging.clear")
_clear_for_file = s.rowcount("transcript_staging.clear_for_file")
_stage_published = s.rowcount("transcript_staging.stage_published")


class TranscriptStaging:
    def __init__(self, conn: Connection, task_id: str) -> None:
        self.conn, self.task_id = conn, task_id

    def stage(self, first_seq: int, segments: Sequence[Segment]) -> int:
        """Append a batch (checked like a whole transcript); returns the next sequence number."""
        checked = check(segments)
        rows = (
            (self.task_id, first_seq + i, seg.start_time, seg.end_time, seg.text, seg.speaker_label, words)
            for i, (seg, words) in enumerate(zip(segments, checked.words, strict=True))
        )
        return first_seq + _stage(self.conn, rows)

    def staged(self) -> list[Segment]:
        """What is staged, in the order it was staged."""
        return [row.segment() for row in _staged(self.conn, task_id=self.task_id)]

    def staged_outline(self) -> list[Segment]:
        """What is staged, in order, without the words (None): for what reads times, text and speakers only. Parsing
        the words back into `Word`s cost ~90 µs of client CPU a segment (bench/README.md §4)."""
        return [row.segment() for row in _staged_outline(self.conn, task_id=self.task_id)]

    def restage(self, segments: Sequence[Segment]) -> int:
        """Replace what is staged (e.g. after diarization split and relabelled the segments)."""
        _clear(self.conn, task_id=self.task_id)
        return self.stage(0, segments)

    def publish(self, file_id: int) -> TranscriptCounts:
        """The staged segments become the file's only transcript, in the caller's transaction."""
        labels = [row.label for row in _staged_labels(self.conn, task_id=self.task_id)]
        speaker_ids = replace_speakers(self.conn, file_id, labels)
        written = _publish(self.conn, file_id=file_id, task_id=self.task_id)
        _publish_words(self.conn, file_id=file_id, task_id=self.task_id)
        _clear(self.conn, task_id=self.task_id)
        _clear_for_file(self.conn, file_id=file_id, keep_task_id=self.task_id)
        return TranscriptCounts(segments=written, speakers=len(speaker_ids))

    def stage_published(self, file_id: int, label: str) -> int:
        """Replace what is staged by the file's published transcript, every segment under `label`."""
        _clear(self.conn, task_id=self.task_id)
        return _stage_published(self.conn, task_id=self.task_id, file_id=file_id, label=label)

    def discard(self) -> int:
        return _clear(self.conn, task_id=self.task_id)
