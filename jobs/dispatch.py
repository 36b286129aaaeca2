"""Queueing work: the transactional outbox.

A job the user is told about is a `tasks` row (status `pending`) written in the caller's transaction, together with
the state change of its subject (the file `queued`, the summary `pending`). The RQ job is enqueued only after that
commit — a job must never run before the rows it reads exist — and if Redis refuses, or restarts empty and loses
it, `dispatch_pending` (run by every worker, at start and periodically) enqueues every pending task that RQ does
not hold. Enqueueing twice is harmless: a job claims its subject with a guarded UPDATE and takes its task's
advisory lock first, so a second copy finds nothing to do and touches nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.registry import StartedJobRegistry

from jobs.queues import ALL_QUEUES, MEDIA, SUMMARIES
from repo.database import Connection, Database
from repo.errors import Conflict
from repo.file_processing import FileProcessingRepository
from repo.jobs import JobRepository
from repo.llm_configs import LlmConfigRepository
from repo.prompts import PromptRepository
from repo.rows import Actor
from repo.summaries import SummaryRepository, task_id_for
from repo.tasks import TaskRepository
from repo.url_imports import UrlImport, UrlImportRepository

log = logging.getLogger("opentr.dispatch")


@dataclass(frozen=True)
class JobRef:
    """One kind of job, named once: the function RQ imports in the worker, its queue, its time limit."""

    function: str
    queue: str
    timeout_seconds: int


PROCESS_MEDIA = JobRef("workers.process_media.process_media", MEDIA, 4 * 3600)
GENERATE_SUMMARY = JobRef("workers.summary_job.generate_summary", SUMMARIES, 3600)
DOWNLOAD_URL = JobRef("workers.url_import.download_url", MEDIA, 3 * 3600)
JOB_FOR_TASK_TYPE = {"transcription": PROCESS_MEDIA, "summarization": GENERATE_SUMMARY, "download": DOWNLOAD_URL}


class NoActiveConfiguration(Conflict):
    def __init__(self) -> None:
        super().__init__("no active LLM configuration: add one and activate it", "llm_config_uuid")


def queue_processing(conn: Connection, file_id: int, user_id: int) -> str:
    """Create the transcription task and move the file pending → queued; returns the job id to enqueue."""
    task_id = f"process-{uuid.uuid4().hex}"
    TaskRepository(conn).create(task_id, user_id, file_id, "transcription")
    FileProcessingRepository(conn).mark_queued(file_id, task_id)
    return task_id


def queue_summary(
    conn: Connection, user_id: int, file_id: int, prompt_id: int | None = None, config_id: int | None = None
) -> tuple[int, str]:
    """Create the pending summary and its task in the caller's transaction; returns (summary_id, task_id)."""
    actor = Actor(user_id)
    configs = LlmConfigRepository(conn, b"")
    config = configs.get_by_id(config_id) if config_id is not None else configs.active(actor)
    if config is None:
        raise NoActiveConfiguration()
    prompt = PromptRepository(conn).get_by_id(prompt_id) if prompt_id else PromptRepository(conn).active(actor)
    summary = SummaryRepository(conn).create_pending(
        actor, file_id, prompt.id, config.id, config.provider, config.model_name
    )
    task_id = task_id_for(summary.uuid)
    TaskRepository(conn).create(task_id, user_id, file_id, "summarization")
    return summary.id, task_id


def queue_url_import(conn: Connection, user_id: int, url: str) -> UrlImport:
    """Create the download task and its pending URL import in the caller's transaction; enqueue `task_id` after."""
    task_id = f"download-{uuid.uuid4().hex}"
    TaskRepository(conn).create(task_id, user_id, None, "download")
    return UrlImportRepository(conn).create(user_id, task_id, url)


def enqueue_url_import(redis: Redis, import_id: int, task_id: str) -> bool:
    return enqueue(redis, DOWNLOAD_URL, import_id, task_id)


def enqueue_processing(redis: Redis, file_id: int, task_id: str) -> bool:
    """Enqueue after commit; False (and a warning) when Redis refused: the dispatcher enqueues it later."""
    return enqueue(redis, PROCESS_MEDIA, file_id, task_id)


def enqueue_summary(redis: Redis, summary_id: int, task_id: str) -> bool:
    return enqueue(redis, GENERATE_SUMMARY, summary_id, task_id)


def enqueue(redis: Redis, job: JobRef, subject_id: int, task_id: str) -> bool:
    # No RQ retries: a failed or lost job is found by recovery through its task row and advisory lock, which
    # needs no scheduler process and no clock.
    try:
        Queue(job.queue, connection=redis).enqueue(
            job.function,
            subject_id,
            task_id,
            job_id=task_id,
            job_timeout=job.timeout_seconds,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
        )
    except RedisError as exc:
        log.warning("could not enqueue %s (%s); the dispatcher will retry it", task_id, exc)
        return False
    return True


def jobs_on_redis(redis: Redis) -> set[str]:
    """Job ids RQ holds as waiting or running. Read before the database, so a job that starts in between is
    seen by one of the two (its task leaves `pending` in the same transaction that claims its subject)."""
    held: set[str] = set()
    for name in ALL_QUEUES:
        queue = Queue(name, connection=redis)
        held.update(queue.get_job_ids())
        # RQ moves a job to an intermediate list when a worker takes it, then into the started registry.
        held.update(j.decode() for j in redis.lrange(queue.intermediate_queue_key, 0, -1))  # type: ignore[union-attr]
        held.update(StartedJobRegistry(queue=queue).get_job_ids(cleanup=False))
    return held


def dispatch_pending(db: Database, redis: Redis, limit: int = 500) -> list[str]:
    """Enqueue every pending task whose job RQ does not hold (lost by a Redis restart, or never enqueued because
    Redis was down after the commit); returns the task ids enqueued. Raises RedisError while Redis is down."""
    held = jobs_on_redis(redis)
    with db.transaction() as conn:
        pending = JobRepository(conn).dispatchable(limit)
    enqueued: list[str] = []
    for job in pending:
        if job.task_id in held:
            continue
        ref = JOB_FOR_TASK_TYPE[job.task_type]
        if enqueue(redis, ref, job.subject_id, job.task_id):
            enqueued.append(job.task_id)
    if enqueued:
        log.info("dispatcher: enqueued %d job(s) Redis did not hold: %s", len(enqueued), ", ".join(enqueued[:10]))
    return enqueued
