"""The speakers step of `process_media`, between staging the transcript and publishing it.

- A sidecar keeps its own labels (and its WhisperX `speaker_embeddings`, when it carries them): outcome
  `transcript`.
- An engine's transcript (every segment SPEAKER_00) is diarized (asr/diarization.py) on a second streamed decode
  of the audio; when that finds turns, the staged segments are relabelled — split at the word where the speaker
  changes — and staged again in one short transaction. When diarization is off or its models are absent, the
  transcript keeps one speaker and the file's outcome and a notification say so (no silent fallback).

`publish` then stores the voices, matches them against the owner's profiles and other recordings, and records the
outcome in the same transaction that makes the transcript visible (workers/speaker_stage.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from asr.diarization import DiarizationConfig, assign_speakers, diarize, unavailable
from media.decode import pcm_chunks
from repo.database import Connection
from repo.diarization import DiarizationRepository, Outcome
from repo.transcript_staging import TranscriptStaging
from transcript.sidecars import parse_speaker_embeddings
from transcript.speakers import Voice
from workers import speaker_stage
from workers.context import JobContext
from workers.steps import FileJob

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Speakers:
    outcome: Outcome
    message: str | None = None
    voices: dict[str, Voice] = field(default_factory=dict)

    def publish(self, conn: Connection, job: FileJob) -> None:
        """In the publishing transaction, after the segments (and so the speakers by label) exist."""
        report = speaker_stage.store_speakers_and_match(conn, job.file_id, job.user_id, self.voices)
        speaker_stage.record_outcome(conn, job, self.outcome, self.message, report)


TURNED_OFF = "speaker diarization was turned off for this file (its processing choices): one speaker"


def find_speakers(
    context: JobContext, job: FileJob, path: Path, sidecar: bytes | None, *, diarization: bool = True
) -> Speakers:
    """`diarization` False: the file's owner chose none for it (the transcript keeps one speaker, and says why)."""
    if sidecar is not None:
        return Speakers("transcript", voices=parse_speaker_embeddings(sidecar))
    if not diarization:
        return Speakers("off", TURNED_OFF)
    config = DiarizationConfig.from_settings(context.settings)
    result = unavailable(config)
    if result is None:
        with context.db.transaction() as conn:
            hints = DiarizationRepository(conn).hints(job.file_id)
        result = diarize(pcm_chunks(path), SAMPLE_RATE, hints, config)
    if result.turns:
        with context.db.transaction() as conn:
            staging = TranscriptStaging(conn, job.task_id)
            staging.restage(assign_speakers(staging.staged(), result.turns))
    return Speakers(result.outcome, result.message, dict(result.voices))
