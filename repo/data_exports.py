"""A person's requests to download everything of theirs (table `data_exports`, migration 0020).

A request is `pending` until its job (jobs/data_exports.py) claims it (`processing`), then `ready` with its archive in
storage and a link valid for `VALID_SECONDS`, or `failed` with the reason. `opentr cleanup` removes the archive of an
expired link and marks it `expired`; the row stays, so the link answers that it expired (410) rather than 404.
Only its owner sees an export (row-level security, and every query names the owner).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from repo import statements as s
from repo.database import Connection, as_system
from repo.errors import Conflict, NotFound
from repo.jobs import JobSubject
from repo.rows import Actor

VALID_SECONDS: Final = 24 * 3600  # how long a ready archive can be downloaded
TASK_PREFIX: Final = "data_export-"


@dataclass(frozen=True, slots=True)
class DataExport:
    id: int
    uuid: UUID
    user_id: int
    status: str
    progress: float
    storage_key: str | None
    size: int | None
    files: int | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    ready_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Key:
    storage_key: str


_create = s.one("data_exports.create", DataExport)
_busy = s.one_or_none("data_exports.busy", DataExport)
_start = s.one_or_none("data_exports.start", DataExport)
_progress = s.rowcount("data_exports.progress")
_complete = s.one_or_none("data_exports.complete", DataExport)
_fail = s.one_or_none("data_exports.fail", DataExport)
_list_for_user = s.many("data_exports.list_for_user", DataExport)
_get = s.one_or_none("data_exports.get", DataExport)
_get_by_id = s.one_or_none("data_exports.get_by_id", DataExport)
_expired = s.many("data_exports.expired", DataExport)
_mark_expired = s.rowcount("data_exports.mark_expired")
_stored_keys = s.many("data_exports.stored_keys", _Key)
# What an export job works on (repo/jobs.py); its task id is task_id_for(uuid).
DATA_EXPORT_SUBJECT = JobSubject("data_exports")


def task_id_for(export_uuid: UUID) -> str:
    """The job and task id of an export; sql/data_exports.sql finds an export's task by this shape."""
    return f"{TASK_PREFIX}{export_uuid}"


def archive_key(owner_id: int, export_uuid: UUID) -> str:
    """Where the archive is stored: under its owner's own storage directory (storage/layout.py), so it goes with
    the account, and named by the export's uuid, never by anything a person typed."""
    return f"{owner_id}/exports/{export_uuid.hex}.zip"


def _found(export: DataExport | None) -> DataExport:
    if export is None:
        raise NotFound("export not found")
    return export


class DataExportRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, actor: Actor) -> DataExport:
        """A new pending request; Conflict while another of the person's is still being built."""
        busy = _busy(self.conn, user_id=actor.id)
        if busy is not None:
            raise Conflict(f"your export {busy.uuid} is still being built; wait for it to be ready", "export")
        return _create(self.conn, user_id=actor.id)

    def list(self, actor: Actor, limit: int = 50) -> builtins.list[DataExport]:
        return _list_for_user(self.conn, actor_id=actor.id, limit=limit)

    def get(self, actor: Actor, uuid: UUID) -> DataExport:
        return _found(_get(self.conn, uuid=uuid, actor_id=actor.id))

    def get_by_id(self, export_id: int) -> DataExport:
        return _found(_get_by_id(self.conn, id=export_id))

    def start(self, export_id: int) -> DataExport:
        started = _start(self.conn, id=export_id)
        if started is None:
            raise Conflict(f"export is {self.get_by_id(export_id).status}; it cannot start", "status")
        return started

    def progress(self, export_id: int, progress: float) -> None:
        _progress(self.conn, id=export_id, progress=max(0.0, min(progress, 1.0)))

    def complete(self, export_id: int, storage_key: str, size: int, files: int) -> DataExport:
        done = _complete(
            self.conn, id=export_id, storage_key=storage_key, size=size, files=files, valid_seconds=VALID_SECONDS
        )
        if done is None:
            raise Conflict(f"export is {self.get_by_id(export_id).status}; it cannot become ready", "status")
        return done

    def fail(self, export_id: int, error: str) -> DataExport:
        failed = _fail(self.conn, id=export_id, error=error)
        if failed is None:
            raise Conflict(f"export is {self.get_by_id(export_id).status}; it cannot fail", "status")
        return failed

    # --- cleanup, as the system: it spans every person's exports ------------------------------------------------

    def expired(self) -> builtins.list[DataExport]:
        with as_system(self.conn):
            return _expired(self.conn)

    def mark_expired(self, ids: builtins.list[int]) -> int:
        with as_system(self.conn):
            return _mark_expired(self.conn, ids=ids)

    def stored_keys(self) -> set[str]:
        with as_system(self.conn):
            return {row.storage_key for row in _stored_keys(self.conn)}
