"""Media imported from a URL: the request a user made and how far its download got (sql/url_imports.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict
from repo.jobs import JobSubject
from repo.rows import Actor


@dataclass(frozen=True, slots=True)
class UrlImport:
    id: int
    uuid: UUID
    user_id: int
    task_id: str
    url: str
    status: str
    bytes_received: int
    bytes_total: int | None
    progress: float
    file_uuid: UUID | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


_create = s.one("url_imports.create", UrlImport)
_get = s.one("url_imports.get", UrlImport)
_start = s.one_or_none("url_imports.start", UrlImport)
_progress = s.rowcount("url_imports.progress")
_complete = s.rowcount("url_imports.complete")
_fail = s.rowcount("url_imports.fail")
# What a `download` job works on (repo/jobs.py).
IMPORT_SUBJECT = JobSubject("url_imports")


class UrlImportRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, user_id: int, task_id: str, url: str) -> UrlImport:
        """A pending import; its `download` task must exist already (same transaction)."""
        return _create(self.conn, user_id=user_id, task_id=task_id, url=url)

    def get(self, actor: Actor, uuid: UUID) -> UrlImport:
        return _get(self.conn, uuid=uuid, **actor.scope())

    def start(self, import_id: int, task_id: str) -> UrlImport:
        found = _start(self.conn, id=import_id, task_id=task_id)
        if found is None:
            raise Conflict(f"URL import {import_id} is not pending for {task_id} (or no longer exists)", "status")
        return found

    def progress(self, import_id: int, bytes_received: int, bytes_total: int | None) -> bool:
        """False when the import is no longer downloading (deleted with its owner): the job stops."""
        return _progress(self.conn, id=import_id, bytes_received=bytes_received, bytes_total=bytes_total) > 0

    def complete(self, import_id: int, media_file_id: int) -> None:
        if _complete(self.conn, id=import_id, media_file_id=media_file_id) == 0:
            raise Conflict(f"URL import {import_id} is not downloading", "status")

    def fail(self, import_id: int, message: str) -> bool:
        return _fail(self.conn, id=import_id, error_message=message) > 0
