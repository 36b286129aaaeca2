"""The processing state machine as workers drive it (no actor: they act for the system).

Every transition is one UPDATE guarded by the current status and by the job that owns the file (see
sql/file_processing.sql); a refused guard is a Conflict, so two racing workers cannot both move a file.
update_progress instead answers with a ProgressReport: a worker polls it and must simply stop when refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.jobs import JobSubject
from repo.media_files import FROM, FileState, Json


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: int
    storage_path: str
    status: str


@dataclass(frozen=True, slots=True)
class _CancelFlag:
    cancellation_requested: bool


@dataclass(frozen=True, slots=True)
class ProgressReport:
    """accepted is False when the job no longer owns the file (cancelled, taken over, deleted): it must stop."""

    accepted: bool
    cancellation_requested: bool

    @property
    def should_stop(self) -> bool:
        return not self.accepted or self.cancellation_requested


_storage_inventory = s.many("file_processing.storage_inventory", StoredFile)
_mark_orphaned = s.rowcount("file_processing.mark_orphaned")
_set_metadata = s.rowcount("file_processing.set_metadata")
_mark_queued = s.one_or_none("file_processing.mark_queued", FileState)
_start_processing = s.one_or_none("file_processing.start_processing", FileState)
_update_progress = s.one_or_none("file_processing.update_progress", _CancelFlag)
_complete = s.one_or_none("file_processing.complete", FileState)
_fail = s.one_or_none("file_processing.fail", FileState)
_finish_cancel = s.one_or_none("file_processing.finish_cancel", FileState)
_record_recovery = s.one_or_none("file_processing.record_recovery", FileState)
_lock_state = s.one_or_none("file_processing.lock_state", FileState)
_set_language = s.rowcount("file_processing.set_language")
_set_warnings = s.rowcount("file_processing.set_warnings")
# What kinds of job that process a media file work on (repo/jobs.py).
FILE_SUBJECT = JobSubject("file_processing")


def _jsonb(value: Json | None) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _moved(state: FileState | None, transition: str, file_id: int) -> FileState:
    if state is None:
        allowed = " or ".join(FROM[transition])
        raise Conflict(f"file {file_id} is not {allowed} for this job (or no longer exists)", "status")
    return state


class FileProcessingRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def mark_queued(self, file_id: int, task_id: str) -> FileState:
        state = _mark_queued(self.conn, file_id=file_id, task_id=task_id, from_statuses=list(FROM["queue"]))
        return _moved(state, "queue", file_id)

    def start_processing(self, file_id: int, task_id: str) -> FileState:
        """pending|queued → processing for this job; a file queued for another job is refused."""
        state = _start_processing(self.conn, file_id=file_id, task_id=task_id, from_statuses=list(FROM["start"]))
        return _moved(state, "start", file_id)

    def update_progress(self, file_id: int, task_id: str, progress: float) -> ProgressReport:
        flag = _update_progress(
            self.conn, file_id=file_id, task_id=task_id, progress=progress, from_statuses=list(FROM["progress"])
        )
        if flag is None:
            return ProgressReport(accepted=False, cancellation_requested=False)
        return ProgressReport(accepted=True, cancellation_requested=flag.cancellation_requested)

    def set_metadata(
        self,
        file_id: int,
        *,
        duration: float | None = None,
        language: str | None = None,
        media_format: str | None = None,
        codec: str | None = None,
        frame_rate: float | None = None,
        frame_count: int | None = None,
        resolution_width: int | None = None,
        resolution_height: int | None = None,
        aspect_ratio: str | None = None,
        audio_channels: int | None = None,
        audio_sample_rate: int | None = None,
        audio_bit_depth: int | None = None,
        creation_date: datetime | None = None,
        last_modified_date: datetime | None = None,
        device_make: str | None = None,
        device_model: str | None = None,
        metadata_raw: Json | None = None,
        metadata_important: Json | None = None,
        waveform_data: Json | None = None,
        thumbnail_path: str | None = None,
    ) -> None:
        """Technical metadata found while processing; None leaves a column unchanged."""
        changed = _set_metadata(
            self.conn,
            file_id=file_id,
            duration=duration,
            language=language,
            media_format=media_format,
            codec=codec,
            frame_rate=frame_rate,
            frame_count=frame_count,
            resolution_width=resolution_width,
            resolution_height=resolution_height,
            aspect_ratio=aspect_ratio,
            audio_channels=audio_channels,
            audio_sample_rate=audio_sample_rate,
            audio_bit_depth=audio_bit_depth,
            creation_date=creation_date,
            last_modified_date=last_modified_date,
            device_make=device_make,
            device_model=device_model,
            metadata_raw=_jsonb(metadata_raw),
            metadata_important=_jsonb(metadata_important),
            waveform_data=_jsonb(waveform_data),
            thumbnail_path=thumbnail_path,
        )
        if changed == 0:
            raise NotFound(f"file {file_id} not found")

    def complete(self, file_id: int, task_id: str) -> FileState:
        state = _complete(self.conn, file_id=file_id, task_id=task_id, from_statuses=list(FROM["complete"]))
        return _moved(state, "complete", file_id)

    def fail(self, file_id: int, task_id: str, message: str, category: str) -> FileState:
        state = _fail(
            self.conn,
            file_id=file_id,
            task_id=task_id,
            message=message,
            category=category,
            from_statuses=list(FROM["fail"]),
        )
        return _moved(state, "fail", file_id)

    def finish_cancel(self, file_id: int) -> FileState:
        state = _finish_cancel(self.conn, file_id=file_id, from_statuses=list(FROM["finish_cancel"]))
        return _moved(state, "finish_cancel", file_id)

    def set_language(self, file_id: int, language: str, probability: float | None) -> None:
        _set_language(self.conn, file_id=file_id, language=language, probability=probability)

    def set_warnings(self, file_id: int, warnings: list[str]) -> None:
        """What the user should know about the transcript just published; [] clears an earlier run's."""
        _set_warnings(self.conn, file_id=file_id, warnings=warnings)

    def lock_state(self, file_id: int) -> FileState | None:
        """The file's processing state, row-locked until the transaction ends; None when it was deleted."""
        return _lock_state(self.conn, file_id=file_id)

    def record_recovery(self, file_id: int) -> FileState:
        """processing|queued → pending after its job was lost, counting the attempt; the caller re-enqueues."""
        state = _record_recovery(self.conn, file_id=file_id, from_statuses=list(FROM["recover"]))
        return _moved(state, "recover", file_id)

    def storage_inventory(self) -> list[StoredFile]:
        """For the cleanup job: every row's storage path."""
        return _storage_inventory(self.conn)

    def mark_orphaned(self, file_ids: list[int]) -> int:
        return _mark_orphaned(self.conn, ids=file_ids)
