"""Media files: upload records, the file list and detail screens, and what users may ask of processing.

Users address files by uuid and reach their own and those shared with them (sql/fragments.sql; an admin reaches
the others only in the explicit all-files view). Every state change is one guarded UPDATE
that names the statuses it may start from (FROM below); the transitions workers drive live in
repo/file_processing.py, the ones users ask for (cancel, retry, reprocess) here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from repo import access
from repo import cursor as keyset
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Invalid, NotFound, Stale
from repo.library import LibraryFilter, SortKey
from repo.rows import Actor
from repo.segment_counts import COUNTS

Json = dict[str, Any] | list[Any]
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
SORT_VALUE_TYPES: dict[str, type[keyset.Value]] = {"upload_time": str, "title": str, "duration": float}


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
    warnings: list[str]  # about the published transcript (file_processing.set_warnings)
    # How sure the speech engine was of the language it detected; NULL when the language was given (at upload, in
    # the settings) or came with a transcript file, so it also says whether `language` was detected.
    language_probability: float | None
    # Counts the user's edits of the descriptive fields (title, author, ...): If-Match compares it (a PUT with a
    # stale one is refused, web/preconditions.py). Processing's own updates of the row leave it alone.
    version: int

    @property
    def language_detected(self) -> bool:
        return self.language_probability is not None


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


@dataclass(slots=True)
class FileListRow:
    """A row of the library page. `segment_count` is filled in after the query (`transcript_version` names it, or
    the query counted a file without a version: repo/segment_counts.py); mutable for that only."""

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
    transcript_version: int | None
    unversioned_segment_count: int | None
    owner_name: str
    my_role: str  # owner, editor, commenter or viewer
    segment_count: int = field(init=False, default=0)

    def kept_count(self) -> int | None:
        """The segment count when it is known without asking: counted by the query, or kept for the version."""
        if self.transcript_version is None:
            return self.unversioned_segment_count
        return COUNTS.get(self.uuid, self.transcript_version)


@dataclass(frozen=True, slots=True)
class _SegmentCount:
    media_file_id: int
    uuid: UUID
    transcript_version: int | None
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
class OwnedFile:
    """A row of an admin's all-files view: the file and whose it is."""

    id: int
    uuid: UUID
    filename: str
    title: str | None
    status: str
    duration: float | None
    file_size: int
    upload_time: datetime
    owner_uuid: UUID
    owner_email: str
    owner_name: str


@dataclass(frozen=True, slots=True)
class _StoragePath:
    storage_path: str


_create = s.one("media_files.create", MediaFile)
_find_duplicate = s.one_or_none("media_files.find_duplicate", MediaFile)
_get = s.one("media_files.get", MediaFile)
_get_by_id = s.one("media_files.get_by_id", MediaFile)
_state = s.one("media_files.state", FileState)
_waveform = s.one("media_files.waveform", Waveform)
_storage_path_for = s.one("media_files.storage_path_for", StoredContent)
_detail = s.one("media_files.detail", FileDetail)
_list_page = s.many("media_files.list_page", FileListRow)
_segment_counts = s.many("media_files.segment_counts", _SegmentCount)
_update = s.one_or_none("media_files.update", MediaFile)
_delete = s.one_or_none("media_files.delete", _StoragePath)
_request_cancel = s.one_or_none("media_files.request_cancel", MediaFile)
_retry = s.one_or_none("media_files.retry", MediaFile)
_reprocess = s.one_or_none("media_files.reprocess", MediaFile)
_stuck_for_actor = s.many("media_files.stuck_for_actor", FileState)
_all_files = s.many("media_files.all_files", OwnedFile)


def _cursor_time(value: keyset.Value) -> datetime:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid("the cursor is malformed; start again from the first page", "cursor") from None
    if at.tzinfo is None:
        raise Invalid("the cursor is malformed; start again from the first page", "cursor")
    return at


