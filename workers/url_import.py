"""`download_url(import_id, task_id)`: a URL import pending → downloading → completed | failed.

The media is fetched into `incoming/` (workers/url_fetch.py), then in one transaction moved to its storage path,
recorded as the user's media file and queued for processing exactly like an upload; a failed download leaves no
file in the library and no bytes on disk. Progress (bytes, and the task's fraction with a notification) is written
at every tenth of a download whose size is known, else every OPENTR_PROGRESS_SECONDS.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from jobs import dispatch
from jobs.queues import redis_connection
from outbound.addresses import BlockedUrl, check_url
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.media_files import MediaFileRepository
from repo.notifications import NotificationRepository
from repo.rows import Actor
from repo.tasks import TaskRepository
from repo.url_imports import UrlImport, UrlImportRepository
from storage import layout
from workers import ytdlp
from workers.context import JobContext, job_context
from workers.liveness import JobLease, LeaseTaken
from workers.steps import ignoring_gone
from workers.url_fetch import DownloadError, Fetched, fetch

log = logging.getLogger("opentr.jobs.url_import")


class ImportGone(Exception):
    """The import (or its owner) was deleted while downloading: stop without writing."""


def download_url(import_id: int, task_id: str) -> str:
    context = job_context()
    try:
        with JobLease(context.database_url, context.settings, task_id):
            return _download(context, import_id, task_id)
    except LeaseTaken:
        log.info("%s: another live copy of this job owns it; nothing to do", task_id)
        return "skipped"


def _download(context: JobContext, import_id: int, task_id: str) -> str:
    job = _claim(context, import_id, task_id)
    if job is None:
        return "skipped"
    part = layout.incoming_dir(context.storage_dir) / f"{uuid.uuid4().hex}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    try:
        fetched, title = _fetch(context, job, part)
        file_id = _store(context, job, part, fetched, title)
    except ImportGone:
        return "superseded"
    except (DownloadError, BlockedUrl) as exc:
        _fail(context, job, str(exc))
        return "error"
    except Exception as exc:
        _fail(context, job, f"internal error ({type(exc).__name__})")
        raise  # RQ keeps the traceback; the import already says it failed
    finally:
        part.unlink(missing_ok=True)
    dispatch.enqueue_processing(redis_connection(context.redis_url), file_id, task_id=job.processing_task)
    return "completed"


@dataclass
class _Job:
    record: UrlImport
    processing_task: str = ""
    next_report: float = 0.1
    last_report_at: float = 0.0


def _claim(context: JobContext, import_id: int, task_id: str) -> _Job | None:
    try:
        with context.db.transaction() as conn:
            record = UrlImportRepository(conn).start(import_id, task_id)
            TaskRepository(conn).start(task_id)
            _notify(conn, record, f"Downloading {record.url}", progress=0.0)
            return _Job(record, last_report_at=time.monotonic())
    except (Conflict, NotFound):
        with context.db.transaction() as conn, ignoring_gone():
            TaskRepository(conn).cancel(task_id)
        log.info("%s: URL import %s is not waiting for this job; nothing to do", task_id, import_id)
        return None


def _fetch(context: JobContext, job: _Job, part: Path) -> tuple[Fetched, str | None]:
    settings = context.settings
    url, headers, filename, title = job.record.url, None, None, None
    if ytdlp.claims(url):
        check_url(url, settings.url_allowance)  # again: the name may resolve elsewhere than when it was accepted
        source = ytdlp.resolve(url)
        url, headers, filename, title = source.url, source.headers, source.filename, source.title

    def progress(received: int, total: int | None) -> None:
        _progress(context, job, received, total)

    fetched = fetch(
        url,
        part,
        max_bytes=settings.opentr_max_upload_mb * 1024 * 1024,
        allowance=settings.url_allowance,
        on_progress=progress,
        headers=headers,
        filename=filename,
    )
    return fetched, title


def _progress(context: JobContext, job: _Job, received: int, total: int | None) -> None:
    now = time.monotonic()
    if total:
        fraction = min(received / total, 1.0)
        if fraction < job.next_report:
            return
        job.next_report = (int(fraction * 10) + 1) / 10
    else:
        if now - job.last_report_at < context.settings.opentr_progress_seconds:
            return
        fraction = job.record.progress  # unknown size: bytes grow, the fraction cannot
    job.last_report_at = now
    with context.db.transaction() as conn:
        if not UrlImportRepository(conn).progress(job.record.id, received, total):
            raise ImportGone()
        TaskRepository(conn).heartbeat(job.record.task_id, fraction)
        _notify(conn, job.record, f"Downloaded {received} bytes", progress=fraction)


def _store(context: JobContext, job: _Job, part: Path, fetched: Fetched, title: str | None) -> int:
    record, owner = job.record, Actor(job.record.user_id)
    relative = layout.new_media_path(owner.id)
    try:
        with context.db.transaction() as conn:
            files = MediaFileRepository(conn)
            duplicate = files.find_duplicate(owner, fetched.sha256)
            if duplicate is not None:
                raise DownloadError(f"{fetched.filename} is already in your library as {duplicate.uuid}")
            if not UrlImportRepository(conn).progress(record.id, fetched.size, fetched.size):
                raise ImportGone()
            context.storage.put_file(part, relative)  # the local directory or S3, like an upload
            created = files.create(
                owner,
                filename=fetched.filename,
                storage_path=relative,
                file_size=fetched.size,
                content_type=fetched.content_type,
                file_hash=fetched.sha256,
                title=title,
                source_url=record.url,
            )
            job.processing_task = dispatch.queue_processing(conn, created.id, owner.id)
            UrlImportRepository(conn).complete(record.id, created.id)
            TaskRepository(conn).complete(record.task_id)
            _notify(conn, record, f"Downloaded {fetched.filename}", progress=1.0, media_file_id=created.id)
            return created.id
    except BaseException:
        context.storage.delete(relative)  # the rows were rolled back: no file may stay behind them
        raise


def _fail(context: JobContext, job: _Job, message: str) -> None:
    log.warning("%s failed: %s", job.record.task_id, message)
    with context.db.transaction() as conn:
        UrlImportRepository(conn).fail(job.record.id, message[:2000])
        with ignoring_gone():
            TaskRepository(conn).fail(job.record.task_id, message[:2000])
        NotificationRepository(conn).notify(
            job.record.user_id, "error", f"Import from {job.record.url[:200]} failed", message[:500],
            data={"import_uuid": str(job.record.uuid)}, task_id=job.record.task_id,
        )  # fmt: skip


def _notify(conn: Connection, record: UrlImport, title: str, progress: float, media_file_id: int | None = None) -> None:
    NotificationRepository(conn).notify(
        record.user_id,
        "upload",
        title[:200],
        data={"import_uuid": str(record.uuid)},
        progress=progress,
        media_file_id=media_file_id,
        task_id=record.task_id,
    )
