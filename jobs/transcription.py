"""The `transcription` kind: a media file queued → processing → completed | error | cancelled, run by
workers/process_media.py. A re-run of one stage (diarization, speaker matching, transcription without the automatic
summary) is a run of this kind with the file's `rerun_stage` set (repo/processing_choices.py): the same claim,
cancel and recovery, so one declaration covers every run that works on a file's media.

Recovery of a dead run follows the lock order of sql/jobs.sql (the file's row first, then the task): a cancellation
the dead job had not finished is finished; a file whose job died `max_retries` times is given up on (a recording
that kills its worker must not do so forever); otherwise the file is queued again under a new task, and what the
dead job staged is discarded (the next run starts over).
"""

from __future__ import annotations

from redis import Redis

from jobs.queues import MEDIA
from jobs.registry import (
    DEAD_OWNER,
    DeadJob,
    JobKind,
    Outcome,
    Queued,
    Recovered,
    close_task,
    declare,
    ignoring_gone,
)
from repo.analytics import AnalyticsRepository
from repo.database import Connection
from repo.file_processing import FILE_SUBJECT, FileProcessingRepository
from repo.media_files import FileState
from repo.notifications import NotificationRepository
from repo.processing_choices import ProcessingChoicesRepository
from repo.segments import SegmentRepository
from repo.tasks import TaskRepository
from repo.transcript_staging import TranscriptStaging

# A cancelled re-run of one of these stages leaves the file's transcript as it was; a re-run of transcription, like
# a whole run, was replacing it, and a cancelled one leaves none.
KEEPS_TRANSCRIPT = ("diarization", "speakers")


def queue_processing(conn: Connection, file_id: int, user_id: int) -> str:
    """Create the transcription task and move the file pending → queued; returns the job id to enqueue."""
    task_id = TRANSCRIPTION.create_task(conn, user_id, file_id)
    FileProcessingRepository(conn).mark_queued(file_id, task_id)
    return task_id


def enqueue_processing(redis: Redis, file_id: int, task_id: str) -> bool:
    """After the commit of `queue_processing`; False when Redis refused (the dispatcher enqueues it later)."""
    return TRANSCRIPTION.enqueue(redis, file_id, task_id)


def _recover(conn: Connection, dead: DeadJob) -> Recovered:
    if dead.subject_id is None:
        return close_task(conn, dead.task_id)
    state = FileProcessingRepository(conn).lock_state(dead.subject_id)
    if state is None or state.active_task_id != dead.task_id or state.status not in ("processing", "cancelling"):
        return close_task(conn, dead.task_id)  # the file moved on (or is gone); only the task is left open
    if state.status == "cancelling":
        _finish_cancel(conn, state, dead.task_id)
        return Recovered(Outcome.CANCELLED)
    if state.recovery_attempts >= state.max_retries:
        _give_up(conn, state, dead.task_id)
        return Recovered(Outcome.GIVEN_UP)
    return Recovered(Outcome.REQUEUED, Queued(TRANSCRIPTION, state.id, _requeue(conn, state, dead.task_id)))


def _finish_cancel(conn: Connection, state: FileState, task_id: str) -> None:
    if ProcessingChoicesRepository(conn).for_job(state.id).stage not in KEEPS_TRANSCRIPT:
        SegmentRepository(conn).replace_transcript(state.id, [])
        AnalyticsRepository(conn).delete_for_file(state.id)
    TranscriptStaging(conn, task_id).discard()
    FileProcessingRepository(conn).finish_cancel(state.id)
    with ignoring_gone():
        TaskRepository(conn).cancel(task_id)
    NotificationRepository(conn).progress(state.user_id, "processing cancelled", None, state.id, task_id)


def _give_up(conn: Connection, state: FileState, task_id: str) -> None:
    message = f"processing stopped {state.recovery_attempts + 1} times; giving up"
    FileProcessingRepository(conn).fail(state.id, task_id, message, "recovery")
    TranscriptStaging(conn, task_id).discard()
    with ignoring_gone():
        TaskRepository(conn).fail(task_id, DEAD_OWNER)
    NotificationRepository(conn).notify(
        state.user_id, "error", f"{state.filename}: processing failed", message, media_file_id=state.id
    )


def _requeue(conn: Connection, state: FileState, task_id: str) -> str:
    FileProcessingRepository(conn).record_recovery(state.id)
    TranscriptStaging(conn, task_id).discard()  # the next run starts over: what a dead job staged is not trusted
    with ignoring_gone():
        TaskRepository(conn).fail(task_id, DEAD_OWNER)
    new_task = queue_processing(conn, state.id, state.user_id)
    NotificationRepository(conn).progress(state.user_id, "restarting after a worker stopped", 0.0, state.id, new_task)
    return new_task


TRANSCRIPTION = declare(
    JobKind(
        name="transcription",
        queue=MEDIA,
        function="workers.process_media.process_media",
        subject=FILE_SUBJECT,
        recover=_recover,
        progress="transcription",
        timeout_seconds=4 * 3600,
    )
)
