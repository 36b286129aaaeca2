"""The transcript step of `process_media`: a sidecar uploaded with the file is imported; otherwise the configured
speech engine (asr/) listens to the audio, decoded by PyAV (media/) as a stream of 16 kHz chunks.

Whatever the source, segments (`transcript.segments.Segment`: the parser and the engine give the same value) go
to the job's staging area (repo/transcript_staging.py) in short transactions as they come, and `process_media`
publishes them as the file's transcript in one short transaction at the end. So no transaction stays open and no
row of the file stays locked for the length of a transcription (an hour on a CPU), and a crash leaves no partial
transcript visible.

While the engine runs, progress (decoded audio position / duration) is written at most every
`OPENTR_PROGRESS_SECONDS` (2 s) and only when it moved by at least `PROGRESS_STEP`, so a long file shows a real
progress bar without flooding the notifications; the same write answers whether the user asked to cancel, and the
engine stops between segments.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from asr import speech_engine
from asr.availability import model_choices
from asr.errors import TranscriptionCancelled
from asr.languages import language_code
from asr.types import Pcm
from media import MediaError
from media.decode import pcm_chunks
from repo.file_processing import FileProcessingRepository
from repo.media_files import MediaFile
from repo.rows import Actor
from repo.transcript_staging import TranscriptStaging
from repo.user_settings import SettingsRepository
from transcript.choices import Choices, from_settings
from transcript.segments import Segment
from transcript.sidecars import parse_sidecar
from transcript.speakers import DEFAULT_SPEAKER
from workers.context import JobContext
from workers.steps import FileJob, JobCancelled, JobSuperseded

log = logging.getLogger("opentr.jobs.transcription")
PROGRESS_STEP = 0.01
STAGE_BATCH = 200
START, END = 0.35, 0.85  # the share of the file's progress bar that transcription fills


@dataclass(frozen=True)
class Staged:
    segments: int
    source: str  # "sidecar" or the engine's name


def transcribe(
    context: JobContext,
    job: FileJob,
    media: MediaFile,
    path: Path,
    sidecar: bytes | None,
    choices: Choices,
) -> Staged:
    """Stage the file's transcript for `job` with the file's `choices`; raises JobCancelled / JobSuperseded when
    told to stop."""
    if sidecar is not None:
        segments = parse_sidecar(sidecar, f"transcript of {media.filename}")
        with context.db.transaction() as conn:
            staging = TranscriptStaging(conn, job.task_id)
            staging.discard()  # a re-run of the same task (after a lost lock session) starts over
            staging.stage(0, segments)
        return Staged(len(segments), "sidecar")
    return _listen(context, job, media, path, choices)


def _listen(context: JobContext, job: FileJob, media: MediaFile, path: Path, choices: Choices) -> Staged:
    engine = speech_engine(context.settings, choices.model)
    log.info(
        "%s: model %s, language %s, task %s, vocabulary of %d characters",
        job.task_id,
        choices.model or "(configured)",
        choices.language or "(detect)",
        choices.task,
        len(choices.vocabulary or ""),
    )
    every = context.settings.opentr_progress_seconds
    reporter = ProgressReporter(job, media.duration, every)
    with context.db.transaction() as conn:
        TranscriptStaging(conn, job.task_id).discard()
    try:
        result = engine.transcribe(
            _renamed_errors(pcm_chunks(path), media.filename),
            total_seconds=media.duration,
            language=choices.language,
            on_progress=reporter.advance,
            should_stop=reporter.should_stop,
            task=choices.task,
            vocabulary=choices.vocabulary,
        )
        if result.language:
            with context.db.transaction() as conn:
                FileProcessingRepository(conn).set_language(job.file_id, result.language, result.language_probability)
        staged = 0
        batch: list[Segment] = []
        flushed_at = time.monotonic()
        for segment in result.segments:
            # An engine gives no labels: one speaker, until diarization splits the transcript between several.
            batch.append(replace(segment, speaker_label=segment.speaker_label or DEFAULT_SPEAKER))
            if len(batch) >= STAGE_BATCH or time.monotonic() - flushed_at >= every:
                staged = _stage(context, job, staged, batch)
                batch, flushed_at = [], time.monotonic()
        staged = _stage(context, job, staged, batch)
    except TranscriptionCancelled:
        raise reporter.stop_exception() from None
    return Staged(staged, engine.name)


def _stage(context: JobContext, job: FileJob, first_seq: int, batch: list[Segment]) -> int:
    if not batch:
        return first_seq
    with context.db.transaction() as conn:
        return TranscriptStaging(conn, job.task_id).stage(first_seq, batch)


def _renamed_errors(chunks: Iterable[Pcm], filename: str) -> Iterator[Pcm]:
    """Decoding errors name the file the user uploaded, not its random storage name."""
    try:
        yield from chunks
    except MediaError as exc:
        raise exc.renamed(filename) from None


class ProgressReporter:
    """Turns the engine's `on_progress(seconds)` into throttled progress writes and its `should_stop()` into the
    user's cancel flag (or the file having moved on to another job), polled at the same pace."""

    def __init__(self, job: FileJob, duration: float | None, every_seconds: float) -> None:
        self.job, self.duration, self.every = job, duration, every_seconds
        self.written = START
        self.checked_at = time.monotonic()
        self.stop_reason: str | None = None

    def advance(self, seconds: float) -> None:
        if not self.duration or self.duration <= 0:
            return
        progress = START + (END - START) * min(1.0, max(0.0, seconds / self.duration))
        if progress - self.written >= PROGRESS_STEP and time.monotonic() - self.checked_at >= self.every:
            self._report(progress)

    def should_stop(self) -> bool:
        if self.stop_reason is None and time.monotonic() - self.checked_at >= self.every:
            self._report(self.written, announce=False)
        return self.stop_reason is not None

    def stop_exception(self) -> Exception:
        if self.stop_reason == "superseded":
            return JobSuperseded(f"file {self.job.file_id} is no longer owned by {self.job.task_id}")
        return JobCancelled("transcription")

    def _report(self, progress: float, announce: bool = True) -> None:
        self.checked_at = time.monotonic()
        try:
            self.job.report(progress, "transcribing", announce=announce)
        except JobSuperseded:
            self.stop_reason = "superseded"
            return
        except JobCancelled:
            self.stop_reason = "cancelled"
            return
        self.written = progress


def owner_defaults(context: JobContext, job: FileJob, media: MediaFile) -> Choices:
    """How a file stored without choices (a URL import, a file from before Step 16) is processed: its owner's
    defaults, with the language it was given, if any."""
    with context.db.transaction() as conn:
        values = SettingsRepository(conn).get_all(Actor(job.user_id))
    defaults = from_settings(values, model_choices(context.settings), language_code)
    return replace(defaults, language=language_code(media.language) or defaults.language)
