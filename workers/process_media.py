"""`process_media(file_id, task_id)`, the `transcription` kind (jobs/transcription.py): queued → processing →
completed | error | cancelled, run by the skeleton of workers/jobrun.py (lease, claim, failures).

Each step commits on its own (metadata, waveform, thumbnail, transcript, analytics, completion), with its progress
announced live; the job ends in one notification: the transcript ready (with what to know about it), or the
failure. The transcript is staged while it is produced (workers/transcription.py) and published in one
short transaction, so re-running the job after a crash is safe: nothing partial was ever visible, the transcript
is replaced whole, analytics upserted.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from asr.errors import TranscriptionError
from jobs.embeddings import enqueue_embedding, queue_embedding
from jobs.queues import redis_connection
from jobs.registry import Queued, ignoring_gone
from jobs.summaries import enqueue_summary, queue_summary
from jobs.transcription import KEEPS_TRANSCRIPT, TRANSCRIPTION
from media import MediaError
from media.probe import probe
from media.thumbnail import thumbnail
from media.waveform import peaks
from repo.analytics import AnalyticsRepository
from repo.database import Connection
from repo.errors import DataError
from repo.file_processing import FileProcessingRepository
from repo.media_files import MediaFile, MediaFileRepository
from repo.processing_choices import ProcessingChoicesRepository
from repo.segments import SegmentRepository
from repo.tasks import TaskRepository
from repo.transcript_staging import TranscriptStaging
from storage import layout
from storage.backend import Storage, StorageFull
from transcript.choices import Choices, MediaStage
from transcript.segments import Segment
from transcript.sidecars import SidecarError
from transcript.speakers import DEFAULT_SPEAKER
from workers import analytics, speaker_stage, transcript_warnings, transcription
from workers.context import JobContext
from workers.diarization_step import Speakers, find_speakers
from workers.jobrun import Failure, JobBody, JobRun, job_function
from workers.steps import FileJob

log = logging.getLogger("opentr.jobs.media")
EXPECTED_FAILURES: dict[type[Exception], str] = {
    SidecarError: "transcript",
    TranscriptionError: "transcription",  # asr's: model missing, remote server failing, bad language…
    MediaError: "media",
    DataError: "data",
    FileNotFoundError: "storage",
    StorageFull: "storage",  # a thumbnail on a full disk; an unavailable store is waited for (workers/jobrun.py)
}


class ProcessMedia(JobBody[FileJob]):
    kind = TRANSCRIPTION
    expected = EXPECTED_FAILURES

    def claim(self, run: JobRun, conn: Connection) -> FileJob:
        """Take the file for this job; Conflict or NotFound when it was cancelled, deleted or taken meanwhile."""
        state = FileProcessingRepository(conn).start_processing(run.subject_id, run.task_id)
        return FileJob(
            run.db, run.subject_id, state.user_id, run.task_id, state.filename, reports_as=self.kind.progress
        )

    def started(self, run: JobRun, conn: Connection, job: FileJob) -> None:
        job.announce(conn, "processing started", 0.0)

    def work(self, run: JobRun, job: FileJob) -> None:
        _run(run.context, job)

    def fail(self, run: JobRun, job: FileJob, failure: Failure) -> None:
        message = failure.message
        with run.db.transaction() as conn:
            with ignoring_gone():
                FileProcessingRepository(conn).fail(job.file_id, job.task_id, message[:2000], failure.category)
            TranscriptStaging(conn, job.task_id).discard()
            with ignoring_gone():
                TaskRepository(conn).fail(job.task_id, message[:2000])
            job.notify(conn, "error", "processing failed", message[:500])

    def cancelled(self, run: JobRun, job: FileJob) -> None:
        with run.db.transaction() as conn:
            # A re-run of one stage leaves what it was redoing as it was (and stays the file's stage: a retry of the
            # cancelled file repeats it); any other run was replacing the transcript.
            if ProcessingChoicesRepository(conn).for_job(job.file_id).stage not in KEEPS_TRANSCRIPT:
                SegmentRepository(conn).replace_transcript(job.file_id, [])
                AnalyticsRepository(conn).delete_for_file(job.file_id)
            TranscriptStaging(conn, job.task_id).discard()
            with ignoring_gone():
                FileProcessingRepository(conn).finish_cancel(job.file_id)
            with ignoring_gone():
                TaskRepository(conn).cancel(job.task_id)
            job.announce(conn, "processing cancelled", None)


process_media = job_function(ProcessMedia())


def _run(context: JobContext, job: FileJob) -> None:
    job.notes.clear()  # a run again from the start (after an outage) says only what it finds itself
    with context.db.transaction() as conn:
        media = MediaFileRepository(conn).get_by_id(job.file_id)
        stored = ProcessingChoicesRepository(conn).for_job(job.file_id)
    if stored.stage == "speakers":  # needs no audio: the file's voices are stored
        job.step(0.9, "matching the speakers again", lambda conn: speaker_stage.match_again(conn, job))
        _complete(context, job, stored.stage, False)
        return
    choices = stored.choices or transcription.owner_defaults(context, job, media)
    key = layout.object_key(media.storage_path)  # OutsideStorage: a storage error naming the path
    if not context.storage.exists(key):
        raise FileNotFoundError(f"the uploaded media is missing from storage ({media.filename})")
    with context.storage.local_copy(key) as path:  # for S3: streamed to a temporary file, removed afterwards
        if stored.stage == "diarization":
            _diarize_again(context, job, media, path, choices)
        else:
            _read_media(context, job, media, path, choices)
    # A re-run of one stage summarises nothing; a whole run, when the file's choices say so.
    _complete(context, job, stored.stage, choices.summary and stored.stage is None, choices.summary_prompt_id)


def _read_media(context: JobContext, job: FileJob, media: MediaFile, path: Path, choices: Choices) -> None:
    """Everything that reads the media, while a local copy of it exists (the stored file itself, when local)."""
    metadata = _metadata(path, media.content_type, media.filename)
    job.step(
        0.15,
        "read the technical metadata",
        lambda conn: FileProcessingRepository(conn).set_metadata(job.file_id, **metadata),
    )
    waveform = _waveform(path, media.filename)
    if waveform is not None:
        job.step(
            0.3,
            "computed the waveform",
            lambda conn: FileProcessingRepository(conn).set_metadata(job.file_id, waveform_data=waveform),
        )
    thumb = _thumbnail(context.storage, path, media.storage_path, media.filename)
    if thumb is not None:
        job.step(
            0.35,
            "made the video thumbnail",
            lambda conn: FileProcessingRepository(conn).set_metadata(job.file_id, thumbnail_path=thumb),
        )

    sidecar_key = layout.sidecar_of(media.storage_path)
    sidecar = context.storage.read_bytes(sidecar_key) if context.storage.exists(sidecar_key) else None
    duration = metadata.get("duration", media.duration)
    media = dataclasses.replace(media, duration=duration)
    staged = transcription.transcribe(context, job, media, path, sidecar, choices)
    job.step(0.86, f"transcribed {staged.segments} segments ({staged.source})")
    _publish(context, job, find_speakers(context, job, path, sidecar, diarization=choices.diarization), duration)


def _diarize_again(context: JobContext, job: FileJob, media: MediaFile, path: Path, choices: Choices) -> None:
    """A re-run of diarization: the published transcript (its text as it is now) is split between speakers afresh;
    the media's metadata, waveform and the transcript's text are kept."""

    def stage(conn: Connection) -> None:
        staging = TranscriptStaging(conn, job.task_id)
        staging.stage_published(job.file_id, DEFAULT_SPEAKER)
        # A segment whose text was corrected since keeps its text: its old word timings would split the old words.
        staging.restage([_without_stale_words(segment) for segment in staging.staged()])

    job.step(0.35, "took the transcript as it is", stage)
    _publish(context, job, find_speakers(context, job, path, None, diarization=choices.diarization), media.duration)


def _without_stale_words(segment: Segment) -> Segment:
    words = segment.words or ()
    if words and " ".join(w.text for w in words).split() != segment.text.split():
        return dataclasses.replace(segment, words=None)
    return segment


def _publish(context: JobContext, job: FileJob, speakers: Speakers, duration: float | None) -> None:
    """The staged transcript becomes the file's, with its speakers and analytics."""
    segments: list[Segment] = []

    def publish(conn: Connection) -> None:
        staging = TranscriptStaging(conn, job.task_id)
        segments.extend(staging.staged())
        staging.publish(job.file_id)
        transcript_warnings.record(conn, job, segments, duration)
        speakers.publish(conn, job)

    job.step(0.9, "stored the transcript and its speakers", publish)
    job.step(
        0.95,
        "computed analytics",
        lambda conn: AnalyticsRepository(conn).upsert(
            job.file_id, analytics.speaker_stats(segments), analytics.keywords(segments), None
        ),
    )


