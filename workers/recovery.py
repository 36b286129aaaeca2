"""`recover_stuck()`: files whose job died (worker killed, Redis restarted) are re-run or given up on.

A file counts as stuck when its job has not beaten its heartbeat for `stale_seconds` and RQ does not still
hold the job as queued or scheduled. Runs at worker start and then every minute.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from repo.analytics import AnalyticsRepository
from repo.database import Database
from repo.file_processing import FileProcessingRepository
from repo.media_files import FileState
from repo.notifications import NotificationRepository
from repo.segments import SegmentRepository
from repo.summaries import SummaryRepository
from repo.tasks import TaskRepository
from workers import dispatch
from workers.queues import ALL_QUEUES
from workers.steps import ignoring_gone

log = logging.getLogger("opentr.recovery")
STALE_SECONDS = 300.0
RECOVERY_JOB_ID = "recover-stuck"


@dataclass
class RecoveryReport:
    requeued: list[int] = field(default_factory=list)
    reenqueued: list[int] = field(default_factory=list)
    given_up: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    stale_tasks: int = 0
    abandoned_summaries: int = 0


def waiting_job_ids(redis: Redis) -> set[str]:
    """Jobs RQ will still start: queued, or scheduled for a retry. A running job proves it is alive by its
    heartbeat in the database (every `opentr_job_heartbeat_seconds`), not by RQ's registry, which keeps a
    killed worker's job for up to its TTL."""
    waiting: set[str] = set()
    for name in ALL_QUEUES:
        queue = Queue(name, connection=redis)
        waiting.update(queue.get_job_ids())
        waiting.update(ScheduledJobRegistry(queue=queue).get_job_ids(cleanup=False))  # type: ignore[no-untyped-call]
    return waiting


def recover_stuck(db: Database, redis: Redis, stale_seconds: float = STALE_SECONDS) -> RecoveryReport:
    report = RecoveryReport()
    waiting = waiting_job_ids(redis)
    with db.transaction() as conn:
        candidates = FileProcessingRepository(conn).stuck(
            stale_seconds, limit=200, statuses=("processing", "cancelling", "queued")
        )
    for state in candidates:
        if state.active_task_id in waiting:
            continue
        _recover_file(db, redis, state, report)
    with db.transaction() as conn:
        report.stale_tasks = TaskRepository(conn).fail_stale(stale_seconds, "the worker stopped responding")
        report.abandoned_summaries = SummaryRepository(conn).fail_abandoned(
            "the worker stopped while summarising; request the summary again"
        )
    if any(
        (
            report.requeued,
            report.reenqueued,
            report.given_up,
            report.cancelled,
            report.stale_tasks,
            report.abandoned_summaries,
        )
    ):
        log.warning("recovery: %s", report)
    return report


def _recover_file(db: Database, redis: Redis, state: FileState, report: RecoveryReport) -> None:
    if state.status == "queued" and state.active_task_id:
        if dispatch.enqueue_processing(redis, state.id, state.active_task_id):  # its job was lost before running
            report.reenqueued.append(state.id)
        return
    task_id: str | None = None
    with db.transaction() as conn:
        files, tasks, notes = FileProcessingRepository(conn), TaskRepository(conn), NotificationRepository(conn)
        if state.active_task_id:
            with ignoring_gone():
                tasks.fail(state.active_task_id, "the worker running this job stopped")
        if state.status == "cancelling":
            SegmentRepository(conn).replace_transcript(state.id, [])
            AnalyticsRepository(conn).delete_for_file(state.id)
            with ignoring_gone():
                files.finish_cancel(state.id)
            report.cancelled.append(state.id)
            return
        if state.recovery_attempts >= state.max_retries:
            message = f"processing stopped {state.recovery_attempts + 1} times; giving up"
            with ignoring_gone():
                files.fail(state.id, state.active_task_id or "", message, "recovery")
                notes.notify(
                    state.user_id, "error", f"{state.filename}: processing failed", message, media_file_id=state.id
                )
            report.given_up.append(state.id)
            return
        with ignoring_gone():
            files.record_recovery(state.id)
            task_id = dispatch.queue_processing(conn, state.id, state.user_id)
            notes.notify(
                state.user_id,
                "processing",
                f"{state.filename}: restarting after a worker stopped",
                media_file_id=state.id,
                task_id=task_id,
            )
    if task_id is not None:
        dispatch.enqueue_processing(redis, state.id, task_id)
        report.requeued.append(state.id)


def recover_stuck_job(stale_seconds: float = STALE_SECONDS, reschedule_seconds: int | None = 60) -> str:
    """The RQ job form: recover, then schedule the next run (one fixed job id, however many workers)."""
    from datetime import timedelta

    from workers.context import job_context
    from workers.queues import MAINTENANCE, redis_connection

    context = job_context()
    redis = redis_connection(context.redis_url)
    report = recover_stuck(context.db, redis, stale_seconds)
    if reschedule_seconds:
        Queue(MAINTENANCE, connection=redis).enqueue_in(
            timedelta(seconds=reschedule_seconds),
            recover_stuck_job,
            stale_seconds,
            reschedule_seconds,
            job_id=RECOVERY_JOB_ID,
            result_ttl=0,
        )
    return str(report)
