"""Queueing work: the task row and the state change are written in the caller's transaction; the RQ job is
enqueued only after that transaction committed (a job must never run before the rows it reads exist)."""

from __future__ import annotations

import logging
import uuid

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

from repo.database import Connection
from repo.file_processing import FileProcessingRepository
from repo.tasks import TaskRepository
from workers.queues import MEDIA, SUMMARIES

log = logging.getLogger("opentr.dispatch")
PROCESS_MEDIA = "workers.process_media.process_media"
GENERATE_SUMMARY = "workers.summary_job.generate_summary"
JOB_TIMEOUT = 4 * 3600


def queue_processing(conn: Connection, file_id: int, user_id: int) -> str:
    """Create the transcription task and move the file pending → queued; returns the job id to enqueue."""
    task_id = f"process-{uuid.uuid4().hex}"
    TaskRepository(conn).create(task_id, user_id, file_id, "transcription")
    FileProcessingRepository(conn).mark_queued(file_id, task_id)
    return task_id


def enqueue_processing(redis: Redis, file_id: int, task_id: str) -> bool:
    """Enqueue after commit; False (and a warning) when Redis refused: recovery re-enqueues the file later."""
    return _enqueue(redis, MEDIA, PROCESS_MEDIA, file_id, task_id)


def enqueue_summary(redis: Redis, summary_id: int, task_id: str) -> bool:
    return _enqueue(redis, SUMMARIES, GENERATE_SUMMARY, summary_id, task_id)


def _enqueue(redis: Redis, queue_name: str, func: str, subject_id: int, task_id: str) -> bool:
    try:
        Queue(queue_name, connection=redis).enqueue(
            func,
            subject_id,
            task_id,
            job_id=task_id,
            job_timeout=JOB_TIMEOUT,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
            retry=Retry(max=2, interval=[10, 60]),
        )
    except RedisError as exc:
        log.warning("could not enqueue %s (%s); recovery will retry it", task_id, exc)
        return False
    return True