def _ilike_pattern(q: str | None) -> str | None:
    """A contains-pattern in which the user's %, _ and backslash stand for themselves."""
    text = (q or "").strip()
    if not text:
        return None
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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

    def state_to_edit(self, actor: Actor, uuid: UUID) -> FileState:
        """The file's state for a change of its processing (re-run, attach a transcript): NotFound when the actor
        cannot see it, Forbidden below the editor role."""
        state = self.state(actor, uuid)
        access.require(self.conn, actor, access.EDITOR, file_uuid=uuid)
        return state

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
        filters: LibraryFilter | None = None,
        status: str | None = None,
        tag: str | None = None,
        collection: UUID | None = None,
        q: str | None = None,
        uploaded_from: datetime | None = None,
        uploaded_to: datetime | None = None,
        sort: SortKey = "upload_time",
        descending: bool | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> FilePage:
        """One page of the library: `filters` (repo.library) plus the shorthands status, tag, collection and the
        upload range, and `q` matched against filename, title and description. Newest first by default; titles
        sort A→Z and durations longest first unless `descending` says otherwise. limit is clamped to 1..200."""
        base = filters or LibraryFilter()
        params = dataclasses.replace(
            base,
            statuses=[*(base.statuses or ()), *([status] if status is not None else [])] or None,
            tags=[*(base.tags or ()), *([tag] if tag is not None else [])] or None,
            collection=collection or base.collection,
            uploaded_from=uploaded_from or base.uploaded_from,
            uploaded_to=uploaded_to or base.uploaded_to,
        ).params()
        if sort not in SORT_VALUE_TYPES:
            raise Invalid(f"sort is one of {', '.join(SORT_VALUE_TYPES)}", "sort")
        down = sort != "title" if descending is None else descending
        kind = f"{CURSOR_KIND}:{sort}:{'desc' if down else 'asc'}"
        after = keyset.decode_values(kind, cursor, [SORT_VALUE_TYPES[sort], int])
        after_key = after[0] if after else None
        after_time = _cursor_time(after_key) if sort == "upload_time" and after_key is not None else None
        size = keyset.clamp_limit(limit)
        rows = _list_page(
            self.conn,
            pattern=_ilike_pattern(q),
            **params,
            sort=sort,
            descending=down,
            after_time=after_time,
            after_text=after_key if sort == "title" else None,
            after_number=after_key if sort == "duration" else None,
            after_id=after[1] if after else None,
            limit=size + 1,
            **actor.scope(),
        )
        items = self._with_segment_counts(actor, rows[:size])
        if len(rows) <= size or not items:
            return FilePage(items, None)
        last = items[-1]
        key: keyset.Value
        if sort == "title":
            key = last.title if last.title is not None else last.filename
        elif sort == "duration":
            key = float(last.duration or 0)
        else:
            key = last.upload_time.isoformat()
        return FilePage(items, keyset.encode_values(kind, [key, last.id]))

    def _with_segment_counts(self, actor: Actor, rows: list[FileListRow]) -> list[FileListRow]:
        """The page's rows with their segment counts: kept ones (repo/segment_counts.py), the others counted in one
        query, which also keeps them. A file whose version changed between the two statements gets the newer count."""
        known = {row.id: row.kept_count() for row in rows}
        missing = [file_id for file_id, count in known.items() if count is None]
        if missing:
            counted = _segment_counts(self.conn, ids=missing, **actor.scope())
            COUNTS.keep((c.uuid, c.transcript_version, c.segment_count) for c in counted)
            known.update({c.media_file_id: c.segment_count for c in counted})
        for row in rows:
            row.segment_count = known[row.id] or 0
        return rows

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
        if_versions: list[int] | None = None,
    ) -> MediaFile:
        """None leaves a field unchanged; an empty string clears a text field. With `if_versions` (what an If-Match
        allows) only while the file is at one of those versions; Stale, with the stored file, when it moved on."""
        updated = _update(
            self.conn,
            uuid=uuid,
            title=title,
            author=author,
            description=description,
            language=language,
            is_public=is_public,
            if_versions=if_versions,
            **actor.scope(),
        )
        if updated is None:
            access.require(self.conn, actor, access.EDITOR, file_uuid=uuid)  # 404 unseen, 403 below editor
            current = self.get(actor, uuid)
            raise Stale("the file changed since you read it; nothing was saved", current, current.version)
        return updated

    def delete(self, actor: Actor, uuid: UUID) -> str:
        """Deletes the file and (by cascade) everything hanging off it; returns the storage path to remove."""
        deleted = _delete(self.conn, uuid=uuid, **actor.scope())
        if deleted is None:
            access.require(self.conn, actor, access.OWNER, file_uuid=uuid)
            raise NotFound("file not found")
        return deleted.storage_path

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

    def all_files(self, actor: Actor, *, after_id: int | None = None, limit: int = 100) -> list[OwnedFile]:
        """Every file the actor may read with its owner, newest first: everyone's for an admin in the all-files view
        (Actor.seeing_all), which is what it is for. Ask for limit + 1 to learn whether a next page exists."""
        return _all_files(self.conn, after_id=after_id, limit=limit, **actor.scope())

    def _refuse(self, actor: Actor, uuid: UUID, transition: str, done: str) -> MediaFile:
        """Why a guarded user transition matched no row: NotFound for files the actor cannot see, Forbidden below
        the editor role, else Conflict."""
        access.require(self.conn, actor, access.EDITOR, file_uuid=uuid)
        current = _state(self.conn, uuid=uuid, **actor.scope())
        if transition == "retry" and current.status in FROM["retry"] and current.retry_count >= current.max_retries:
            raise Conflict(f"the file was already retried {current.retry_count} times", "retry_count")
        allowed = " or ".join(FROM[transition])
        raise Conflict(f"the file is {current.status}; only {allowed} files can be {done}", "status")
