"""Media files: upload records, the file list and detail screens, and the processing state machine.

Users address files by uuid and see only their own (admins see all); workers address them by internal id and act
for the system. Every state change is one guarded UPDATE that names the statuses it may start from (FROM below),
so of two racing workers exactly one moves a file. Refused worker transitions raise Conflict; update_progress
instead answers with a ProgressReport, because a worker polls it and must simply stop when it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import cursor as keyset
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Invalid, NotFound
from repo.rows import Actor

Json = dict[str, Any] | list[Any]
SummaryStatus = Literal["pending", "processing", "completed", "failed"]
STATUSES = ("pending", "queued", "processing", "completed", "error", "cancelling", "cancelled", "orphaned")
FROM: dict[str, tuple[str, ...]] = {
    "queue": ("pending",),
    "start": ("pending", "queued"),
    "progress": ("processing", "cancelling"),
    "complete": ("processing",),
    "fail": ("pending", "queued", "processing"),
    "cancel": ("pending", "queued", "processing"),
    "finish_cancel": ("processing", "cancelling"),
    "recover": ("processing", "queued"),
    "retry": ("error", "cancelled"),
    "reprocess": ("completed", "error", "cancelled"),
}
STUCK_STATUSES = ("processing", "cancelling")
STUCK_AFTER_SECONDS = 30 * 60
CURSOR_KIND = "files"


@dataclass(frozen=True, slots=True)
class MediaFile:
    id: int
    uuid: UUID
    user_id: int
    filename: str
    storage_path: str
    file_size: int
    content_type: str
    file_hash: str | None
    duration: float | None
    language: str | None
    title: str | None
    author: str | None
    description: str | None
    source_url: str | None
    is_public: bool
    status: str
    upload_time: datetime
    completed_at: datetime | None
    media_format: str | None
    codec: str | None
    frame_rate: float | None
    frame_count: int | None
    resolution_width: int | None
    resolution_height: int | None
    aspect_ratio: str | None
    audio_channels: int | None
    audio_sample_rate: int | None
    audio_bit_depth: int | None
    creation_date: datetime | None
    last_modified_date: datetime | None
    device_make: str | None
    device_model: str | None
    metadata_raw: Json | None
    metadata_important: Json | None
    thumbnail_path: str | None
    has_waveform: bool
    active_task_id: str | None
    task_started_at: datetime | None
    task_last_update: datetime | None
    progress: float
    cancellation_requested: bool
    retry_count: int
    max_retries: int
    last_error_message: str | None
    error_category: str | None
    recovery_attempts: int
    last_recovery_attempt: datetime | None
    force_delete_eligible: bool
    summary_status: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SpeakerBrief:
    uuid: UUID
    label: str
    display_name: str | None
    verified: bool


@dataclass(frozen=True, slots=True)
class CollectionRef:
    uuid: UUID
    name: str


@dataclass(frozen=True, slots=True)
class FileDetail(MediaFile):
    """A file with its children, read in one statement; json_agg children become typed rows here."""

    speakers: list[SpeakerBrief]
    tags: list[str]
    collections: list[CollectionRef]
    comments_count: int
    segment_count: int

    def __post_init__(self) -> None:
        speakers: list[Any] = self.speakers
        collections: list[Any] = self.collections
        object.__setattr__(self, "speakers", [_speaker(x) for x in speakers])
        object.__setattr__(self, "collections", [_collection(x) for x in collections])


def _speaker(x: SpeakerBrief | dict[str, Any]) -> SpeakerBrief:
    if isinstance(x, SpeakerBrief):
        return x
    return SpeakerBrief(UUID(x["uuid"]), x["label"], x["display_name"], x["verified"])


def _collection(x: CollectionRef | dict[str, Any]) -> CollectionRef:
    return x if isinstance(x, CollectionRef) else CollectionRef(UUID(x["uuid"]), x["name"])


@dataclass(frozen=True, slots=True)
class FileListRow:
    id: int
    uuid: UUID
    user_id: int
    filename: str
    title: str | None
    status: str
    progress: float
    duration: float | None
    file_size: int
    content_type: str
    language: str | None
    is_public: bool
    upload_time: datetime
    completed_at: datetime | None
    summary_status: str | None
    tags: list[str]
    speaker_count: int
    segment_count: int


@dataclass(frozen=True, slots=True)
class FilePage:
    items: list[FileListRow]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class FileState:
    """The processing bookkeeping of a file: what workers, recovery and the status route need."""

    id: int
    uuid: UUID
    user_id: int
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
    last_recovery_attempt: datetime | None
    last_error_message: str | None
    error_category: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredContent:
    storage_path: str
    content_type: str
    file_size: int
    filename: str


@dataclass(frozen=True, slots=True)
class Waveform:
    uuid: UUID
    waveform_data: Json | None


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: int
    storage_path: str
    status: str


@dataclass(frozen=True, slots=True)
class _StoragePath:
    storage_path: str


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


_storage_inventory = s.many("media_files.storage_inventory", StoredFile)
_mark_orphaned = s.rowcount("media_files.mark_orphaned")
_create = s.one("media_files.create", MediaFile)
_find_duplicate = s.one_or_none("media_files.find_duplicate", MediaFile)
_get = s.one("media_files.get", MediaFile)
_get_by_id = s.one("media_files.get_by_id", MediaFile)
_state = s.one("media_files.state", FileState)
_waveform = s.one("media_files.waveform", Waveform)
_storage_path_for = s.one("media_files.storage_path_for", StoredContent)
_detail = s.one("media_files.detail", FileDetail)
_list_page = s.many("media_files.list_page", FileListRow)
_update = s.one("media_files.update", MediaFile)
_delete = s.one("media_files.delete", _StoragePath)
_set_metadata = s.rowcount("media_files.set_metadata")
_set_summary_status = s.rowcount("media_files.set_summary_status")
_mark_queued = s.one_or_none("media_files.mark_queued", FileState)
_start_processing = s.one_or_none("media_files.start_processing", FileState)
_update_progress = s.one_or_none("media_files.update_progress", _CancelFlag)
_complete = s.one_or_none("media_files.complete", FileState)
_fail = s.one_or_none("media_files.fail", FileState)
_finish_cancel = s.one_or_none("media_files.finish_cancel", FileState)
_record_recovery = s.one_or_none("media_files.record_recovery", FileState)
_request_cancel = s.one_or_none("media_files.request_cancel", MediaFile)
_retry = s.one_or_none("media_files.retry", MediaFile)
_reprocess = s.one_or_none("media_files.reprocess", MediaFile)
_stuck = s.many("media_files.stuck", FileState)
_stuck_for_actor = s.many("media_files.stuck_for_actor", FileState)


def _ilike_pattern(q: str | None) -> str | None:
    """A contains-pattern in which the user's %, _ and backslash stand for themselves."""
    text = (q or "").strip()
    if not text:
        return None
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _jsonb(value: Json | None) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _moved(state: FileState | None, transition: str, file_id: int) -> FileState:
    if state is None:
        allowed = " or ".join(FROM[transition])
        raise Conflict(f"file {file_id} is not {allowed} for this job (or no longer exists)", "status")
    return state


class MediaFileRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- records and screens ----------------------------------------------------------------------------------

    def create(
        self,
        actor: Actor,
        *,
        filename: str,
        storage_path: str,
        file_size: int,
        content_type: str,
        file_hash: str | None,
        title: str | None = None,
        author: str | None = None,
        description: str | None = None,
        language: str | None = None,
        source_url: str | None = None,
        is_public: bool = False,
    ) -> MediaFile:
        return _create(
            self.conn,
            user_id=actor.id,
            filename=filename,
            storage_path=storage_path,
            file_size=file_size,
            content_type=content_type,
            file_hash=file_hash,
            title=title,
            author=author,
            description=description,
            language=language,
            source_url=source_url,
            is_public=is_public,
        )

    def find_duplicate(self, actor: Actor, file_hash: str) -> MediaFile | None:
        return _find_duplicate(self.conn, user_id=actor.id, file_hash=file_hash.lower())

    def get(self, actor: Actor, uuid: UUID) -> MediaFile:
        return _get(self.conn, uuid=uuid, **actor.scope())

    def get_by_id(self, file_id: int) -> MediaFile:
        return _get_by_id(self.conn, file_id=file_id)

    def state(self, actor: Actor, uuid: UUID) -> FileState:
        return _state(self.conn, uuid=uuid, **actor.scope())

    def waveform(self, actor: Actor, uuid: UUID) -> Waveform:
        return _waveform(self.conn, uuid=uuid, **actor.scope())

    def storage_path_for(self, actor: Actor, uuid: UUID) -> StoredContent:
        return _storage_path_for(self.conn, uuid=uuid, **actor.scope())

    def detail(self, actor: Actor, uuid: UUID) -> FileDetail:
        return _detail(self.conn, uuid=uuid, **actor.scope())

    def list_page(
        self,
        actor: Actor,
        *,
        status: str | None = None,
        tag: str | None = None,
        collection: UUID | None = None,
        q: str | None = None,
        uploaded_from: datetime | None = None,
        uploaded_to: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> FilePage:
        """Newest first; uploaded_from is inclusive, uploaded_to exclusive; limit is clamped to 1..200."""
        if status is not None and status not in STATUSES:
            raise Invalid(f"unknown status {status!r}", "status")
        after = keyset.decode(CURSOR_KIND, cursor, int)
        size = keyset.clamp_limit(limit)
        rows = _list_page(
            self.conn,
            status=status,
            tag=(tag or "").strip() or None,
            collection=collection,
            pattern=_ilike_pattern(q),
            uploaded_from=uploaded_from,
            uploaded_to=uploaded_to,
            after_time=after.at if after else None,
            after_id=after.key if after else None,
            limit=size + 1,
            **actor.scope(),
        )
        items, next_cursor = keyset.split_page(rows, size, CURSOR_KIND, lambda r: (r.upload_time, r.id))
        return FilePage(items, next_cursor)

    def update(
        self,
        actor: Actor,
        uuid: UUID,
        *,
        title: str | None = None,
        author: str | None = None,
        description: str | None = None,
        language: str | None = None,
        is_public: bool | None = None,
    ) -> MediaFile:
        """None leaves a field unchanged; an empty string clears a text field."""
        return _update(
            self.conn,
            uuid=uuid,
            title=title,
            author=author,
            description=description,
            language=language,
            is_public=is_public,
            **actor.scope(),
        )

    def delete(self, actor: Actor, uuid: UUID) -> str:
        """Deletes the file and (by cascade) everything hanging off it; returns the storage path to remove."""
        return _delete(self.conn, uuid=uuid, **actor.scope()).storage_path

    # -- what users may ask of processing ---------------------------------------------------------------------

    def request_cancel(self, actor: Actor, uuid: UUID) -> MediaFile:
        """pending|queued → cancelled at once; processing → cancelling, flagged for the job to stop."""
        moved = _request_cancel(self.conn, uuid=uuid, from_statuses=list(FROM["cancel"]), **actor.scope())
        return moved or self._refuse(actor, uuid, "cancel", "cancelled")

    def retry(self, actor: Actor, uuid: UUID) -> MediaFile:
        """error|cancelled → pending, counting the retry; Conflict once max_retries is reached."""
        moved = _retry(self.conn, uuid=uuid, from_statuses=list(FROM["retry"]), **actor.scope())
        return moved or self._refuse(actor, uuid, "retry", "retried")

    def reprocess(self, actor: Actor, uuid: UUID) -> MediaFile:
        """completed|error|cancelled → pending, with progress, errors and retry budgets reset."""
        moved = _reprocess(self.conn, uuid=uuid, from_statuses=list(FROM["reprocess"]), **actor.scope())
        return moved or self._refuse(actor, uuid, "reprocess", "reprocessed")

    def stuck_for(
        self, actor: Actor, *, older_than_seconds: float = STUCK_AFTER_SECONDS, limit: int = 100
    ) -> list[FileState]:
        return _stuck_for_actor(
            self.conn,
            statuses=list(STUCK_STATUSES),
            older_than_seconds=older_than_seconds,
            limit=keyset.clamp_limit(limit),
            **actor.scope(),
        )

    def _refuse(self, actor: Actor, uuid: UUID, transition: str, done: str) -> MediaFile:
        """Why a guarded user transition matched no row: NotFound for files the actor cannot see, else Conflict."""
        current = _state(self.conn, uuid=uuid, **actor.scope())
        if transition == "retry" and current.status in FROM["retry"] and current.retry_count >= current.max_retries:
            raise Conflict(f"the file was already retried {current.retry_count} times", "retry_count")
        allowed = " or ".join(FROM[transition])
        raise Conflict(f"the file is {current.status}; only {allowed} files can be {done}", "status")

    # -- workers (no actor: they act for the system) ----------------------------------------------------------

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

    def set_summary_status(self, file_id: int, status: SummaryStatus | None) -> None:
        if _set_summary_status(self.conn, file_id=file_id, summary_status=status) == 0:
            raise NotFound(f"file {file_id} not found")

    def stuck(
        self, older_than_seconds: float, *, limit: int = 100, statuses: tuple[str, ...] = STUCK_STATUSES
    ) -> list[FileState]:
        """Running files (processing or cancelling) whose job has been silent longer than this, oldest first."""
        return _stuck(
            self.conn,
            statuses=list(statuses),
            older_than_seconds=older_than_seconds,
            limit=keyset.clamp_limit(limit),
        )

    def record_recovery(self, file_id: int) -> FileState:
        """processing|queued → pending after its job was lost, counting the attempt; the caller re-enqueues."""
        state = _record_recovery(self.conn, file_id=file_id, from_statuses=list(FROM["recover"]))
        return _moved(state, "recover", file_id)

    def storage_inventory(self) -> list[StoredFile]:
        """For the cleanup job: every row's storage path."""
        return _storage_inventory(self.conn)

    def mark_orphaned(self, file_ids: list[int]) -> int:
        return _mark_orphaned(self.conn, ids=file_ids)
