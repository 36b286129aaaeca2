"""`download_url(import_id, task_id)`, the `download` kind (jobs/downloads.py): a URL import pending → downloading
→ completed | failed, run by the skeleton of workers/jobrun.py.

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

from jobs.downloads import DOWNLOAD
from jobs.queues import redis_connection
from jobs.registry import ignoring_gone
from jobs.transcription import enqueue_processing, queue_processing
from outbound.addresses import BlockedUrl, check_url
from repo.database import Connection
from repo.media_files import MediaFileRepository
from repo.rows import Actor
from repo.tasks import TaskRepository
from repo.url_imports import UrlImport, UrlImportRepository
from storage import layout
from workers import ytdlp
from workers.jobrun import Failure, JobBody, JobRun, job_function
from workers.steps import JobSuperseded
from workers.url_fetch import DownloadError, Fetched, fetch

log = logging.getLogger("opentr.jobs.url_import")


@dataclass
class Download:
    record: UrlImport
    next_report: float = 0.1
    last_report_at: float = 0.0


class DownloadUrl(JobBody[Download]):
    kind = DOWNLOAD
    expected = {DownloadError: "download", BlockedUrl: "download"}

    def claim(self, run: JobRun, conn: Connection) -> Download:
        return Download(UrlImportRepository(conn).start(run.subject_id, run.task_id))

    def started(self, run: JobRun, conn: Connection, job: Download) -> None:
        _notify(run, conn, job.record, f"Downloading {job.record.url}", progress=0.0)

    def work(self, run: JobRun, job: Download) -> None:
        job.next_report, job.last_report_at = 0.1, time.monotonic()  # a run again after an outage counts anew
        part = layout.incoming_dir(run.context.storage_dir) / f"{uuid.uuid4().hex}.part"
        part.parent.mkdir(parents=True, exist_ok=True)
        try:
            fetched, title = _fetch(run, job, part)
            file_id, processing_task = _store(run, job, part, fetched, title)
        finally:
            part.unlink(missing_ok=True)
        enqueue_processing(redis_connection(run.context.redis_url), file_id, processing_task)

    def fail(self, run: JobRun, job: Download, failure: Failure) -> None:
        internal = failure.category == "internal"
        message = f"internal error ({type(failure.error).__name__})" if internal else failure.message
        record = job.record
        with run.db.transaction() as conn:
            UrlImportRepository(conn).fail(record.id, message[:2000])
            with ignoring_gone():
                TaskRepository(conn).fail(record.task_id, message[:2000])
            run.notify(
                conn, record.user_id, f"Import from {record.url[:200]} failed", message[:500], kind="error",
                data={"import_uuid": str(record.uuid)},
            )  # fmt: skip


download_url = job_function(DownloadUrl())


def _fetch(run: JobRun, job: Download, part: Path) -> tuple[Fetched, str | None]:
    settings = run.context.settings
    url, headers, filename, title = job.record.url, None, None, None
    if ytdlp.claims(url):
        check_url(url, settings.url_allowance)  # again: the name may resolve elsewhere than when it was accepted
        source = ytdlp.resolve(url)
        url, headers, filename, title = source.url, source.headers, source.filename, source.title

    def progress(received: int, total: int | None) -> None:
        _progress(run, job, received, total)

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


def _progress(run: JobRun, job: Download, received: int, total: int | None) -> None:
    now = time.monotonic()
    if total:
        fraction = min(received / total, 1.0)
        if fraction < job.next_report:
            return
        job.next_report = (int(fraction * 10) + 1) / 10
    else:
        if now - job.last_report_at < run.context.settings.opentr_progress_seconds:
            return
        fraction = job.record.progress  # unknown size: bytes grow, the fraction cannot
    job.last_report_at = now
    with run.db.transaction() as conn:
        if not UrlImportRepository(conn).progress(job.record.id, received, total):
            raise JobSuperseded(f"URL import {job.record.id} was deleted while downloading")
        _notify(run, conn, job.record, f"Downloaded {received} bytes", progress=fraction)


def _store(run: JobRun, job: Download, part: Path, fetched: Fetched, title: str | None) -> tuple[int, str]:
    """The downloaded media becomes the owner's file, queued for processing; (file id, its processing task)."""
    context, record, owner = run.context, job.record, Actor(job.record.user_id)
    relative = layout.new_media_path(owner.id)
    try:
        with context.db.transaction() as conn:
            files = MediaFileRepository(conn)
            duplicate = files.find_duplicate(owner, fetched.sha256)
            if duplicate is not None:
                raise DownloadError(f"{fetched.filename} is already in your library as {duplicate.uuid}")
            if not UrlImportRepository(conn).progress(record.id, fetched.size, fetched.size):
                raise JobSuperseded(f"URL import {record.id} was deleted while downloading")
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
            processing_task = queue_processing(conn, created.id, owner.id)
            UrlImportRepository(conn).complete(record.id, created.id)
            TaskRepository(conn).complete(record.task_id)
            _notify(run, conn, record, f"Downloaded {fetched.filename}", progress=1.0, media_file_id=created.id)
            return created.id, processing_task
    except BaseException:
        context.storage.delete(relative)  # the rows were rolled back: no file may stay behind them
        raise


def _notify(
    run: JobRun, conn: Connection, record: UrlImport, title: str, progress: float, media_file_id: int | None = None
) -> None:
    """Progress on the task, announced live; the upload page follows the import by its uuid
    (GET /api/files/from-url/{uuid}), the file's own processing then ends in a notification."""
    run.report(conn, record.user_id, progress, title[:200], media_file_id=media_file_id)