def _metadata(path: Path, content_type: str, filename: str) -> dict[str, Any]:
    try:
        info = probe(path, content_type)
    except MediaError as exc:
        raise exc.renamed(filename) from None  # the stored file has a random name; say what the user uploaded
    return {k: v for k, v in dataclasses.asdict(info).items() if v is not None}


def _waveform(path: Path, filename: str) -> list[float] | None:
    """Decodes the whole audio, so a truncated file fails here, before any transcription; None without audio."""
    try:
        return peaks(path) or None
    except MediaError as exc:
        raise exc.renamed(filename) from None


def _thumbnail(storage: Storage, path: Path, storage_path: str, filename: str) -> str | None:
    """A video's thumbnail, written next to the upload; its storage path, or None for audio.

    A picture that cannot be decoded costs the file its thumbnail, not its transcript."""
    try:
        jpeg = thumbnail(path)
    except MediaError as exc:
        log.warning("no thumbnail for %s: %s", filename, exc.reason)
        return None
    if jpeg is None:
        return None
    relative = layout.thumbnail_of(storage_path)
    storage.put_bytes(relative, jpeg)
    return relative


# The title of the notification a run ends with: what it did.
DONE: dict[MediaStage | None, str] = {
    None: "transcript ready",
    "transcription": "transcript ready",
    "diarization": "speakers found again",
    "speakers": "speakers matched again",
}


