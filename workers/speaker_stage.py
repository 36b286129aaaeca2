"""The worker side of speakers across files: after a file's transcript is stored, record how its speakers were
found, store their voice embeddings, and match them against the owner's profiles and other recordings.

How `process_media` wires the diarization stage (asr/diarization.py) and this module:

    config = DiarizationConfig.from_settings(context.settings)
    with context.db.transaction() as conn:
        hints = DiarizationRepository(conn).hints(job.file_id)        # min/max/num_speakers from the upload
    result = unavailable(config)                                      # off / models missing: no audio decoded
    if result is None and not sidecar_has_labels:
        result = diarize(pcm_chunks(path), 16_000, hints, config)    # bounded memory, never raises for models
    segments = assign_speakers(segments, result.turns)                # SPEAKER_00 for all without turns
    voices = result.voices                                            # or, for a WhisperX sidecar:
    # voices = parse_speaker_embeddings(sidecar); outcome "transcript"

    def write(conn):                                                  # one job step, one transaction
        _store_transcript(conn, job.file_id, new_segments)           # creates the speakers by label
        report = speaker_stage.store_speakers_and_match(conn, job.file_id, job.user_id, voices)
        speaker_stage.record_outcome(conn, job, result.outcome, result.message, report)

So the speakers, their embeddings, the matches, the file's `diarization` outcome and the notification commit
together.
"""

from __future__ import annotations

from collections.abc import Mapping

from repo.database import Connection
from repo.diarization import DiarizationRepository, Outcome
from repo.rows import Actor
from repo.user_settings import SettingsRepository
from repo.voices import MatchOutcome, VoiceRepository
from transcript.speakers import Voice
from workers.steps import FileJob

OUTCOME_TITLES: dict[Outcome, str] = {
    "diarized": "speakers identified",
    "transcript": "speakers taken from the transcript",
    "off": "speaker diarization is off: one speaker",
    "models_missing": "speaker diarization models are missing: one speaker",
    "failed": "speaker diarization failed: one speaker",
}


def store_speakers_and_match(
    conn: Connection, file_id: int, user_id: int, embeddings_by_label: Mapping[str, Voice]
) -> MatchOutcome:
    """Store each labelled speaker's voice embedding (`Voice(embedding, seconds)`; labels without a speaker row are
    skipped) and match the file's speakers in SQL against `user_id`'s profiles and speakers in their other files,
    with the user's `match.auto_assign` / `match.suggest` settings; profiles shared with the user are suggested,
    never linked automatically (repo/voices.py). Never looks at other users' files. With no
    embeddings (diarization off, a sidecar without them) nothing is matched and the outcome is empty."""
    if not embeddings_by_label or VoiceRepository(conn).store_embeddings(file_id, embeddings_by_label) == 0:
        return MatchOutcome([], [], 0)
    return _match(conn, file_id, user_id)


def _match(conn: Connection, file_id: int, user_id: int) -> MatchOutcome:
    settings, owner = SettingsRepository(conn), Actor(user_id)
    return VoiceRepository(conn).match_file(
        file_id,
        user_id,
        auto_assign=float(settings.get(owner, "match.auto_assign")),
        suggest=float(settings.get(owner, "match.suggest")),
    )


def match_again(conn: Connection, job: FileJob) -> MatchOutcome:
    """A re-run of speaker matching: the file's stored voices against the owner's profiles and other recordings as
    they are now (new profiles, changed thresholds); the transcript and its speakers stay as they are."""
    report = _match(conn, job.file_id, job.user_id)
    _announce(conn, job, report)
    job.note(describe(report) or "no speaker matched your speaker profiles or other recordings")
    return report


def describe(outcome: MatchOutcome) -> str:
    """One line for the notification: how many speakers were recognised or have suggestions."""
    parts = []
    if outcome.assigned:
        parts.append(f"{len(outcome.assigned)} speaker(s) recognised from your speaker profiles")
    suggested = {s.speaker_id for s in outcome.suggestions if s.status == "pending"}
    suggested -= {a.speaker_id for a in outcome.assigned}
    if suggested:
        parts.append(f"{len(suggested)} speaker(s) with profile suggestions")
    if outcome.speaker_matches:
        parts.append(f"{outcome.speaker_matches} similar speaker(s) in your other recordings")
    return "; ".join(parts)


def record_outcome(
    conn: Connection, job: FileJob, outcome: Outcome, message: str | None = None, report: MatchOutcome | None = None
) -> None:
    """Store on the file what its speaker labels come from. The owner is told when speakers were recognised (a
    notification of its own), and, with the transcript's notification, why there is only one speaker when
    diarization could not run (no silent fallback)."""
    DiarizationRepository(conn).set_outcome(job.file_id, outcome)
    if outcome in ("models_missing", "failed"):
        job.note("; ".join(part for part in (OUTCOME_TITLES[outcome], message) if part))
    if report:
        _announce(conn, job, report)


def _announce(conn: Connection, job: FileJob, report: MatchOutcome) -> None:
    # Recognised from a profile, or a profile suggested for a speaker: worth a notification. Only similar voices in
    # other recordings: shown on the file's page, not announced (every file of a weekly meeting would say it).
    if report.assigned or any(s.status == "pending" for s in report.suggestions):
        title = "speakers recognised" if report.assigned else "speakers you may know"
        job.notify(conn, "speakers", title, describe(report))
