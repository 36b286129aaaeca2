"""Recovery: work whose owner died (process killed, machine gone) is re-run, given up on, or closed.

A claimed task's owner is alive exactly while it holds the task's advisory lock (workers/liveness.py), so recovery
asks PostgreSQL with `pg_try_advisory_lock`: taken → the owner is dead (or finished between the two reads; the
guarded re-read inside the transaction tells) and this recovery alone now decides that task; refused → a live job
or another worker's recovery has it, and it is left alone. No threshold, no clock: a job inside a two-hour step is
never touched, and a job killed a moment ago is recovered at once.

Each task is recovered in its own transaction, taking row locks in the order of sql/jobs.sql (file, then task), and
a failure there is logged and skipped: recovery never crashes the worker that runs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from redis import Redis
from redis.exceptions import RedisError

from jobs import dispatch
from repo.analytics import AnalyticsRepository
from repo.database import Database
from repo.file_processing import FileProcessingRepository
from repo.jobs import ClaimedJob, JobRepository
from repo.media_files import FileState
from repo.notifications import NotificationRepository
from repo.segments import SegmentRepository
from repo.summaries import SummaryRepository
from repo.tasks import TaskRepository
from repo.transcript_staging import TranscriptStaging
from repo.url_imports import UrlImportRepository
from workers.steps import ignoring_gone

log = logging.getLogger("opentr.recovery")
DEAD_OWNER = "the worker running this job stopped"


@dataclass
class RecoveryReport:
    requeued: list[int] = field(default_factory=list)
    given_up: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    failed_summaries: list[int] = field(default_factory=list)
    closed_tasks: list[str] = field(default_factory=list)
    errors: int = 0

    def __bool__(self) -> bool:
        return any((self.requeued, self.given_up, self.cancelled, self.failed_summaries, self.closed_tasks))


def recover(db: Database, lock_session: psycopg.Connection[Any], redis: Redis | None) -> RecoveryReport:
    """One pass over every claimed task; `lock_session` is an autocommit connection of the caller's own."""
    report = RecoveryReport()
    with db.transaction() as conn:
        claimed = JobRepository(conn).claimed()
    locks = JobRepository(lock_session)
    for job in claimed:
        if not locks.try_lock(job.task_id):
            continue
        try:
            _recover(db, redis, job, report)
        except Exception as exc:  # one bad row must not stop recovery of the others, nor the worker
            report.errors += 1
            log.warning("recovery of %s failed: %s: %s", job.task_id, type(exc).__name__, exc)
        finally:
            locks.unlock(job.task_id)
    if report:
        log.warning("recovery: %s", report)
    return report


def _recover(db: Database, redis: Redis | None, job: ClaimedJob, report: RecoveryReport) -> None:
    if job.task_type == "transcription" and job.media_file_id is not None:
        _recover_file(db, redis, job, report)
    elif job.task_type == "summarization" and job.summary_id is not None:
        with db.transaction() as conn:
            with ignoring_gone():
                summary = SummaryRepository(conn).fail(job.summary_id, f"{DEAD_OWNER}; request the summary again")
                NotificationRepository(conn).notify(
                    summary.user_id,
                    "error",
                    "summary failed",
                    "the worker stopped while summarising; request the summary again",
                    media_file_id=summary.media_file_id,
                    task_id=job.task_id,
                )
                report.failed_summaries.append(job.summary_id)
            _close_task(conn, job.task_id, report)
    elif job.task_type == "download":
        with db.transaction() as conn:
            UrlImportRepository(conn).fail_for_task(job.task_id, f"{DEAD_OWNER}; import the URL again")
            _close_task(conn, job.task_id, report)
    else:
        with db.transaction() as conn:
            _close_task(conn, job.task_id, report)


def _close_task(conn: psycopg.Connection[Any], task_id: str, report: RecoveryReport) -> None:
    with ignoring_gone():
        TaskRepository(conn).fail(task_id, DEAD_OWNER)
        report.closed_tasks.append(task_id)


def _recover_file(db: Database, redis: Redis | None, job: ClaimedJob, report: RecoveryReport) -> None:
    assert job.media_file_id is not None
    new_task: str | None = None
    with db.transaction() as conn:
        files = FileProcessingRepository(conn)
        state = files.lock_state(job.media_file_id)
        if state is None or state.active_task_id != job.task_id or state.status not in ("processing", "cancelling"):
            _close_task(conn, job.task_id, report)  # the file moved on (or is gone); only the task is left open
            return
        if state.status == "cancelling":
            _finish_cancel(conn, state, job.task_id)
            report.cancelled.append(state.id)
        elif state.recovery_attempts >= state.max_retries:
            _give_up(conn, state, job.task_id)
            report.given_up.append(state.id)
        else:
            new_task = _requeue(conn, state, job.task_id)
            report.requeued.append(state.id)
    if new_task is not None and redis is not None:
        try:
            dispatch.enqueue_processing(redis, job.media_file_id, new_task)
        except RedisError:  # the task row is pending: the dispatcher enqueues it when Redis is back
            log.info("recovery: %s waits for Redis", new_task)


def _finish_cancel(conn: psycopg.Connection[Any], state: FileState, task_id: str) -> None:
    SegmentRepository(conn).replace_transcript(state.id, [])
    TranscriptStaging(conn, task_id).discard()
    AnalyticsRepository(conn).delete_for_file(state.id)
    FileProcessingRepository(conn).finish_cancel(state.id)
    with ignoring_gone():
        TaskRepository(conn).cancel(task_id)
    NotificationRepository(conn).notify(
        state.user_id, "processing", f"{state.filename}: processing cancelled", media_file_id=state.id
    )


def _give_up(conn: psycopg.Connection[Any], state: FileState, task_id: str) -> None:
    message = f"processing stopped {state.recovery_attempts + 1} times; giving up"
    FileProcessingRepository(conn).fail(state.id, task_id, message, "recovery")
    TranscriptStaging(conn, task_id).discard()
    with ignoring_gone():
        TaskRepository(conn).fail(task_id, DEAD_OWNER)
    NotificationRepository(conn).notify(
        state.user_id, "error", f"{state.filename}: processing failed", message, media_file_id=state.id
    )


def _requeue(conn: psycopg.Connection[Any], state: FileState, task_id: str) -> str:
    FileProcessingRepository(conn).record_recovery(state.id)
    TranscriptStaging(conn, task_id).discard()  # the next run starts over: what a dead job staged is not trusted
    with ignoring_gone():
        TaskRepository(conn).fail(task_id, DEAD_OWNER)
    new_task = dispatch.queue_processing(conn, state.id, state.user_id)
    NotificationRepository(conn).notify(
        state.user_id,
        "processing",
        f"{state.filename}: restarting after a worker stopped",
        media_file_id=state.id,
        task_id=new_task,
    )
    return new_task