def _complete(
    context: JobContext, job: FileJob, stage: MediaStage | None, summarise: bool, prompt_id: int | None = None
) -> None:
    summary_task: tuple[int, str] | None = None
    embedding: Queued | None = None
    with context.db.transaction() as conn:
        FileProcessingRepository(conn).complete(job.file_id, job.task_id)
        TaskRepository(conn).complete(job.task_id)
        # The transcript's passages for search by meaning: a job of its own, so that the transcript is ready now
        # (tasks before notifications: the lock order of sql/jobs.sql).
        embedding = queue_embedding(conn, job.file_id)
        job.notify(conn, "transcription", DONE[stage], _sentences(job.notes), progress=1.0)
        if stage is not None:
            ProcessingChoicesRepository(conn).finish_stage(job.file_id)
        if summarise:
            summary_task = _queue_auto_summary(conn, job, prompt_id)
    redis = redis_connection(context.redis_url)
    enqueue_embedding(redis, embedding)
    if summary_task is not None:
        enqueue_summary(redis, *summary_task)


def _sentences(notes: list[str]) -> str:
    return " ".join(f"{note[:1].upper()}{note[1:]}{'' if note.endswith('.') else '.'}" for note in notes)[:2000]


def _queue_auto_summary(conn: Connection, job: FileJob, prompt_id: int | None) -> tuple[int, str] | None:
    try:
        return queue_summary(conn, job.user_id, job.file_id, prompt_id)
    except DataError as exc:  # e.g. no active LLM configuration: the transcript stands, say why
        job.notify(conn, "summary", "automatic summary skipped", exc.detail)
        return None
