"""The `download` kind: a URL import pending → downloading → completed | failed, run by workers/url_import.py.

A download whose job died ends failed, telling its owner to import the URL again (the bytes it had fetched were in
the dead worker's `incoming/` and are removed by cleanup).
"""

from __future__ import annotations

from redis import Redis

from jobs.queues import MEDIA
from jobs.registry import DEAD_OWNER, DeadJob, JobKind, Outcome, Recovered, close_task, declare
from repo.database import Connection
from repo.url_imports import IMPORT_SUBJECT, UrlImport, UrlImportRepository


def queue_url_import(conn: Connection, user_id: int, url: str) -> UrlImport:
    """Create the download task and its pending URL import in the caller's transaction; enqueue `task_id` after."""
    task_id = DOWNLOAD.create_task(conn, user_id, None)
    return UrlImportRepository(conn).create(user_id, task_id, url)


def enqueue_url_import(redis: Redis, import_id: int, task_id: str) -> bool:
    return DOWNLOAD.enqueue(redis, import_id, task_id)


def _recover(conn: Connection, dead: DeadJob) -> Recovered:
    message = f"{DEAD_OWNER}; import the URL again"
    failed = dead.subject_id is not None and UrlImportRepository(conn).fail(dead.subject_id, message)
    close_task(conn, dead.task_id)
    return Recovered(Outcome.FAILED if failed else Outcome.CLOSED)


DOWNLOAD = declare(
    JobKind(
        name="download",
        queue=MEDIA,
        function="workers.url_import.download_url",
        subject=IMPORT_SUBJECT,
        recover=_recover,
        progress="transcription",  # a download ends as a file, whose processing ends in a notification
        timeout_seconds=3 * 3600,
    )
)
