"""Queueing work: the transactional outbox.

A job the user is told about is a `tasks` row (status `pending`) written in the caller's transaction, together with
the state change of its subject (the file `queued`, the summary `pending`). The RQ job is enqueued only after that
commit — a job must never run before the rows it reads exist — and if Redis refuses, or restarts empty and loses
it, `dispatch_pending` (run by every worker, at start and periodically) enqueues every pending task that RQ does
not hold, asking each declared kind's subject which of its tasks still wait (jobs/registry.py). Enqueueing twice is
harmless: a job claims its subject with a guarded UPDATE and takes its task's advisory lock first, so a second copy
finds nothing to do and touches nothing.

The web queues and enqueues each kind through the functions its declaration module defines; they are named here
too, as the one place `web/` imports them from.
"""

from __future__ import annotations

import logging

from redis import Redis
from rq import Queue
from rq.registry import StartedJobRegistry

from jobs.downloads import enqueue_url_import, queue_url_import
from jobs.embeddings import enqueue_embedding, queue_embedding
from jobs.kinds import all_kinds
from jobs.outages import database_unavailable
from jobs.queues import ALL_QUEUES
from jobs.registry import JobKind
from jobs.summaries import NoActiveConfiguration, enqueue_summary, queue_summary
from jobs.transcription import enqueue_processing, queue_processing
from repo.database import Database
from repo.jobs import WaitingJob

__all__ = [
    "NoActiveConfiguration",
    "dispatch_pending",
    "enqueue_embedding",
    "enqueue_processing",
    "enqueue_summary",
    "enqueue_url_import",
    "jobs_on_redis",
    "queue_embedding",
    "queue_processing",
    "queue_summary",
    "queue_url_import",
]
log = logging.getLogger("opentr.dispatch")


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
    waiting: list[tuple[JobKind, WaitingJob]] = []
    with db.transaction() as conn:
        for kind in all_kinds():
            try:
                with conn.transaction():  # a savepoint: one kind's broken SQL leaves the others dispatched
                    waiting.extend((kind, job) for job in kind.subject.waiting(conn, kind.name, limit))
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                log.warning("dispatcher: cannot read %s jobs: %s: %s", kind.name, type(exc).__name__, exc)
    enqueued = [
        job.task_id
        for kind, job in waiting
        if job.task_id not in held and kind.enqueue(redis, job.subject_id, job.task_id)
    ]
    if enqueued:
        log.info("dispatcher: enqueued %d job(s) Redis did not hold: %s", len(enqueued), ", ".join(enqueued[:10]))
    return enqueued
